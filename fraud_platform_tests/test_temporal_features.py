"""Time-aware laundering features on hand-built days whose answer is known.

Each scenario is a handful of transfers at given hours; the vectorised features are checked
against exact values, and on small random days against plain-Python reference implementations
of the same definitions (FIFO relay, sliding windows, 2-hop chains, temporal cycles).
"""

from __future__ import annotations

from collections import deque
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from fraud_platform.defs.features import patterns
from fraud_platform.defs.features.temporal import (
    HUB_DEGREE,
    TEMPORAL_FEATURE_COLUMNS,
    temporal_features,
)
from fraud_platform.defs.features.transfers import MICROS_PER_HOUR, DayTransfers

MIDNIGHT = 19_700 * 24 * MICROS_PER_HOUR  # a UTC midnight, microseconds since the epoch


def make_day(rows: list[tuple[int, int, float, float]], accounts: int) -> DayTransfers:
    """Transfers as (sender, receiver, amount, hour of the day)."""
    sender, receiver, amount, hour = zip(*rows, strict=True)
    time = [MIDNIGHT + round(h * MICROS_PER_HOUR) for h in hour]
    return DayTransfers.from_arrays(
        np.array(sender),
        np.array(receiver),
        np.array(amount, dtype=float),
        np.array(time),
        accounts,
    )


def random_day(n: int, accounts: int, seed: int) -> DayTransfers:
    rng = np.random.default_rng(seed)
    sender = rng.integers(0, accounts, n)
    receiver = rng.integers(0, accounts, n)
    amount = np.round(rng.lognormal(6, 1.2, n), 2)
    amount[rng.random(n) < 0.2] = 9_500.0
    time = MIDNIGHT + rng.integers(0, 24 * MICROS_PER_HOUR, n)
    return DayTransfers.from_arrays(sender, receiver, amount, time, accounts)


# --- hand-built scenarios ---------------------------------------------------------------------


def test_relay_chain_within_hours():
    a, b, c, d = 0, 1, 2, 3
    f = temporal_features(
        make_day([(a, b, 1_000, 10), (b, c, 970, 12), (c, d, 940, 15)], accounts=5)
    )
    assert f.loc[b, "relay_share_6h"] == pytest.approx(0.97)
    assert f.loc[b, "relay_share_day"] == pytest.approx(0.97)
    assert f.loc[b, "relay_share_1h"] == 0.0  # passed on after 2 h
    assert f.loc[c, "relay_share_6h"] == pytest.approx(940 / 970)
    assert f.loc[b, "relayed_out_share"] == pytest.approx(1.0)
    assert f.loc[b, "flow_conservation"] == pytest.approx(0.97)
    assert f.loc[b, "relay_promptness"] == pytest.approx(1 / 3)  # 2 h dwell
    assert f.loc[c, "relay_promptness"] == pytest.approx(1 / 4)  # 3 h dwell
    assert f.loc[b, "median_sent_over_received"] == pytest.approx(0.97)
    assert f["chain_middle_count"].tolist() == [0, 1, 1, 0, 0]
    assert f["chain_source_count"].tolist() == [1, 1, 0, 0, 0]
    assert f["chain_sink_count"].tolist() == [0, 0, 1, 1, 0]
    assert f["chain_middle_share"].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert f["chain_distinct_sources"].tolist() == [0, 1, 1, 0, 0]
    assert f["chain_distinct_sinks"].tolist() == [0, 1, 1, 0, 0]
    # A sends before it receives anything: out of an earlier balance, not relaying.
    assert f.loc[a, "out_before_in_share"] == 1.0
    assert f.loc[a, "relay_share_day"] == 0.0
    assert f.loc[d, "relay_share_day"] == 0.0
    # Neighbours pass their relay share with weight 1 - (degree - 1) / HUB_DEGREE.
    weight = 1 - 1 / HUB_DEGREE
    assert f.loc[a, "neighbour_relay_max"] == pytest.approx(weight * 0.97, rel=1e-6)
    assert f.loc[a, "degree_vs_hub"] == pytest.approx(1 / HUB_DEGREE)


