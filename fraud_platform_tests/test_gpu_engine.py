"""The GPU engine's own glue, on the cuGraph stand-in, and the real engine where a GPU is usable.

The shared contract (PageRank values, planted communities, components, odd ids) is in
test_engines.py; here: what the engine hands cuGraph (int32 ids, the two graphs, the
personalization frame), how it translates what comes back, and that the stand-in behaves like
cuGraph where the engine relies on it.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import math
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cugraph_standin import FailedToConvergeError, Graph
from cugraph_standin import cudf as standin_cudf
from cugraph_standin import cugraph as standin_cugraph

from fraud_platform.defs.analytics.engines import (
    CpuEngine,
    GpuEngine,
    GraphEngine,
    PageRankNotConvergedError,
    gpu_available,
)
from fraud_platform.defs.analytics.engines.gpu import (
    ITERATIONS_NOT_REPORTED,
    CuGraphPageRankNotConvergedError,
    GpuGraph,
    pagerank_step_change,
)
from fraud_platform.defs.analytics.logic import score_day
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import validate_transactions
from fraud_platform.sample_data.generator import SampleConfig, generate_day
from fraud_platform.tables import TransactionGraph

GPU_USABLE, GPU_REASON = gpu_available()
ALPHA = 0.85
#: How far the association scores of the generated day may differ from the CPU engine's: the
#: PageRank tolerance there (the stand-in's differ by under 1e-15).
ASSOCIATION_ATOL = 1e-9


def edge_table(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sender": pd.Series([r[0] for r in rows], dtype="str"),
            "receiver": pd.Series([r[1] for r in rows], dtype="str"),
            "amount_total": pd.Series([r[2] for r in rows], dtype="float64"),
            "tx_count": pd.Series([1] * len(rows), dtype="int64"),
        }
    )


def standin_engine(**cugraph_overrides: Any) -> GpuEngine:
    """The GPU engine on the stand-in, with some cugraph functions replaced if asked."""
    cugraph = SimpleNamespace(**{**vars(standin_cugraph), **cugraph_overrides})
    return GpuEngine(cudf=standin_cudf, cugraph=cugraph)


def named_edges(graph: GpuGraph, frame: Any) -> dict[tuple[str, str], float]:
    """An engine-side edge frame (int32 ids) with the account names put back."""
    names = graph.accounts
    return {
        (names[s], names[d]): w
        for s, d, w in zip(frame["src"], frame["dst"], frame["weight"], strict=True)
    }


ROWS = [
    ("a", "b", 1.0),
    ("b", "a", 10.0),
    ("a", "b", 2.0),  # a repeated pair: adds to the first
    ("c", "c", 5.0),  # a self loop
    ("b", "c", 4.0),
    ("d", "b", 0.5),
]


#: Two five-account cliques joined by one light edge.
CLIQUES = [(f"{g}{i}", f"{g}{j}", 1.0) for g in "xy" for i in range(5) for j in range(5) if i < j]
CLIQUES.append(("x0", "y0", 0.1))


def edgeless_day() -> tuple[pd.DataFrame, pd.Index]:
    """`CLIQUES` on a node table that also has accounts without an edge: before, between and
    after the cliques' accounts, so some vertex ids lie above the largest id of any edge."""
    accounts = ["idle-first", *(f"x{i}" for i in range(5)), "idle-between"]
    accounts += [*(f"y{i}" for i in range(5)), "idle-last-but-one", "idle-last"]
    return edge_table(CLIQUES), pd.Index(accounts, name="account")


IDLE = ["idle-first", "idle-between", "idle-last-but-one", "idle-last"]
#: A personalization of the edgeless day that is zero on every account without an edge.
EDGELESS_DAY_PERSONALIZATION = pd.Series({"x1": 2.0, "y3": 1.0, "idle-last": 0.0})


