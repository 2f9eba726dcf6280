"""The graph engines against hand-computed values and an independent library (igraph).

Every contract test runs on each engine: the CPU engine, the GPU engine on the cuGraph stand-in
(``gpu-standin``: the engine's own code, the libraries' behaviour modelled on the CPU), and the
GPU engine on real RAPIDS, which is skipped, with the reason, where no CUDA device is usable.
"""

from __future__ import annotations

import igraph
import networkit as nk
import numpy as np
import pandas as pd
import pytest
from engine_params import GPU_USABLE

from fraud_platform.defs.analytics.engines import (
    CpuEngine,
    GraphEngine,
    PageRankNotConvergedError,
    available_engines,
    get_engine,
)
from fraud_platform.defs.analytics.engines.base import modularity, renumber_by_size
from fraud_platform.defs.analytics.engines.gpu import ITERATIONS_NOT_REPORTED

ALPHA = 0.85


def edge_table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """An engine input table from (sender, receiver, amount_total) triples."""
    return pd.DataFrame(
        {
            "sender": pd.Series([r[0] for r in rows], dtype="str"),
            "receiver": pd.Series([r[1] for r in rows], dtype="str"),
            "amount_total": pd.Series([r[2] for r in rows], dtype="float64"),
            "tx_count": pd.Series([1] * len(rows), dtype="int64"),
        }
    )


def as_dict(frame: pd.DataFrame, column: str) -> dict[str, float]:
    return dict(zip(frame["account"], frame[column], strict=True))


def reference_pagerank(
    rows: list[tuple[str, str, float]],
    alpha: float = ALPHA,
    personalization: dict[str, float] | None = None,
) -> dict[str, float]:
    """networkx's weighted PageRank, solved exactly as a dense linear system.

    Column j of M holds where account j's mass goes: its out-weights normalized, or the
    personalization vector p when j sends nothing. The fixed point x = αMx + (1−α)p with
    Σx = 1 is the solution of (I − αM) x = (1−α) p.
    """
    names = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    weights = np.zeros((n, n))
    for sender, receiver, amount in rows:
        weights[index[receiver], index[sender]] += amount
    p = np.full(n, 1.0 / n)
    if personalization is not None:
        p = np.array([personalization.get(name, 0.0) for name in names])
        p /= p.sum()
    out = weights.sum(axis=0)
    m = np.where(out > 0, weights / np.where(out > 0, out, 1.0), p[:, None])
    x = np.linalg.solve(np.eye(n) - alpha * m, (1 - alpha) * p)
    return dict(zip(names, x, strict=True))


def l1(result: dict[str, float], expected: dict[str, float]) -> float:
    assert result.keys() == expected.keys()
    return sum(abs(result[k] - expected[k]) for k in expected)


def two_cliques() -> list[tuple[str, str, float]]:
    """Two 5-cliques (a0..a4, b0..b4), each pair once, joined by the single edge a4 → b0."""
    rows = []
    for group in ("a", "b"):
        for i in range(5):
            for j in range(i + 1, 5):
                rows.append((f"{group}{i}", f"{group}{j}", 1.0))
    rows.append(("a4", "b0", 1.0))
    return rows


def planted_partition(seed: int) -> tuple[list[tuple[str, str, float]], dict[str, int]]:
    """Four groups of 25 accounts: 60% of in-group pairs linked, 0.5% of cross pairs."""
    rng = np.random.default_rng(seed)
    group = {f"g{g}-{i}": g for g in range(4) for i in range(25)}
    names = list(group)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            chance = 0.6 if group[a] == group[b] else 0.005
            if rng.random() < chance:
                rows.append((a, b, float(rng.uniform(1, 100))))
    return rows, group


# --- choosing an engine ----------------------------------------------------------------------


def test_get_engine_by_name_and_auto():
    # Without a usable CUDA device (every CI machine) the CPU engine is the only one.
    expected = ["gpu", "cpu"] if GPU_USABLE else ["cpu"]
    assert [e.name for e in available_engines()] == expected
    assert isinstance(get_engine("cpu"), CpuEngine)
    assert get_engine("auto").name == expected[0]