def test_unrelated_amount_is_not_a_chain():
    f = temporal_features(make_day([(0, 1, 1_000, 10), (1, 2, 200, 11)], accounts=3))
    assert f["chain_middle_count"].sum() == 0
    assert f.loc[1, "relay_share_1h"] == pytest.approx(0.2)  # still relays 200 of 1,000


def test_chain_needs_time_order_and_window():
    late = temporal_features(make_day([(0, 1, 1_000, 2), (1, 2, 980, 9)], accounts=3))
    early = temporal_features(make_day([(1, 2, 980, 9), (0, 1, 1_000, 10)], accounts=3))
    assert late["chain_middle_count"].sum() == 0  # 7 h later: outside the 6 h window
    assert early["chain_middle_count"].sum() == 0  # paid out before the money came
    assert early.loc[1, "relay_share_day"] == 0.0
    assert early.loc[1, "out_before_in_share"] == 1.0


def _processor_day(pay_hour: float) -> tuple[DayTransfers, int]:
    """500 customers pay processor P over the day; P pays 20 merchants at ``pay_hour``."""
    rng = np.random.default_rng(7)
    processor = 0
    customers = np.arange(1, 501)
    merchants = np.arange(501, 521)
    rows = [
        (int(c), processor, float(rng.uniform(20, 200)), float(rng.uniform(1, 22.9)))
        for c in customers
    ]
    rows += [
        (processor, int(m), float(rng.uniform(500, 3_000)), pay_hour + i / 600)
        for i, m in enumerate(merchants)
    ]
    return make_day(rows, accounts=521), processor


def test_processor_paying_before_inflows_is_not_a_relay():
    day, p = _processor_day(pay_hour=0.25)
    f = temporal_features(day)
    assert f.loc[p, "relay_share_1h"] == 0.0
    assert f.loc[p, "relay_share_6h"] == 0.0
    assert f.loc[p, "relay_share_day"] == 0.0
    assert f.loc[p, "relayed_out_share"] == 0.0
    assert f.loc[p, "relay_promptness"] == 0.0
    assert f.loc[p, "out_before_in_share"] == 1.0
    assert f.loc[p, "degree_vs_hub"] == pytest.approx(520 / HUB_DEGREE)
    assert f.loc[p, "chain_middle_count"] == 0
    assert f.loc[p, "gather_scatter_middle"] == 0


def test_processor_settling_late_passes_no_evidence_to_customers():
    day, p = _processor_day(pay_hour=23.0)
    f = temporal_features(day)
    # Settling at 23:00 passes on the oldest money (first in, first out): nothing of it arrived
    # within 6 h, and it stayed for many hours.
    assert f.loc[p, "relay_share_6h"] == 0.0
    assert 0.0 < f.loc[p, "relay_share_day"] < 1.0
    assert 0.0 < f.loc[p, "relay_promptness"] < 1 / 10
    assert f.loc[p, "chain_middle_count"] == 0  # a hub expands no chains
    customers = f.loc[1:500]
    for column in (
        "neighbour_relay_max",
        "neighbour_relay_mean",
        "neighbour_chain_max",
        "neighbour_cycle_share",
        "neighbour_structuring_max",
        "chain_source_count",
        "gather_scatter_source",
    ):
        assert (customers[column] == 0).all(), column


def test_hub_relay_share_does_not_reach_customers():
    # A hub that *does* relay within the hour still passes nothing to its 60 customers.
    rows = [(c, 0, 100.0, 10 + c / 100) for c in range(1, 61)]
    rows += [(0, 61, 5_900.0, 10.9)]
    f = temporal_features(make_day(rows, accounts=62))
    assert f.loc[0, "relay_share_1h"] == pytest.approx(5_900 / 6_000)
    assert (f.loc[1:60, "neighbour_relay_max"] == 0).all()
    assert (f.loc[1:60, "neighbour_relay_mean"] == 0).all()
    small = temporal_features(make_day(rows, accounts=62), hub_degree=100)
    assert (small.loc[1:60, "neighbour_relay_max"] > 0).all()


