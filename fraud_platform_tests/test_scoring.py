"""The risk score: hand-computed components, and mules against legitimate hubs in a small day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_platform.defs.analytics.engines import get_engine
from fraud_platform.defs.analytics.scoring import (
    HIGH_RISK_THRESHOLD,
    SCORE_COLUMNS,
    W_CENTRALITY,
    W_CLUSTER,
    W_FAN,
    W_PASS_THROUGH,
    is_high_risk,
    percentile,
    score_accounts,
)
from fraud_platform.tables import NODE_COLUMNS

DAY = "2024-10-02"


def node_table(rows: dict[str, tuple[int, int, float, float]]) -> pd.DataFrame:
    """Node rows from {account: (in_degree, out_degree, in_amount, out_amount)}."""
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["in_degree", "out_degree", "in_amount", "out_amount"]
    )
    frame = frame.rename_axis("account").reset_index()
    frame["tx_count"] = frame["in_degree"] + frame["out_degree"]
    frame["partition_date"] = DAY
    return frame[list(NODE_COLUMNS)]


def frame_of(column: str, values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"account": list(values), column: list(values.values())})


# The four-account example worked by hand below.
TINY_NODES = node_table(
    {
        "a": (4, 1, 100.0, 90.0),  # relays 90 of 100, funnel 4 → 1
        "b": (1, 0, 50.0, 0.0),  # only receives
        "c": (0, 2, 0.0, 60.0),  # only sends
        "d": (1, 1, 10.0, 10.0),  # relays everything, but little
    }
)
TINY_PAGERANK = frame_of("pagerank", {"a": 0.4, "b": 0.3, "c": 0.1, "d": 0.2})
TINY_CLUSTERS = frame_of("cluster", {"a": 0, "b": 0, "c": 0, "d": 1})


def test_percentile_gives_ties_the_lower_rank():
    assert percentile(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [1.0, 0.0, 0.0, 2 / 3]
    assert percentile(np.array([5.0])).tolist() == [0.0]
    assert percentile(np.array([])).tolist() == []


def test_weights_inside_the_bracket_add_up_to_one():
    # This is what keeps risk_score ≤ pass_through_score without a watchlist.
    assert abs(W_PASS_THROUGH + W_CENTRALITY + W_FAN + W_CLUSTER - 1.0) < 1e-12


def test_components_and_risk_match_the_hand_computation():
    scores = score_accounts(TINY_NODES, TINY_PAGERANK, TINY_CLUSTERS).set_index("account")
    expected = pd.DataFrame(
        {
            # pagerank .4 > .3 > .2 > .1
            "centrality_score": [1.0, 2 / 3, 0.0, 1 / 3],
            # balance × percentile of min(in, out): a 0.9 × 1, d 1 × 2/3 (b and c relay nothing)
            "pass_through_score": [0.9, 0.0, 0.0, 2 / 3],
            # (in − out) / (in + out), floored at 0: a 3/5, b 1/1
            "fan_score": [0.6, 1.0, 0.0, 0.0],
            # relayed / received by the rest of the cluster {a, b, c}: for a, 0 / 50;
            # for b, 90 / 100; for c, 90 / 150; d is alone
            "cluster_score": [0.0, 0.9, 0.6, 0.0],
        },
        index=pd.Index(["a", "b", "c", "d"], name="account"),
    )
    pd.testing.assert_frame_equal(scores[expected.columns], expected, atol=1e-12, rtol=0)
    a = 0.9 * (W_PASS_THROUGH + W_CENTRALITY * 1.0 + W_FAN * 0.6)
    d = 2 / 3 * (W_PASS_THROUGH + W_CENTRALITY / 3)
    assert scores["risk_score"].tolist() == pytest.approx([a, 0.0, 0.0, d], abs=1e-12)
    assert scores["centrality"].tolist() == [0.4, 0.3, 0.1, 0.2]
    assert scores["cluster"].tolist() == [0, 0, 0, 1]


def test_output_shape_keeps_node_order_and_partition_date():
    shuffled_pagerank = TINY_PAGERANK.iloc[::-1]
    scores = score_accounts(TINY_NODES, shuffled_pagerank, TINY_CLUSTERS)
    assert list(scores.columns) == ["partition_date", *SCORE_COLUMNS]
    assert scores["account"].tolist() == ["a", "b", "c", "d"]
    assert (scores["partition_date"] == DAY).all()
    assert scores["centrality"].tolist() == [0.4, 0.3, 0.1, 0.2]


def test_watchlist_is_independent_evidence():
    watchlist = frame_of(
        "watchlist_score", {"c": 1.0, "b": 0.2, "elsewhere": 1.0}
    )  # duplicates keep the highest
    watchlist = pd.concat([watchlist, frame_of("watchlist_score", {"b": 0.5})])
    plain = score_accounts(TINY_NODES, TINY_PAGERANK, TINY_CLUSTERS).set_index("account")
    listed = score_accounts(
        TINY_NODES, TINY_PAGERANK, TINY_CLUSTERS, watchlist_scores=watchlist
    ).set_index("account")
    assert listed.loc["c", "risk_score"] == 1.0  # relays nothing, but listed
    assert listed.loc["b", "risk_score"] == pytest.approx(0.5)
    assert listed["watchlist_score"].tolist() == [0.0, 0.5, 1.0, 0.0]
    a = plain.loc["a", "risk_score"]
    assert listed.loc["a", "risk_score"] == a  # not listed: unchanged


def test_watchlist_scores_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_accounts(
            TINY_NODES,
            TINY_PAGERANK,
            TINY_CLUSTERS,
            watchlist_scores=frame_of("watchlist_score", {"a": 3.0}),
        )


@pytest.mark.parametrize(
    ("pagerank", "clusters", "message"),
    [
        (TINY_PAGERANK.iloc[:3], TINY_CLUSTERS, "pagerank does not cover"),
        (TINY_PAGERANK, pd.concat([TINY_CLUSTERS, frame_of("cluster", {"z": 2})]), "clusters"),
        (pd.concat([TINY_PAGERANK, TINY_PAGERANK.iloc[:1]]), TINY_CLUSTERS, "more than once"),
        (TINY_PAGERANK.rename(columns={"pagerank": "pr"}), TINY_CLUSTERS, "'pagerank'"),
    ],
)
def test_mismatched_inputs_are_refused(pagerank, clusters, message: str):
    with pytest.raises(ValueError, match=message):
        score_accounts(TINY_NODES, pagerank, clusters)


def test_bad_node_amounts_are_refused():
    nodes = TINY_NODES.assign(in_amount=[100.0, np.nan, 0.0, 10.0])
    with pytest.raises(ValueError, match="NaN"):
        score_accounts(nodes, TINY_PAGERANK, TINY_CLUSTERS)


def test_empty_day():
    empty = TINY_NODES.iloc[:0]
    scores = score_accounts(empty, TINY_PAGERANK.iloc[:0], TINY_CLUSTERS.iloc[:0])
    assert scores.empty
    assert list(scores.columns) == ["partition_date", *SCORE_COLUMNS]


# --- a small synthetic day through the CPU engine ------------------------------------------


def synthetic_day() -> pd.DataFrame:
    """Transfers of one day: a merchant, a mule, an employer and some ordinary payments."""
    transfers = []
    # 500 customers pay one merchant 20..69.9 each; the merchant pays nobody.
    transfers += [(f"customer{i}", "merchant", 20.0 + (i % 500) / 10) for i in range(500)]
    # 20 victims send the mule 100 each; the mule forwards 95% (1900) to one account.
    transfers += [(f"victim{i}", "mule", 100.0) for i in range(20)]
    transfers += [("mule", "collector", 1900.0)]
    # A treasury account funds the employer, which pays 40 salaries out of it.
    transfers += [("treasury", "employer", 40 * 1250.0)]
    transfers += [("employer", f"employee{i}", 1250.0) for i in range(40)]
    # Ordinary people paying each other, two of them the same evening.
    transfers += [("alice", "bob", 30.0), ("bob", "carol", 12.0), ("carol", "alice", 5.0)]
    transfers += [("dave", "erin", 75.0), ("dave", "erin", 25.0)]
    return pd.DataFrame(transfers, columns=["sender", "receiver", "amount"])


def graph_tables(transfers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (nodes, edges) tables the graph asset would produce for these transfers."""
    edges = (
        transfers.groupby(["sender", "receiver"], sort=False)
        .agg(amount_total=("amount", "sum"), tx_count=("amount", "size"))
        .reset_index()
    )
    out = edges.groupby("sender").agg(
        out_degree=("receiver", "size"),
        out_amount=("amount_total", "sum"),
        sent=("tx_count", "sum"),
    )
    into = edges.groupby("receiver").agg(
        in_degree=("sender", "size"), in_amount=("amount_total", "sum"), got=("tx_count", "sum")
    )
    nodes = out.join(into, how="outer").fillna(0).rename_axis("account").reset_index()
    nodes["tx_count"] = (nodes["sent"] + nodes["got"]).astype("int64")
    nodes["partition_date"] = DAY
    return nodes[list(NODE_COLUMNS)], edges


