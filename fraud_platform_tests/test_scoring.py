"""The risk score: hand-computed components, typologies against legitimate hubs in a small day,
the watchlist and its association, and the account_scores asset's metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import materialize

from fraud_platform.defs.analytics.assets import account_scores
from fraud_platform.defs.analytics.engines import get_engine
from fraud_platform.defs.analytics.logic import (
    DAMPING,
    listed_on,
    parse_watchlist,
    read_watchlist,
    score_day,
    watchlist_url,
)
from fraud_platform.defs.analytics.resources import Watchlist
from fraud_platform.defs.analytics.scoring import (
    CLUSTER_RING_RELAY,
    COMPONENT_COLUMNS,
    HIGH_RISK_THRESHOLD,
    SCORE_COLUMNS,
    W_CENTRALITY,
    W_RELAY,
    W_STRUCTURING,
    association_scores,
    is_high_risk,
    noisy_or,
    percentile,
    score_accounts,
    structuring_scores,
)
from fraud_platform.defs.features.assets import account_features, account_history
from fraud_platform.defs.graph.assets import transaction_graph
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.assets import raw_transactions
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings

DAY = "2024-10-02"


def graph_tables(transfers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (nodes, edges) tables the graph asset produces for ``sender, receiver, amount``
    (every transfer at noon of ``DAY``): built by the platform's own graph step."""
    noon = pd.Timestamp(f"{DAY}T12:00:00", tz="UTC")
    graph = build_transaction_graph(transfers.assign(timestamp=noon, partition_date=DAY))
    return graph.nodes, graph.edges


def transfers_of(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sender", "receiver", "amount"])


def frame_of(column: str, values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"account": list(values), column: list(values.values())})


# --- a seven-account day worked by hand ------------------------------------------------------

# Three payers feed a mule that passes 270 of 300 on to a collector; x pays y, unrelated.
TINY_NODES, TINY_EDGES = graph_tables(
    transfers_of(
        [
            ("s1", "m", 100.0),
            ("s2", "m", 100.0),
            ("s3", "m", 100.0),
            ("m", "c", 270.0),
            ("x", "y", 50.0),
        ]
    )
)
TINY_PAGERANK = frame_of(
    "pagerank", {"s1": 0.05, "s2": 0.05, "s3": 0.05, "m": 0.3, "c": 0.35, "x": 0.05, "y": 0.15}
)
TINY_CLUSTERS = frame_of("cluster", {"s1": 0, "s2": 0, "s3": 0, "m": 0, "c": 0, "x": 1, "y": 1})


