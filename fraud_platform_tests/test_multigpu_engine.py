"""The multi-GPU engine's glue on the Dask stand-in, its selection, and the real engine on a
dask-cuda cluster where a GPU and RAPIDS are there.

The algorithms and their translation are the single-GPU engine's (test_gpu_engine.py); here:
that the same calls through ``cugraph.dask`` give the same results, that every call is one
session whose comms are destroyed and client closed whatever happens, how the cluster is named,
and when ``auto`` picks this engine.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cugraph_standin import FailedToConvergeError
from cugraph_standin import cudf as standin_cudf
from cugraph_standin import cugraph as standin_cugraph
from dask_standin import DaskStandin, StandinError
from test_gpu_engine import (  # the single-GPU engine's small days and watchlisted day
    CLIQUES,
    EDGELESS_DAY_PERSONALIZATION,
    ROWS,
    assert_edgeless_day_like_the_cpu_engine,
    association_like_the_cpu_engine,
    edge_table,
    edgeless_day,
    watchlists,
)

import fraud_platform.defs.analytics.engines as engines
from fraud_platform.defs.analytics.engines import (
    CpuEngine,
    EngineUnavailableError,
    GpuEngine,
    GraphEngine,
    MultiGpuEngine,
    PageRankNotConvergedError,
    get_engine,
    gpu_available,
    select_engine,
)
from fraud_platform.defs.analytics.engines.gpu import (
    ITERATIONS_NOT_REPORTED,
    CuGraphPageRankNotConvergedError,
)
from fraud_platform.defs.analytics.engines.multigpu import describe_scheduler, scheduler_target
from fraud_platform.defs.analytics.logic import score_day
from fraud_platform.defs.analytics.resources import GraphEngineResource
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import validate_transactions
from fraud_platform.deployment import deployment_resources
from fraud_platform.sample_data.generator import SampleConfig, generate_day
from fraud_platform.settings import Settings

GPU_USABLE, GPU_REASON = gpu_available()
DASK_RAPIDS = all(importlib.util.find_spec(m) for m in ("dask_cuda", "dask_cudf", "distributed"))
REAL_SKIP = pytest.mark.skipif(
    not (GPU_USABLE and DASK_RAPIDS),
    reason=f"real cuGraph on dask-cuda: {GPU_REASON}"
    + ("" if DASK_RAPIDS else "; dask-cuda / dask-cudf not installed"),
)
REAL = [pytest.mark.gpu, REAL_SKIP]
ADDRESS = "tcp://127.0.0.1:8786"


def standin_engine(world: DaskStandin, **cugraph_dask_overrides: Any) -> MultiGpuEngine:
    return MultiGpuEngine(world.address, **world.libraries(**cugraph_dask_overrides))


def single_gpu_standin() -> GpuEngine:
    return GpuEngine(cudf=standin_cudf, cugraph=standin_cugraph)


def assert_torn_down(world: DaskStandin) -> None:
    """Comms down and every client closed: nothing of a run is left on the cluster."""
    assert world.session is None
    assert world.clients and all(client.status == "closed" for client in world.clients)
    assert world.default_client is None
    assert world.events.count(("initialize", True)) == world.events.count(("destroy",))


def sessions(world: DaskStandin) -> list[list[tuple[Any, ...]]]:
    """The events cut into sessions, from a client's connection to its close."""
    cut: list[list[tuple[Any, ...]]] = []
    for event in world.events:
        if event[0] == "client":
            cut.append([])
        cut[-1].append(event)
    return cut


@pytest.fixture
def world() -> DaskStandin:
    return DaskStandin(workers=2, address=ADDRESS)


@pytest.fixture(scope="module")
def generated_day() -> Any:
    """One sample day (20,000 transfers, planted rings) as the graph asset collapses it."""
    day = dt.date(2025, 3, 4)
    sample = generate_day(day, SampleConfig(transactions_per_day=20_000, malformed_rate=0.0))
    rows = sample.transactions.assign(line=np.arange(2, len(sample.transactions) + 2))
    valid, rejected = validate_transactions(rows, "part-000.csv", day.isoformat())
    assert rejected.empty
    return build_transaction_graph(valid)