@pytest.mark.parametrize("name", ["CPU", "", "cuda"])
def test_get_engine_unknown_name_is_refused(name: str):
    with pytest.raises(ValueError, match="unknown graph engine"):
        get_engine(name)


# --- building ------------------------------------------------------------------------------


def test_accounts_are_every_sender_and_receiver_in_first_seen_order(engine):
    graph = engine.build(edge_table([("x", "y", 1.0), ("z", "x", 2.0), ("y", "w", 3.0)]))
    assert list(graph.accounts) == ["x", "z", "y", "w"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (edge_table([("a", "b", -1.0)]), "negative"),
        (edge_table([("a", "b", float("nan"))]), "NaN"),
        (edge_table([("a", "b", 1.0)]).drop(columns="amount_total"), "amount_total"),
        (
            edge_table([("a", "b", 1.0)]).assign(sender=pd.Series([None], dtype="str")),
            "missing sender",
        ),
    ],
)
def test_build_refuses_bad_edges(engine, frame: pd.DataFrame, message: str):
    with pytest.raises(ValueError, match=message):
        engine.build(frame)


# --- PageRank ------------------------------------------------------------------------------


def test_pagerank_of_a_three_cycle_is_one_third_each(engine):
    result = engine.build(edge_table([("a", "b", 5.0), ("b", "c", 1.0), ("c", "a", 9.0)]))
    result = result.pagerank()
    assert result.converged
    if engine.name == "gpu":  # cuGraph does not report how many iterations it ran
        assert result.iterations == ITERATIONS_NOT_REPORTED
    else:
        assert result.iterations >= 1
    assert list(result.scores.columns) == ["account", "pagerank"]
    for value in as_dict(result.scores, "pagerank").values():
        assert value == pytest.approx(1 / 3, abs=1e-12)


def test_pagerank_with_a_dangling_account_matches_the_hand_solution(engine):
    # a → b, b sends nothing: x_a = (1−α)/2 + α·x_b/2 and x_a + x_b = 1 give x_a = 20/57.
    scores = as_dict(engine.build(edge_table([("a", "b", 3.0)])).pagerank().scores, "pagerank")
    assert scores["a"] == pytest.approx(20 / 57, abs=1e-10)
    assert scores["b"] == pytest.approx(37 / 57, abs=1e-10)


def test_weighted_pagerank_equals_the_networkx_definition(engine):
    rows = [
        ("a", "b", 10.0),
        ("a", "c", 30.0),
        ("b", "c", 5.0),
        ("c", "a", 7.0),
        ("c", "d", 1.0),
        ("d", "d", 2.0),  # self loop
        ("e", "a", 4.0),
        ("b", "f", 8.0),  # f is dangling
        ("a", "b", 2.5),  # a repeated pair adds to the first
    ]
    result = engine.build(edge_table(rows)).pagerank()
    scores = as_dict(result.scores, "pagerank")
    assert l1(scores, reference_pagerank(rows)) < 1e-9
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-12)
    assert result.delta < 1e-10


def test_pagerank_of_a_random_graph_equals_the_networkx_definition(engine):
    rng = np.random.default_rng(5)
    names = [f"n{i}" for i in range(150)]  # n100..n149 only receive: dangling
    rows = [
        (names[a], names[b], float(w))
        for a, b, w in zip(
            rng.integers(0, 100, 900), rng.integers(0, 150, 900), rng.lognormal(3, 1, 900),
            strict=True,
        )
    ]  # fmt: skip
    scores = as_dict(engine.build(edge_table(rows)).pagerank().scores, "pagerank")
    assert l1(scores, reference_pagerank(rows)) < 1e-9


def test_personalized_pagerank_matches_the_hand_solution(engine):
    # a ⇄ b with all teleports to a: x_a = α·x_b + (1−α), x_b = α·x_a, so x_a = 1/(1+α).
    graph = engine.build(edge_table([("a", "b", 1.0), ("b", "a", 1.0)]))
    result = graph.pagerank(personalization=pd.Series({"a": 2.0, "not-in-graph": 5.0}))
    scores = as_dict(result.scores, "pagerank")
    assert scores["a"] == pytest.approx(1 / (1 + ALPHA), abs=1e-10)
    assert scores["b"] == pytest.approx(ALPHA / (1 + ALPHA), abs=1e-10)


