"""The GPU engine's own glue, on the cuGraph stand-in, and the real engine where a GPU is usable.

The shared contract (PageRank values, planted communities, components, odd ids) is in
test_engines.py; here: what the engine hands cuGraph (int32 ids, the two graphs, the
personalization frame), how it translates what comes back, and that the stand-in behaves like
cuGraph where the engine relies on it.
"""

from __future__ import annotations

import datetime as dt
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
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import validate_transactions
from fraud_platform.sample_data.generator import SampleConfig, generate_day

GPU_USABLE, GPU_REASON = gpu_available()
ALPHA = 0.85


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
    directed: bool, src: list[int], dst: list[int], weight: list[float], transposed: bool = False
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
    )
    return graph


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


def generated_day_edges() -> pd.DataFrame:
    """One sample day (20,000 transfers, planted rings) as the graph asset would collapse it."""
    day = dt.date(2025, 3, 4)
    sample = generate_day(day, SampleConfig(transactions_per_day=20_000, malformed_rate=0.0))
    rows = sample.transactions.assign(line=np.arange(2, len(sample.transactions) + 2))
    valid, rejected = validate_transactions(rows, "part-000.csv", day.isoformat())
    assert rejected.empty
    return build_transaction_graph(valid).edges


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
