"""Account keys, the shape features and trailing history, on hand-built days with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_platform.defs.features.history import HISTORY_DAYS, account_history
from fraud_platform.defs.features.logic import account_keys, pair_keys, shape_features
from fraud_platform.tables import ACTIVITY_COLUMNS, HISTORY_COLUMNS, PAIR_COLUMNS, AccountActivity

DAY = "2024-10-10"


def day_graph(pairs: list[tuple[str, str, float]], day: str = DAY) -> tuple[pd.DataFrame, ...]:
    """Nodes (sorted by account) and edges with node rows, as the graph step builds them."""
    accounts = sorted({a for s, r, _ in pairs for a in (s, r)})
    row = {a: i for i, a in enumerate(accounts)}
    edges = pd.DataFrame(
        {
            "sender": [s for s, _, _ in pairs],
            "receiver": [r for _, r, _ in pairs],
            "amount_total": [a for _, _, a in pairs],
            "tx_count": 1,
            "sender_node": [row[s] for s, _, _ in pairs],
            "receiver_node": [row[r] for _, r, _ in pairs],
        }
    )
    n = len(accounts)
    s, r = edges["sender_node"].to_numpy(), edges["receiver_node"].to_numpy()
    amount = edges["amount_total"].to_numpy()
    nodes = pd.DataFrame(
        {
            "partition_date": day,
            "account": accounts,
            "in_degree": np.bincount(r, minlength=n),
            "out_degree": np.bincount(s, minlength=n),
            "in_amount": np.bincount(r, weights=amount, minlength=n),
            "out_amount": np.bincount(s, weights=amount, minlength=n),
            "tx_count": np.bincount(r, minlength=n) + np.bincount(s, minlength=n),
        }
    )
    return nodes, edges


def activity_of(day: str, rows: list[tuple[str, float, float, int, bool]]) -> pd.DataFrame:
    keys = account_keys(pd.Series([r[0] for r in rows], dtype="str"))
    return pd.DataFrame(
        {
            "partition_date": day,
            "account_key": keys,
            "in_amount": [r[1] for r in rows],
            "out_amount": [r[2] for r in rows],
            "counterparties": [r[3] for r in rows],
            "relayed": [r[4] for r in rows],
        }
    )[list(ACTIVITY_COLUMNS)]


def pairs_of(day: str, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    first = account_keys(pd.Series([a for a, _ in pairs], dtype="str"))
    second = account_keys(pd.Series([b for _, b in pairs], dtype="str"))
    return pd.DataFrame({"partition_date": day, "pair_key": pair_keys(first, second)})[
        list(PAIR_COLUMNS)
    ]


def test_account_keys_are_stable_and_distinct():
    ids = pd.Series(["ACC1", "ACC2", "007", "ACC1"], dtype="str")
    keys = account_keys(ids)
    assert keys.dtype == np.uint64
    assert keys[0] == keys[3] and len(set(keys[:3].tolist())) == 3
    again = account_keys(pd.Series(["ACC1"], dtype="str"))
    assert again[0] == keys[0]


def test_pair_keys_ignore_direction():
    a, b, c = account_keys(pd.Series(["A", "B", "C"], dtype="str"))
    forward = pair_keys(np.array([a, a]), np.array([b, c]))
    backward = pair_keys(np.array([b, c]), np.array([a, a]))
    assert (forward == backward).all() and forward[0] != forward[1]


def test_shape_features_on_a_small_day():
    # A pays B 100; B pays C 90; C pays B 10 (B and C trade both ways); D pays B 300.
    nodes, edges = day_graph([("A", "B", 100), ("B", "C", 90), ("C", "B", 10), ("D", "B", 300)])
    shape = shape_features(nodes, edges).set_index(nodes["account"])
    assert shape.loc["B", "in_degree"] == 3 and shape.loc["B", "out_degree"] == 1
    assert shape.loc["B", "flow_balance"] == pytest.approx(90 / 410)
    assert shape.loc["B", "top_payer_share"] == pytest.approx(300 / 410)
    # B's counterparties: A, C, D; C is both payer and payee.
    assert shape.loc["B", "reciprocal_share"] == pytest.approx(1 / 3)
    assert shape.loc["C", "reciprocal_share"] == pytest.approx(1.0)
    assert shape.loc["A", "net_flow"] == pytest.approx(-1.0)
    assert shape.loc["B", "in_amount_pct"] == pytest.approx(1.0)  # the most money in


def test_history_counts_days_habits_and_known_counterparties():
    nodes, edges = day_graph([("A", "B", 500), ("B", "C", 480), ("N", "B", 20)])
    past = AccountActivity(
        activity=pd.concat(
            [
                activity_of("2024-10-09", [("A", 100, 0, 1, False), ("B", 900, 880, 5, True)]),
                activity_of("2024-10-07", [("B", 700, 690, 4, True), ("C", 10, 0, 1, False)]),
                activity_of("2024-10-05", [("B", 100, 0, 1, False)]),
                # Outside the 28-day window: not counted at all.
                activity_of("2024-09-01", [("N", 5, 5, 1, True)]),
            ],
            ignore_index=True,
        ),
        pairs=pd.concat(
            [pairs_of("2024-10-09", [("A", "B")]), pairs_of("2024-09-01", [("N", "B")])],
            ignore_index=True,
        ),
    )
    table = account_history(DAY, nodes, edges, past)
    assert list(table.columns) == list(HISTORY_COLUMNS)
    history = table.set_index("account")
    assert (history["history_days"] == 3).all()
    b = history.loc["B"]
    assert (b["days_active"], b["days_since_last_seen"], b["days_since_first_seen"]) == (3, 1, 5)
    assert b["relay_days"] == 2
    assert b["typical_in_amount"] == 700  # median of 900, 700, 100
    # B's pairs today: A-B (seen on the 9th), B-C (never), N-B (seen only outside the window).
    assert b["known_counterparty_share"] == pytest.approx(1 / 3)
    assert b["new_counterparties"] == 2
    never = history.loc["N"]
    assert never["days_active"] == 0
    assert never["days_since_first_seen"] == HISTORY_DAYS + 1
    assert never["days_since_last_seen"] == HISTORY_DAYS + 1
    assert never["typical_in_amount"] == 0


def test_history_of_a_first_day_is_empty_but_complete():
    nodes, edges = day_graph([("A", "B", 5)])
    empty = AccountActivity(
        activity=activity_of(DAY, []).iloc[0:0], pairs=pairs_of(DAY, []).iloc[0:0]
    )
    history = account_history(DAY, nodes, edges, empty)
    assert len(history) == 2
    assert (history["history_days"] == 0).all() and (history["days_active"] == 0).all()
    assert (history["known_counterparty_share"] == 0).all()
    assert not history.isna().any().any()


def test_no_stored_day_before_is_no_history():
    """The first day: the IO manager hands over a frame without columns for no earlier days."""
    nodes, edges = day_graph([("A", "B", 500)])
    history = account_history(DAY, nodes, edges, AccountActivity(pd.DataFrame(), pd.DataFrame()))
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert (history["history_days"] == 0).all() and (history["days_active"] == 0).all()
    assert (history["new_counterparties"] == 1).all()


def test_hash_lookups_answer_as_isin(monkeypatch):
    from fraud_platform.defs.features import history

    rng = np.random.default_rng(3)
    today = rng.integers(0, 50, 200).astype(np.uint64)  # duplicates on both sides
    past = rng.integers(25, 90, 1_000).astype(np.uint64)
    monkeypatch.setattr(history, "_LOOKUP_CHUNK", 64)  # many chunks
    assert np.array_equal(history._seen_among(today, past), np.isin(today, past))
    assert np.array_equal(history._found_in(past, today), np.isin(past, today))
    assert not history._seen_among(today, past[:0]).any()