def test_personalized_dangling_mass_follows_the_personalization(engine):
    rows = [("a", "b", 1.0), ("b", "c", 2.0), ("a", "c", 1.0), ("d", "a", 1.0)]  # c dangles
    weights = {"a": 0.0, "b": 1.0, "c": 0.0, "d": 3.0}
    result = engine.build(edge_table(rows)).pagerank(personalization=pd.Series(weights))
    expected = reference_pagerank(rows, personalization=weights)
    assert l1(as_dict(result.scores, "pagerank"), expected) < 1e-9


def test_personalization_without_weight_is_refused(engine):
    graph = engine.build(edge_table([("a", "b", 1.0)]))
    with pytest.raises(ValueError, match="not all zero"):
        graph.pagerank(personalization=pd.Series({"elsewhere": 1.0}))


def test_pagerank_that_does_not_converge_raises(engine):
    graph = engine.build(edge_table([("a", "b", 1.0), ("a", "c", 3.0), ("c", "b", 1.0)]))
    with pytest.raises(PageRankNotConvergedError, match="did not converge in 2 iterations"):
        graph.pagerank(max_iter=2)
    assert graph.pagerank(max_iter=200).converged


# --- communities ---------------------------------------------------------------------------

TWO_CLIQUE_MODULARITY = 20 / 21 - 2 * (21 / 42) ** 2  # 21 edges, 20 inside, degree 21 each side


@pytest.mark.parametrize("algorithm", ["louvain", "leiden"])
def test_two_cliques_joined_by_one_edge_are_two_clusters(engine, algorithm: str):
    result = getattr(engine.build(edge_table(two_cliques())), algorithm)()
    clusters = as_dict(result.clusters, "cluster")
    # Equal sizes: the tie goes to the cluster holding the smallest account id, a0.
    assert clusters == {f"{g}{i}": (0 if g == "a" else 1) for g in "ab" for i in range(5)}
    assert result.count == 2
    assert result.modularity == pytest.approx(TWO_CLIQUE_MODULARITY, abs=1e-12)
    assert result.modularity == pytest.approx(19 / 42, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["louvain", "leiden"])
def test_a_pair_paid_both_ways_weighs_both_payments(engine, algorithm: str):
    # a ⇄ b and c ⇄ d weigh 1 + 100 each, b → c 20: {a, b} and {c, d} (Q = 202/222 − 1/2).
    # Keeping the smaller direction or one row per pair instead makes b–c the heaviest tie.
    rows = [("a", "b", 1.0), ("b", "a", 100.0), ("b", "c", 20.0)]
    rows += [("c", "d", 1.0), ("d", "c", 100.0)]
    result = getattr(engine.build(edge_table(rows)), algorithm)()
    assert as_dict(result.clusters, "cluster") == {"a": 0, "b": 0, "c": 1, "d": 1}
    assert result.modularity == pytest.approx(202 / 222 - 0.5, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["louvain", "leiden"])
def test_communities_recover_a_planted_partition(engine, algorithm: str):
    rows, group = planted_partition(seed=3)
    result = getattr(engine.build(edge_table(rows)), algorithm)()
    clusters = as_dict(result.clusters, "cluster")
    pairs = {(group[name], clusters[name]) for name in group}
    assert len(pairs) == 4 and result.count == 4  # one cluster per planted group, exactly
    # igraph computes the same modularity for the same membership.
    names = list(result.clusters["account"])
    index = {name: i for i, name in enumerate(names)}
    reference = igraph.Graph(
        n=len(names),
        edges=[(index[a], index[b]) for a, b, _ in rows],
        edge_attrs={"weight": [w for *_, w in rows]},
    )
    expected = reference.modularity(list(result.clusters["cluster"]), weights="weight")
    assert result.modularity == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["louvain", "leiden"])
