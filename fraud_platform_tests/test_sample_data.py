"""The sample-data generator: determinism, the landing file contract, and the planted truth."""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraud_platform.sample_data import (
    FRAUD_TYPOLOGIES,
    GROUND_TRUTH_COLUMNS,
    HUB_TYPOLOGIES,
    LEGITIMATE_TYPOLOGIES,
    SampleConfig,
    SampleDay,
    flows,
    generate_day,
    generate_days,
    read_ground_truth,
    write_day,
)
from fraud_platform.sample_data import generator as gen
from fraud_platform.sample_data.sampling import ROLES
from fraud_platform.sample_data.worlds import ALL_TYPOLOGIES
from fraud_platform.tables import LANDING_REQUIRED_COLUMNS, PARTITION_COLUMN

DAY = dt.date(2024, 10, 1)
CONFIG = SampleConfig(transactions_per_day=20_000, files_per_day=4, seed=11)


@pytest.fixture(scope="module")
def sample() -> SampleDay:
    return generate_day(DAY, CONFIG)


@pytest.fixture(scope="module")
def written(sample: SampleDay, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("landing")
    return root, write_day(str(root), sample, CONFIG)


@pytest.fixture(scope="module")
def valid(sample: SampleDay) -> pd.DataFrame:
    """The day's rows minus the deliberately broken ones, with numeric amounts."""
    rows = sample.transactions[
        ~sample.transactions["transaction_id"].isin(sample.malformed["transaction_id"])
    ].copy()
    rows["amount"] = rows["amount"].astype(float)
    return rows


def _read_part(path: Path) -> pd.DataFrame:
    if path.name.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _flows(valid: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Distinct counterparties and money, in and out, per account."""
    in_degree = valid.groupby("receiver")["sender"].nunique()
    out_degree = valid.groupby("sender")["receiver"].nunique()
    money_in = valid.groupby("receiver")["amount"].sum()
    money_out = valid.groupby("sender")["amount"].sum()
    return in_degree, out_degree, money_in, money_out


# ---- determinism -----------------------------------------------------------------------------


def test_same_seed_and_day_give_identical_frames_and_bytes(sample: SampleDay, tmp_path: Path):
    gen._clear_caches()  # rebuild the population and the re-derived earlier days too
    again = generate_day(DAY, CONFIG)
    pd.testing.assert_frame_equal(again.transactions, sample.transactions)
    pd.testing.assert_frame_equal(again.ground_truth, sample.ground_truth)
    pd.testing.assert_frame_equal(again.malformed, sample.malformed)

    first = write_day(str(tmp_path / "a"), sample, CONFIG)
    second = write_day(str(tmp_path / "b"), again, CONFIG)
    assert len(first) == len(second) == CONFIG.files_per_day + 1
    for a, b in zip(first, second, strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes(), a


def test_other_day_differs_but_population_and_hubs_stay(sample: SampleDay):
    tomorrow = generate_day(DAY + dt.timedelta(days=1), CONFIG)
    assert tomorrow.transactions["transaction_id"].iloc[0] == "T20241002-00000001"
    assert not np.array_equal(
        tomorrow.transactions["amount"].to_numpy(), sample.transactions["amount"].to_numpy()
    )
    # The same customers come back: most of today's senders also send tomorrow.
    today_senders = set(sample.transactions["sender"].dropna())
    tomorrow_senders = set(tomorrow.transactions["sender"].dropna())
    assert len(today_senders & tomorrow_senders) > 0.5 * len(today_senders)
    # Merchants and employers are busy every day; the other families come and go.
    hubs = sample.ground_truth[sample.ground_truth["typology"].isin(HUB_TYPOLOGIES)]
    hubs_tomorrow = tomorrow.ground_truth[tomorrow.ground_truth["typology"].isin(HUB_TYPOLOGIES)]
    pd.testing.assert_frame_equal(hubs.reset_index(drop=True), hubs_tomorrow.reset_index(drop=True))


def test_other_seed_gives_other_accounts(sample: SampleDay):
    other = generate_day(DAY, SampleConfig(transactions_per_day=20_000, files_per_day=4, seed=12))
    overlap = set(other.transactions["sender"].dropna()) & set(
        sample.transactions["sender"].dropna()
    )
    assert len(overlap) < 0.05 * sample.transactions["sender"].nunique()


# ---- the landing contract --------------------------------------------------------------------


def test_ids_are_unique_sequential_and_well_formed(sample: SampleDay):
    tx = sample.transactions
    assert list(tx.columns) == [*LANDING_REQUIRED_COLUMNS, "currency"]
    assert len(tx) == CONFIG.transactions_per_day
    assert tx["transaction_id"].is_unique
    assert tx["transaction_id"].iloc[0] == "T20241001-00000001"
    assert tx["transaction_id"].iloc[-1] == "T20241001-00020000"
    accounts = pd.concat([tx["sender"].dropna(), tx["receiver"]])
    assert accounts.str.fullmatch(r"ACC\d{7}").all()
    assert set(tx["currency"].dropna()) == {"USD", "EUR", "GBP"}
    assert tx["currency"].isin(["USD", "EUR"]).mean() > 0.9


def test_parts_rotate_formats_and_read_back_as_written(
    sample: SampleDay, written: tuple[Path, list[str]]
):
    root, urls = written
    folder = root / "landing" / "transactions" / "date=2024-10-01"
    names = ["part-000.csv", "part-001.csv.gz", "part-002.parquet", "part-003.csv"]
    assert sorted(p.name for p in folder.iterdir()) == names  # no temporary files left behind
    assert urls[:4] == [str(folder / n) for n in names]
    assert urls[4] == str(root / "sample" / "ground_truth" / "date=2024-10-01" / "accounts.csv")
    assert (folder / "part-001.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # really gzip

    start = 0
    for name, rows in zip(names, sample.file_rows, strict=True):
        part = _read_part(folder / name)
        expected = sample.transactions.iloc[start : start + rows].reset_index(drop=True)
        start += rows
        assert list(part.columns) == list(expected.columns)
        if name.endswith(".parquet"):
            schema = pq.read_schema(folder / name)
            assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
            assert schema.field("amount").type == pa.float64()
            parsed = pd.to_datetime(expected["timestamp"], utc=True, format="ISO8601")
            assert (part["timestamp"] == parsed).all()
            assert np.allclose(part["amount"], expected["amount"].astype(float))
            assert (part["sender"] == expected["sender"]).all()
        else:
            pd.testing.assert_frame_equal(part, expected, check_dtype=False)
    assert start == CONFIG.transactions_per_day


def test_timestamps_are_iso_utc_over_the_day_with_a_rhythm(valid: pd.DataFrame, sample: SampleDay):
    text = valid["timestamp"]
    zoned = text.str.fullmatch(r"2024-10-01T\d\d:\d\d:\d\dZ")
    naive = text.str.fullmatch(r"2024-10-01T\d\d:\d\d:\d\d\.\d{3}")
    assert (zoned | naive).all()
    assert zoned.any() and naive.any()
    times = pd.to_datetime(text, utc=True, format="ISO8601")
    assert times.min() >= pd.Timestamp("2024-10-01", tz="UTC")
    assert times.max() < pd.Timestamp("2024-10-02", tz="UTC")
    # Ids and parts follow time. Parts with a Z print whole seconds, so only within a part is
    # the order exact; across parts it holds to the second.
    part = np.repeat(np.arange(len(sample.file_rows)), sample.file_rows)[
        sample.transactions.index.get_indexer(valid.index)
    ]
    assert all(t.is_monotonic_increasing for _, t in times.groupby(part))
    assert times.dt.floor("s").is_monotonic_increasing
    hours = times.dt.hour.value_counts()
    assert hours.loc[[18, 19]].sum() > 5 * hours.loc[[3, 4]].sum()


def test_amounts_look_like_money(valid: pd.DataFrame, sample: SampleDay):
    text = sample.transactions.loc[valid.index, "amount"]
    assert text.str.fullmatch(r"\d+\.\d\d").all()
    amount = valid["amount"]
    assert (amount > 0).all()
    assert 20 < amount.median() < 150
    whole_tens = (amount % 10 == 0).mean()
    assert 0.03 < whole_tens < 0.3  # some round numbers, not all
    # Heavy tail: the busiest 1% of senders make over 8% of the transfers.
    per_sender = valid.groupby("sender").size().sort_values(ascending=False)
    top = per_sender.iloc[: max(1, len(per_sender) // 100)].sum()
    assert top > 0.08 * len(valid)


def test_malformed_rows_are_exactly_the_listed_ones(
    sample: SampleDay, written: tuple[Path, list[str]]
):
    root, _ = written
    folder = root / "landing" / "transactions" / "date=2024-10-01"
    assert sample.malformed_rows == round(CONFIG.malformed_rate * CONFIG.transactions_per_day)
    assert set(sample.malformed["kind"]) == {kind for kind, _ in gen.MALFORMED_KINDS}

    found: dict[str, tuple[str, int]] = {}
    for path in sorted(folder.iterdir()):
        part = _read_part(path)
        if path.name.endswith(".parquet"):
            assert part["sender"].notna().all()
            assert (part["amount"] > 0).all()
            continue
        amount = pd.to_numeric(part["amount"], errors="coerce")
        stamp = pd.to_datetime(part["timestamp"], utc=True, format="ISO8601", errors="coerce")
        broken = (
            amount.isna()
            | (amount <= 0)
            | part["sender"].isna()
            | stamp.isna()
            | (part["sender"] == part["receiver"])
        )
        for row in np.flatnonzero(broken.to_numpy()):
            found[part["transaction_id"].iloc[row]] = (path.name, int(row) + 2)

    listed = {
        t: (f, line)
        for t, f, line in sample.malformed[["transaction_id", "source_file", "line"]].itertuples(
            index=False
        )
    }
    assert found == listed
    assert sample.malformed["source_file"].str.endswith((".csv", ".csv.gz")).all()


# ---- the planted truth -----------------------------------------------------------------------


def test_ground_truth_holds_laundering_hubs_and_look_alikes(sample: SampleDay):
    truth = sample.ground_truth
    assert list(truth.columns) == list(GROUND_TRUTH_COLUMNS)
    assert truth["account"].is_unique
    assert set(truth["typology"]) <= set(FRAUD_TYPOLOGIES) | set(LEGITIMATE_TYPOLOGIES)
    assert set(HUB_TYPOLOGIES) <= set(truth["typology"])
    hubs = truth[truth["typology"].isin(HUB_TYPOLOGIES)]
    assert (hubs["role"] == "hub").all()
    legitimate = truth[truth["typology"].isin(LEGITIMATE_TYPOLOGIES)]
    assert (~legitimate["is_fraud"]).all() and (legitimate["ring_id"] == -1).all()
    assert legitimate["typology"].nunique() >= 6  # look-alikes besides merchants and employers
    fraud = truth[truth["typology"].isin(FRAUD_TYPOLOGIES)]
    assert fraud["is_fraud"].all() and (fraud["ring_id"] >= 0).all()
    assert fraud["typology"].nunique() >= 6  # most typologies every day
    assert set(fraud["role"]) == {"source", "mule", "collector"}
    # Every ring carries one typology.
    assert (fraud.groupby("ring_id")["typology"].nunique() == 1).all()


def test_fraud_is_a_small_share_of_active_accounts(sample: SampleDay, valid: pd.DataFrame):
    active = pd.unique(pd.concat([valid["sender"], valid["receiver"]]))
    fraud = sample.ground_truth.loc[sample.ground_truth["is_fraud"], "account"]
    assert fraud.isin(active).all()  # every labelled account really transacts that day
    assert 0.005 <= len(fraud) / len(active) <= 0.02


def test_merchants_and_employers_are_hubs_with_legitimate_money_shapes(
    sample: SampleDay, valid: pd.DataFrame
):
    in_degree, out_degree, money_in, money_out = _flows(valid)
    typical = in_degree.quantile(0.99)
    truth = sample.ground_truth.set_index("account")
    for merchant in truth.index[truth["typology"] == "merchant"]:
        assert in_degree[merchant] >= 200
        assert in_degree[merchant] > 10 * typical
        assert out_degree[merchant] <= 3
        assert money_out[merchant] <= 0.25 * money_in[merchant]  # little money out
    for employer in truth.index[truth["typology"] == "employer"]:
        assert out_degree[employer] >= 100
        assert in_degree[employer] <= 2  # funded by one or two big inflows
        assert money_out[employer] <= money_in[employer] <= 1.06 * money_out[employer] + 1_000
        salaries = valid.loc[valid["sender"] == employer, "amount"]
        assert (salaries % 10 == 0).all()  # round-ish salaries
    # The busiest receiver of the whole day is a merchant.
    assert truth.loc[in_degree.idxmax(), "typology"] == "merchant"


#: Per laundering operation: its typology, its members (account, role) and its transfers.
Operation = tuple[str, pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def completed() -> list[Operation]:
    """The operations that start on the first three of six days, so they end within the six
    (an operation spans at most four days), with their transfers as the files hold them."""
    days = [generate_day(DAY + dt.timedelta(days=i), CONFIG) for i in range(6)]
    rows = pd.concat(
        [
            d.transactions[~d.transactions["transaction_id"].isin(d.malformed["transaction_id"])]
            for d in days
        ]
    ).astype({"amount": float})
    rows["time"] = pd.to_datetime(rows["timestamp"], utc=True, format="ISO8601")
    pop = gen._population(*gen._key(CONFIG))
    label = np.asarray(pop.labels.to_pylist(), dtype=object)
    found = []
    for offset in range(3):
        operations = flows.operations(
            gen._key(CONFIG), (DAY + dt.timedelta(days=offset)).toordinal()
        )
        for number, typology in enumerate(operations.typology):
            mine = operations.member_key // pop.size == number
            members = pd.DataFrame(
                {
                    "account": label[operations.member_key[mine] % pop.size],
                    "role": np.asarray(ROLES)[operations.member_role[mine]],
                }
            )
            inside = rows["sender"].isin(members["account"]) & rows["receiver"].isin(
                members["account"]
            )
            found.append((ALL_TYPOLOGIES[typology], members, rows[inside]))
    return found


def test_mules_pass_on_most_of_what_they_receive(completed: list[Operation]):
    ratios = []
    for _, members, edges in completed:
        money_in = edges.groupby("receiver")["amount"].sum()
        money_out = edges.groupby("sender")["amount"].sum()
        mules = members.loc[members["role"] == "mule", "account"]
        ratios.extend((money_out.reindex(mules) / money_in.reindex(mules)).tolist())
    ratios = pd.Series(ratios)
    assert len(ratios) >= 30
    # Each hop keeps 0-15% (and sometimes rounds down): partly, never fully, conserved.
    assert ratios.between(0.8, 1.0).all(), ratios.describe()
    assert ratios.std() > 0.02 and ratios.median() < 0.97


def test_laundering_hops_are_hours_apart(completed: list[Operation]):
    gaps = []
    for _, members, edges in completed:
        mules = set(members.loc[members["role"] == "mule", "account"])
        for mule in mules:
            arrived = edges.loc[edges["receiver"] == mule, "time"].min()
            left = edges.loc[edges["sender"] == mule, "time"].min()
            gaps.append((left - arrived).total_seconds() / 3600)
    gaps = pd.Series(gaps)
    assert (gaps > 0).all()
    assert gaps.median() > 0.5  # not minutes, as a naive generator would have it
    assert gaps.quantile(0.9) > 6  # and some wait most of a day or more


def test_operation_shapes(completed: list[Operation]):
    seen = set()
    for typology, members, edges in completed:
        seen.add(typology)
        role = dict(zip(members["account"], members["role"], strict=True))
        by_role = members.groupby("role")["account"].apply(set).to_dict()
        sources = by_role.get("source", set())
        mules = by_role.get("mule", set())
        collectors = by_role.get("collector", set())
        link = set(zip(edges["sender"].map(role), edges["receiver"].map(role), strict=True))
        senders_of = edges.groupby("receiver")["sender"].apply(set).to_dict()
        receivers_of = edges.groupby("sender")["receiver"].apply(set).to_dict()
        if typology == "cycle":
            assert 3 <= len(members) <= 7 and len(sources) == 1 and not collectors
            # One closed loop: everyone sends once and receives once.
            assert (
                sorted(edges["sender"]) == sorted(members["account"]) == sorted(edges["receiver"])
            )
        elif typology == "fan_out":
            (source,) = sources
            assert receivers_of[source] == mules and len(mules) >= 3
            assert link == {("source", "mule"), ("mule", "collector")}
        elif typology == "fan_in":
            (mule,) = mules
            assert senders_of[mule] == sources and len(sources) >= 3
            assert receivers_of[mule] == collectors
        elif typology == "scatter_gather":
            (source,), (collector,) = sources, collectors
            assert receivers_of[source] == mules == senders_of[collector]
        elif typology == "gather_scatter":
            (mule,) = mules
            assert senders_of[mule] == sources and receivers_of[mule] == collectors
            assert len(collectors) >= 2
        elif typology == "bipartite":
            assert not mules and link == {("source", "collector")}
            assert set(receivers_of) == sources and set(senders_of) == collectors
        elif typology == "stack":
            assert link == {("source", "mule"), ("mule", "mule"), ("mule", "collector")}
        else:  # random_chain: from one source through mules to one collector
            assert typology == "random_chain"
            (source,), (collector,) = sources, collectors
            reached, frontier = set(), {source}
            while frontier:
                reached |= frontier
                frontier = set().union(*(receivers_of.get(a, set()) for a in frontier)) - reached
            assert collector in reached and mules <= reached
    assert seen == set(FRAUD_TYPOLOGIES)


# ---- writing, reading back, several days -----------------------------------------------------


def test_generate_days_writes_each_day_and_rings_recur(tmp_path: Path):
    config = SampleConfig(transactions_per_day=5_000, seed=3)
    seen: list[dt.date] = []
    days = generate_days(str(tmp_path), DAY, 4, config, progress=seen.append)
    assert seen == [DAY + dt.timedelta(days=i) for i in range(4)]
    assert [d.day for d in days] == seen
    for d in seen:
        parts = sorted((tmp_path / "landing" / "transactions" / f"date={d}").iterdir())
        assert [p.name for p in parts] == ["part-000.csv", "part-001.csv.gz", "part-002.parquet"]

    truth = read_ground_truth(str(tmp_path))
    assert list(truth.columns) == [PARTITION_COLUMN, *GROUND_TRUTH_COLUMNS]
    assert sorted(truth[PARTITION_COLUMN].unique()) == [d.isoformat() for d in seen]
    assert truth["is_fraud"].dtype == bool and truth["ring_id"].dtype == np.int64
    second = truth[truth[PARTITION_COLUMN] == "2024-10-02"].drop(columns=PARTITION_COLUMN)
    pd.testing.assert_frame_equal(
        second.reset_index(drop=True), days[1].ground_truth, check_dtype=False
    )
    # Persistence: some fraud accounts are planted on more than one day.
    fraud_days = truth[truth["is_fraud"]].groupby("account")[PARTITION_COLUMN].nunique()
    assert (fraud_days >= 2).any()

    only = read_ground_truth(str(tmp_path), [DAY + dt.timedelta(days=3)])
    assert set(only[PARTITION_COLUMN]) == {"2024-10-04"}
    with pytest.raises(FileNotFoundError):
        read_ground_truth(str(tmp_path), [DAY - dt.timedelta(days=1)])


def test_write_day_to_an_fsspec_url(tmp_path: Path):
    """Object-store URLs go through fsspec (here its in-memory filesystem), not local paths."""
    fs = fsspec.filesystem("memory")
    url = f"memory://sample-data-{tmp_path.name}"
    config = SampleConfig(transactions_per_day=3_000, seed=5)
    day = generate_day(DAY, config)
    try:
        urls = write_day(url, day, config)
        assert urls == [
            f"{url}/landing/transactions/date=2024-10-01/part-000.csv",
            f"{url}/landing/transactions/date=2024-10-01/part-001.csv.gz",
            f"{url}/landing/transactions/date=2024-10-01/part-002.parquet",
            f"{url}/sample/ground_truth/date=2024-10-01/accounts.csv",
        ]
        with fs.open(urls[2], "rb") as handle:
            assert pq.read_table(handle).num_rows == day.file_rows[2]
        truth = read_ground_truth(url)
        pd.testing.assert_frame_equal(
            truth.drop(columns=PARTITION_COLUMN), day.ground_truth, check_dtype=False
        )
    finally:
        fs.rm(url, recursive=True)


def test_read_ground_truth_of_an_empty_store(tmp_path: Path):
    truth = read_ground_truth(str(tmp_path))
    assert truth.empty
    assert list(truth.columns) == [PARTITION_COLUMN, *GROUND_TRUTH_COLUMNS]


def test_write_day_accepts_a_hand_made_day(tmp_path: Path):
    rows = pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "timestamp": ["2024-10-05T01:00:00Z", "2024-10-05T02:00:00", "2024-10-05T03:00:00Z"],
            "sender": ["A", "B", "C"],
            "receiver": ["B", "C", "A"],
            "amount": ["10.00", "20.50", "7.25"],
        }
    )
    truth = pd.DataFrame(
        {
            "account": ["A"],
            "typology": ["cycle"],
            "is_fraud": [True],
            "ring_id": [0],
            "role": ["mule"],
        }
    )
    day = SampleDay(dt.date(2024, 10, 5), rows, truth)
    assert day.malformed_rows == 0
    urls = write_day(str(tmp_path), day, SampleConfig(files_per_day=3))
    folder = tmp_path / "landing" / "transactions" / "date=2024-10-05"
    assert urls[:3] == [str(folder / n) for n in day.file_names()]
    assert _read_part(folder / "part-000.csv")["transaction_id"].tolist() == ["t1"]
    with gzip.open(folder / "part-001.csv.gz", "rt") as handle:
        assert handle.read().splitlines()[1].startswith('"t2"')
    parquet = pd.read_parquet(folder / "part-002.parquet")
    assert parquet["amount"].tolist() == [7.25]
    assert parquet["timestamp"].tolist() == [pd.Timestamp("2024-10-05T03:00:00Z")]

    with pytest.raises(ValueError, match="required columns"):
        write_day(str(tmp_path), SampleDay(day.day, rows.drop(columns="amount"), truth))


def test_config_is_validated():
    with pytest.raises(ValueError, match="unknown world 'nowhere'"):
        SampleConfig(world="nowhere")
    with pytest.raises(ValueError):
        SampleConfig(files_per_day=0)
    with pytest.raises(ValueError):
        SampleConfig(malformed_rate=0.9)
    assert SampleConfig(transactions_per_day=100).population_size == 200
    assert SampleConfig(transactions_per_day=40_000).population_size == 10_000


# ---- text assembly ---------------------------------------------------------------------------


def test_format_cents_and_times_by_hand():
    cents = np.array([0, 5, 100, 123_456, -99, 1_000_000_000])
    assert gen.format_cents(cents).to_pylist() == [
        "0.00",
        "0.05",
        "1.00",
        "1234.56",
        "-0.99",
        "10000000.00",
    ]
    assert gen.format_cents(np.array([1_250]), decimal=",", suffix="x").to_pylist() == ["12,50x"]
    ms = np.array([0, 49_512_345, 86_399_999])
    assert gen.format_times(DAY, ms, millis=False).to_pylist() == [
        "2024-10-01T00:00:00Z",
        "2024-10-01T13:45:12Z",
        "2024-10-01T23:59:59Z",
    ]
    assert gen.format_times(DAY, ms, millis=True).to_pylist()[1] == "2024-10-01T13:45:12.345"
    assert re.fullmatch(r"part-\d{3}\.csv\.gz", gen.part_name(4))
