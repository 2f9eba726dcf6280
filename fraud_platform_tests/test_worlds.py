"""The named sample worlds: each differs, and each is honest about its families and laundering."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster_cli import fraud_platform_cli

from fraud_platform.sample_data import (
    FRAUD_TYPOLOGIES,
    HUB_TYPOLOGIES,
    LEGITIMATE_TYPOLOGIES,
    WORLDS,
    SampleConfig,
    SampleDay,
    flows,
    generate_day,
    world_names,
)
from fraud_platform.sample_data import generator as gen
from fraud_platform.sample_data import worlds as worlds_module

#: A Saturday: the week has a weekend, five business days and the start of a month.
WEEK_START = dt.date(2024, 9, 28)
SIZE = 20_000
ID_PATTERNS = {
    "retail_bank": r"ACC\d{7}",
    "payments_company": r"[0-9a-f]{16}",
    "small_business": r"GB\d{2}[A-Z]{4}\d{14}",
    "crypto_offramp": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "cross_border": r"\d{12}",
}
LAUNDERING_ROLES = {"source", "mule", "collector"}
LEGITIMATE_ROLES = {"hub", "settled_merchant", "client", "lender", "member", "recipient"}


def config(world: str, size: int = SIZE) -> SampleConfig:
    return SampleConfig(transactions_per_day=size, world=world, seed=5)


@pytest.fixture(scope="module")
def weeks() -> dict[str, list[SampleDay]]:
    return {
        world: [generate_day(WEEK_START + dt.timedelta(days=i), config(world)) for i in range(7)]
        for world in world_names()
    }


def valid_rows(sample: SampleDay) -> pd.DataFrame:
    """The day's rows minus the deliberately broken ones, with numbers and times parsed."""
    tx = sample.transactions
    rows = tx[~tx["transaction_id"].isin(sample.malformed["transaction_id"])].copy()
    rows["amount"] = rows["amount"].astype(float)
    rows["time"] = pd.to_datetime(rows["timestamp"], utc=True, format="ISO8601")
    return rows


def ring_edges(sample: SampleDay) -> pd.DataFrame:
    """Transfers between two accounts of the same laundering operation, with its ring_id."""
    rows = valid_rows(sample)
    fraud = sample.ground_truth[sample.ground_truth["is_fraud"]]
    ring = dict(zip(fraud["account"], fraud["ring_id"], strict=True))
    by_sender, by_receiver = rows["sender"].map(ring), rows["receiver"].map(ring)
    return rows[by_sender.notna() & (by_sender == by_receiver)].assign(ring_id=by_sender)


def week_truth(days: list[SampleDay]) -> pd.DataFrame:
    return pd.concat([d.ground_truth.assign(day=i) for i, d in enumerate(days)], ignore_index=True)


# ---- the registry ----------------------------------------------------------------------------


def test_the_registry_names_five_worlds_that_differ():
    names = world_names()
    assert names[0] == "retail_bank" == SampleConfig().world
    assert set(ID_PATTERNS) <= set(names)
    worlds = [WORLDS[name] for name in names]
    assert len({w.id_format for w in worlds}) == len(worlds)  # every world its own id shape
    assert len({w.present_families for w in worlds}) == len(worlds)
    assert WORLDS["cross_border"].amount_scale >= 5 * WORLDS["retail_bank"].amount_scale
    assert WORLDS["crypto_offramp"].hop_minutes[1] < WORLDS["cross_border"].hop_minutes[0]
    assert WORLDS["payments_company"].multi_day_share > WORLDS["crypto_offramp"].multi_day_share
    assert set(WORLDS["retail_bank"].present_typologies) == set(FRAUD_TYPOLOGIES)
    assert set(WORLDS["retail_bank"].present_families) == set(LEGITIMATE_TYPOLOGIES)
    for world in worlds:
        assert set(HUB_TYPOLOGIES) <= set(world.present_families)
        assert 0.005 <= world.fraud_share <= 0.02


def test_an_unknown_world_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown world 'atlantis'.*retail_bank.*cross_border"):
        SampleConfig(world="atlantis")