def test_communities_are_reproducible_and_leave_threads_alone(engine, algorithm: str):
    rng = np.random.default_rng(11)
    names = [f"acct{i}" for i in range(1500)]
    senders, receivers = rng.integers(0, 1500, 6000), rng.integers(0, 1500, 6000)
    amounts = rng.uniform(1, 50, 6000)
    rows = [
        (names[a], names[b], float(w)) for a, b, w in zip(senders, receivers, amounts, strict=True)
    ]
    threads = nk.getMaxNumberOfThreads()
    first = getattr(engine.build(edge_table(rows)), algorithm)(seed=5)
    second = getattr(engine.build(edge_table(rows)), algorithm)(seed=5)
    pd.testing.assert_frame_equal(first.clusters, second.clusters)
    assert first.modularity == second.modularity > 0.2
    assert nk.getMaxNumberOfThreads() == threads


@pytest.mark.parametrize("resolution", [0.5, 1.0, 2.0])
def test_modularity_equals_igraph_with_self_loops_and_reciprocal_edges(resolution: float):
    senders = np.array([0, 1, 2, 0, 3, 3, 1, 4])
    receivers = np.array([1, 0, 0, 0, 4, 2, 2, 4])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.5])
    labels = np.array([0, 0, 1, 1, 1])
    graph = igraph.Graph(n=5, edges=list(zip(senders.tolist(), receivers.tolist(), strict=True)))
    expected = graph.modularity(labels.tolist(), weights=weights.tolist(), resolution=resolution)
    result = modularity(senders, receivers, weights, labels, resolution=resolution)
    assert result == pytest.approx(expected, abs=1e-12)


def test_renumber_by_size_orders_by_size_then_smallest_id():
    accounts = pd.Index(["d", "a", "c", "b", "e", "f"])
    # groups: 7 → {d, c, e} (size 3), 1 → {a, f} (size 2), 9 → {b} (size 1)
    assert renumber_by_size(np.array([7, 1, 7, 9, 7, 1]), accounts).tolist() == [0, 1, 0, 2, 0, 1]
    # equal sizes: {d, c} holds "c", {a, b} holds "a", so {a, b} is 0
    assert renumber_by_size(np.array([5, 6, 5, 6]), accounts[:4]).tolist() == [1, 0, 1, 0]


# --- components ----------------------------------------------------------------------------


def test_weakly_connected_components(engine):
    rows = [("a", "b", 1.0), ("c", "b", 1.0), ("d", "e", 2.0), ("f", "f", 1.0), ("g", "h", 1.0)]
    components = engine.build(edge_table(rows)).weakly_connected_components()
    assert list(components.columns) == ["account", "component"]
    assert as_dict(components, "component") == {
        "a": 0, "b": 0, "c": 0,  # largest first
        "d": 1, "e": 1,  # then equal sizes by smallest id: d < g
        "g": 2, "h": 2,
        "f": 3,  # a self loop alone
    }  # fmt: skip


# --- awkward input -------------------------------------------------------------------------

ODD_IDS = ["Zoë", "O'Brien", 'say "hi"', "账户-7", "", "a\tb", "Robert'); DROP TABLE x;--"]


def test_results_are_keyed_by_the_original_ids(engine):
    cycle = [(ODD_IDS[i], ODD_IDS[(i + 1) % 3], 1.0) for i in range(3)]
    tail = [(ODD_IDS[3], ODD_IDS[4], 1.0), (ODD_IDS[5], ODD_IDS[6], 2.0)]
    graph = engine.build(edge_table(cycle + tail))
    assert set(graph.accounts) == set(ODD_IDS)
    scores = as_dict(graph.pagerank().scores, "pagerank")
    assert l1(scores, reference_pagerank(cycle + tail)) < 1e-9
    components = as_dict(graph.weakly_connected_components(), "component")
    assert components[ODD_IDS[0]] == components[ODD_IDS[1]] == components[ODD_IDS[2]] == 0
    assert components[ODD_IDS[3]] == components[ODD_IDS[4]] != components[ODD_IDS[5]]
    for algorithm in ("louvain", "leiden"):
        clusters = as_dict(getattr(graph, algorithm)().clusters, "cluster")
        assert clusters.keys() == set(ODD_IDS)
        assert clusters[ODD_IDS[0]] == clusters[ODD_IDS[1]] == clusters[ODD_IDS[2]]


