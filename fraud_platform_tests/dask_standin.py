"""A STAND-IN for the Dask pieces the multi-GPU engine uses. It is not RAPIDS, dask or distributed.

No machine here or in CI has a GPU or a dask-cuda cluster, so the multi-GPU engine's own logic
(connecting to the scheduler, comms up and down around every call, the edge list handed to
``cugraph.dask``, results gathered and translated back) is tested against this module. Each
`DaskStandin` is one fake cluster with its own comms state and a record of every call (`events`),
so a test can check that comms were destroyed and the client closed even when an algorithm raised:

    world = DaskStandin(workers=2)
    MultiGpuEngine(world.address, **world.libraries())

It follows the signatures and documented behaviour of RAPIDS 26.10 (cugraph
``dask/link_analysis/pagerank.py``, ``dask/community/louvain.py`` and ``leiden.py``,
``dask/components/connectivity.py``, ``dask/comms/comms.py``, ``dask/common/read_utils.py``,
``structure/graph_implementation/simpleDistributedGraph.py``, ``cpp/src/c_api/graph_mg.cpp``,
``cpp/src/structure/symmetrize_edgelist_impl.cuh``; dask_cudf ``core.py``; distributed
``client.py``) and computes through `cugraph_standin`, so its results are the single-GPU
stand-in's. Like cuGraph's Dask API it: renumbers inside (a vertex id without an edge is absent
from the results), keeps one row of a repeated pair (the smallest weight on an undirected graph),
symmetrizes an undirected graph by averaging the weights of a→b and b→a, warns about a PageRank
graph not stored transposed, raises ``FailedToConvergeError``, refuses directed graphs for Louvain,
Leiden and WCC, returns partitioned frames in no promised order, and has ``Comms.initialize``
refuse a second initialization. It is stricter where the engine must not rely on leniency: no
graph is built, no algorithm runs and no frame is gathered without a connected default client
and initialized comms, a graph built in an earlier comms session is refused, a scheduler file
that does not exist is an error (distributed's Client would wait for it forever), and
``renumber=False`` takes int32 ids only, and an empty edge list is refused (not modelled).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import cugraph_standin
import numpy as np
import pandas as pd

#: The comms sessions of every stand-in cluster, numbered like raft's session ids.
_SESSION_IDS = itertools.count(1)


class StandinError(RuntimeError):
    """What the stand-in raises where real RAPIDS would misbehave (hang, crash, wrong answer)."""


class DaskStandin:
    """One fake dask-cuda cluster: its address, its workers, its comms state, its call record."""

    def __init__(self, workers: int = 2, address: str = "tcp://127.0.0.1:8786") -> None:
        self.address = address
        self.workers = workers
        #: Every call the engine made, in order: ("client", address), ("initialize", p2p), ...
        self.events: list[tuple[Any, ...]] = []
        self.clients: list[Client] = []
        self.default_client: Client | None = None
        self.session: int | None = None
        #: Set to make the next ``initialize`` fail after raft registered the session, as a
        #: failed NCCL bootstrap does (``Comms.initialize`` sets its instance before ``init()``).
        self.fail_initialize = False
        world = self
        self.Graph = type("Graph", (DistributedGraph,), {"world": world})

    # --- what the engine is given ---------------------------------------------------------------

    def libraries(self, **cugraph_dask_overrides: Any) -> dict[str, Any]:
        """``cudf``, ``cugraph``, ``dask_cudf`` and ``distributed`` as the engine imports them."""
        comms = SimpleNamespace(
            initialize=self._initialize,
            is_initialized=lambda: self.session is not None,
            destroy=self._destroy,
        )
        dask = SimpleNamespace(
            pagerank=self._pagerank,
            louvain=self._louvain,
            leiden=self._leiden,
            weakly_connected_components=self._weakly_connected_components,
            get_n_workers=lambda: self.require_client("get_n_workers").scheduler_info()[
                "n_workers"
            ],
            comms=SimpleNamespace(comms=comms),
        )
        for name, function in cugraph_dask_overrides.items():
            setattr(dask, name, function)
        cugraph = SimpleNamespace(
            __version__="stand-in",
            Graph=self.Graph,
            dask=dask,
            exceptions=cugraph_standin.cugraph.exceptions,
        )
        dask_cudf = SimpleNamespace(from_cudf=self._from_cudf, DataFrame=DaskFrame)
        distributed = SimpleNamespace(Client=self._client, default_client=self.require_client)
        return {
            "cudf": cugraph_standin.cudf,
            "cugraph": cugraph,
            "dask_cudf": dask_cudf,
            "distributed": distributed,
        }

    def write_scheduler_file(self, path: Path) -> Path:
        """A scheduler file as ``dask scheduler --scheduler-file`` writes it (address inside)."""
        path.write_text(json.dumps({"type": "Scheduler", "id": "standin", "address": self.address}))
        return path

    # --- strictness ---------------------------------------------------------------------------

    def require_client(self, what: str = "default_client") -> Client:
        if self.default_client is None or self.default_client.status != "running":
            raise ValueError(f"No clients found (stand-in: {what} needs a connected Client)")
        return self.default_client

    def require_comms(self, what: str) -> int:
        self.require_client(what)
        if self.session is None:
            raise StandinError(
                f"stand-in: {what} needs cugraph.dask.comms.comms.initialize() first "
                "(cuGraph would fail deep inside with the comms' worker list unset)"
            )
        return self.session

    # --- distributed, comms -------------------------------------------------------------------

    def _client(self, address: str | None = None, *, scheduler_file: str | None = None) -> Client:
        if (address is None) == (scheduler_file is None):
            raise StandinError(
                "stand-in: pass an address or a scheduler_file (with neither, distributed starts "
                "a LocalCluster of its own; with both it ignores the file)"
            )
        if scheduler_file is not None:
            if not Path(scheduler_file).is_file():
                raise StandinError(
                    f"stand-in: scheduler file {scheduler_file} does not exist "
                    "(distributed's Client would wait for it forever)"
                )
            address = json.loads(Path(scheduler_file).read_text())["address"]
        assert address is not None
        wanted = address if "://" in address else f"tcp://{address}"
        if wanted != self.address:
            raise OSError(f"Timed out trying to connect to {address} after 30 s")
        client = Client(self)
        self.events.append(("client", address))
        self.clients.append(client)
        self.default_client = client
        return client

    def _initialize(
        self,
        comms: Any = None,
        p2p: bool = False,
        prows: int | None = None,
        pcols: int | None = None,
        partition_type: int = 1,
    ) -> None:
        self.require_client("Comms.initialize")
        if self.session is not None:
            raise Exception("Communicator is already initialized")  # cuGraph's own
        self.session = next(_SESSION_IDS)
        self.events.append(("initialize", p2p))
        if self.fail_initialize:
            self.fail_initialize = False
            raise StandinError("stand-in: NCCL bootstrap failed")

    def _destroy(self) -> None:
        if self.session is not None:
            self.events.append(("destroy",))
            self.session = None

    # --- dask_cudf ----------------------------------------------------------------------------

    def _from_cudf(
        self,
        data: Any,
        npartitions: int | None = None,
        chunksize: int | None = None,
        sort: bool = True,
        name: str | None = None,
    ) -> DaskFrame:
        if not isinstance(data, cugraph_standin.DataFrame):
            raise TypeError("stand-in: from_cudf takes a (stand-in) cudf.DataFrame")
        if (npartitions is None) == (chunksize is None):
            raise ValueError("Exactly one of npartitions and chunksize must be specified.")
        if npartitions is None:
            assert chunksize is not None
            npartitions = max(1, -(-len(data) // chunksize))
        self.events.append(("from_cudf", npartitions))
        return DaskFrame(self, _split(data, npartitions))

    # --- cugraph.dask -------------------------------------------------------------------------

    def _graph(self, input_graph: DistributedGraph, algorithm: str) -> DistributedGraph:
        session = self.require_comms(algorithm)
        if not isinstance(input_graph, DistributedGraph):
            raise StandinError(f"stand-in: cugraph.dask.{algorithm} takes a distributed graph")
        if input_graph.session != session:
            raise StandinError(
                f"stand-in: the graph was built in comms session {input_graph.session}, which "
                "has been destroyed; build it again in this session"
            )
        self.events.append((algorithm,))
        return input_graph

    def _result(self, graph: DistributedGraph, frame: Any) -> DaskFrame:
        """A single-GPU stand-in result with the vertex ids un-renumbered, one part a worker."""
        frame = frame.copy()
        frame["vertex"] = graph.vertex_ids[frame["vertex"].to_numpy()]
        return DaskFrame(self, _split(frame, self.workers))

    def _pagerank(
        self,
        input_graph: DistributedGraph,
        alpha: float = 0.85,
        personalization: Any = None,
        precomputed_vertex_out_weight: Any = None,
        max_iter: int = 100,
        tol: float = 1.0e-5,
        nstart: Any = None,
        fail_on_nonconvergence: bool = True,
    ) -> DaskFrame | tuple[DaskFrame, bool]:
        graph = self._graph(input_graph, "pagerank")
        if personalization is not None:
            # cuGraph hands it to dask_cudf.from_cudf: a cudf frame, not a dask one.
            if not isinstance(personalization, cugraph_standin.DataFrame):
                raise TypeError("stand-in: personalization must be a cudf.DataFrame")
            personalization = personalization.copy()
            local = graph.local_ids(personalization["vertex"].to_numpy())
            personalization["vertex"] = local.astype(personalization["vertex"].dtype)
        result = cugraph_standin.pagerank(
            graph,
            alpha=alpha,
            personalization=personalization,
            precomputed_vertex_out_weight=precomputed_vertex_out_weight,
            max_iter=max_iter,
            tol=tol,
            nstart=nstart,
            fail_on_nonconvergence=fail_on_nonconvergence,
        )
        if fail_on_nonconvergence:
            return self._result(graph, result)
        frame, converged = result
        return self._result(graph, frame), converged

    def _louvain(
        self,
        input_graph: DistributedGraph,
        max_level: int | None = None,
        max_iter: int | None = None,
        resolution: float = 1.0,
        threshold: float = 1e-7,
    ) -> tuple[DaskFrame, np.ndarray]:
        graph = self._graph(input_graph, "louvain")
        parts, quality = cugraph_standin.louvain(
            graph, max_level=max_level, resolution=resolution, threshold=threshold
        )
        return self._result(graph, parts), np.array([quality])

    def _leiden(
        self,
        input_graph: DistributedGraph,
        max_iter: int = 100,
        resolution: float = 1.0,
        random_state: int | None = None,
        theta: float = 1.0,
    ) -> tuple[DaskFrame, np.ndarray]:
        graph = self._graph(input_graph, "leiden")
        parts, quality = cugraph_standin.leiden(
            graph, max_iter=max_iter, resolution=resolution, random_state=random_state
        )
        return self._result(graph, parts), np.array([quality])

    def _weakly_connected_components(self, input_graph: DistributedGraph) -> DaskFrame:
        graph = self._graph(input_graph, "weakly_connected_components")
        return self._result(graph, cugraph_standin.weakly_connected_components(graph))


class Client:
    """``distributed.Client`` connected to a stand-in cluster; the default client until closed."""

    def __init__(self, world: DaskStandin) -> None:
        self._world = world
        self.status = "running"

    def scheduler_info(self) -> dict[str, Any]:
        return {"type": "Scheduler", "n_workers": self._world.workers}

    def close(self) -> None:
        if self.status != "closed":
            self._world.events.append(("close",))
        self.status = "closed"
        if self._world.default_client is self:
            self._world.default_client = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskFrame:
    """``dask_cudf.DataFrame``: stand-in cudf partitions living "on the workers"; gathering or
    persisting them needs the client that is connected now."""

    def __init__(self, world: DaskStandin, partitions: list[Any]) -> None:
        self._world = world
        self.partitions = partitions

    @property
    def npartitions(self) -> int:
        return len(self.partitions)

    @property
    def columns(self) -> pd.Index:
        return self.partitions[0].columns

    @property
    def dtypes(self) -> pd.Series:
        return self.partitions[0].dtypes

    def persist(self) -> DaskFrame:
        self._world.require_client("persist")
        return DaskFrame(self._world, [part.copy() for part in self.partitions])

    def compute(self) -> Any:
        self._world.require_client("compute")
        self._world.events.append(("compute",))
        return cugraph_standin.concat(self.partitions, ignore_index=True)


def _split(frame: Any, parts: int) -> list[Any]:
    """``frame`` in ``parts`` contiguous pieces (fewer for a short frame, at least one)."""
    bounds = np.linspace(0, len(frame), min(parts, max(len(frame), 1)) + 1).astype(int)
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(bounds)]


class DistributedGraph(cugraph_standin.Graph):
    """``cugraph.Graph`` filled by ``from_dask_cudf_edgelist``: the single-GPU stand-in graph on
    cuGraph's internal (renumbered) vertex ids, with the map back to the edge list's ids."""

    world: ClassVar[DaskStandin]

    def __init__(self, m_graph: Any = None, directed: bool = False) -> None:
        super().__init__(m_graph, directed=directed)
        self.session: int | None = None
        self.vertex_ids = np.zeros(0, dtype=np.int32)

    def from_dask_cudf_edgelist(
        self,
        input_ddf: DaskFrame,
        source: str = "source",
        destination: str = "destination",
        edge_attr: str | None = None,
        weight: str | None = None,
        edge_id: str | None = None,
        edge_type: str | None = None,
        renumber: bool = True,
        store_transposed: bool = False,
    ) -> None:
        session = self.world.require_comms("from_dask_cudf_edgelist")
        if self.input_df is not None:
            raise RuntimeError("Graph already has values")
        if not isinstance(input_ddf, DaskFrame):
            raise TypeError("input should be a dask_cudf dataFrame")
        if edge_attr is not None and weight is not None:
            raise ValueError("If specifying edge_attr, cannot specify weight/edge_id/edge_type")
        if edge_id is not None or edge_type is not None:
            raise NotImplementedError("the stand-in models a weight column only")
        if renumber:
            raise NotImplementedError("the stand-in models renumber=False only")
        weight = edge_attr if edge_attr is not None else weight
        edges = cugraph_standin.concat(input_ddf.partitions, ignore_index=True)
        columns = [source, destination] + ([weight] if weight is not None else [])
        if not set(columns).issubset(edges.columns):
            raise ValueError(
                "source column names and/or destination column names not found in input."
            )
        for column in (source, destination):
            if edges[column].dtype not in (np.int32, np.int64):
                raise ValueError("set renumber to True for non integer columns ids")
            if edges[column].dtype != np.int32:  # cuGraph takes int64 too
                raise TypeError(
                    f"the GPU engine promises int32 vertex ids, got {edges[column].dtype}"
                )
        if weight is None:
            edges = edges.assign(value=np.float32(1.0))
            weight = "value"
        table = pd.DataFrame(
            {
                "src": edges[source].to_numpy(),
                "dst": edges[destination].to_numpy(),
                "weight": edges[weight].to_numpy(),
            }
        )
        if table.empty:
            raise StandinError("stand-in: an empty edge list is not modelled")
        if not self.is_directed():
            table = _mg_symmetrize(table)
        # cuGraph's Dask API renumbers in C++ whatever ``renumber`` says (graph_mg.cpp).
        self.vertex_ids, local = np.unique(
            np.concatenate([table["src"], table["dst"]]), return_inverse=True
        )
        self.vertex_ids = self.vertex_ids.astype(edges[source].dtype)
        m = len(table)
        frame = cugraph_standin.DataFrame(
            {
                "src": local[:m].astype(np.int32),
                "dst": local[m:].astype(np.int32),
                "weight": table["weight"].to_numpy(),
            }
        )
        super().from_cudf_edgelist(
            frame,
            source="src",
            destination="dst",
            weight="weight",
            renumber=False,
            store_transposed=store_transposed,
            symmetrize=False,
        )
        self.input_df = input_ddf
        self.session = session
        self.world.events.append(("graph", self.is_directed(), store_transposed))

    def local_ids(self, vertex: np.ndarray) -> np.ndarray:
        """cuGraph's internal ids of edge-list ids; an id the graph lacks is refused."""
        position = np.searchsorted(self.vertex_ids, vertex)
        position = np.minimum(position, max(self.vertex_ids.size - 1, 0))
        if self.vertex_ids.size == 0 or (self.vertex_ids[position] != vertex).any():
            raise RuntimeError("peresonalization vertices have invalid vertex IDs")
        return position


def _mg_symmetrize(table: pd.DataFrame) -> pd.DataFrame:
    """What ``graph_mg.cpp`` does to an undirected edge list: drop repeated pairs keeping the
    smallest weight, then ``symmetrize_edgelist``: a→b and b→a both present become one pair
    of the two weights' mean, a one-way edge gets its mirror, a self loop stays once."""
    table = table.groupby(["src", "dst"], as_index=False, sort=True)["weight"].min()
    low = np.minimum(table["src"], table["dst"])
    high = np.maximum(table["src"], table["dst"])
    pairs = (
        pd.DataFrame({"src": low, "dst": high, "weight": table["weight"]})
        .groupby(["src", "dst"], as_index=False, sort=True)["weight"]
        .mean()
    )
    mirrored = pairs[pairs["src"] != pairs["dst"]].rename(columns={"src": "dst", "dst": "src"})
    return pd.concat([pairs, mirrored[["src", "dst", "weight"]]], ignore_index=True)
