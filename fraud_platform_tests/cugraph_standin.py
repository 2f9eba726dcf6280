"""A STAND-IN for the few cudf and cugraph calls the GPU engine makes. It is not RAPIDS.

No machine here or in CI has a GPU, so the GPU engine's own logic (factorizing on the device,
building its two graphs, translating results back) is tested against this module:
``GpuEngine(cudf=cugraph_standin.cudf, cugraph=cugraph_standin.cugraph)``. It follows the
signatures and documented behaviour of RAPIDS 26.10 (cugraph ``link_analysis/pagerank.py``,
``community/louvain.py`` and ``leiden.py``, ``components/connectivity.py``,
``layout/force_atlas2.py`` with ``cpp/src/layout/legacy/exact_fa2.cuh`` and ``fa2_kernels.cuh``,
``structure/graph_classes.py``, ``graph_implementation/simpleGraph.py``,
``cpp/src/link_analysis/pagerank_impl.cuh``, ``cpp/src/c_api/graph_sg.cpp``,
``cpp/src/structure/create_graph_from_edgelist_impl.cuh``; cudf ``core/algorithms.py``) and
computes on the CPU with pandas, numpy, scipy and networkit.

It behaves like cuGraph where the engine depends on it: with ``renumber=False`` a graph has the
vertices 0..largest edge id, or with ``vertices`` exactly those given (every algorithm answers for
each), a plain ``Graph`` keeps one row of a repeated pair, its default symmetrization keeps the smaller weight of a→b and b→a, PageRank warns
about a graph not stored transposed and raises ``FailedToConvergeError`` (no details) when
``fail_on_nonconvergence`` is set, Louvain, Leiden and WCC refuse directed graphs, result rows
come in no promised order, ForceAtlas2 starts from positions drawn from ``random_state``. It is
stricter than cuGraph where the engine must not rely on
leniency: it models ``renumber=False`` with int32 ids only (``vertices`` too, and only as a
cudf Series), refuses an edge list declared symmetric that is not, and refuses personalization
input that cuGraph leaves unchecked.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import networkit as nk
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

# --- cudf -----------------------------------------------------------------------------------


class DataFrame(pd.DataFrame):
    """``cudf.DataFrame``: a pandas frame that stays a stand-in frame through pandas operations."""

    @property
    def _constructor(self) -> type[DataFrame]:
        return DataFrame

    @property
    def _constructor_sliced(self) -> type[Series]:
        return Series

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame(self, copy=True)


class Series(pd.Series):
    """``cudf.Series``; ``.values`` is a numpy array where cudf gives a cupy one."""

    @property
    def _constructor(self) -> type[Series]:
        return Series

    @property
    def _constructor_expanddim(self) -> type[DataFrame]:
        return DataFrame

    def to_pandas(self) -> pd.Series:
        return pd.Series(self, copy=True)


class Index:
    """``cudf.Index`` as ``cudf.factorize`` returns it: its length and ``to_pandas``."""

    def __init__(self, values: pd.Index) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def to_pandas(self) -> pd.Index:
        return self._values.copy()


def from_pandas(obj: pd.DataFrame | pd.Series) -> DataFrame | Series:
    """``cudf.from_pandas`` for frames and series (a copy, as a host→device transfer is)."""
    if isinstance(obj, pd.DataFrame):
        return DataFrame(obj.copy())
    if isinstance(obj, pd.Series):
        return Series(obj.copy())
    raise TypeError(f"from_pandas unsupported for object of type {type(obj).__name__}")


def concat(objs: Sequence[DataFrame | Series], ignore_index: bool = False) -> DataFrame | Series:
    """``cudf.concat`` of stand-in frames or series."""
    if not all(isinstance(obj, DataFrame | Series) for obj in objs):
        raise TypeError("the stand-in concatenates stand-in frames and series only")
    result = pd.concat(list(objs), ignore_index=ignore_index)
    return DataFrame(result) if isinstance(result, pd.DataFrame) else Series(result)


def factorize(values: Series) -> tuple[np.ndarray, Index]:
    """``cudf.factorize(series)``: int64 codes and uniques in first-seen order.

    cudf 26.10 takes the uniques with a stable distinct (first occurrence kept, input order) and
    labels with int64; pandas' factorize has the same order.
    """
    if not isinstance(values, Series):
        raise TypeError("the stand-in factorizes a stand-in Series only")
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), Index(pd.Index(uniques))


cudf = SimpleNamespace(
    __version__="stand-in",
    DataFrame=DataFrame,
    Series=Series,
    Index=Index,
    from_pandas=from_pandas,
    concat=concat,
    factorize=factorize,
)

# --- cugraph --------------------------------------------------------------------------------


class FailedToConvergeError(Exception):
    """``cugraph.exceptions.FailedToConvergeError``: raised with no arguments, as cuGraph does."""


class Graph:
    """``cugraph.Graph`` built by ``from_cudf_edgelist`` with ``renumber=False``.

    Its vertices are 0..max edge id, or the ``vertices`` given: a vertex without an edge is
    dangling for PageRank and alone in its Louvain/Leiden community and its component, since
    every algorithm runs on all ``vertex_count`` vertices (as cuGraph's C++ does).
    """

    def __init__(self, m_graph: Any = None, directed: bool = False) -> None:
        if m_graph is not None:
            raise NotImplementedError("the stand-in does not model Graph(m_graph=...)")
        self._directed = directed
        self.store_transposed = False
        self.renumbered = False
        self.input_df: DataFrame | None = None
        #: The edges the graph holds after symmetrizing and dropping repeated pairs.
        self.src = np.zeros(0, dtype=np.int32)
        self.dst = np.zeros(0, dtype=np.int32)
        self.weights = np.zeros(0)
        self.vertex_count = 0

    def is_directed(self) -> bool:
        return self._directed

    def number_of_vertices(self) -> int:
        return self.vertex_count

    def from_cudf_edgelist(
        self,
        input_df: DataFrame,
        source: str = "source",
        destination: str = "destination",
        edge_attr: Any = None,
        weight: str | None = None,
        edge_id: str | None = None,
        edge_type: str | None = None,
        renumber: bool = True,
        store_transposed: bool = False,
        symmetrize: bool | None = None,
        vertices: Any = None,
    ) -> None:
        if self.input_df is not None:
            raise RuntimeError("Graph already has values")
        if self._directed and symmetrize:
            raise ValueError("The edgelist can only be symmetrized for undirected graphs.")
        if any(a is not None for a in (edge_attr, edge_id, edge_type)):
            raise NotImplementedError("the stand-in models weight= only")
        if not isinstance(input_df, DataFrame):
            raise TypeError("input should be a cudf.DataFrame or a dask_cudf dataFrame")
        needed = [source, destination] + ([weight] if weight is not None else [])
        if not set(needed).issubset(input_df.columns):
            raise ValueError(
                "source column names and/or destination column names not found in input."
            )
        if renumber:
            raise NotImplementedError("the stand-in models renumber=False only")
        src = input_df[source].to_numpy()
        dst = input_df[destination].to_numpy()
        if src.dtype not in (np.int32, np.int64) or dst.dtype not in (np.int32, np.int64):
            raise ValueError("set renumber to True for non integer columns ids")
        if src.dtype != np.int32 or dst.dtype != np.int32:  # cuGraph takes int64 too
            raise TypeError(f"the GPU engine promises int32 vertex ids, got {src.dtype}")
        if weight is None:
            weights = np.ones(src.size, dtype=np.float32)
        else:
            weights = input_df[weight].to_numpy()
            if weights.dtype.kind != "f":  # cuGraph casts int32→float32, int64→float64
                weights = weights.astype(np.float32 if weights.itemsize <= 4 else np.float64)
        if symmetrize is None:
            symmetrize = not self._directed
        edges = pd.DataFrame({"src": src, "dst": dst, "weight": weights})
        if symmetrize:  # cugraph.structure.symmetrize_df: both directions, the smaller weight
            reverse = edges.rename(columns={"src": "dst", "dst": "src"})
            edges = pd.concat([edges, reverse], ignore_index=True)
            edges = edges.groupby(["src", "dst"], as_index=False, sort=True).min()
        # A plain Graph is not a multigraph: cuGraph keeps one row of a repeated pair.
        edges = edges.drop_duplicates(["src", "dst"], keep="first", ignore_index=True)
        self.src = edges["src"].to_numpy(dtype=np.int32)
        self.dst = edges["dst"].to_numpy(dtype=np.int32)
        self.weights = edges["weight"].to_numpy()
        if vertices is None:  # create_graph_from_edgelist_impl.cuh: 1 + the largest edge id
            self.vertex_count = int(max(self.src.max(), self.dst.max())) + 1 if len(edges) else 0
        else:
            self.vertex_count = _vertex_list_size(vertices, self.src, self.dst)
        if not self._directed:
            self._require_symmetric()
        self.input_df = input_df
        self.store_transposed = store_transposed

    def _require_symmetric(self) -> None:
        """cuGraph trusts an undirected edge list to hold both directions; the stand-in checks."""
        n = self.vertex_count
        shape = (n, n)
        pattern = sp.csr_array((np.ones(self.src.size), (self.src, self.dst)), shape=shape)
        values = sp.csr_array((self.weights, (self.src, self.dst)), shape=shape)
        if (pattern != pattern.T).nnz or (values != values.T).nnz:
            raise ValueError(
                "stand-in: an undirected graph built with symmetrize=False needs every edge in "
                "both directions with the same weight"
            )

    def undirected_networkit(self) -> nk.Graph:
        """Each undirected edge once, as networkit wants it."""
        once = self.src <= self.dst
        row = np.ascontiguousarray(self.src[once], dtype=np.int64)
        col = np.ascontiguousarray(self.dst[once], dtype=np.int64)
        weight = np.ascontiguousarray(self.weights[once], dtype=np.float64)
        return nk.GraphFromCoo(
            (weight, (row, col)), n=self.vertex_count, weighted=True, directed=False
        )


def _vertex_list_size(vertices: Any, src: np.ndarray, dst: np.ndarray) -> int:
    """The vertex count of a graph built with ``vertices`` and ``renumber=False``: its length.

    cuGraph checks it (``simpleGraph.py`` builds with ``do_expensive_check=True``):
    ``expensive_check_edgelist`` wants no repeated id, the ids 0..k-1 and every edge id among
    them, then ``graph_sg.cpp`` wants them in that order. A list would be cast to the edges'
    type and an int64 Series widen the graph to int64 (with a warning); the stand-in refuses
    both, as the engine promises int32 ids.
    """
    if not isinstance(vertices, Series):
        raise NotImplementedError("the stand-in models vertices as a cudf.Series only")
    ids = vertices.to_numpy()
    if ids.dtype != np.int32:
        raise TypeError(f"the GPU engine promises int32 vertex ids, got vertices of {ids.dtype}")
    # pylibcugraph's assert_success: a failed CUGRAPH_EXPECTS is an UNKNOWN_ERROR (RuntimeError),
    # the C API's own check an INVALID_INPUT (ValueError).
    api = "non-success value returned from cugraph_graph_create_with_times_sg():"
    prefix = f"{api} CUGRAPH_UNKNOWN_ERROR "
    ordered = np.sort(ids)
    if np.unique(ordered).size != ordered.size:
        raise RuntimeError(prefix + "Invalid input argument: vertices should not have duplicates.")
    if not np.array_equal(ordered, np.arange(ids.size)):
        raise RuntimeError(
            prefix + "Invalid input argument: vertex IDs should be consecutive integers "
            "starting from 0 if renumber is false."
        )
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= ids.size):
        raise RuntimeError(
            prefix + "Invalid input argument: edgelist_majors and/or edgelist_minors have "
            "invalid vertex ID(s)."
        )
    if not np.array_equal(ids, ordered):
        raise ValueError(
            f"{api} CUGRAPH_INVALID_INPUT Vertex list must be numbered consecutively from 0 "
            "when 'renumber' is 'false'"
        )
    return int(ids.size)


def _result(column: str, values: np.ndarray) -> DataFrame:
    """A result frame in reverse vertex order: cuGraph promises no row order."""
    vertex = np.arange(values.size, dtype=np.int32)[::-1]
    return DataFrame({"vertex": vertex, column: values[::-1]})


def _personalization_arrays(
    graph: Graph, personalization: DataFrame, values_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """cuGraph's ``ensure_valid_dtype`` (warn and cast), then the C++ checks, always on here."""
    if not isinstance(personalization, DataFrame):
        raise NotImplementedError(
            "personalization other than a cudf dataframe currently not supported"
        )
    frame = personalization
    if frame["values"].dtype != values_dtype:
        warnings.warn(
            f"PageRank requires 'personalization' values to match the graph's 'edge_attr' "
            f"type. edge_attr type is: {values_dtype} and got 'personalization' values of "
            f"type: {frame['values'].dtype}.",
            UserWarning,
            stacklevel=3,
        )
        frame = frame.astype({"values": values_dtype})
    if frame["vertex"].dtype != graph.src.dtype:
        warnings.warn(
            f"PageRank requires 'personalization' vertex to match the graph's 'vertex' type. "
            f"input graph's vertex type is: {graph.src.dtype} and got 'personalization' vertex "
            f"of type: {frame['vertex'].dtype}.",
            UserWarning,
            stacklevel=3,
        )
        frame = frame.astype({"vertex": graph.src.dtype})
    vertex = frame["vertex"].to_numpy()
    values = frame["values"].to_numpy(dtype=np.float64)
    if vertex.size == 0:
        raise RuntimeError("the input personalization vector size should not be 0")
    if vertex.min() < 0 or vertex.max() >= graph.vertex_count:
        raise RuntimeError("peresonalization vertices have invalid vertex IDs")
    if np.unique(vertex).size != vertex.size:
        raise RuntimeError("personalization vertices should not contain duplicate entries")
    if (values < 0).any() or not np.isfinite(values).all():
        raise RuntimeError("peresonalization values should be non-negative")
    if not values.sum() > 0:
        raise RuntimeError("sum of personalization valuese should be positive")
    return vertex, values


def pagerank(
    G: Graph,
    alpha: float = 0.85,
    personalization: DataFrame | None = None,
    precomputed_vertex_out_weight: Any = None,
    max_iter: int = 100,
    tol: float = 1.0e-5,
    nstart: Any = None,
    dangling: Any = None,
    fail_on_nonconvergence: bool = True,
) -> DataFrame | tuple[DataFrame, bool]:
    """``cugraph.pagerank``: the power iteration of ``pagerank_impl.cuh``, step for step."""
    if not G.store_transposed:
        warnings.warn(
            "Pagerank expects the 'store_transposed' flag to be set to 'True' for optimal "
            "performance during the graph creation",
            UserWarning,
            stacklevel=2,
        )
    if precomputed_vertex_out_weight is not None or nstart is not None:
        raise NotImplementedError("the stand-in models no precomputed weights or nstart")
    if not 0.0 <= alpha <= 1.0 or tol < 0.0:
        raise RuntimeError("Invalid input argument: alpha should be in [0.0, 1.0]")
    max_iter = max_iter if max_iter > 0 else 100
    tol = tol if tol > 0.0 else 1.0e-5
    n = G.vertex_count
    if personalization is not None:
        p_vertex, p_values = _personalization_arrays(G, personalization, G.weights.dtype)
    out_weight = np.bincount(G.src, weights=G.weights, minlength=n)
    divisor = np.where(out_weight == 0.0, 1.0, out_weight)
    # Pull model: row v sums w · x[u] / out[u] over the edges u → v.
    incoming = sp.csr_array((G.weights, (G.dst, G.src)), shape=(n, n), dtype=np.float64)
    x = np.full(n, 1.0 / n)
    iteration = 0
    while True:
        old = x
        dangling_sum = old[out_weight == 0.0].sum()
        x = alpha * (incoming @ (old / divisor))
        if personalization is None:
            x += (dangling_sum * alpha + (1.0 - alpha)) / n
        else:
            x[p_vertex] += (dangling_sum * alpha + (1.0 - alpha)) * (p_values / p_values.sum())
        diff_sum = np.abs(x - old).sum()
        iteration += 1
        if diff_sum < tol or iteration >= max_iter:
            break
    converged = iteration < max_iter  # as cuGraph: stopping on the last allowed step fails
    if fail_on_nonconvergence and not converged:
        raise FailedToConvergeError
    result = _result("pagerank", x)
    return result if fail_on_nonconvergence else (result, converged)


@contextmanager
def _one_thread(seed: int) -> Iterator[None]:
    """networkit on one thread with a fixed seed, so the stand-in is deterministic."""
    previous = nk.getMaxNumberOfThreads()
    nk.setNumberOfThreads(1)
    nk.engineering.setSeed(seed, False)
    try:
        yield
    finally:
        nk.setNumberOfThreads(previous)


def _require_undirected(G: Graph) -> None:
    if G.is_directed():
        raise ValueError("input graph must be undirected")


def louvain(
    G: Graph,
    max_level: int | None = None,
    max_iter: int | None = None,
    resolution: float = 1.0,
    threshold: float = 1e-7,
) -> tuple[DataFrame, float]:
    """``cugraph.louvain`` (no seed in cuGraph's signature) by networkit's PLM."""
    _require_undirected(G)
    graph = G.undirected_networkit()
    with _one_thread(seed=0):
        plm = nk.community.PLM(graph, refine=True, gamma=resolution)
        plm.run()
    partition = plm.getPartition()
    quality = nk.community.Modularity().getQuality(partition, graph)
    return _result("partition", np.asarray(partition.getVector(), dtype=np.int32)), quality


def leiden(
    G: Graph,
    max_iter: int = 100,
    resolution: float = 1.0,
    random_state: int | None = None,
    theta: float = 1.0,
) -> tuple[DataFrame, float]:
    """``cugraph.leiden`` by networkit's ParallelLeiden."""
    _require_undirected(G)
    graph = G.undirected_networkit()
    with _one_thread(seed=0 if random_state is None else random_state):
        leiden_run = nk.community.ParallelLeiden(graph, gamma=resolution)
        leiden_run.run()
    partition = leiden_run.getPartition()
    quality = nk.community.Modularity().getQuality(partition, graph)
    return _result("partition", np.asarray(partition.getVector(), dtype=np.int32)), quality


def weakly_connected_components(
    G: Graph, directed: Any = None, connection: Any = None, return_labels: Any = None
) -> DataFrame:
    """``cugraph.weakly_connected_components`` for a Graph: frame ``vertex, labels``."""
    if directed is not None or return_labels is not None:
        raise TypeError("'directed' and 'return_labels' cannot be specified for a Graph-type input")
    _require_undirected(G)
    n = G.vertex_count
    structure = sp.csr_array((np.ones(G.src.size), (G.src, G.dst)), shape=(n, n))
    _, labels = connected_components(structure, directed=False)
    return _result("labels", labels.astype(np.int32))


#: The stand-in's ForceAtlas2 computes repulsion exactly (every pair), in memory n × n.
FORCE_ATLAS2_MAX_VERTICES = 3_000
_FLT_EPSILON = float(np.finfo(np.float32).eps)


def _adapt_speed(
    jitter_tolerance: float, speed: float, efficiency: float, swing: float, traction: float, n: int
) -> tuple[float, float]:
    """``adapt_speed`` of ``fa2_kernels.cuh``: the global speed from the total swing/traction."""
    estimated_jt = 0.05 * np.sqrt(n)
    jt = jitter_tolerance * max(np.sqrt(estimated_jt), min(10.0, estimated_jt * traction / n**2))
    if swing > 2.0 * traction:  # C's s / t > 2.0, also where t == 0 < s
        if efficiency > 0.05:
            efficiency *= 0.5
        jt = max(jt, jitter_tolerance)
    target = np.finfo(np.float32).max if swing == 0 else jt * efficiency * traction / swing
    if swing > jt * traction:
        if efficiency > 0.05:
            efficiency *= 0.7
    elif speed < 1000:
        efficiency *= 1.3
    return speed + min(target - speed, 0.5 * speed), efficiency


def force_atlas2(
    input_graph: Graph,
    max_iter: int = 500,
    pos_list: DataFrame | None = None,
    *,
    outbound_attraction_distribution: bool = True,
    lin_log_mode: bool = False,
    prevent_overlapping: bool = False,
    vertex_radius: Any = None,
    overlap_scaling_ratio: float = 100.0,
    edge_weight_influence: float = 1.0,
    jitter_tolerance: float = 1.0,
    barnes_hut_optimize: bool = True,
    barnes_hut_theta: float = 0.5,
    scaling_ratio: float = 2.0,
    strong_gravity_mode: bool = False,
    gravity: float = 1.0,
    vertex_mobility: Any = None,
    vertex_mass: Any = None,
    verbose: bool = False,
    callback: Any = None,
    random_state: int | None = None,
) -> DataFrame:
    """``cugraph.force_atlas2``: ``exact_fa2.cuh`` step for step, on an undirected graph.

    cuGraph's Barnes-Hut variant (the default) approximates the same repulsion with a
    quadtree; the stand-in always sums it over every pair, so it takes small graphs only.
    """
    if callback is not None:
        raise RuntimeError("Support for the callback argument was removed in version 25.10.")
    if pos_list is not None and not isinstance(pos_list, DataFrame):
        raise TypeError("pos_list should be a cudf.DataFrame")
    if pos_list is not None or prevent_overlapping or vertex_mobility is not None:
        raise NotImplementedError("the stand-in models no start positions, overlap or mobility")
    if vertex_mass is not None or vertex_radius is not None:
        raise NotImplementedError("the stand-in models the default vertex mass only")
    if input_graph.is_directed():
        raise NotImplementedError("the stand-in lays out undirected graphs only")
    n = input_graph.vertex_count
    if n > FORCE_ATLAS2_MAX_VERTICES:
        raise NotImplementedError(
            f"the stand-in's exact repulsion takes at most "
            f"{FORCE_ATLAS2_MAX_VERTICES} vertices, not {n}"
        )
    src, dst = input_graph.src.astype(np.int64), input_graph.dst.astype(np.int64)
    weight = np.power(input_graph.weights.astype(np.float64), edge_weight_influence)
    # Degree in the edge list (both directions held) plus one, as cuGraph fills it.
    mass = np.bincount(src, minlength=n) + 1.0
    compensation = mass.mean() if outbound_attraction_distribution else 1.0
    rng = np.random.default_rng(random_state)
    x, y = rng.uniform(-100.0, 100.0, n), rng.uniform(-100.0, 100.0, n)
    old_dx, old_dy = np.zeros(n), np.zeros(n)
    speed, efficiency = 1.0, 1.0
    pair_mass = scaling_ratio * np.outer(mass, mass)
    for _ in range(max_iter):
        x_dist = x[:, None] - x[None, :]
        y_dist = y[:, None] - y[None, :]
        factor = pair_mass / (x_dist**2 + y_dist**2 + _FLT_EPSILON)
        np.fill_diagonal(factor, 0.0)
        repel_x, repel_y = (x_dist * factor).sum(axis=1), (y_dist * factor).sum(axis=1)
        if strong_gravity_mode:
            pull = scaling_ratio * mass * gravity
        else:
            pull = mass * gravity / np.sqrt(x**2 + y**2 + _FLT_EPSILON)
        attract_x, attract_y = -x * pull, -y * pull
        edge_x, edge_y = x[src] - x[dst], y[src] - y[dst]
        edge_factor = -compensation * weight
        if lin_log_mode:
            distance = np.sqrt(edge_x**2 + edge_y**2 + _FLT_EPSILON)
            edge_factor = edge_factor * np.log1p(distance) / distance
        if outbound_attraction_distribution:
            edge_factor = edge_factor / mass[src]
        for forces, along in ((attract_x, edge_x), (attract_y, edge_y)):
            forces += np.bincount(src, weights=along * edge_factor, minlength=n)
            forces -= np.bincount(dst, weights=along * edge_factor, minlength=n)
        dx, dy = repel_x + attract_x, repel_y + attract_y
        swinging = mass * np.sqrt((old_dx - dx) ** 2 + (old_dy - dy) ** 2)
        traction = 0.5 * mass * np.sqrt((old_dx + dx) ** 2 + (old_dy + dy) ** 2)
        speed, efficiency = _adapt_speed(
            jitter_tolerance, speed, efficiency, float(swinging.sum()), float(traction.sum()), n
        )
        step = speed / (1.0 + np.sqrt(speed * swinging))
        x, y = x + dx * step, y + dy * step
        old_dx, old_dy = dx, dy
    vertex = np.arange(n, dtype=np.int32)[::-1]
    return DataFrame(
        {"vertex": vertex, "x": x[::-1].astype(np.float32), "y": y[::-1].astype(np.float32)}
    )


cugraph = SimpleNamespace(
    __version__="stand-in",
    Graph=Graph,
    pagerank=pagerank,
    louvain=louvain,
    leiden=leiden,
    weakly_connected_components=weakly_connected_components,
    force_atlas2=force_atlas2,
    exceptions=SimpleNamespace(FailedToConvergeError=FailedToConvergeError),
)