def test_an_empty_edge_list_gives_empty_results(engine):
    graph = engine.build(edge_table([]))
    assert len(graph.accounts) == 0
    result = graph.pagerank()
    assert result.scores.empty and list(result.scores.columns) == ["account", "pagerank"]
    assert (result.iterations, result.converged) == (0, True)
    for algorithm in ("louvain", "leiden"):
        communities = getattr(graph, algorithm)()
        assert communities.clusters.empty and communities.modularity == 0.0
        assert list(communities.clusters.columns) == ["account", "cluster"]
    components = graph.weakly_connected_components()
    assert components.empty and list(components.columns) == ["account", "component"]


def test_degree_features_count_counterparties_and_money(engine: GraphEngine) -> None:
    """Degrees are distinct counterparties; a repeated pair's money adds up; a self loop counts
    once in and once out."""
    edges = pd.DataFrame(
        {
            "sender": ["A", "A", "A", "B", "C"],
            "receiver": ["B", "B", "C", "C", "C"],
            "amount_total": [1.0, 2.0, 4.0, 8.0, 16.0],
            "tx_count": [1, 1, 1, 1, 1],
        }
    )
    features = engine.build(edges).degree_features().set_index("account").sort_index()
    assert features["out_degree"].tolist() == [2, 1, 1]
    assert features["in_degree"].tolist() == [0, 1, 3]
    assert features["out_amount"].tolist() == [7.0, 8.0, 16.0]
    assert features["in_amount"].tolist() == [0.0, 3.0, 28.0]


def test_a_graph_built_on_the_node_table_answers_in_its_order(engine: GraphEngine) -> None:
    """With the day's node table and the edges' node rows, results come in node-table order
    and equal those of a graph that numbers the accounts itself."""
    from fraud_platform.defs.graph.logic import build_transaction_graph

    rows = [*two_cliques(), ("b3", "a1", 2.5), ("a2", "a2x", 1.0)]
    transfers = pd.DataFrame(
        {
            "partition_date": pd.Series(["2024-10-01"] * len(rows), dtype="str"),
            "timestamp": pd.Series(
                pd.Timestamp("2024-10-01T12:00Z"), index=range(len(rows))
            ).astype("datetime64[us, UTC]"),
            "sender": pd.Series([r[0] for r in rows], dtype="str"),
            "receiver": pd.Series([r[1] for r in rows], dtype="str"),
            "amount": [r[2] for r in rows],
        }
    )
    graph = build_transaction_graph(transfers)
    accounts = pd.Index(graph.nodes["account"])
    assert (graph.edges["sender_node"] >= 0).all()
    assert list(accounts[graph.edges["sender_node"]]) == list(graph.edges["sender"])
    assert list(accounts[graph.edges["receiver_node"]]) == list(graph.edges["receiver"])

    by_rows = engine.build(graph.edges, accounts)
    by_ids = engine.build(graph.edges.drop(columns=["sender_node", "receiver_node"]))
    pagerank = by_rows.pagerank().scores
    assert list(pagerank["account"]) == list(accounts)
    expected = as_dict(by_ids.pagerank().scores, "pagerank")
    assert l1(as_dict(pagerank, "pagerank"), expected) < 1e-12
    clusters = by_rows.louvain().clusters
    assert list(clusters["account"]) == list(accounts)
    assert clusters.groupby("cluster")["account"].apply(frozenset).to_dict() == (
        by_ids.louvain().clusters.groupby("cluster")["account"].apply(frozenset).to_dict()
    )
    components = by_rows.weakly_connected_components()
    assert list(components["account"]) == list(accounts)


def test_node_rows_outside_the_node_table_are_refused(engine: GraphEngine) -> None:
    edges = edge_table([("a", "b", 1.0)]).assign(sender_node=0, receiver_node=5)
    with pytest.raises(ValueError, match="node table lacks"):
        engine.build(edges, pd.Index(["a", "b"]))