def test_temporal_cycle_found_with_its_length():
    a, b, c = 0, 1, 2
    f = temporal_features(
        make_day([(a, b, 1_000, 10), (b, c, 980, 11), (c, a, 960, 12), (3, 4, 50, 12)], 5)
    )
    assert f["cycle_min_length"].tolist() == [3, 3, 3, 0, 0]
    assert f["cycle_count"].tolist() == [1, 1, 1, 0, 0]
    assert f.loc[a, "cycle_conservation"] == pytest.approx(0.96)
    assert f.loc[3, "neighbour_cycle_share"] == 0.0
    assert f.loc[a, "neighbour_cycle_share"] == pytest.approx(1.0)


def test_same_edges_with_decreasing_times_are_no_temporal_cycle():
    f = temporal_features(make_day([(0, 1, 1_000, 12), (1, 2, 980, 11), (2, 0, 960, 10)], 3))
    assert (f["cycle_min_length"] == 0).all()
    assert (f["cycle_count"] == 0).all()


def test_cycle_lengths_two_and_six_and_bill_splitting():
    two = temporal_features(make_day([(0, 1, 500, 9), (1, 0, 490, 10)], 2))
    assert two["cycle_min_length"].tolist() == [2, 2]
    six = temporal_features(
        make_day([(i, (i + 1) % 6, 1_000 - 10 * i, 8 + i) for i in range(6)], 6)
    )
    assert six["cycle_min_length"].tolist() == [6] * 6
    assert six.loc[0, "cycle_conservation"] == pytest.approx(950 / 1_000)
    seven = temporal_features(make_day([(i, (i + 1) % 7, 100, 8 + i) for i in range(7)], 7))
    assert (seven["cycle_min_length"] == 0).all()  # longer than six hops
    # Friends settling a dinner: a short loop of unrelated small amounts.
    friends = temporal_features(make_day([(0, 1, 45, 20), (1, 2, 12, 21), (2, 0, 30, 22)], 3))
    assert friends["cycle_min_length"].tolist() == [3, 3, 3]
    assert friends.loc[0, "cycle_conservation"] == pytest.approx(12 / 45)


def test_cycle_hops_must_follow_within_the_window():
    f = temporal_features(make_day([(0, 1, 1_000, 1), (1, 2, 990, 2), (2, 0, 980, 9)], 3))
    assert (f["cycle_min_length"] == 0).all()  # the last hop is 7 h after the previous


def test_scatter_gather_roles_and_width():
    s, t = 0, 4
    rows = [(s, m, 1_000.0, 10 + m / 12) for m in (1, 2, 3)]
    rows += [(m, t, 950.0, 11 + m / 12) for m in (1, 2, 3)]
    f = temporal_features(make_day(rows, accounts=6))
    assert f["scatter_gather_source"].tolist() == [3, 0, 0, 0, 0, 0]
    assert f["scatter_gather_middle"].tolist() == [0, 3, 3, 3, 0, 0]
    assert f["scatter_gather_target"].tolist() == [0, 0, 0, 0, 3, 0]
    assert (f["gather_scatter_middle"] == 0).all()
    two = temporal_features(make_day([r for r in rows if r[0] != 3 and r[1] != 3], 6))
    assert (two["scatter_gather_source"] == 0).all()  # two intermediaries are not enough


def test_gather_scatter_roles_and_width():
    m = 0
    sources, targets = (1, 2, 3, 4), (5, 6, 7)
    rows = [(src, m, 1_000.0, 10 + i / 6) for i, src in enumerate(sources)]
    rows += [(m, dst, 1_200.0, 12 + i / 6) for i, dst in enumerate(targets)]
    f = temporal_features(make_day(rows, accounts=9))
    assert f.loc[m, "gather_scatter_middle"] == 3  # min(4 sources, 3 targets)
    assert f["gather_scatter_source"].tolist() == [0, 3, 3, 3, 3, 0, 0, 0, 0]
    assert f["gather_scatter_target"].tolist() == [0, 0, 0, 0, 0, 3, 3, 3, 0]
    assert f.loc[m, "relay_share_6h"] == pytest.approx(0.9)
    # The same counterparties, but paid out of an earlier balance before the money came in.
    early = [row for row in rows if row[1] == m]
    early += [(m, dst, 1_200.0, 8 + i / 6) for i, dst in enumerate(targets)]
    g = temporal_features(make_day(early, accounts=9))
    assert (g["gather_scatter_middle"] == 0).all()
    assert g.loc[m, "relay_share_day"] == 0.0