def test_a_world_table_is_checked_when_read():
    """worlds.toml is read through World: a mistyped key or a bad share names the world."""
    spec = {"summary": "s", "id_format": "acc", "families": {"merchant": 0.1, "employer": 0.01}}
    spec["laundering"] = {"fan_in": 1.0}
    world = worlds_module._world("toy", spec)
    assert world.families == (("merchant", 0.1), ("employer", 0.01))
    assert world.laundering == (("fan_in", 1.0),) and world.hop_minutes == (10.0, 480.0)
    with pytest.raises(ValueError, match=r"worlds.toml: world toy: .*'fraud_shares'"):
        worlds_module._world("toy", {**spec, "fraud_shares": 0.01})
    with pytest.raises(ValueError, match=r"world toy: families take over 45%"):
        worlds_module._world("toy", {**spec, "families": {"merchant": 0.4, "employer": 0.1}})
    with pytest.raises(ValueError, match=r"world toy: .*'summary'"):
        worlds_module._world("toy", {k: v for k, v in spec.items() if k != "summary"})


QUIET_BANK = """
[quiet_bank]
summary = "few launderers, slow hops, hex ids"
id_format = "hex"
fraud_share = 0.003
hop_minutes = [60.0, 2400.0]

[quiet_bank.families]
merchant = 0.2
employer = 0.05

[quiet_bank.laundering]
fan_in = 1.0
cycle = 2.0
"""


@pytest.fixture
def registry():
    """The world registry, restored after the test (add_worlds registers for the process)."""
    before = dict(WORLDS)
    yield WORLDS
    WORLDS.clear()
    WORLDS.update(before)


def test_a_worlds_file_adds_worlds_that_generate_days(tmp_path, registry):
    path = tmp_path / "mine.toml"
    path.write_text(QUIET_BANK, encoding="utf-8")
    assert worlds_module.add_worlds(path) == ("quiet_bank",)
    assert world_names()[-1] == "quiet_bank" and world_names()[0] == "retail_bank"
    quiet = registry["quiet_bank"]
    assert quiet.hop_minutes == (60.0, 2400.0) and quiet.present_typologies == ("fan_in", "cycle")
    day = generate_day(
        dt.date(2026, 1, 5),
        SampleConfig(transactions_per_day=4000, world="quiet_bank", malformed_rate=0.0),
    )
    assert day.transactions["sender"].str.fullmatch(ID_PATTERNS["payments_company"]).all()
    fraud = day.ground_truth[day.ground_truth["is_fraud"]]
    assert set(fraud["typology"]) <= {"fan_in", "cycle"} and len(fraud) > 0
    with pytest.raises(ValueError, match=r"mine.toml: quiet_bank already named"):
        worlds_module.add_worlds(path)