def test_percentile_gives_ties_the_lower_rank():
    assert percentile(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [1.0, 0.0, 0.0, 2 / 3]
    assert percentile(np.array([5.0])).tolist() == [0.0]
    assert percentile(np.array([])).tolist() == []


def test_noisy_or_combines_independent_evidence():
    combined = noisy_or(np.array([0.5, 0.0, 1.0]), np.array([0.5, 0.0, 0.3]))
    assert combined.tolist() == [0.75, 0.0, 1.0]


def test_components_and_risk_match_the_hand_computation():
    scores = score_accounts(TINY_NODES, TINY_EDGES, TINY_PAGERANK, TINY_CLUSTERS)
    scores = scores.set_index("account").loc[["s1", "s2", "s3", "m", "c", "x", "y"]]
    # Only m relays (270 of 300: balance 0.9 counts fully) and it relays the most.
    assert scores["pass_through_score"].tolist() == [0, 0, 0, 1, 0, 0, 0]
    # (in − out) / (in + out) floored at 0: m (3 − 1) / 4; c and y only receive.
    assert scores["fan_score"].tolist() == [0, 0, 0, 0.5, 1, 0, 1]
    # Mean pass-through of the others in the cluster (m is the only relay of cluster 0: 1/4
    # for its four others, 0 for m), over the share that counts as a full ring.
    ring = 0.25 / CLUSTER_RING_RELAY
    assert scores["cluster_score"].tolist() == pytest.approx([ring, ring, ring, 0, ring, 0, 0])
    # PageRank .05 (four ties at the floor) < .15 < .3 < .35, among seven accounts.
    assert scores["centrality_score"].tolist() == pytest.approx([0, 0, 0, 5 / 6, 1, 0, 4 / 6])

    context = 1 - (1 - 0.5) * (1 - 0) * (1 - W_CENTRALITY * 5 / 6)
    mule = 1.0 * (W_RELAY + (1 - W_RELAY) * context)
    assert scores["mule_score"].tolist() == pytest.approx([0, 0, 0, mule, 0, 0, 0], abs=1e-12)
    # The payers and the collector trade only with m; m's counterparties relay nothing.
    assert scores["counterparty_score"].tolist() == pytest.approx(
        [mule, mule, mule, 0, mule, 0, 0], abs=1e-12
    )
    assert scores["risk_score"].tolist() == pytest.approx(
        [mule, mule, mule, mule, mule, 0, 0], abs=1e-12
    )
    assert (scores[["structuring_score", "association_score", "watchlist_score"]] == 0).all().all()
    assert scores["centrality"].tolist() == [0.05, 0.05, 0.05, 0.3, 0.35, 0.05, 0.15]
    assert scores["cluster"].tolist() == [0, 0, 0, 0, 0, 1, 1]


def test_output_shape_keeps_node_order_and_partition_date():
    scores = score_accounts(
        TINY_NODES, TINY_EDGES.iloc[::-1], TINY_PAGERANK.iloc[::-1], TINY_CLUSTERS
    )
    assert list(scores.columns) == ["partition_date", *SCORE_COLUMNS]
    assert scores["account"].tolist() == TINY_NODES["account"].tolist()
    assert (scores["partition_date"] == DAY).all()


def test_structuring_counts_transfers_just_under_the_threshold():
    # Edge positions: a→b one transfer of 9,500; a→c two transfers averaging 9,000 (the band's
    # floor); a→d exactly 10,000 (reported, so not structuring); e→b 8,999.99 (below the band).
    # Only the sender structures: b and c, paid just under the threshold, score nothing.
    senders = np.array([0, 0, 0, 4])
    receivers = np.array([1, 2, 3, 1])
    amounts = np.array([9_500.0, 18_000.0, 10_000.0, 8_999.99])
    counts = np.array([1, 2, 1, 1])
    scores = structuring_scores(senders, receivers, amounts, counts, 5)
    assert scores.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_structuring_alone_makes_an_account_high_risk():
    nodes, edges = graph_tables(
        transfers_of([("boss", f"runner{i}", 9_700.0) for i in range(4)] + [("p", "q", 20.0)])
    )
    pagerank = frame_of("pagerank", dict.fromkeys(nodes["account"], 1 / len(nodes)))
    clusters = frame_of("cluster", dict.fromkeys(nodes["account"], 0))
    scores = score_accounts(nodes, edges, pagerank, clusters).set_index("account")
    assert scores.loc["boss", "structuring_score"] == 1.0
    assert scores.loc["boss", "risk_score"] == pytest.approx(W_STRUCTURING)
    assert scores.loc["runner0", "structuring_score"] == 0.0  # paid, not splitting
    assert scores.loc["p", "risk_score"] == 0.0


def test_watchlist_scores_are_independent_evidence():
    watchlist = pd.concat(
        [
            frame_of("watchlist_score", {"x": 1.0, "y": 0.2, "elsewhere": 1.0}),
            frame_of("watchlist_score", {"y": 0.5}),  # a repeat keeps the highest
        ]
    )
    plain = score_accounts(TINY_NODES, TINY_EDGES, TINY_PAGERANK, TINY_CLUSTERS)
    listed = score_accounts(
        TINY_NODES, TINY_EDGES, TINY_PAGERANK, TINY_CLUSTERS, watchlist_scores=watchlist
    )
    plain, listed = plain.set_index("account"), listed.set_index("account")
    assert listed.loc["x", "risk_score"] == 1.0  # relays nothing, but listed
    assert listed.loc["y", "risk_score"] == pytest.approx(0.5)
    assert listed.loc["m", "risk_score"] == plain.loc["m", "risk_score"]  # not listed: unchanged


@pytest.mark.parametrize("column", ["watchlist_score", "association_score"])
def test_evidence_outside_zero_one_is_refused(column: str):
    keyword = "watchlist_scores" if column == "watchlist_score" else "association"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_accounts(
            TINY_NODES,
            TINY_EDGES,
            TINY_PAGERANK,
            TINY_CLUSTERS,
            **{keyword: frame_of(column, {"m": 3.0})},
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
        score_accounts(TINY_NODES, TINY_EDGES, pagerank, clusters)


def test_edges_naming_unknown_accounts_are_refused():
    # Edges matched by account name (no node rows given, as from outside the graph step).
    by_name = TINY_EDGES.drop(columns=["sender_node", "receiver_node"])
    edges = pd.concat([by_name, by_name.iloc[:1].assign(receiver="stranger")])
    with pytest.raises(ValueError, match="lack"):
        score_accounts(TINY_NODES, edges, TINY_PAGERANK, TINY_CLUSTERS)


def test_bad_node_amounts_are_refused():
    nodes = TINY_NODES.assign(in_amount=[np.nan, *TINY_NODES["in_amount"].iloc[1:]])
    with pytest.raises(ValueError, match="NaN"):
        score_accounts(nodes, TINY_EDGES, TINY_PAGERANK, TINY_CLUSTERS)


def test_empty_day():
    scores = score_accounts(
        TINY_NODES.iloc[:0], TINY_EDGES.iloc[:0], TINY_PAGERANK.iloc[:0], TINY_CLUSTERS.iloc[:0]
    )
    assert scores.empty
    assert list(scores.columns) == ["partition_date", *SCORE_COLUMNS]


# --- association with a watchlist ------------------------------------------------------------


def test_association_of_a_chain_matches_the_hand_computation():
    # A — B — C, equal amounts, A listed. The undirected walk seeded at A solves to
    # x_B = d / (1 + d) and x_C = d² / (2 (1 + d)); B moves twice A's money, C as much as A.
    d = DAMPING
    x = np.array([1 / (1 + d), d / (1 + d), d * d / (2 * (1 + d))])
    money = np.array([10.0, 20.0, 10.0])
    scores = association_scores(money, x, np.array([True, False, False]), d)
    assert scores.tolist() == pytest.approx([1.0, 0.5, d / 2], abs=1e-12)
    assert association_scores(money, x, np.zeros(3, dtype=bool), d).tolist() == [0, 0, 0]


def test_score_day_association_through_the_engine():
    nodes, edges = graph_tables(
        transfers_of([("A", "B", 10.0), ("C", "B", 10.0), ("P", "Q", 10.0)])
    )
    scores, report = score_day(
        nodes, edges, get_engine("cpu"), watchlist=pd.DataFrame({"account": ["A"]})
    )
    scores = scores.set_index("account")
    assert scores.loc["B", "association_score"] == pytest.approx(0.5, abs=1e-8)
    assert scores.loc["C", "association_score"] == pytest.approx(DAMPING / 2, abs=1e-8)
    assert scores.loc["P", "association_score"] == 0.0  # another component: no association
    assert scores.loc["A", "watchlist_score"] == 1.0 and scores.loc["A", "risk_score"] == 1.0
    assert report.watchlisted == 1


# --- a small synthetic day through the CPU engine ------------------------------------------


def synthetic_day() -> pd.DataFrame:
    """One day with every planted typology but fan-out, the two legitimate hubs and people."""
    rng = np.random.default_rng(5)
    transfers: list[tuple[str, str, float]] = []
    # Ordinary people paying each other small amounts, within a few friend groups.
    for i in range(300):
        for _ in range(3):
            friend = (i // 30) * 30 + int(rng.integers(0, 30))
            if friend != i:
                transfers.append((f"person{i}", f"person{friend}", float(rng.integers(5, 120))))
    # A merchant paid by 300 customers, paying 10% of its takings to two suppliers.
    transfers += [(f"person{i}", "merchant", 20.0 + (i % 50)) for i in range(300)]
    takings = sum(20.0 + (i % 50) for i in range(300))
    transfers += [("merchant", f"supplier{i}", takings * 0.05) for i in range(2)]
    # A treasury funds the employer, which pays 40 salaries out of it.
    transfers += [("treasury", "employer", 50_000.0)]
    transfers += [("employer", f"person{i}", 1_220.0) for i in range(40)]
    # Fan-in: 12 people send a mule 1,500 each; it forwards 94% to a collector.
    transfers += [(f"person{100 + i}", "mule", 1_500.0) for i in range(12)]
    transfers += [("mule", "collector", 12 * 1_500.0 * 0.94)]
    # A cycle of four relays, each keeping about 1%.
    for hop, (a, b) in enumerate(zip("abcd", "bcda", strict=True)):
        transfers.append((f"cycle_{a}", f"cycle_{b}", 8_000.0 * 0.99**hop))
    # Scatter-gather: a boss splits 9,700s over 8 runners, who pass 9,600 each to a gatherer.
    transfers += [("boss", f"runner{i}", 9_700.0) for i in range(8)]
    transfers += [(f"runner{i}", "gatherer", 9_600.0) for i in range(8)]
    return transfers_of(transfers)


@pytest.fixture(scope="module")
def synthetic_scores() -> pd.DataFrame:
    nodes, edges = graph_tables(synthetic_day())
    scores, _ = score_day(nodes, edges, get_engine("cpu"))
    return scores.set_index("account")


def test_typologies_are_high_risk_and_hubs_are_not(synthetic_scores: pd.DataFrame):
    scores = synthetic_scores
    high = set(scores.index[is_high_risk(scores.reset_index())])
    cycle = {f"cycle_{a}" for a in "abcd"}
    runners = {f"runner{i}" for i in range(8)}
    core = {"mule", "collector", "boss", "gatherer"} | cycle | runners
    # The fan-in mule's payers are people who sent it most of their day's money: planted too
    # (the generator calls them the ring's sources), flagged when that share is large.
    payers = {f"person{100 + i}" for i in range(12)}
    assert core <= high <= core | payers
    assert "merchant" not in high and "employer" not in high

    # The merchant is the most central account of the day, yet relays almost nothing.
    assert scores.loc["merchant", "centrality_score"] == 1.0
    assert scores.loc["merchant", "pass_through_score"] < 0.15
    assert scores.loc["merchant", "risk_score"] < 0.5
    # The employer relays everything, but fans out and works with no other relay.
    assert scores.loc["employer", "pass_through_score"] == 1.0
    assert scores.loc["employer", "fan_score"] == 0.0
    assert scores.loc["employer", "risk_score"] < 0.5
    # Why each ring is caught: the funnel, the ring of relays, the amounts under 10,000.
    assert scores.loc["mule", "fan_score"] == pytest.approx(11 / 13)
    assert scores.loc["cycle_a", "cluster_score"] > 0.9
    assert scores.loc["runner0", "cluster_score"] > 0.7
    assert scores.loc["boss", "structuring_score"] == 1.0
    assert scores.loc["collector", "counterparty_score"] >= HIGH_RISK_THRESHOLD


def test_components_stay_in_zero_one_without_nan(synthetic_scores: pd.DataFrame):
    components = synthetic_scores[list(COMPONENT_COLUMNS)]
    assert not components.isna().any().any()
    assert ((components >= 0) & (components <= 1)).all().all()


def test_scores_are_deterministic(synthetic_scores: pd.DataFrame):
    nodes, edges = graph_tables(synthetic_day())
    again, _ = score_day(nodes, edges, get_engine("cpu"))
    pd.testing.assert_frame_equal(again.set_index("account"), synthetic_scores)


def test_watchlist_raises_the_neighbours_of_listed_accounts(synthetic_scores: pd.DataFrame):
    nodes, edges = graph_tables(synthetic_day())
    watchlist = pd.DataFrame({"account": ["collector"]})
    listed, report = score_day(nodes, edges, get_engine("cpu"), watchlist=watchlist)
    listed = listed.set_index("account")
    plain = synthetic_scores
    assert report.watchlisted == 1
    assert listed.loc["collector", "risk_score"] == 1.0
    # The mule that pays the collector, and its payers two steps away, are raised.
    assert listed.loc["mule", "association_score"] > 0.3
    for payer in ("person100", "person111"):
        assert listed.loc[payer, "association_score"] > 0.1
        assert listed.loc[payer, "risk_score"] > plain.loc[payer, "risk_score"]
    # Accounts with no money path to the collector keep their scores.
    for account in ("cycle_a", "boss", "runner3"):
        assert listed.loc[account, "association_score"] == 0.0
        assert listed.loc[account, "risk_score"] == plain.loc[account, "risk_score"]


# --- the watchlist file -------------------------------------------------------------------------


def test_read_watchlist_keeps_ids_verbatim_and_parses_since(tmp_path: Path):
    path = tmp_path / "reference" / "watchlist.csv"
    path.parent.mkdir()
    path.write_text(
        "\ufeffaccount,since,note\n007,2024-10-05,kept as text\nACC 9,,no date\n,2024-10-01,empty\n",
        encoding="utf-8",
    )
    assert watchlist_url(str(tmp_path)) == str(path)
    watchlist = read_watchlist(str(path))
    assert watchlist is not None
    assert watchlist["account"].tolist() == ["007", "ACC 9"]
    assert watchlist["since"].iloc[0] == pd.Timestamp("2024-10-05")
    assert pd.isna(watchlist["since"].iloc[1])
    assert listed_on(watchlist, "2024-10-04").tolist() == ["ACC 9"]
    assert listed_on(watchlist, "2024-10-05").tolist() == ["007", "ACC 9"]
    assert listed_on(None, "2024-10-05").empty


def test_missing_watchlist_is_none_and_bad_rows_are_refused(tmp_path: Path):
    assert read_watchlist(str(tmp_path / "nowhere.csv")) is None
    with pytest.raises(ValueError, match="'account'"):
        parse_watchlist(pd.DataFrame({"id": ["a"]}))
    with pytest.raises(ValueError, match="line 3"):
        parse_watchlist(pd.DataFrame({"account": ["a", "b"], "since": ["2024-10-01", "soon"]}))


def test_a_watchlist_since_after_the_day_does_not_apply():
    nodes, edges = graph_tables(transfers_of([("A", "B", 10.0)]))
    watchlist = parse_watchlist(pd.DataFrame({"account": ["A"], "since": ["2024-10-03"]}))
    scores, report = score_day(nodes, edges, get_engine("cpu"), watchlist=watchlist)
    assert report.watchlisted == 0
    assert (scores["association_score"] == 0).all() and (scores["watchlist_score"] == 0).all()


# --- the asset ---------------------------------------------------------------------------------

LANDING_CSV = "transaction_id,timestamp,sender,receiver,amount\n" + "".join(
    f"T{i:02d},{DAY}T{i % 20:02d}:00:00Z,{s},{r},{a}\n"
    for i, (s, r, a) in enumerate(
        [("A", "B", 100.0), ("B", "C", 95.0), ("C", "A", 90.0), ("D", "E", 40.0), ("E", "F", 5.0)]
    )
)


@pytest.mark.slow
def test_account_scores_asset_reads_the_watchlist_and_records_metadata(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch
):
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    landing = storage_dir / "landing" / "transactions" / f"date={DAY}"
    landing.mkdir(parents=True)
    (landing / "part-000.csv").write_text(LANDING_CSV)
    watchlist = storage_dir / "reference" / "watchlist.csv"
    watchlist.parent.mkdir()
    watchlist.write_text("account\nA\nZ\n")
    settings = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
        risk_score="rules",  # the watchlist's figures below are the rules score's
    )

    def run(url: Path):
        resources = deployment_resources(settings) | {"watchlist": Watchlist(url=str(url))}
        return materialize(
            [
                raw_transactions,
                transaction_graph,
                account_features,
                account_history,
                account_scores,
            ],
            partition_key=DAY,
            resources=resources,
        )

    result = run(watchlist)
    assert result.success
    scores = result.output_for_node("account_scores").set_index("account")
    meta = result.asset_materializations_for_node("account_scores")[0].metadata
    assert meta["engine"].value == "cpu"
    assert meta["watchlist"].value == str(watchlist)
    assert meta["watchlist_size"].value == 2  # Z is listed but not active today
    assert meta["watchlisted_active"].value == 1
    assert meta["high_risk_threshold"].value == 0.8
    assert meta["risk_model"].value == "none: rules score (FRAUD_RISK_SCORE=rules)"
    # A is listed; B and C relay its money round a cycle and are associated with it; the
    # chain D → E → F, with no money path to A, is not.
    assert meta["high_risk"].value == 3
    assert scores.loc["A", "risk_score"] == 1.0
    assert (scores.loc[["B", "C"], "association_score"] > 0.5).all()
    assert (scores.loc[["B", "C"], "risk_score"] >= 0.8).all()
    assert (scores.loc[["D", "E", "F"], "association_score"] == 0).all()
    assert (scores.loc[["D", "E", "F"], "risk_score"] < 0.1).all()
    assert meta["clusters"].value == 2
    assert 0.0 < meta["modularity"].value < 1.0

    result = run(storage_dir / "reference" / "missing.csv")
    meta = result.asset_materializations_for_node("account_scores")[0].metadata
    assert meta["watchlist_size"].value == 0
    assert meta["watchlist"].value.startswith("none")
    scores = result.output_for_node("account_scores")
    assert (scores["association_score"] == 0).all()