def test_structuring_as_sender_not_as_receiver():
    x = 0
    rows = [(9, x, 38_000.0, 9)] + [(x, 1 + i, 9_500.0, 10 + i / 4) for i in range(4)]
    exchange = 10
    rows += [(11 + i, exchange, 9_800.0, 8 + i / 5) for i in range(40)]
    f = temporal_features(make_day(rows, accounts=51))
    assert f.loc[x, "structuring_sent_count"] == 4
    assert f.loc[x, "structuring_sent_share"] == 1.0
    assert f.loc[x, "split_pieces"] == 4  # one 38,000 inflow split into four pieces
    assert f.loc[x, "sent_amount_cv"] == 0.0
    assert f.loc[x, "round_sent_share"] == 1.0
    assert f.loc[x, "median_sent_over_received"] == pytest.approx(0.25)
    assert f.loc[exchange, "structuring_sent_count"] == 0
    assert f.loc[exchange, "structuring_sent_share"] == 0.0
    assert f.loc[exchange, "split_pieces"] == 0
    assert f.loc[exchange, "fan_in_1h"] == 6  # 40 payers over 8 h, one every 12 minutes


def test_windowed_fan_out():
    burst, spread = 0, 1
    rows = [(burst, 10 + i, 100.0, 10 + i * 5 / 60) for i in range(10)]
    rows += [(spread, 20 + i, 100.0, 1 + 2 * i) for i in range(10)]
    f = temporal_features(make_day(rows, accounts=30))
    assert f.loc[burst, "fan_out_1h"] == 10
    assert f.loc[burst, "fan_out_1h_share"] == 1.0
    assert f.loc[burst, "burst_share_1h"] == 1.0
    assert f.loc[spread, "fan_out_1h"] == 1
    assert f.loc[spread, "fan_out_1h_share"] == pytest.approx(0.1)
    assert f.loc[spread, "fan_out_6h"] == 4  # 01:00, 03:00, 05:00, 07:00
    assert f.loc[spread, "burst_share_1h"] == pytest.approx(0.1)
    assert f.loc[20, "fan_in_1h"] == 1


def test_repeat_payments_to_one_counterparty_count_once():
    rows = [(0, 1, 10.0, 9 + i / 10) for i in range(5)] + [(0, 2, 10.0, 9.55)]
    f = temporal_features(make_day(rows, accounts=3))
    assert f.loc[0, "fan_out_1h"] == 2
    assert f.loc[1, "fan_in_1h"] == 1
    assert f.loc[0, "burst_share_1h"] == 1.0


def test_idle_account_columns_and_self_transfers():
    f = temporal_features(make_day([(0, 1, 100.0, 9), (2, 2, 100.0, 10)], accounts=4))
    assert tuple(f.columns) == TEMPORAL_FEATURE_COLUMNS
    assert len(f) == 4
    for idle in (2, 3):  # 2 only pays itself, which is ignored
        assert (f.loc[idle] == 0).all()
    assert all(dtype in (np.float64, np.int64) for dtype in f.dtypes)


def test_empty_day():
    empty = DayTransfers.from_arrays(
        np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0, int), 3
    )
    f = temporal_features(empty)
    assert tuple(f.columns) == TEMPORAL_FEATURE_COLUMNS
    assert (f.to_numpy() == 0).all() and len(f) == 3


def test_random_day_is_finite_and_deterministic():
    day = random_day(20_000, 3_000, seed=1)
    f = temporal_features(day)
    g = temporal_features(day)
    assert tuple(f.columns) == TEMPORAL_FEATURE_COLUMNS
    assert len(f) == 3_000
    values = f.to_numpy(dtype=float)
    assert np.isfinite(values).all()
    pd.testing.assert_frame_equal(f, g)
    shares = [c for c in TEMPORAL_FEATURE_COLUMNS if "share" in c] + ["flow_conservation"]
    assert ((f[shares] >= 0) & (f[shares] <= 1)).all().all()


def test_blocks_do_not_change_the_answer(monkeypatch):
    day = random_day(5_000, 400, seed=2)
    whole = temporal_features(day)
    monkeypatch.setattr(patterns, "BLOCK_TRANSFERS", 257)
    monkeypatch.setattr(patterns, "CYCLE_START_CHUNK", 50)
    pd.testing.assert_frame_equal(temporal_features(day), whole)