def test_the_stress_worlds_file_loads_beside_the_packaged_worlds(registry):
    """The README's evaluation on worlds nobody tuned on reads this file."""
    path = Path(__file__).resolve().parents[1] / "fraud_platform/evaluation/stress_worlds.toml"
    assert worlds_module.add_worlds(path) == ("sparse_fraud", "wholesale_hub")
    assert registry["sparse_fraud"].fraud_share < min(
        w.fraud_share
        for name, w in registry.items()
        if name not in ("sparse_fraud", "wholesale_hub")
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[a\n", r"bad.toml: not valid TOML"),
        ("", r"bad.toml: no world in it"),
        ("x = 1", r"bad.toml: x must be a table"),
        (QUIET_BANK.replace('"hex"', '"base64"'), r"bad.toml: world quiet_bank: id_format must"),
        (
            QUIET_BANK.replace("retail_bank", "x").replace("[quiet_bank]", "[retail_bank]"),
            "retail_bank",
        ),
    ],
)
def test_a_bad_worlds_file_names_itself_and_registers_nothing(tmp_path, registry, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    before = world_names()
    with pytest.raises(ValueError, match=message):
        worlds_module.add_worlds(path)
    assert world_names() == before


def test_the_cli_takes_a_worlds_file_and_refuses_unknown_worlds_without_a_traceback(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(QUIET_BANK, encoding="utf-8")
    listed = fraud_platform_cli("worlds", "--worlds-file", str(path))
    assert listed.returncode == 0, listed.stderr
    assert "quiet_bank" in listed.stdout and "retail_bank" in listed.stdout
    unknown = fraud_platform_cli("generate", "--world", "atlantis", "--days", "1")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "error: unknown world 'atlantis'" in unknown.stderr
    missing = fraud_platform_cli("evaluate", "--worlds-file", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "cannot read the worlds file" in missing.stderr


# ---- every world makes a sound day -----------------------------------------------------------


@pytest.mark.parametrize("world", world_names())
def test_every_world_makes_a_sound_day(world: str, weeks: dict[str, list[SampleDay]]):
    sample = weeks[world][3]
    tx = sample.transactions
    assert len(tx) == SIZE and tx["transaction_id"].is_unique
    # Self-transfers and times off the day are only ever the deliberately broken rows.
    bad = sample.malformed.set_index("transaction_id")["kind"]
    self_sent = tx.loc[tx["sender"] == tx["receiver"], "transaction_id"]
    assert set(self_sent) == set(bad[bad == "self_transfer"].index)
    stamp = pd.to_datetime(tx["timestamp"], utc=True, format="ISO8601", errors="coerce")
    day_start = pd.Timestamp(sample.day, tz="UTC")
    off_day = tx.loc[stamp.isna() | (stamp < day_start), "transaction_id"]
    assert set(off_day) == set(bad[bad == "bad_timestamp"].index)
    assert (stamp.dropna() < day_start + pd.Timedelta(days=1)).all()
    rows = valid_rows(sample)
    assert (rows["amount"] > 0).all()
    # Ids follow the world's format, for every account.
    accounts = pd.concat([tx["sender"].dropna(), tx["receiver"], sample.ground_truth["account"]])
    assert accounts.str.fullmatch(ID_PATTERNS[world]).all(), accounts.head()


def test_iban_ids_carry_valid_check_digits(weeks: dict[str, list[SampleDay]]):
    ibans = weeks["small_business"][0].transactions["receiver"].unique()

    def valid(iban: str) -> bool:
        rearranged = iban[4:] + iban[:4]
        return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1

    assert len(ibans) > 1_000
    assert all(valid(iban) for iban in ibans)
    wrong = [f"GB{(int(i[2:4]) + 1) % 100:02d}{i[4:]}" for i in ibans[:100]]
    assert not any(valid(iban) for iban in wrong)


def test_worlds_do_not_share_accounts_under_one_seed(weeks: dict[str, list[SampleDay]]):
    retail = set(weeks["retail_bank"][0].transactions["receiver"])
    cross = set(weeks["cross_border"][0].transactions["receiver"])
    assert not retail & cross


# ---- the ground truth ------------------------------------------------------------------------


@pytest.mark.parametrize("world", world_names())
def test_every_present_family_and_typology_appears_over_a_week(
    world: str, weeks: dict[str, list[SampleDay]]
):
    spec = WORLDS[world]
    truth = week_truth(weeks[world])
    assert set(truth["typology"]) == set(spec.present_families) | set(spec.present_typologies)
    legitimate = truth[truth["typology"].isin(LEGITIMATE_TYPOLOGIES)]
    assert (~legitimate["is_fraud"]).all() and (legitimate["ring_id"] == -1).all()
    assert set(legitimate["role"]) <= LEGITIMATE_ROLES
    assert (legitimate.loc[legitimate["typology"].isin(HUB_TYPOLOGIES), "role"] == "hub").all()
    fraud = truth[truth["typology"].isin(FRAUD_TYPOLOGIES)]
    assert fraud["is_fraud"].all() and (fraud["ring_id"] >= 0).all()
    assert set(fraud["role"]) == LAUNDERING_ROLES
    assert (fraud.groupby("ring_id")["typology"].nunique() == 1).all()
    for _, day in truth.groupby("day"):
        assert day["account"].is_unique  # one row per account per day
        # Most typologies every day.
        assert day.loc[day["is_fraud"], "typology"].nunique() >= 0.75 * len(spec.present_typologies)


@pytest.mark.parametrize("world", world_names())
def test_listed_accounts_transact_that_day_and_fraud_is_a_small_share(
    world: str, weeks: dict[str, list[SampleDay]]
):
    for sample in weeks[world]:
        rows = valid_rows(sample)
        active = pd.unique(pd.concat([rows["sender"], rows["receiver"]]))
        truth = sample.ground_truth
        assert truth["account"].isin(active).all()
        share = truth["is_fraud"].sum() / len(active)
        assert 0.005 <= share <= 0.025, (world, sample.day, share)


@pytest.mark.slow
def test_a_multi_day_operation_lists_each_day_only_that_days_participants(
    weeks: dict[str, list[SampleDay]],
):
    days = weeks["cross_border"]
    cfg = config("cross_border")
    pop = gen._population(*gen._key(cfg))
    label = np.asarray(pop.labels.to_pylist(), dtype=object)
    truth = week_truth(days)
    fraud = truth[truth["is_fraud"]]
    spans = fraud.groupby("ring_id")["day"].nunique()
    multi = spans[spans >= 2].index
    assert len(multi) >= 5
    differing = 0
    for ring_id in multi:
        # The operation's own transfers, as planted: which of them fall on which day.
        operations = flows.operations(gen._key(cfg), int(ring_id) // 100_000)
        mine = operations.operation == int(ring_id) % 100_000
        start = dt.date.fromordinal(operations.ordinal)
        on_day = (start - WEEK_START).days + operations.transfers.ms[mine] // 86_400_000
        senders = label[operations.transfers.sender[mine]]
        receivers = label[operations.transfers.receiver[mine]]
        listed = fraud[fraud["ring_id"] == ring_id]
        per_day = {d: set(g["account"]) for d, g in listed.groupby("day")}
        for d, accounts in per_day.items():
            took_part = set(senders[on_day == d]) | set(receivers[on_day == d])
            assert accounts <= took_part, (ring_id, d)
            # Whoever else took part that day is listed under another operation it ran in.
            others = fraud[(fraud["day"] == d) & fraud["account"].isin(took_part - accounts)]
            assert len(others) == len(took_part - accounts)
            # And the day's landing file holds those transfers.
            rows = valid_rows(days[d])
            pairs = set(zip(rows["sender"], rows["receiver"], strict=True))
            today = on_day == d
            assert set(zip(senders[today], receivers[today], strict=True)) <= pairs
        days_with_transfers = set(on_day[(on_day >= 0) & (on_day < 7)].tolist())
        assert days_with_transfers == set(per_day), ring_id
        differing += len({frozenset(a) for a in per_day.values()}) > 1
    assert differing >= 3  # the days really list different participants


@pytest.mark.slow
def test_fresh_dormant_and_camouflaged_laundering_accounts(weeks: dict[str, list[SampleDay]]):
    """Some launderers were not seen in the days before their operation; others also make
    ordinary payments; worlds with more fresh accounts show more unseen ones."""
    unseen_share = {}
    for world in ("crypto_offramp", "small_business", "retail_bank"):
        days = weeks[world]
        seen_before: set[str] = set()
        for d in days[:4]:
            rows = valid_rows(d)
            seen_before |= set(rows["sender"]) | set(rows["receiver"])
        later = week_truth(days[4:])
        starts = later["ring_id"] // 100_000 - WEEK_START.toordinal()
        launderers = later.loc[later["is_fraud"] & (starts >= 4), "account"].unique()
        unseen_share[world] = np.mean([a not in seen_before for a in launderers])
        # Camouflage: laundering accounts that also pay people outside their operation.
        sample = days[5]
        rows = valid_rows(sample)
        fraud = sample.ground_truth[sample.ground_truth["is_fraud"]]
        ring = dict(zip(fraud["account"], fraud["ring_id"], strict=True))
        outside = rows["sender"].map(ring).notna() & (
            rows["sender"].map(ring) != rows["receiver"].map(ring)
        )
        assert outside.sum() >= 10, world
    assert unseen_share["crypto_offramp"] > unseen_share["retail_bank"] > 0.1
    assert unseen_share["crypto_offramp"] > 0.35


# ---- amounts and timing ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("world", world_names())
def test_laundering_amounts_sit_inside_the_legitimate_range(
    world: str, weeks: dict[str, list[SampleDay]]
):
    laundering, background = [], []
    for sample in weeks[world]:
        rows = valid_rows(sample)
        listed = set(sample.ground_truth["account"])
        background.append(rows.loc[~rows["sender"].isin(listed) & ~rows["receiver"].isin(listed)])
        laundering.append(ring_edges(sample))
    amounts = pd.concat(laundering)["amount"]
    normal = pd.concat(background)["amount"]
    low, high = normal.quantile([0.05, 0.95])
    assert low < amounts.median() < high, (world, amounts.median(), low, high)
    assert amounts.between(low, high).mean() > 0.5
    structured = amounts.between(9_000, 9_999.99).mean()
    if WORLDS[world].structuring_share == 0:
        assert structured < 0.02
    else:
        assert structured < 0.5


@pytest.mark.slow
def test_worlds_move_money_at_their_own_scale_and_speed(weeks: dict[str, list[SampleDay]]):
    def background_median(world: str) -> float:
        return float(np.median([valid_rows(d)["amount"].median() for d in weeks[world]]))

    ratio = background_median("cross_border") / background_median("retail_bank")
    assert 5 < ratio < 12

    def ring_span_hours(world: str) -> float:
        edges = pd.concat([ring_edges(d) for d in weeks[world]])
        span = edges.groupby("ring_id")["time"].agg(lambda t: t.max() - t.min())
        return float(span.dt.total_seconds().median() / 3600)

    assert ring_span_hours("crypto_offramp") < 6
    assert ring_span_hours("cross_border") > 2 * ring_span_hours("crypto_offramp")
    assert ring_span_hours("cross_border") > 12

    def multi_day_share(world: str) -> float:
        fraud = week_truth(weeks[world]).query("is_fraud")
        return float((fraud.groupby("ring_id")["day"].nunique() >= 2).mean())

    assert multi_day_share("payments_company") > 2 * multi_day_share("crypto_offramp")


@pytest.mark.slow
def test_exchanges_take_deposits_just_under_ten_thousand_only_where_the_world_has_them(
    weeks: dict[str, list[SampleDay]],
):
    def under_threshold_deposits(world: str) -> float:
        shares = []
        for sample in weeks[world]:
            rows = valid_rows(sample)
            truth = sample.ground_truth
            exchanges = truth.loc[truth["typology"] == "exchange", "account"]
            deposits = rows.loc[rows["receiver"].isin(exchanges), "amount"]
            shares.append(deposits.between(9_000, 9_999.99).mean())
        return float(np.mean(shares))

    # Cross-border amounts are 8x larger, so a few land there without anyone aiming for it.
    assert under_threshold_deposits("crypto_offramp") > 0.06
    assert under_threshold_deposits("retail_bank") > 0.015
    assert under_threshold_deposits("cross_border") < 0.02


# ---- the look-alikes of laundering -----------------------------------------------------------


@pytest.mark.parametrize("world", ["retail_bank", "payments_company"])
def test_a_processor_settles_the_takings_of_earlier_days_minus_its_fee(world: str):
    cfg = config(world)
    day = dt.date(2024, 10, 9)
    gen._clear_caches()
    alone = generate_day(day, cfg)  # with nothing cached: the earlier days are re-derived
    before = generate_day(day - dt.timedelta(days=1), cfg)
    again = generate_day(day, cfg)
    pd.testing.assert_frame_equal(alone.transactions, again.transactions)

    pop = gen._population(*gen._key(cfg))
    processors = pop.processors
    label = np.asarray(pop.labels.to_pylist(), dtype=object)
    hub_of = label[processors.accounts[processors.merchant_processor]]
    merchant_label = label[processors.merchants]

    # Yesterday's card payments in the landing file are exactly the takings re-derived today.
    taken, cents = flows.takings(gen._key(cfg), (day - dt.timedelta(days=1)).toordinal())
    rows = valid_rows(before)
    inflow = rows[rows["receiver"].isin(set(hub_of))].groupby("receiver")["amount"].sum()
    expected = pd.Series(cents / 100).groupby(hub_of[taken]).sum()
    pd.testing.assert_series_equal(
        inflow.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
    )

    # Today's settlement to each next-day merchant is its takings of yesterday, less the fee.
    rows = valid_rows(again)
    settled = rows[rows["sender"].isin(set(hub_of)) & rows["receiver"].isin(set(merchant_label))]
    cents_paid = np.round(settled["amount"] * 100).astype(np.int64)
    paid = dict(zip(settled["receiver"], cents_paid, strict=True))
    totals = np.bincount(taken, weights=cents, minlength=len(merchant_label)).astype(np.int64)
    next_day = np.flatnonzero((processors.lag == 1) & (totals > 0))
    assert len(next_day) >= 3
    for m in next_day:
        assert paid[merchant_label[m]] == totals[m] * (10_000 - processors.fee_bp[m]) // 10_000
        assert 0.97 <= paid[merchant_label[m]] / totals[m] <= 0.985
    # Settled merchants then pass 40-90% of it on within hours.
    for m in next_day[np.argsort(-totals[next_day])][:5]:
        onward = rows.loc[rows["sender"] == merchant_label[m], "amount"].sum() * 100
        assert 0.35 <= onward / paid[merchant_label[m]] <= 0.9


def test_payroll_bureaus_pass_on_their_funding_within_hours_on_pay_days(
    weeks: dict[str, list[SampleDay]],
):
    days = weeks["small_business"]
    paying_days = 0
    for sample in days:
        rows = valid_rows(sample)
        truth = sample.ground_truth
        bureaus = truth.loc[(truth["typology"] == "payroll_bureau") & (truth["role"] == "hub")]
        if sample.day.weekday() >= 5:
            assert bureaus.empty  # employers pay on weekdays
            continue
        paying_days += len(bureaus) > 0
        for bureau in bureaus["account"]:
            money_in = rows.loc[rows["receiver"] == bureau]
            money_out = rows.loc[rows["sender"] == bureau]
            assert 0.98 <= money_out["amount"].sum() / money_in["amount"].sum() <= 1.0
            assert money_out["receiver"].nunique() > 3 * money_in["sender"].nunique()
            lag = money_out["time"].min() - money_in["time"].min()
            assert pd.Timedelta(0) < lag < pd.Timedelta(hours=5)
    assert paying_days == 5


@pytest.mark.slow
def test_wholesalers_pass_on_most_of_the_days_revenue_on_business_days(
    weeks: dict[str, list[SampleDay]],
):
    for sample in weeks["small_business"]:
        truth = sample.ground_truth
        wholesalers = truth.loc[truth["typology"] == "wholesale", "account"]
        if sample.day.weekday() >= 5:
            assert wholesalers.empty
            continue
        rows = valid_rows(sample)
        for account in wholesalers[:20]:
            revenue = rows.loc[rows["receiver"] == account]
            payouts = rows.loc[rows["sender"] == account]
            assert revenue["sender"].nunique() >= 3
            assert 1 <= payouts["receiver"].nunique() <= 5
            assert 0.55 <= payouts["amount"].sum() / revenue["amount"].sum() <= 0.96
            assert payouts["time"].min() > revenue["time"].max()


def test_landlords_collect_rent_around_the_month_start_and_pay_a_mortgage(
    weeks: dict[str, list[SampleDay]],
):
    days = weeks["small_business"]
    per_day = [int((d.ground_truth["typology"] == "landlord").sum()) for d in days]
    first_of_month = [d.day.day for d in days].index(1)
    assert per_day[first_of_month] == max(per_day)
    truth = week_truth(days)
    lenders = truth.loc[truth["role"] == "lender", "account"].unique()
    assert len(lenders) >= 1
    rows = pd.concat([valid_rows(d) for d in days])
    landlords = truth.loc[(truth["typology"] == "landlord") & (truth["role"] == "hub"), "account"]
    mortgage_payers = set(rows.loc[rows["receiver"].isin(lenders), "sender"])
    assert len(mortgage_payers & set(landlords)) >= 20
    rent = rows[rows["receiver"].isin(mortgage_payers)].groupby("receiver")["sender"].nunique()
    assert rent.median() >= 3  # several tenants each


def test_bill_splits_and_one_offs_look_like_laundering_but_are_not(
    weeks: dict[str, list[SampleDay]],
):
    sample = weeks["retail_bank"][2]
    rows = valid_rows(sample)
    truth = sample.ground_truth.set_index("account")
    members = truth.index[truth["typology"] == "bill_split"]
    among = rows[rows["sender"].isin(members) & rows["receiver"].isin(members)]
    assert len(among) > 50
    assert among["amount"].median() < 100  # small amounts between friends
    # Some settle up in a closed loop: A pays B, B pays C, C pays A.
    pairs = set(zip(among["sender"], among["receiver"], strict=True))
    successors: dict[str, set[str]] = {}
    for a, b in pairs:
        successors.setdefault(a, set()).add(b)
    loops = sum(
        a in successors.get(c, set())
        for a, bs in successors.items()
        for b in bs
        for c in successors.get(b, set())
        if c != a
    )
    assert loops >= 3

    # A windfall arrives, and 50-90% of it leaves within two days.
    days = weeks["retail_bank"]
    rows = pd.concat([valid_rows(d) for d in days])
    recipients = week_truth(days[:3]).query("typology == 'one_off'")["account"].unique()
    assert len(recipients) >= 20
    passed_on = []
    for account in recipients[:20]:
        received = rows.loc[rows["receiver"] == account].nlargest(1, "amount")
        windfall = received.iloc[0]
        later = rows[
            (rows["sender"] == account)
            & (rows["time"] > windfall["time"])
            & (rows["time"] < windfall["time"] + pd.Timedelta(days=2))
        ]
        passed_on.append(later["amount"].sum() / windfall["amount"])
    assert 0.5 <= np.median(passed_on) <= 1.2


@pytest.mark.slow
@pytest.mark.parametrize("world", world_names())
def test_every_world_builds_a_tiny_day(world: str):
    sample = generate_day(WEEK_START, config(world, size=1_500))
    assert len(sample.transactions) == 1_500
    fraud = sample.ground_truth[sample.ground_truth["is_fraud"]]
    assert fraud["typology"].nunique() >= 0.75 * len(WORLDS[world].present_typologies)