def test_mule_outranks_legitimate_hubs_in_a_synthetic_day():
    nodes, edges = graph_tables(synthetic_day())
    graph = get_engine("cpu").build(edges)
    scores = score_accounts(nodes, graph.pagerank().scores, graph.louvain().clusters).set_index(
        "account"
    )

    component_columns = [c for c in SCORE_COLUMNS if c.endswith("score")]
    assert not scores[component_columns].isna().any().any()
    assert ((scores[component_columns] >= 0) & (scores[component_columns] <= 1)).all().all()

    mule, merchant, employer = (scores.loc[k] for k in ("mule", "merchant", "employer"))
    # The merchant is the day's most central account, yet relays nothing.
    assert merchant["centrality_score"] == 1.0
    assert merchant["risk_score"] == 0.0 < mule["risk_score"]
    # The mule: balance 1900 / 2000, second-largest relay among 570 accounts (only the
    # employer relays more), funnel 20 → 1.
    assert mule["pass_through_score"] == pytest.approx(0.95 * 568 / 569, abs=1e-12)
    assert mule["fan_score"] == pytest.approx(19 / 21, abs=1e-12)
    assert mule["risk_score"] >= HIGH_RISK_THRESHOLD
    # The employer relays everything, but fans out: elevated, not high.
    assert employer["pass_through_score"] == 1.0 and employer["fan_score"] == 0.0
    assert mule["risk_score"] > employer["risk_score"] > 0.5
    assert scores.index[is_high_risk(scores.reset_index())].tolist() == ["mule"]
    # Without a watchlist the risk never exceeds the account's own pass-through.
    assert (scores["risk_score"] <= scores["pass_through_score"] + 1e-12).all()


def test_structurally_equal_accounts_tie():
    nodes, edges = graph_tables(synthetic_day())
    graph = get_engine("cpu").build(edges)
    scores = score_accounts(nodes, graph.pagerank().scores, graph.louvain().clusters)
    victims = scores[scores["account"].str.startswith("victim")]
    employees = scores[scores["account"].str.startswith("employee")]
    assert victims["centrality_score"].nunique() == 1
    assert employees["centrality_score"].nunique() == 1
    assert victims["centrality_score"].iloc[0] == 0.0  # nobody pays them: the floor