# --- reference implementations on small random days ------------------------------------------


def _events(day: DayTransfers) -> list[tuple[int, int, float, int]]:
    return [
        (int(s), int(r), float(a), int(t))
        for s, r, a, t in zip(day.sender, day.receiver, day.amount, day.time, strict=True)
        if s != r
    ]


def _reference_relay(day: DayTransfers, hours: float) -> np.ndarray:
    """FIFO: an outflow passes on the oldest money received strictly before it."""
    window = hours * MICROS_PER_HOUR
    events = _events(day)
    share = np.zeros(day.accounts)
    for acct in range(day.accounts):
        flows = [(t, 1, a) for s, r, a, t in events if s == acct]
        flows += [(t, 0, a) for s, r, a, t in events if r == acct]
        flows.sort(key=lambda f: (f[0], -f[1]))  # at equal times the outflow goes first
        queue: deque[list[float]] = deque()
        total_in = within = 0.0
        for t, out, amount in flows:
            if not out:
                queue.append([t, amount])
                total_in += amount
                continue
            need = amount
            while need > 1e-12 and queue:
                take = min(need, queue[0][1])
                if t - queue[0][0] <= window:
                    within += take
                need -= take
                queue[0][1] -= take
                if queue[0][1] <= 1e-12:
                    queue.popleft()
        share[acct] = within / total_in if total_in else 0.0
    return share


def _reference_fan(day: DayTransfers, hours: float, out: bool) -> np.ndarray:
    window = hours * MICROS_PER_HOUR
    best = np.zeros(day.accounts, dtype=np.int64)
    by_acct: dict[int, list[tuple[int, int]]] = {}
    for s, r, _, t in _events(day):
        acct, peer = (s, r) if out else (r, s)
        by_acct.setdefault(acct, []).append((t, peer))
    for acct, items in by_acct.items():
        best[acct] = max(len({p for t2, p in items if t <= t2 <= t + window}) for t, _ in items)
    return best


def _reference_chains(day: DayTransfers, hub_degree: int) -> np.ndarray:
    window = patterns.CHAIN_WINDOW_HOURS * MICROS_PER_HOUR
    events = _events(day)
    peers: dict[int, set[int]] = {}
    for s, r, _, _ in events:
        peers.setdefault(s, set()).add(r)
        peers.setdefault(r, set()).add(s)
    low, high = patterns.CHAIN_AMOUNT_BAND
    middle = np.zeros(day.accounts, dtype=np.int64)
    for a, b, x, t1 in events:
        if len(peers[b]) > hub_degree:
            continue
        for b2, c, y, t2 in events:
            if b2 == b and c != a and t1 < t2 <= t1 + window and low <= y / x <= high:
                middle[b] += 1
    return middle


def _reference_cycles(day: DayTransfers, hub_degree: int) -> tuple[np.ndarray, np.ndarray]:
    window = patterns.CHAIN_WINDOW_HOURS * MICROS_PER_HOUR
    events = _events(day)
    peers: dict[int, set[int]] = {}
    for s, r, _, _ in events:
        peers.setdefault(s, set()).add(r)
        peers.setdefault(r, set()).add(s)
    ok = {v for v, p in peers.items() if len(p) <= hub_degree}
    out: dict[int, list[tuple[int, int]]] = {}
    for s, r, _, t in events:
        if s in ok and r in ok:
            out.setdefault(s, []).append((r, t))
    shortest = np.zeros(day.accounts, dtype=np.int64)
    found = np.zeros(day.accounts, dtype=np.int64)

    def walk(path: list[int], t: int) -> None:
        for nxt, t2 in out.get(path[-1], []):
            if not t < t2 <= t + window:
                continue
            if nxt == path[0]:
                for v in path:
                    found[v] += 1
                    length = len(path)
                    shortest[v] = length if shortest[v] == 0 else min(shortest[v], length)
            elif nxt not in path and len(path) < patterns.CYCLE_MAX_HOPS:
                walk([*path, nxt], t2)

    for s, r, _, t in events:
        if s in ok and r in ok:
            walk([s, r], t)
    return shortest, found