# --- the same results as the single-GPU engine ----------------------------------------------


@pytest.mark.parametrize("rows", [ROWS, CLIQUES], ids=["small", "two-cliques"])
def test_results_equal_the_single_gpu_engines(world: DaskStandin, rows: list[Any]):
    multi = standin_engine(world).build(edge_table(rows))
    single = single_gpu_standin().build(edge_table(rows))
    assert list(multi.accounts) == list(single.accounts)
    result = multi.pagerank()
    assert result.iterations == ITERATIONS_NOT_REPORTED and result.converged
    np.testing.assert_allclose(
        result.scores["pagerank"], single.pagerank().scores["pagerank"], rtol=0, atol=1e-15
    )
    weights = pd.Series({"d" if rows is ROWS else "x1": 3.0, "not-in-graph": 7.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cuGraph warns when it must cast or the graph is not
        personalized = multi.pagerank(alpha=0.5, personalization=weights).scores  # transposed
    np.testing.assert_allclose(
        personalized["pagerank"],
        single.pagerank(alpha=0.5, personalization=weights).scores["pagerank"],
        rtol=0,
        atol=1e-15,
    )
    for algorithm in ("louvain", "leiden"):
        on_multi, on_single = getattr(multi, algorithm)(), getattr(single, algorithm)()
        pd.testing.assert_frame_equal(on_multi.clusters, on_single.clusters)
        assert on_multi.modularity == on_single.modularity
    pd.testing.assert_frame_equal(
        multi.weakly_connected_components(), single.weakly_connected_components()
    )
    pd.testing.assert_frame_equal(multi.degree_features(), single.degree_features())
    assert_torn_down(world)


@pytest.mark.parametrize("workers", [1, 3])
def test_the_worker_count_sets_the_partitions_not_the_result(workers: int):
    world = DaskStandin(workers=workers, address=ADDRESS)
    scores = standin_engine(world).build(edge_table(CLIQUES)).pagerank().scores
    expected = single_gpu_standin().build(edge_table(CLIQUES)).pagerank().scores
    pd.testing.assert_frame_equal(scores, expected, check_exact=False, rtol=0, atol=1e-15)
    assert ("from_cudf", workers) in world.events


def test_the_layout_is_the_cpu_engines():
    world = DaskStandin()
    edges = edge_table(CLIQUES + ROWS)
    on_multi = standin_engine(world).build(edges).layout(seed=3)
    pd.testing.assert_frame_equal(on_multi, CpuEngine().build(edges).layout(seed=3))
    assert world.events == []  # on the host: no session opened


def test_an_empty_day_opens_no_session(world: DaskStandin):
    graph = standin_engine(world).build(edge_table([]))
    assert graph.pagerank().scores.empty and graph.louvain().clusters.empty
    assert graph.weakly_connected_components().empty and graph.layout().empty
    assert world.events == []


def test_accounts_without_an_edge_are_filled_where_determined(world: DaskStandin):
    # cuGraph's Dask API renumbers in C++: an id without an edge gets no result row at all. A
    # community or component of its own, or PageRank 0 under a personalization that is zero on
    # it, is what the whole graph gives; the engine fills those in.
    assert_edgeless_day_like_the_cpu_engine(standin_engine(world), uniform=False)
    assert_torn_down(world)


def test_pagerank_that_depends_on_accounts_without_an_edge_is_refused(world: DaskStandin):
    edges, accounts = edgeless_day()
    graph = standin_engine(world).build(edges, accounts)
    with pytest.raises(
        NotImplementedError,
        match=r"multigpu PageRank without a personalization: 4 of the 14 accounts have no "
        r"edge\. cuGraph's Dask API builds its graph from the edges alone .* use the gpu or cpu "
        "engine",
    ):
        graph.pagerank()
    weighs_idle = pd.concat([EDGELESS_DAY_PERSONALIZATION, pd.Series({"idle-between": 0.5})])
    with pytest.raises(
        NotImplementedError, match=r"the personalization weighs 1 account\(s\) without an edge"
    ):
        graph.pagerank(personalization=weighs_idle)
    assert world.events == []  # refused before any session


def test_a_day_without_edges_needs_no_session(world: DaskStandin):
    accounts = pd.Index(["a", "b", "c"], name="account")
    graph = standin_engine(world).build(edge_table([]), accounts)
    assert graph.louvain().clusters["cluster"].tolist() == [0, 1, 2]
    assert graph.leiden().count == 3
    assert graph.weakly_connected_components()["component"].tolist() == [0, 1, 2]
    with pytest.raises(NotImplementedError, match="3 of the 3 accounts have no edge"):
        graph.pagerank()
    assert world.events == []


# --- a generated day: the stand-in and the real engine against the CPU engine ----------------


@pytest.fixture(scope="module")
def cuda_cluster() -> Any:
    """A dask-cuda cluster on this machine's GPUs (one worker each; one still runs the
    multi-GPU code path), shut down after the module."""
    from dask_cuda import LocalCUDACluster

    with LocalCUDACluster(protocol="tcp") as cluster:
        yield cluster


@pytest.fixture(params=["multigpu-standin", pytest.param("multigpu", marks=REAL)])
def multigpu_engine(request: pytest.FixtureRequest) -> GraphEngine:
    if request.param == "multigpu-standin":
        return standin_engine(DaskStandin(workers=2, address=ADDRESS))
    return MultiGpuEngine(request.getfixturevalue("cuda_cluster").scheduler_address)


def test_a_generated_day_scores_like_the_cpu_engine(multigpu_engine: GraphEngine, generated_day):
    edges = generated_day.edges
    accounts = pd.Index(generated_day.nodes["account"])
    cpu, multi = CpuEngine().build(edges, accounts), multigpu_engine.build(edges, accounts)
    assert list(multi.accounts) == list(cpu.accounts)
    l1 = np.abs(
        multi.pagerank().scores["pagerank"].to_numpy()
        - cpu.pagerank().scores["pagerank"].to_numpy()
    ).sum()
    assert l1 < 1e-9
    pd.testing.assert_frame_equal(
        multi.weakly_connected_components(), cpu.weakly_connected_components()
    )
    pd.testing.assert_frame_equal(multi.degree_features(), cpu.degree_features())
    for algorithm in ("louvain", "leiden"):
        on_multi, on_cpu = getattr(multi, algorithm)(), getattr(cpu, algorithm)()
        # Different implementations find different local optima of about the same quality.
        assert on_multi.modularity == pytest.approx(on_cpu.modularity, abs=0.02)
        assert on_multi.modularity > 0.3
    assert not multigpu_engine.libraries().cugraph.dask.comms.comms.is_initialized()


def test_the_generated_day_equals_the_single_gpu_standin(generated_day):
    world = DaskStandin(workers=2, address=ADDRESS)
    edges = generated_day.edges
    multi = standin_engine(world).build(edges)
    single = single_gpu_standin().build(edges)
    pd.testing.assert_frame_equal(
        multi.pagerank().scores, single.pagerank().scores, check_exact=False, rtol=0, atol=1e-15
    )
    for algorithm in ("louvain", "leiden"):
        on_multi, on_single = getattr(multi, algorithm)(), getattr(single, algorithm)()
        pd.testing.assert_frame_equal(on_multi.clusters, on_single.clusters)
    assert_torn_down(world)


def test_score_day_with_louvain_on_its_thread_takes_turns(generated_day):
    """`score_day` runs Louvain on a thread beside PageRank and the layout: the sessions, whose
    comms are per process, must not overlap (the stand-in refuses a second initialize)."""
    world = DaskStandin(workers=2, address=ADDRESS)
    scores, report = score_day(generated_day.nodes, generated_day.edges, standin_engine(world))
    expected, cpu_report = score_day(generated_day.nodes, generated_day.edges, CpuEngine())
    assert list(scores["account"]) == list(expected["account"])
    assert report.modularity == pytest.approx(cpu_report.modularity, abs=0.02)
    assert [s[1] for s in sessions(world)] == [("initialize", True)] * 2
    assert all(s[-2:] == [("destroy",), ("close",)] for s in sessions(world))
    assert_torn_down(world)


@pytest.mark.parametrize("watchlist", ["pair", "ring"])
def test_watchlist_association_of_a_generated_day_matches_the_cpu_engine(watchlist: str):
    world = DaskStandin(workers=2, address=ADDRESS)
    association_like_the_cpu_engine(standin_engine(world), watchlists()[watchlist])
    assert_torn_down(world)


# --- one session per call, torn down whatever happens ----------------------------------------


def test_each_call_is_one_session_with_the_graph_cugraph_wants(world: DaskStandin):
    graph = standin_engine(world).build(edge_table(ROWS))
    graph.pagerank()
    graph.louvain()
    pagerank, louvain = sessions(world)
    assert pagerank == [
        ("client", ADDRESS),
        ("initialize", True),
        ("from_cudf", 2),
        ("graph", True, True),  # directed, stored transposed
        ("pagerank",),
        ("compute",),
        ("destroy",),
        ("close",),
    ]
    assert louvain[3:5] == [("graph", False, False), ("louvain",)]
    assert_torn_down(world)


def test_non_convergence_is_the_shared_error_and_tears_down(world: DaskStandin):
    graph = standin_engine(world).build(edge_table(ROWS))
    with pytest.raises(PageRankNotConvergedError, match="did not converge in 3 iterations") as err:
        graph.pagerank(max_iter=3)
    assert isinstance(err.value, CuGraphPageRankNotConvergedError)
    assert isinstance(err.value.__cause__, FailedToConvergeError)
    assert math.isnan(err.value.delta)
    assert sessions(world)[-1][-2:] == [("destroy",), ("close",)]
    assert_torn_down(world)


def test_an_algorithm_that_raises_still_tears_down(world: DaskStandin):
    def broken_louvain(G: Any, **kwargs: Any) -> Any:
        raise MemoryError("out of device memory on worker 1")

    graph = standin_engine(world, louvain=broken_louvain).build(edge_table(ROWS))
    with pytest.raises(MemoryError, match="worker 1"):
        graph.louvain()
    assert_torn_down(world)
    graph.leiden()  # the next call opens a session of its own
    assert_torn_down(world)


def test_a_comms_bootstrap_that_fails_half_way_is_destroyed(world: DaskStandin):
    world.fail_initialize = True
    graph = standin_engine(world).build(edge_table(ROWS))
    with pytest.raises(StandinError, match="NCCL bootstrap failed"):
        graph.weakly_connected_components()
    assert sessions(world)[0] == [
        ("client", ADDRESS),
        ("initialize", True),
        ("destroy",),
        ("close",),
    ]
    assert_torn_down(world)


def test_comms_someone_else_initialized_are_left_alone(world: DaskStandin):
    libraries = world.libraries()
    client = libraries["distributed"].Client(ADDRESS)
    libraries["cugraph"].dask.comms.comms.initialize(p2p=True)
    graph = standin_engine(world).build(edge_table(ROWS))
    with pytest.raises(RuntimeError, match="already initialized in this process by other code"):
        graph.pagerank()
    assert world.session is not None and client.status == "running"  # untouched
    assert ("destroy",) not in world.events


def test_a_cluster_that_does_not_answer_fails_the_call_naming_it():
    world = DaskStandin(address="tcp://10.0.0.9:8786")
    graph = MultiGpuEngine(ADDRESS, **world.libraries()).build(edge_table(ROWS))
    with pytest.raises(OSError, match=r"connect to tcp://127\.0\.0\.1:8786"):
        graph.pagerank()
    assert world.events == [] and world.session is None


def test_a_cluster_without_workers_is_refused(world: DaskStandin):
    world.workers = 0
    with pytest.raises(RuntimeError, match="has no workers: start `dask cuda worker`"):
        standin_engine(world).build(edge_table(ROWS)).pagerank()
    assert world.events == [("client", ADDRESS), ("close",)]


def test_a_scheduler_file_names_the_cluster(world: DaskStandin, tmp_path: Path):
    path = world.write_scheduler_file(tmp_path / "scheduler.json")
    engine = MultiGpuEngine(str(path), **world.libraries())
    engine.build(edge_table(ROWS)).weakly_connected_components()
    assert sessions(world)[0][0] == ("client", ADDRESS)
    assert_torn_down(world)
    missing = MultiGpuEngine(str(tmp_path / "gone.json"), **world.libraries())
    with pytest.raises(FileNotFoundError, match=r"gone\.json, which does not exist"):
        missing.build(edge_table(ROWS)).pagerank()


@pytest.mark.parametrize(
    ("setting", "target", "described"),
    [
        (
            "tcp://10.0.0.5:8786",
            {"address": "tcp://10.0.0.5:8786"},
            "scheduler tcp://10.0.0.5:8786",
        ),
        ("ucx://gpu-1:8786", {"address": "ucx://gpu-1:8786"}, "scheduler ucx://gpu-1:8786"),
        ("10.0.0.5:8786", {"address": "10.0.0.5:8786"}, "scheduler 10.0.0.5:8786"),
        (
            " /shared/dask/scheduler.json ",
            {"scheduler_file": "/shared/dask/scheduler.json"},
            "scheduler file /shared/dask/scheduler.json",
        ),
        ("scheduler.json", {"scheduler_file": "scheduler.json"}, "scheduler file scheduler.json"),
    ],
)
def test_the_setting_is_an_address_or_a_scheduler_file(setting, target, described):
    assert scheduler_target(setting) == target
    assert describe_scheduler(setting) == described


def test_the_engine_needs_a_cluster_and_all_four_libraries(world: DaskStandin):
    with pytest.raises(ValueError, match="FRAUD_DASK_SCHEDULER is empty"):
        MultiGpuEngine("  ")
    libraries = world.libraries()
    del libraries["distributed"]
    with pytest.raises(ValueError, match="together, or none"):
        MultiGpuEngine(ADDRESS, **libraries)


@pytest.mark.skipif(DASK_RAPIDS, reason="dask-cuda and dask-cudf are installed here")
def test_without_rapids_the_engine_imports_and_build_says_what_is_missing():
    engine = MultiGpuEngine(ADDRESS)
    with pytest.raises(ValueError, match="negative"):  # bad input is refused before the import
        engine.build(edge_table([("a", "b", -1.0)]))
    with pytest.raises(ImportError, match="the 'multigpu' extra"):
        engine.build(edge_table([("a", "b", 1.0)]))


# --- the stand-in is like cuGraph's Dask API where the engine relies on it -------------------


def test_standin_needs_a_client_and_comms_and_a_graph_of_this_session(world: DaskStandin):
    libraries = world.libraries()
    cugraph, dask_cudf = libraries["cugraph"], libraries["dask_cudf"]
    frame = standin_cudf.DataFrame(
        {
            "src": np.array([0, 1], dtype=np.int32),
            "dst": np.array([1, 0], dtype=np.int32),
            "w": [1.0, 3.0],
        }
    )
    edges = dask_cudf.from_cudf(frame, npartitions=2)
    graph = cugraph.Graph(directed=False)
    with pytest.raises(ValueError, match="No clients found"):
        graph.from_dask_cudf_edgelist(edges, "src", "dst", edge_attr="w", renumber=False)
    client = libraries["distributed"].Client(ADDRESS)
    with pytest.raises(StandinError, match=r"needs cugraph\.dask\.comms\.comms\.initialize"):
        graph.from_dask_cudf_edgelist(edges, "src", "dst", edge_attr="w", renumber=False)
    cugraph.dask.comms.comms.initialize(p2p=True)
    wide = dask_cudf.from_cudf(frame.astype({"src": "int64", "dst": "int64"}), npartitions=1)
    with pytest.raises(TypeError, match="promises int32"):  # cuGraph would take int64 too
        cugraph.Graph().from_dask_cudf_edgelist(wide, "src", "dst", renumber=False)
    graph.from_dask_cudf_edgelist(edges, "src", "dst", edge_attr="w", renumber=False)
    # An undirected graph is symmetrized in C++ by averaging a→b and b→a (the engine adds them).
    assert sorted(graph.weights.tolist()) == [2.0, 2.0]
    parts = cugraph.dask.weakly_connected_components(graph)
    with pytest.raises(Exception, match="already initialized"):
        cugraph.dask.comms.comms.initialize(p2p=True)
    cugraph.dask.comms.comms.destroy()
    with pytest.raises(StandinError, match=r"needs cugraph\.dask\.comms\.comms\.initialize"):
        cugraph.dask.louvain(graph)
    cugraph.dask.comms.comms.initialize(p2p=True)
    with pytest.raises(StandinError, match="built in comms session"):
        cugraph.dask.louvain(graph)
    cugraph.dask.comms.comms.destroy()
    client.close()
    with pytest.raises(ValueError, match="No clients found"):
        parts.compute()  # its partitions went with the client


def test_standin_refuses_directed_graphs_and_warns_about_untransposed_ones(world: DaskStandin):
    libraries = world.libraries()
    cugraph = libraries["cugraph"]
    frame = standin_cudf.DataFrame(
        {"src": np.array([0], dtype=np.int32), "dst": np.array([1], dtype=np.int32)}
    )
    with libraries["distributed"].Client(ADDRESS):
        cugraph.dask.comms.comms.initialize(p2p=True)
        graph = cugraph.Graph(directed=True)
        edges = libraries["dask_cudf"].from_cudf(frame, npartitions=1)
        graph.from_dask_cudf_edgelist(edges, "src", "dst", renumber=False)
        with pytest.raises(ValueError, match="input graph must be undirected"):
            cugraph.dask.louvain(graph)
        with pytest.warns(UserWarning, match="store_transposed"):
            cugraph.dask.pagerank(graph).compute()
        cugraph.dask.comms.comms.destroy()


def test_standin_client_is_given_an_address_or_a_file(world: DaskStandin):
    Client = world.libraries()["distributed"].Client
    with pytest.raises(StandinError, match="starts a LocalCluster"):
        Client()
    with pytest.raises(StandinError, match="wait for it forever"):
        Client(scheduler_file="/nonexistent/scheduler.json")


# --- choosing the engine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "engine_name"),
    [((False, "no CUDA device (libcuda.so.1 not found)"), "cpu"), ((True, "1 CUDA device"), "gpu")],
)
def test_auto_without_a_cluster_is_unchanged(monkeypatch, probe, engine_name):
    monkeypatch.setattr(engines, "gpu_available", lambda: probe)
    for scheduler in (None, ""):
        engine, reason = select_engine("auto", scheduler)
        assert engine.name == engine_name
        assert reason == f"auto: {probe[1]}; using {engine_name}"
    assert GraphEngineResource().select()[0].name == engine_name


def test_auto_with_a_cluster_takes_the_multigpu_engine(monkeypatch):
    def no_probe() -> tuple[bool, str]:
        raise AssertionError("the local device was probed although a cluster is named")

    monkeypatch.setattr(engines, "gpu_available", no_probe)
    engine, reason = select_engine("auto", "tcp://10.0.0.5:8786")
    assert isinstance(engine, MultiGpuEngine) and engine.scheduler == "tcp://10.0.0.5:8786"
    assert reason == (
        "auto: FRAUD_DASK_SCHEDULER names the scheduler tcp://10.0.0.5:8786; using multigpu"
    )
    engine, reason = select_engine("multigpu", "/shared/scheduler.json")
    assert isinstance(engine, MultiGpuEngine)
    assert reason == "multigpu requested by configuration (scheduler file /shared/scheduler.json)"
    assert get_engine("auto", "tcp://10.0.0.5:8786").name == "multigpu"


def test_multigpu_without_a_cluster_is_an_error_naming_the_setting():
    message = "graph engine 'multigpu' was requested but FRAUD_DASK_SCHEDULER is not set"
    for choose in (
        lambda: select_engine("multigpu"),
        GraphEngineResource(engine="multigpu").select,
    ):
        with pytest.raises(EngineUnavailableError, match=message):
            choose()


def test_forcing_cpu_or_gpu_ignores_the_cluster(monkeypatch):
    monkeypatch.setattr(engines, "gpu_available", lambda: (True, "1 CUDA device"))
    assert select_engine("cpu", ADDRESS)[0].name == "cpu"
    assert select_engine("gpu", ADDRESS)[0].name == "gpu"


def test_fraud_dask_scheduler_reaches_the_resource():
    settings = Settings.from_env({"FRAUD_DASK_SCHEDULER": " tcp://10.0.0.5:8786 "})
    assert settings.dask_scheduler == "tcp://10.0.0.5:8786"
    resource = deployment_resources(settings)["graph_engine"]
    assert isinstance(resource, GraphEngineResource)
    assert (resource.engine, resource.dask_scheduler) == ("auto", "tcp://10.0.0.5:8786")
    engine, reason = resource.select()
    assert engine.name == "multigpu" and "tcp://10.0.0.5:8786" in reason
    for unset in ({}, {"FRAUD_DASK_SCHEDULER": "  "}):
        assert Settings.from_env(unset).dask_scheduler is None
        assert deployment_resources(Settings.from_env(unset))["graph_engine"].dask_scheduler is None


# --- the real engine on a dask-cuda cluster --------------------------------------------------


@pytest.mark.parametrize("rows", [ROWS, CLIQUES], ids=["small", "two-cliques"])
@pytest.mark.gpu
@REAL_SKIP
def test_real_small_days_match_the_cpu_engine(cuda_cluster: Any, rows: list[Any]):
    engine = MultiGpuEngine(cuda_cluster.scheduler_address)
    multi, cpu = engine.build(edge_table(rows)), CpuEngine().build(edge_table(rows))
    l1 = np.abs(
        multi.pagerank().scores["pagerank"].to_numpy()
        - cpu.pagerank().scores["pagerank"].to_numpy()
    ).sum()
    assert l1 < 1e-9
    weights = pd.Series({rows[0][0]: 1.0})
    l1 = np.abs(
        multi.pagerank(personalization=weights).scores["pagerank"].to_numpy()
        - cpu.pagerank(personalization=weights).scores["pagerank"].to_numpy()
    ).sum()
    assert l1 < 1e-9
    pd.testing.assert_frame_equal(
        multi.weakly_connected_components(), cpu.weakly_connected_components()
    )
    if rows is CLIQUES:
        assert multi.louvain().count == multi.leiden().count == 2
    with pytest.raises(PageRankNotConvergedError):
        multi.pagerank(max_iter=1)
    assert not engine.libraries().cugraph.dask.comms.comms.is_initialized()


@pytest.mark.gpu
@REAL_SKIP
def test_real_engine_reaches_the_cluster_through_a_scheduler_file(cuda_cluster, tmp_path):
    import json

    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"type": "Scheduler", "address": cuda_cluster.scheduler_address}))
    graph = MultiGpuEngine(str(path)).build(edge_table(CLIQUES))
    components = graph.weakly_connected_components()
    assert components["component"].tolist() == [0] * len(components)