def assert_edgeless_day_like_the_cpu_engine(engine: GraphEngine, *, uniform: bool) -> None:
    """On `edgeless_day`, ``engine`` gives the CPU engine's results: an account without an edge
    is its own community and component, and PageRank's dangling vertex (``uniform``: also
    without a personalization)."""
    edges, accounts = edgeless_day()
    graph, cpu = engine.build(edges, accounts), CpuEngine().build(edges, accounts)
    assert list(graph.accounts) == list(accounts)
    weights = [EDGELESS_DAY_PERSONALIZATION] + ([None] if uniform else [])
    for personalization in weights:
        got = graph.pagerank(personalization=personalization).scores
        want = cpu.pagerank(personalization=personalization).scores
        assert list(got["account"]) == list(accounts)
        assert np.abs(got["pagerank"] - want["pagerank"]).sum() < 1e-9
        idle = got.loc[got["account"].isin(IDLE), "pagerank"]
        if personalization is None:
            assert (idle > 0.0).all()  # teleported to
        else:
            assert (idle == 0.0).all()  # no edge brings it mass, no teleport either
    for algorithm in ("louvain", "leiden"):
        on_engine, on_cpu = getattr(graph, algorithm)(), getattr(cpu, algorithm)()
        pd.testing.assert_frame_equal(on_engine.clusters, on_cpu.clusters)
        assert on_engine.count == 2 + len(IDLE)  # the cliques, and each idle account alone
        assert on_engine.modularity == on_cpu.modularity
    components = graph.weakly_connected_components()
    pd.testing.assert_frame_equal(components, cpu.weakly_connected_components())
    assert components["component"].nunique() == 1 + len(IDLE)
    pd.testing.assert_frame_equal(graph.degree_features(), cpu.degree_features())


# --- without RAPIDS --------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("cudf") is not None, reason="RAPIDS is installed here")
def test_without_rapids_the_engine_imports_and_build_says_what_is_missing():
    engine = GpuEngine()
    with pytest.raises(ValueError, match="negative"):  # bad input is refused before the import
        engine.build(edge_table([("a", "b", -1.0)]))
    with pytest.raises(ImportError, match="needs RAPIDS cudf and cugraph"):
        engine.build(edge_table([("a", "b", 1.0)]))


def test_libraries_are_injected_together():
    with pytest.raises(ValueError, match="both cudf and cugraph"):
        GpuEngine(cudf=standin_cudf)


# --- what the engine hands cuGraph -------------------------------------------------------------


def test_accounts_are_factorized_to_int32_and_repeated_pairs_add_up():
    graph = standin_engine().build(edge_table(ROWS))
    assert list(graph.accounts) == ["a", "b", "c", "d"]
    assert graph.accounts.dtype == "str"
    assert graph.edges["src"].dtype == np.int32 and graph.edges["dst"].dtype == np.int32
    assert graph.edges["weight"].dtype == np.float64
    assert named_edges(graph, graph.edges) == {
        ("a", "b"): 3.0,
        ("b", "a"): 10.0,
        ("c", "c"): 5.0,
        ("b", "c"): 4.0,
        ("d", "b"): 0.5,
    }


def test_pagerank_graph_is_directed_stored_transposed_on_the_engine_ids():
    graph = standin_engine().build(edge_table(ROWS))
    directed = graph.directed_graph
    assert directed.is_directed() and directed.store_transposed and not directed.renumbered
    assert directed.input_df is graph.edges
    assert directed.number_of_vertices() == len(graph.accounts) == 4
    assert len(directed.src) == 5  # the merged pairs, none dropped by cuGraph


