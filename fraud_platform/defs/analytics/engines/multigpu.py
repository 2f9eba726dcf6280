"""The multi-GPU engine: the GPU engine's algorithms by cuGraph's Dask API, on a dask-cuda cluster.

The cluster exists already (``dask scheduler`` + ``dask cuda worker``); ``FRAUD_DASK_SCHEDULER``
names it. Written against RAPIDS 26.10 (the `multigpu` extra); what it relies on, as read in the
cugraph 26.10, dask-cuda 26.10 and distributed sources:

* ``cugraph.dask.pagerank(input_graph, alpha, personalization, precomputed_vertex_out_weight,
  max_iter, tol, nstart, fail_on_nonconvergence=True)`` (``dask/link_analysis/pagerank.py``)
  supports personalization: a cudf frame ``vertex, values`` that it spreads over the workers
  itself (``dask_cudf.from_cudf``), with the same dtype warnings as the single-GPU call. It warns
  when the graph is not stored transposed, re-raises pylibcugraph's non-convergence as
  ``cugraph.exceptions.FailedToConvergeError`` (on the client, from the gathered futures) and
  returns a dask_cudf frame ``vertex, pagerank``.
* ``louvain(input_graph, max_level=None, max_iter=None, resolution=1.0, threshold=1e-7)`` (no
  seed), ``leiden(input_graph, max_iter=100, resolution=1.0, random_state=None, theta=1.0)``
  (``dask/community/``) return ``(dask_cudf frame vertex, partition; modularity)``, and
  ``weakly_connected_components(input_graph)`` (``dask/components/connectivity.py``) a frame
  ``vertex, labels``; all three refuse directed graphs.
* ``Graph.from_dask_cudf_edgelist(input_ddf, source, destination, edge_attr, ..., renumber,
  store_transposed)`` (``structure/graph_classes.py``, ``simpleDistributedGraph.py``) takes no
  ``symmetrize``: an undirected graph is always symmetrized in C++ (``c_api/graph_mg.cpp`` drops
  repeated pairs keeping the smaller weight, then ``symmetrize_edgelist_impl.cuh`` replaces a→b
  and b→a by their mean and keeps a self loop once), so the GPU engine's symmetric edge list
  (both directions, equal weights) passes unchanged. The C++ renumbers whatever ``renumber`` says
  and un-renumbers the results: they name the engine's int32 ids, but only ids with an edge
  (there is no ``vertices`` argument, unlike ``from_cudf_edgelist``; ``MGGraph`` gets none).
* All of them use ``distributed.default_client()`` and the comms of
  ``cugraph.dask.comms.comms.initialize(p2p=True)`` (``dask/comms/comms.py``): process-wide, a
  second ``initialize`` raises "Communicator is already initialized", ``destroy()`` is a no-op
  when none is up, and a graph's per-worker pylibcugraph graphs belong to the session that built
  it. ``cugraph.dask.get_n_workers()`` reads ``scheduler_info()["n_workers"]``.
* ``distributed.Client(address)`` / ``Client(scheduler_file=path)`` (``client.py``): given a
  scheduler file it waits, with no timeout, for the file to appear, and given neither it starts a
  local cluster of its own; so the engine checks the file first and always passes one of them.

Each algorithm call is one session, torn down in ``finally`` whatever happens: client connected,
comms up, edge list sent, graph built, algorithm run, result gathered, comms destroyed, client
closed. The comms are per process and the day's Louvain runs on a thread beside PageRank, so the
sessions of a process take turns (a lock); each pays the comms bootstrap (NCCL, UCX endpoints).

An account of the node table without an edge (the watchlist association builds its graph on every
account but only some edges) is thus missing from cuGraph's results. The engine fills it in where
the answer does not depend on what cuGraph never saw: for Louvain, Leiden and WCC it is its own
community and component (a fresh label; no edge, so the modularity is the same); for PageRank with
a personalization that is zero on every such account, its score is exactly 0 and the others are
those of the graph without it (no edge brings it mass, it gets no teleport, the dangling mass is
spread like the personalization, and the personalization's total is the same). PageRank without
a personalization, or with weight on such an account, teleports to it too: cuGraph's scores, over
the accounts with an edge only, are not those of the day's graph, and the engine refuses it
(before any session). A graph without any edge opens no session at all.

The rest is the single-GPU engine's (`GpuGraph`, reused, not copied): the edges are factorized and
merged by cuDF on this process's device (so it needs cudf and a GPU, as cuGraph's Dask API does for
personalization frames), results are checked and translated back the same way, and degree
features, modularity and the PageRank check run on the host. cuGraph's Dask API has no
ForceAtlas2: the layout is the CPU engine's, on the host, from the merged edges.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from fraud_platform.defs.analytics.engines.base import GraphEngine, empty_layout, validate_edges
from fraud_platform.defs.analytics.engines.cpu import CpuGraph
from fraud_platform.defs.analytics.engines.gpu import GpuGraph

#: The setting that names the dask-cuda cluster (see `scheduler_target`).
SCHEDULER_SETTING = "FRAUD_DASK_SCHEDULER"

#: cuGraph's comms are one per process: its multi-GPU sessions take turns.
_SESSION_LOCK = threading.Lock()

#: The column of each algorithm's result frame that `MultiGpuGraph` fills for edgeless accounts.
_RESULT_COLUMN = {
    "pagerank": "pagerank",
    "louvain": "partition",
    "leiden": "partition",
    "weakly_connected_components": "labels",
}


class DaskLibraries(NamedTuple):
    """The modules the engine calls (``cugraph`` with ``cugraph.dask`` and its comms imported)."""

    cudf: Any
    cugraph: Any
    dask_cudf: Any
    distributed: Any


def scheduler_target(scheduler: str) -> dict[str, str]:
    """``distributed.Client`` arguments for ``FRAUD_DASK_SCHEDULER``.

    An address (``tcp://host:8786``, ``ucx://…``, or bare ``host:8786``) gives ``address``; a path
    (a ``.json`` name, a ``/``, or an existing file) gives ``scheduler_file``.
    """
    value = scheduler.strip()
    if not value:
        raise ValueError(f"{SCHEDULER_SETTING} is empty: give a scheduler address or file")
    if "://" in value:
        return {"address": value}
    if value.endswith(".json") or "/" in value or Path(value).is_file():
        return {"scheduler_file": value}
    return {"address": value}


def describe_scheduler(scheduler: str) -> str:
    """``scheduler tcp://…`` or ``scheduler file /…``, for logs and the engine's reason."""
    target = scheduler_target(scheduler)
    if "scheduler_file" in target:
        return f"scheduler file {target['scheduler_file']}"
    return f"scheduler {target['address']}"


@contextmanager
def dask_session(libraries: DaskLibraries, scheduler: str) -> Iterator[int]:
    """A client of the cluster with cuGraph's comms up; yields its number of workers.

    Comms are destroyed and the client closed on the way out, also when the body raised or the
    comms bootstrap failed half-way (raft registers the session before its NCCL set-up).
    """
    target = scheduler_target(scheduler)
    path = target.get("scheduler_file")
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(
            f"{SCHEDULER_SETTING} names the scheduler file {path}, which does not exist: start "
            f"`dask scheduler --scheduler-file {path}` (a Client would wait for it forever)"
        )
    comms = libraries.cugraph.dask.comms.comms
    with _SESSION_LOCK:
        if comms.is_initialized():
            raise RuntimeError(
                "cuGraph's comms are already initialized in this process by other code; the "
                "multigpu engine opens and closes its own"
            )
        client = libraries.distributed.Client(**target)
        try:
            workers = int(libraries.cugraph.dask.get_n_workers())
            if workers < 1:
                raise RuntimeError(
                    f"the Dask cluster at {describe_scheduler(scheduler)} has no workers: "
                    "start `dask cuda worker` against it"
                )
            try:
                comms.initialize(p2p=True)
                yield workers
            finally:
                comms.destroy()
        finally:
            client.close()


class MultiGpuGraph(GpuGraph):
    """A day's graph: the GPU engine's merged int32 edge table on this process's device, sent to
    the cluster for each algorithm. Made by `MultiGpuEngine.build`, which validates the edges."""

    def __init__(
        self,
        edges: pd.DataFrame,
        accounts: pd.Index | None = None,
        *,
        libraries: DaskLibraries,
        scheduler: str,
    ) -> None:
        super().__init__(edges, accounts, cudf=libraries.cudf, cugraph=libraries.cugraph)
        self._libraries = libraries
        self._scheduler = scheduler

    @cached_property
    def _edgeless(self) -> np.ndarray:
        """The vertex ids (int32) of the accounts without an edge, which cuGraph's Dask API
        never sees."""
        senders, receivers, _ = self._host_edges
        has_edge = np.zeros(self._n, dtype=bool)
        has_edge[senders] = True
        has_edge[receivers] = True
        return np.flatnonzero(~has_edge).astype(np.int32)

    def _require_determined_pagerank(self, personalization: Any) -> None:
        """Refuse a PageRank whose scores depend on accounts without an edge (module docstring)."""
        edgeless = self._edgeless
        if personalization is None:
            raise NotImplementedError(
                f"multigpu PageRank without a personalization: {edgeless.size} of the "
                f"{self._n} accounts have no edge. cuGraph's Dask API builds its graph from the "
                "edges alone (from_dask_cudf_edgelist takes no vertex list) and teleports over "
                "the accounts with an edge only, so its scores are not this graph's; use the "
                "gpu or cpu engine for it"
            )
        vertex = personalization["vertex"].to_numpy()
        weighted = vertex[personalization["values"].to_numpy() > 0]
        touched = int(np.isin(weighted, edgeless).sum())
        if touched:
            raise NotImplementedError(
                f"multigpu PageRank: the personalization weighs {touched} account(s) without an "
                "edge, which cuGraph's Dask API never sees (from_dask_cudf_edgelist takes no "
                "vertex list), so it cannot compute their scores; use the gpu or cpu engine "
                "for it"
            )

    def _with_edgeless(self, algorithm: str, frame: Any) -> Any:
        """cuGraph's result frame with a row for each account without an edge: PageRank 0, or
        a label of its own (after every label cuGraph used) for a community or component."""
        edgeless = self._edgeless
        column = _RESULT_COLUMN[algorithm]
        if algorithm == "pagerank":
            values = np.zeros(edgeless.size, dtype=frame[column].dtype)
        else:
            # int64: fresh labels after cuGraph's largest may pass the int32 range.
            frame = frame.astype({column: np.int64})
            start = int(frame[column].max()) + 1 if len(frame) else 0
            values = np.arange(start, start + edgeless.size, dtype=np.int64)
        filled = self._cudf.DataFrame({"vertex": edgeless, column: values})
        return self._cudf.concat([frame[["vertex", column]], filled], ignore_index=True)

    def _run(self, algorithm: str, *, directed: bool, **kwargs: Any) -> Any:
        """``cugraph.dask.<algorithm>``, with rows added for the accounts without an edge where
        their answer is determined (module docstring), refused before any session otherwise."""
        edgeless = self._edgeless
        if not edgeless.size:
            return self._session_run(algorithm, directed=directed, **kwargs)
        if algorithm == "pagerank":
            self._require_determined_pagerank(kwargs.get("personalization"))
        if edgeless.size < self._n:
            result = self._session_run(algorithm, directed=directed, **kwargs)
        else:  # no edge at all (so not PageRank): nothing for cuGraph, every account alone
            none = np.zeros(0, dtype=np.int32)
            frame = self._cudf.DataFrame({"vertex": none, _RESULT_COLUMN[algorithm]: none})
            result = frame if algorithm == "weakly_connected_components" else (frame, 0.0)
        if isinstance(result, tuple):  # louvain, leiden: the modularity is the same
            return (self._with_edgeless(algorithm, result[0]), *result[1:])
        return self._with_edgeless(algorithm, result)

    def _session_run(self, algorithm: str, *, directed: bool, **kwargs: Any) -> Any:
        """``cugraph.dask.<algorithm>`` in a session of its own; the result frame is gathered
        before the session ends (its partitions live on the workers until then)."""
        edges = self.edges if directed else self.symmetric_edges
        cugraph = self._cugraph
        with dask_session(self._libraries, self._scheduler) as workers:
            # A partition a worker; cuGraph repartitions them over its workers itself.
            frame = self._libraries.dask_cudf.from_cudf(edges, npartitions=workers).persist()
            graph = cugraph.Graph(directed=directed)
            graph.from_dask_cudf_edgelist(
                frame,
                source="src",
                destination="dst",
                edge_attr="weight",
                renumber=False,  # int32 ids already; cuGraph renumbers inside and maps back
                store_transposed=algorithm == "pagerank",
            )
            result = getattr(cugraph.dask, algorithm)(graph, **kwargs)
            if isinstance(result, tuple):  # louvain, leiden: (parts, modularity)
                gathered = (result[0].compute(), *result[1:])
            else:
                gathered = result.compute()
            # Release the workers' edge list and graphs while the comms they were built on live.
            del frame, graph, result
        return gathered

    def layout(self, *, seed: int = 42, max_nodes: int | None = None) -> pd.DataFrame:
        # cugraph.dask has no ForceAtlas2: the CPU engine's layout of the merged edges, on the host.
        if self._n == 0:
            return empty_layout(self.accounts)
        senders, receivers, weights = self._host_edges
        merged = pd.DataFrame(
            {
                "sender": senders,
                "receiver": receivers,
                "sender_node": senders,
                "receiver_node": receivers,
                "amount_total": weights,
            }
        )
        return CpuGraph(merged, self.accounts).layout(seed=seed, max_nodes=max_nodes)


class MultiGpuEngine(GraphEngine):
    """Graph algorithms on the GPUs of a dask-cuda cluster, through cuGraph's Dask API.

    ``scheduler`` is ``FRAUD_DASK_SCHEDULER``. The libraries default to the installed ones,
    imported on the first build; tests pass a stand-in (all four, or none).
    """

    name: ClassVar[str] = "multigpu"

    def __init__(
        self,
        scheduler: str,
        *,
        cudf: Any = None,
        cugraph: Any = None,
        dask_cudf: Any = None,
        distributed: Any = None,
    ) -> None:
        scheduler_target(scheduler)  # an empty setting fails here, not at the first algorithm
        given = (cudf, cugraph, dask_cudf, distributed)
        if any(module is None for module in given) and any(m is not None for m in given):
            raise ValueError("pass cudf, cugraph, dask_cudf and distributed together, or none")
        self.scheduler = scheduler
        self._libraries = None if cudf is None else DaskLibraries(*given)

    def libraries(self) -> DaskLibraries:
        """The four modules, imported on first use (this module imports without them)."""
        if self._libraries is None:
            try:
                import cudf
                import cugraph
                import cugraph.dask
                import cugraph.dask.comms.comms  # reached as cugraph.dask.comms.comms
                import dask_cudf
                import distributed
            except ImportError as exc:
                raise ImportError(
                    "the multigpu graph engine needs RAPIDS cudf, cugraph, dask-cudf and "
                    f"dask-cuda (the 'multigpu' extra) on a machine with an NVIDIA GPU: {exc}"
                ) from exc
            self._libraries = DaskLibraries(cudf, cugraph, dask_cudf, distributed)
        return self._libraries

    def build(self, edges: pd.DataFrame, accounts: pd.Index | None = None) -> MultiGpuGraph:
        validate_edges(edges)
        return MultiGpuGraph(edges, accounts, libraries=self.libraries(), scheduler=self.scheduler)