@pytest.fixture
def uncapped(monkeypatch):
    """Lift the expansion caps, which never bind on the reference days anyway."""
    monkeypatch.setattr(patterns, "PAIR_SUCCESSORS", 10**6)
    monkeypatch.setattr(patterns, "PAIR_CAP_PER_ACCOUNT", 10**9)
    monkeypatch.setattr(patterns, "CYCLE_SUCCESSORS", 10**6)
    monkeypatch.setattr(patterns, "CYCLE_STATES_PER_ORIGIN", 10**9)


@pytest.mark.parametrize("seed", [3, 4])
def test_relay_matches_fifo_reference(seed):
    day = random_day(600, 40, seed)
    f = temporal_features(day)
    for hours, column in ((1, "relay_share_1h"), (6, "relay_share_6h"), (24, "relay_share_day")):
        np.testing.assert_allclose(f[column], _reference_relay(day, hours), atol=1e-7)


@pytest.mark.parametrize("seed", [5, 6])
def test_fan_windows_match_reference(seed):
    day = random_day(800, 30, seed)
    f = temporal_features(day)
    for hours in (1, 6):
        np.testing.assert_array_equal(f[f"fan_out_{hours}h"], _reference_fan(day, hours, True))
        np.testing.assert_array_equal(f[f"fan_in_{hours}h"], _reference_fan(day, hours, False))


@pytest.mark.parametrize("seed", [7, 8])
def test_chains_match_reference(seed, uncapped):
    day = random_day(500, 40, seed)
    f = temporal_features(day, hub_degree=25)
    np.testing.assert_array_equal(f["chain_middle_count"], _reference_chains(day, 25))


@pytest.mark.parametrize(
    ("seed", "n", "accounts", "hub_degree"),
    [(9, 300, 25, 20), (10, 300, 25, 15), (11, 160, 30, 20), (12, 240, 60, 20)],
)
def test_cycles_match_reference(seed, n, accounts, hub_degree, uncapped):
    day = random_day(n, accounts, seed)
    f = temporal_features(day, hub_degree=hub_degree)
    shortest, found = _reference_cycles(day, hub_degree)
    assert found.sum() > 0
    np.testing.assert_array_equal(f["cycle_min_length"], shortest)
    np.testing.assert_array_equal(f["cycle_count"], found)


def test_hub_expansion_is_bounded():
    """A hub with 5,000 payers and 300 payees expands no pairs; a busy ordinary account is capped."""
    rng = np.random.default_rng(12)
    hub = 0
    rows = [
        (int(p), hub, 50.0, float(h))
        for p, h in zip(rng.integers(1, 5_001, 5_000), rng.uniform(0, 23, 5_000), strict=True)
    ]
    rows += [
        (hub, int(m), 800.0, float(h))
        for m, h in zip(rng.integers(5_001, 5_301, 300), rng.uniform(0, 24, 300), strict=True)
    ]
    busy = 6_000  # two counterparties, thousands of transfers
    rows += [(6_001, busy, 100.0, i / 200) for i in range(2_000)]
    rows += [(busy, 6_002, 99.0, i / 200 + 0.001) for i in range(2_000)]
    f = temporal_features(make_day(rows, accounts=6_003))
    assert f.loc[hub, "chain_middle_count"] == 0
    assert f.loc[busy, "chain_middle_count"] == patterns.PAIR_CAP_PER_ACCOUNT
    assert f.loc[busy, "chain_distinct_sources"] == 1


def test_counting_sort_is_a_stable_argsort():
    codes = np.random.default_rng(13).integers(0, 50, 10_000)
    order, ptr = patterns.stable_order(codes, 50)
    np.testing.assert_array_equal(order, np.argsort(codes, kind="stable"))
    np.testing.assert_array_equal(
        ptr, np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=50))])
    )


def test_consecutive_blocks_cover_accounts():
    day = random_day(2_000, 300, seed=14)
    ix = patterns.build_index(day)
    blocks = patterns.account_blocks(ix, transfers=100)
    assert blocks[0][0] == 0 and blocks[-1][1] == 300
    assert all(b[0] == a[1] for a, b in pairwise(blocks))