def test_community_graph_is_undirected_with_both_directions_added():
    graph = standin_engine().build(edge_table(ROWS))
    undirected = graph.undirected_graph
    assert not undirected.is_directed() and not undirected.renumbered
    # a–b carries 1 + 2 + 10; the self loop stays one edge of its own weight.
    assert named_edges(graph, graph.symmetric_edges) == {
        ("a", "b"): 13.0,
        ("b", "a"): 13.0,
        ("b", "c"): 4.0,
        ("c", "b"): 4.0,
        ("b", "d"): 0.5,
        ("d", "b"): 0.5,
        ("c", "c"): 5.0,
    }
    assert len(graph.symmetric_edges) == len(undirected.src) == 7


def test_personalization_reaches_cugraph_as_int32_vertex_ids():
    seen: dict[str, Any] = {}

    def recording_pagerank(G: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return standin_cugraph.pagerank(G, **kwargs)

    graph = standin_engine(pagerank=recording_pagerank).build(edge_table(ROWS))
    weights = pd.Series({"d": 3.0, "not-in-graph": 7.0, "a": 1.0, "b": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cuGraph warns when it has to cast the frame
        result = graph.pagerank(alpha=0.5, tol=1e-9, max_iter=50, personalization=weights)
    frame = seen["personalization"]
    assert frame["vertex"].dtype == np.int32 and frame["values"].dtype == np.float64
    # Accounts outside the graph and zero weights are left out; the rest by vertex id.
    assert dict(zip(frame["vertex"], frame["values"], strict=True)) == {3: 3.0, 0: 1.0}
    assert (seen["alpha"], seen["tol"], seen["max_iter"]) == (0.5, 1e-9, 50)
    assert seen["fail_on_nonconvergence"] is True
    assert result.iterations == ITERATIONS_NOT_REPORTED and result.converged
    assert result.delta < 0.5 * 1e-9  # one more step moves it by under α·tol


def test_an_account_named_twice_in_the_personalization_is_refused():
    graph = standin_engine().build(edge_table(ROWS))
    with pytest.raises(ValueError, match="more than once"):
        graph.pagerank(personalization=pd.Series([1.0, 2.0], index=["a", "a"]))


def test_both_graphs_hold_every_account_of_the_node_table():
    edges, accounts = edgeless_day()
    graph = standin_engine().build(edges, accounts)
    assert graph.vertices.dtype == np.int32
    assert graph.vertices.tolist() == list(range(len(accounts)))
    assert graph.directed_graph.number_of_vertices() == len(accounts)
    assert graph.undirected_graph.number_of_vertices() == len(accounts)
    assert int(graph.edges[["src", "dst"]].max().max()) < len(accounts) - 2  # idle ones last


def test_accounts_without_an_edge_score_like_the_cpu_engine():
    assert_edgeless_day_like_the_cpu_engine(standin_engine(), uniform=True)


# --- what comes back -------------------------------------------------------------------------


def test_non_convergence_is_reported_with_cugraphs_error_as_the_cause():
    graph = standin_engine().build(edge_table(ROWS))
    with pytest.raises(PageRankNotConvergedError, match="did not converge in 3 iterations") as err:
        graph.pagerank(max_iter=3)
    assert isinstance(err.value, CuGraphPageRankNotConvergedError)
    assert isinstance(err.value.__cause__, FailedToConvergeError)
    assert (err.value.iterations, err.value.tol) == (3, 1e-10)
    assert math.isnan(err.value.delta)  # cuGraph does not say; the message says so
    assert "does not report the last change" in str(err.value)


def test_nonpositive_max_iter_or_tol_is_not_left_to_cugraph_defaults():
    graph = standin_engine().build(edge_table(ROWS))
    with pytest.raises(PageRankNotConvergedError, match="in 0 iterations"):
        graph.pagerank(max_iter=0)  # cuGraph would run 100
    with pytest.raises(ValueError, match="tol must be positive"):
        graph.pagerank(tol=0.0)  # cuGraph would use 1e-5


def test_scores_that_miss_the_contracts_fixed_point_are_reported():
    def uniform_pagerank(G: Any, **kwargs: Any) -> Any:
        n = G.number_of_vertices()
        vertex = np.arange(n, dtype=np.int32)
        return standin_cudf.DataFrame({"vertex": vertex, "pagerank": np.full(n, 1.0 / n)})

    graph = standin_engine(pagerank=uniform_pagerank).build(edge_table(ROWS))
    with pytest.raises(RuntimeError, match="its definition differs"):
        graph.pagerank()


def test_a_result_missing_a_vertex_is_refused():
    def partial_louvain(G: Any, **kwargs: Any) -> Any:
        parts, q = standin_cugraph.louvain(G, **kwargs)
        return parts.iloc[1:], q

    graph = standin_engine(louvain=partial_louvain).build(edge_table(ROWS))
    with pytest.raises(RuntimeError, match=r"partition for 3 vertex ids, not for each of 0\.\.3"):
        graph.louvain()


def test_pagerank_step_change_by_hand():
    # a → b, b dangles; from (½, ½): b gets α/2 by the edge, each gets (α/2 + 1 − α)/2, so the
    # step gives (0.2875, 0.7125) with α = 0.85: an L1 change of α/2.
    senders, receivers, weights = np.array([0]), np.array([1]), np.array([3.0])
    uniform = np.full(2, 0.5)
    change = pagerank_step_change(
        senders, receivers, weights, np.full(2, 0.5), alpha=ALPHA, personalization=uniform
    )
    assert change == pytest.approx(ALPHA / 2, abs=1e-15)
    fixed_point = np.array([20 / 57, 37 / 57])  # test_engines' hand solution
    change = pagerank_step_change(
        senders, receivers, weights, fixed_point, alpha=ALPHA, personalization=uniform
    )
    assert change < 1e-15


# --- the stand-in is like cuGraph where the engine relies on it ------------------------------


def standin_graph(
    directed: bool,
    src: list[int],
    dst: list[int],
    weight: list[float],
    transposed: bool = False,
    vertices: Any = None,
) -> Graph:
    graph = Graph(directed=directed)
    frame = standin_cudf.DataFrame(
        {
            "src": np.array(src, dtype=np.int32),
            "dst": np.array(dst, dtype=np.int32),
            "weight": np.array(weight),
        }
    )
    graph.from_cudf_edgelist(
        frame,
        source="src",
        destination="dst",
        weight="weight",
        renumber=False,
        store_transposed=transposed,
        vertices=vertices,
    )
    return graph


def int32_series(values: list[int]) -> Any:
    return standin_cudf.Series(np.array(values, dtype=np.int32))


def test_standin_without_vertices_stops_at_the_largest_edge_id():
    # renumber=False and no vertex list: 1 + the largest id (create_graph_from_edgelist_impl.cuh).
    assert standin_graph(True, [0], [2], [1.0]).number_of_vertices() == 3
    with_list = standin_graph(True, [0], [2], [1.0], vertices=int32_series([0, 1, 2, 3, 4]))
    assert with_list.number_of_vertices() == 5


def test_standin_answers_for_isolated_vertices_as_cugraph():
    vertices = int32_series([0, 1, 2, 3])
    chain = standin_graph(True, [0], [1], [1.0], transposed=True, vertices=vertices)
    scores = standin_cugraph.pagerank(chain, alpha=ALPHA, tol=1e-12).sort_values("vertex")
    # 0 → 1; 1, 2, 3 dangle: x = (1, 1 + α, 1, 1) / (4 + α).
    expected = np.array([1.0, 1.0 + ALPHA, 1.0, 1.0]) / (4.0 + ALPHA)
    np.testing.assert_allclose(scores["pagerank"], expected, rtol=0, atol=1e-12)
    pair = standin_graph(False, [0, 1], [1, 0], [1.0, 1.0], vertices=vertices)
    for parts in (standin_cugraph.louvain(pair)[0], standin_cugraph.leiden(pair)[0]):
        label = parts.set_index("vertex")["partition"]
        assert label[0] == label[1] and label[[1, 2, 3]].nunique() == 3
    labels = standin_cugraph.weakly_connected_components(pair).set_index("vertex")["labels"]
    assert labels[0] == labels[1] and labels[[1, 2, 3]].nunique() == 3


@pytest.mark.parametrize(
    ("vertices", "error", "message"),
    [
        ([0, 1, 2], NotImplementedError, "as a cudf.Series only"),
        (standin_cudf.Series(np.arange(3)), TypeError, "int32 vertex ids, got vertices of int64"),
        (int32_series([0, 1, 1, 2]), RuntimeError, "should not have duplicates"),
        (int32_series([0, 1, 3]), RuntimeError, "consecutive integers starting from 0"),
        (int32_series([0, 1]), RuntimeError, "invalid vertex ID"),
        (int32_series([0, 2, 1]), ValueError, "numbered consecutively from 0"),
    ],
    ids=["list", "int64", "repeated", "gap", "edge-outside", "unordered"],
)
def test_standin_checks_the_vertex_list_as_cugraph(vertices: Any, error: type, message: str):
    with pytest.raises(error, match=message):
        standin_graph(True, [0], [2], [1.0], vertices=vertices)


def test_standin_keeps_cugraphs_lossy_defaults_that_the_engine_avoids():
    # Its own symmetrization keeps the smaller weight of a→b and b→a ...
    undirected = standin_graph(False, [0, 1], [1, 0], [1.0, 10.0])
    assert sorted(undirected.weights.tolist()) == [1.0, 1.0]
    # ... and a plain Graph keeps one row of a repeated pair.
    directed = standin_graph(True, [0, 0], [1, 1], [1.0, 2.0])
    assert directed.weights.tolist() == [1.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda G: standin_cugraph.louvain(G),
        lambda G: standin_cugraph.leiden(G),
        lambda G: standin_cugraph.weakly_connected_components(G),
    ],
    ids=["louvain", "leiden", "wcc"],
)
def test_standin_refuses_directed_graphs_for_communities_and_components(call):
    with pytest.raises(ValueError, match="input graph must be undirected"):
        call(standin_graph(True, [0], [1], [1.0]))


def test_standin_checks_the_ids_and_flags_it_is_given():
    frame = standin_cudf.DataFrame({"src": np.array([0]), "dst": np.array([1])})  # int64
    with pytest.raises(TypeError, match="int32"):
        Graph(directed=True).from_cudf_edgelist(frame, "src", "dst", renumber=False)
    with pytest.raises(NotImplementedError, match="renumber=False"):
        Graph(directed=True).from_cudf_edgelist(frame, "src", "dst")
    text = standin_cudf.DataFrame({"src": ["x"], "dst": ["y"]})
    with pytest.raises(ValueError, match="non integer"):
        Graph(directed=True).from_cudf_edgelist(text, "src", "dst", renumber=False)
    one_way = standin_cudf.DataFrame(
        {"src": np.array([0], dtype=np.int32), "dst": np.array([1], dtype=np.int32)}
    )
    with pytest.raises(ValueError, match="both directions"):
        Graph().from_cudf_edgelist(one_way, "src", "dst", renumber=False, symmetrize=False)
    with pytest.warns(UserWarning, match="store_transposed"):
        standin_cugraph.pagerank(standin_graph(True, [0], [1], [1.0]))
    with pytest.raises(FailedToConvergeError):
        chain = standin_graph(True, [0, 1], [1, 2], [1.0, 1.0], transposed=True)
        standin_cugraph.pagerank(chain, max_iter=1)


# --- a generated day: the GPU engine against the CPU engine -----------------------------------


@functools.cache
def generated_day() -> tuple[TransactionGraph, pd.DataFrame]:
    """One sample day (20,000 transfers, planted rings) as the graph asset would collapse it,
    and the generator's ground truth."""
    day = dt.date(2025, 3, 4)
    sample = generate_day(day, SampleConfig(transactions_per_day=20_000, malformed_rate=0.0))
    rows = sample.transactions.assign(line=np.arange(2, len(sample.transactions) + 2))
    valid, rejected = validate_transactions(rows, "part-000.csv", day.isoformat())
    assert rejected.empty
    return build_transaction_graph(valid), sample.ground_truth


def generated_day_edges() -> pd.DataFrame:
    return generated_day()[0].edges


@pytest.mark.parametrize(
    "engine",
    [
        pytest.param(standin_engine(), id="gpu-standin"),
        pytest.param(
            GpuEngine(),
            id="gpu",
            marks=[
                pytest.mark.gpu,
                pytest.mark.skipif(not GPU_USABLE, reason=f"real cuGraph: {GPU_REASON}"),
            ],
        ),
    ],
)
def test_a_generated_day_scores_like_the_cpu_engine(engine: GraphEngine):
    edges = generated_day_edges()
    cpu, gpu = CpuEngine().build(edges), engine.build(edges)
    assert list(gpu.accounts) == list(cpu.accounts)
    l1 = np.abs(
        gpu.pagerank().scores["pagerank"].to_numpy() - cpu.pagerank().scores["pagerank"].to_numpy()
    ).sum()
    assert l1 < 1e-9
    pd.testing.assert_frame_equal(
        gpu.weakly_connected_components(), cpu.weakly_connected_components()
    )
    for algorithm in ("louvain", "leiden"):
        on_gpu, on_cpu = getattr(gpu, algorithm)(), getattr(cpu, algorithm)()
        # Different implementations find different local optima of about the same quality.
        assert on_gpu.modularity == pytest.approx(on_cpu.modularity, abs=0.02)
        assert on_gpu.modularity > 0.3


def watchlists() -> dict[str, list[str]]:
    """Watchlists of the generated day whose association graph (the listed accounts' components)
    leaves accounts without an edge: above its largest vertex id (a listed account of a
    two-account component) or only below it (a planted ring's member, in the big component)."""
    graph, truth = generated_day()
    accounts = pd.Index(graph.nodes["account"])
    components = CpuEngine().build(graph.edges, accounts).weakly_connected_components()
    sizes = components["component"].map(components["component"].value_counts())
    pair = components.loc[sizes == 2, "account"]
    last = components["component"].iloc[-1]
    pair = pair[components.loc[pair.index, "component"] != last]
    ring = truth.loc[truth["is_fraud"], "account"]
    return {"pair": [pair.iloc[0]], "ring": [ring.iloc[0]]}


def association_like_the_cpu_engine(engine: GraphEngine, listed: list[str]) -> None:
    """`score_day` with a watchlist on ``engine`` gives the CPU engine's watchlist evidence.

    The association graph is built on every account of the day but only the edges of the listed
    accounts' components (logic.watchlist_association), so most accounts have no edge in it.
    """
    graph, _ = generated_day()
    watchlist = pd.DataFrame({"account": listed})
    got, report = score_day(graph.nodes, graph.edges, engine, watchlist=watchlist, layout=False)
    want, _ = score_day(graph.nodes, graph.edges, CpuEngine(), watchlist=watchlist, layout=False)
    assert report.watchlisted == len(listed)
    assert list(got["account"]) == list(want["account"])
    assert (got["association_score"] > 0).sum() > 1  # the listed account and a counterparty
    np.testing.assert_allclose(
        got["association_score"], want["association_score"], rtol=0, atol=ASSOCIATION_ATOL
    )
    np.testing.assert_array_equal(got["watchlist_score"], want["watchlist_score"])


@pytest.mark.parametrize("watchlist", ["pair", "ring"])
def test_watchlist_association_of_a_generated_day_matches_the_cpu_engine(watchlist: str):
    association_like_the_cpu_engine(standin_engine(), watchlists()[watchlist])
