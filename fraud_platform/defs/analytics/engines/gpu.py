"""The GPU engine: cuDF holds the day's edge table and cuGraph runs the algorithms on one device.

Written against the documented API of RAPIDS 26.10 (the `gpu` extra); what it relies on, as read
in the cudf and cugraph 26.10 sources:

* ``cudf.factorize`` codes values in first-seen order (a stable distinct) as int64; the engine
  narrows the codes to int32 and builds every graph with ``renumber=False``, so cuGraph uses
  them as its vertex ids and never renumbers the string ids itself.
* ``Graph.from_cudf_edgelist(..., renumber=False)`` makes the vertices 0..largest edge id
  (``create_graph_from_edgelist_impl.cuh``): an account without an edge above that id would get
  no result row. With ``vertices`` ("must be used if the graph contains isolated vertices",
  ``graph_classes.py``; handed to pylibcugraph by ``simpleGraph.py``'s ``_make_plc_graph``) it
  makes exactly those, which the C++ checks are 0..n-1 in order, without repeats, holding every
  edge id (``graph_sg.cpp``; a type other than the edges' is widened to int64, with a warning).
  Every algorithm answers for each vertex: an account without an edge is dangling for PageRank,
  and its own community and component. Both graphs get ``vertices`` = 0..n-1 (int32).
* ``Graph.from_cudf_edgelist`` keeps one row of a repeated (src, dst) pair on a plain ``Graph``,
  and its own symmetrization keeps the smaller weight of a→b and b→a. Both would change the
  network, so the engine adds repeated pairs up and symmetrizes (a→b plus b→a) in cuDF, then
  passes ``symmetrize=False``.
* ``pagerank`` runs the CPU engine's update (uniform start, dangling mass spread like the
  personalization, stop when the L1 change is below ``tol`` itself); it wants a graph built with
  ``store_transposed=True``, takes the personalization as a cudf frame ``vertex, values`` and
  does not report its iteration count. ``louvain``, ``leiden`` and
  ``weakly_connected_components`` refuse directed graphs; ``louvain`` takes no seed.
* ``cudf.DataFrame.from_pandas`` was removed in cudf 26.02; ``cudf.from_pandas`` remains.
* ``force_atlas2(G, max_iter=500, pos_list=None, *, outbound_attraction_distribution=True, ...,
  edge_weight_influence=1.0, barnes_hut_optimize=True, ..., random_state=None)`` returns a frame
  ``vertex, x, y`` (float32) for every vertex of the graph; its starting positions are drawn
  from ``random_state``.

cudf and cugraph are imported on first use (this module imports without them) and can be
injected, which is how the tests run this engine on a stand-in without a GPU.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from fraud_platform.defs.analytics.engines.base import (
    CommunityResult,
    EngineGraph,
    GraphEngine,
    PageRankNotConvergedError,
    PageRankResult,
    degree_table,
    edge_vertices,
    empty_layout,
    induced_edges,
    layout_core,
    modularity,
    place_remaining,
    renumber_by_size,
    structure_edges,
    validate_edges,
)

#: `PageRankResult.iterations` of this engine: cuGraph's Python API does not report the count.
ITERATIONS_NOT_REPORTED = -1

_MAX_VERTICES = int(np.iinfo(np.int32).max)

#: ForceAtlas2 iterations: cuGraph's default, "good short-term quality" comes at 50-100.
LAYOUT_ITERATIONS = 500


def _circle_piece(adjacency: Any, seed: int) -> np.ndarray:
    """Accounts evenly on a circle: what `layout_pieces` falls back to for the rare piece of
    accounts none of which ForceAtlas2 placed (only with ``max_nodes``)."""
    n = adjacency.shape[0]
    angle = 2.0 * np.pi * np.arange(n) / max(n, 1)
    return np.column_stack([np.cos(angle), np.sin(angle)])


class CuGraphPageRankNotConvergedError(PageRankNotConvergedError):
    """cuGraph's ``FailedToConvergeError`` as the shared error; cuGraph gives no last change."""

    def __init__(self, max_iter: int, tol: float) -> None:
        RuntimeError.__init__(
            self,
            f"PageRank (cuGraph) did not converge in {max_iter} iterations: its L1 change "
            f"stayed at or above tol={tol:.1e} (cuGraph does not report the last change); "
            "raise max_iter or loosen tol",
        )
        self.iterations = max_iter
        self.delta = math.nan
        self.tol = tol


def pagerank_step_change(
    senders: np.ndarray,
    receivers: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
    *,
    alpha: float,
    personalization: np.ndarray,
) -> float:
    """L1 change one more step of the contract's PageRank update would make to ``scores``.

    The update is an α-contraction in L1, so scores that stopped on a change below ``tol`` move
    by less than α·tol here; more means they do not satisfy the contract's definition. It is
    one pass over the edge arrays (two ``bincount``), cheap beside moving them to the host.
    """
    n = scores.size
    out_weight = np.bincount(senders, weights=weights, minlength=n)
    dangling = out_weight <= 0.0
    share = np.divide(scores, out_weight, out=np.zeros(n), where=~dangling)
    step = alpha * np.bincount(receivers, weights=weights * share[senders], minlength=n)
    step += (alpha * scores[dangling].sum() + (1.0 - alpha)) * personalization
    return float(np.abs(step - scores).sum())


class GpuGraph(EngineGraph):
    """A day's graph on the device: int32 edge table, with each cuGraph graph built on first use.

    Made by `GpuEngine.build`, which validates the edges first.
    """

    def __init__(
        self,
        edges: pd.DataFrame,
        accounts: pd.Index | None = None,
        *,
        cudf: Any,
        cugraph: Any,
    ) -> None:
        self._cudf = cudf
        self._cugraph = cugraph
        self._n = 0
        if edges.empty and accounts is None:
            self.accounts = pd.Index([], dtype=edges["sender"].dtype, name="account")
            return
        weights = edges["amount_total"].to_numpy(dtype=np.float64)
        if accounts is not None:
            # The node table numbers the accounts already: only integers go to the device.
            self.accounts, senders, receivers = edge_vertices(edges, accounts)
            self._n = len(self.accounts)
            src, dst = cudf.Series(senders), cudf.Series(receivers)
        else:
            frame = cudf.from_pandas(edges[["sender", "receiver"]].reset_index(drop=True))
            # One factorization of both columns gives them one numbering, on the device.
            codes, uniques = cudf.factorize(
                cudf.concat([frame["sender"], frame["receiver"]], ignore_index=True)
            )
            self._n = len(uniques)
            found = pd.Index(uniques.to_pandas(), name="account")
            if edges["sender"].dtype == edges["receiver"].dtype != found.dtype:
                found = found.astype(edges["sender"].dtype)
            self.accounts = found
            m = len(edges)
            src, dst = codes[:m], codes[m:]
        if self._n > _MAX_VERTICES:
            raise ValueError(f"{self._n} accounts do not fit cuGraph's int32 vertex ids")
        pairs = cudf.DataFrame(
            {
                "src": src.astype(np.int32),
                "dst": dst.astype(np.int32),
                "weight": cudf.Series(weights),
            }
        )
        #: One row per ordered pair, repeated pairs added up (cuGraph would keep only one).
        self.edges = pairs.groupby(["src", "dst"], as_index=False, sort=False).agg(
            {"weight": "sum"}
        )

    @cached_property
    def vertices(self) -> Any:
        """Every vertex id, 0..n-1 as int32: cuGraph then answers for accounts without an edge
        (they belong to the day's node table), where it would stop at the largest edge id."""
        return self._cudf.Series(np.arange(self._n, dtype=np.int32))

    @cached_property
    def directed_graph(self) -> Any:
        """The transfer network for PageRank, stored transposed as cuGraph's PageRank wants."""
        return self._graph(self.edges, directed=True, store_transposed=True)

    @cached_property
    def symmetric_edges(self) -> Any:
        """Each unordered pair in both directions with a→b and b→a added; a self loop once."""
        cudf, edges = self._cudf, self.edges
        forward = edges["src"] <= edges["dst"]
        low = edges["src"].where(forward, edges["dst"])
        high = edges["dst"].where(forward, edges["src"])
        pairs = (
            cudf.DataFrame({"src": low, "dst": high, "weight": edges["weight"]})
            .groupby(["src", "dst"], as_index=False, sort=False)
            .agg({"weight": "sum"})
        )
        mirrored = pairs[pairs["src"] != pairs["dst"]].rename(columns={"src": "dst", "dst": "src"})
        return cudf.concat([pairs, mirrored[["src", "dst", "weight"]]], ignore_index=True)

    @cached_property
    def undirected_graph(self) -> Any:
        """The symmetrized network for Louvain, Leiden and components (cuGraph's undirected)."""
        # Already symmetric, with the weights added: cuGraph must not symmetrize it again.
        return self._graph(self.symmetric_edges, directed=False, symmetrize=False)

    def _graph(self, edges: Any, *, directed: bool, **options: bool) -> Any:
        """A cuGraph graph of weighted ``src``/``dst`` edges on every vertex, not renumbered:
        the vertex ids are already the node table's rows 0..n-1."""
        graph = self._cugraph.Graph(directed=directed)
        graph.from_cudf_edgelist(
            edges,
            source="src",
            destination="dst",
            weight="weight",
            renumber=False,
            vertices=self.vertices,
            **options,
        )
        return graph

    @cached_property
    def _host_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The merged directed edges on the host, for the shared modularity and PageRank check."""
        return (
            self.edges["src"].to_numpy(),
            self.edges["dst"].to_numpy(),
            self.edges["weight"].to_numpy(),
        )

    def _run(self, algorithm: str, *, directed: bool, **kwargs: Any) -> Any:
        """``cugraph.<algorithm>`` on the directed (PageRank) or the symmetrized graph.

        The one place this engine calls a cuGraph algorithm, so the multi-GPU engine can run the
        same call through ``cugraph.dask`` and reuse everything around it.
        """
        graph = self.directed_graph if directed else self.undirected_graph
        return getattr(self._cugraph, algorithm)(graph, **kwargs)

    def _by_vertex(self, frame: Any, column: str) -> np.ndarray:
        """``column`` of a cuGraph result frame, as an array indexed by vertex id."""
        table = frame.to_pandas()
        vertex = table["vertex"].to_numpy()
        values = table[column].to_numpy()
        complete = vertex.size == self._n and (
            self._n == 0 or (vertex.min() >= 0 and vertex.max() < self._n)
        )
        if complete:
            seen = np.zeros(self._n, dtype=bool)
            seen[vertex] = True
            complete = bool(seen.all())
        if not complete:
            raise RuntimeError(
                f"cuGraph returned {column} for {vertex.size} vertex ids, not for each of "
                f"0..{self._n - 1} once"
            )
        result = np.empty(self._n, dtype=values.dtype)
        result[vertex] = values
        return result

    def degree_features(self) -> pd.DataFrame:
        # The merged pairs are already summed on the device; counting them is cheap on the host.
        senders, receivers, weights = self._host_edges if self._n else ((), (), ())
        return degree_table(
            self.accounts,
            np.asarray(senders, dtype=np.int64),
            np.asarray(receivers, dtype=np.int64),
            np.asarray(weights, dtype=np.float64),
        )

    def _frame(self, column: str, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"account": self.accounts, column: values})

    def _communities(self, parts: Any, resolution: float) -> CommunityResult:
        """Clusters renumbered by size; modularity by the shared definition, not cuGraph's."""
        clusters = renumber_by_size(self._by_vertex(parts, "partition"), self.accounts)
        senders, receivers, weights = self._host_edges
        q = modularity(senders, receivers, weights, clusters, resolution=resolution)
        return CommunityResult(clusters=self._frame("cluster", clusters), modularity=q)

    def _no_communities(self) -> CommunityResult:
        return CommunityResult(
            clusters=self._frame("cluster", np.zeros(0, dtype=np.int64)), modularity=0.0
        )

    def _personalization(self, personalization: pd.Series | None) -> tuple[np.ndarray, Any]:
        """The teleport vector (normalized, on the host) and cuGraph's ``vertex, values`` frame.

        Accounts outside the graph are ignored, as in the CPU engine; the frame has int32
        vertex ids and float64 values, the graph's own types (cuGraph casts and warns
        otherwise) and no repeated vertex (cuGraph does not check that by default).
        """
        if personalization is None:
            return np.full(self._n, 1.0 / self._n), None
        if personalization.index.has_duplicates:
            raise ValueError("personalization names an account more than once")
        vertex = self.accounts.get_indexer(personalization.index)
        present = vertex >= 0
        values = personalization.to_numpy(dtype=np.float64)[present]
        vertex = vertex[present].astype(np.int32)
        if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
            raise ValueError("personalization must be finite, non-negative and not all zero")
        teleport = np.zeros(self._n)
        teleport[vertex] = values
        teleport /= teleport.sum()
        weighted = values > 0  # zero entries change nothing; cuGraph need not see them
        frame = self._cudf.DataFrame({"vertex": vertex[weighted], "values": values[weighted]})
        return teleport, frame

    def _pagerank(
        self, alpha: float, tol: float, max_iter: int, personalization: pd.Series | None
    ) -> PageRankResult:
        if self._n == 0:
            return PageRankResult(
                scores=self._frame("pagerank", np.zeros(0)), iterations=0, converged=True, delta=0.0
            )
        if not tol > 0.0:
            raise ValueError(f"tol must be positive (cuGraph reads 0 as 1e-5), not {tol}")
        if max_iter < 1:  # cuGraph would read it as its default of 100
            raise PageRankNotConvergedError(max_iter, math.inf, tol)
        teleport, frame = self._personalization(personalization)
        try:
            result = self._run(
                "pagerank",
                directed=True,
                alpha=alpha,
                personalization=frame,
                max_iter=max_iter,
                tol=tol,
                fail_on_nonconvergence=True,
            )
        except self._cugraph.exceptions.FailedToConvergeError as exc:
            raise CuGraphPageRankNotConvergedError(max_iter, tol) from exc
        scores = self._by_vertex(result, "pagerank").astype(np.float64, copy=False)
        senders, receivers, weights = self._host_edges
        delta = pagerank_step_change(
            senders, receivers, weights, scores, alpha=alpha, personalization=teleport
        )
        if not delta < tol:
            raise RuntimeError(
                f"cuGraph reported PageRank converged, but one more step of the contract's "
                f"update changes it by {delta:.3e} (tol={tol:.1e}): its definition differs"
            )
        return PageRankResult(
            scores=self._frame("pagerank", scores),
            iterations=ITERATIONS_NOT_REPORTED,
            converged=True,
            delta=delta,
        )

    def louvain(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        # cuGraph's louvain takes no seed: ``seed`` is accepted for the shared signature only.
        if self._n == 0:
            return self._no_communities()
        parts, _ = self._run("louvain", directed=False, resolution=resolution)
        return self._communities(parts, resolution)

    def leiden(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        if self._n == 0:
            return self._no_communities()
        parts, _ = self._run("leiden", directed=False, resolution=resolution, random_state=seed)
        return self._communities(parts, resolution)

    def weakly_connected_components(self) -> pd.DataFrame:
        if self._n == 0:
            return self._frame("component", np.zeros(0, dtype=np.int64))
        labels = self._by_vertex(self._run("weakly_connected_components", directed=False), "labels")
        return self._frame("component", renumber_by_size(labels, self.accounts))

    def _force_atlas2(self, graph: Any, seed: int) -> Any:
        """cuGraph's ForceAtlas2 with Barnes-Hut repulsion, unweighted (as the CPU layout):
        ``edge_weight_influence=0`` makes every transfer pair pull alike."""
        return self._cugraph.force_atlas2(
            graph,
            max_iter=LAYOUT_ITERATIONS,
            outbound_attraction_distribution=True,
            edge_weight_influence=0.0,
            barnes_hut_optimize=True,
            random_state=seed,
        )

    def _core_layout(self, row: np.ndarray, col: np.ndarray, k: int, seed: int) -> np.ndarray:
        """ForceAtlas2 positions (k × 2) of the ``max_nodes`` core, given as distinct pairs on
        core numbers 0..k-1; NaN for a core account without a pair inside the core."""
        xy = np.full((k, 2), np.nan)
        if row.size == 0:
            return xy
        pairs = self._cudf.DataFrame(
            {
                "src": np.concatenate([row, col]).astype(np.int32),
                "dst": np.concatenate([col, row]).astype(np.int32),
            }
        )
        graph = self._cugraph.Graph(directed=False)
        graph.from_cudf_edgelist(
            pairs, source="src", destination="dst", renumber=False, symmetrize=False
        )
        table = self._force_atlas2(graph, seed).to_pandas()
        vertex = table["vertex"].to_numpy()
        xy[vertex, 0] = table["x"].to_numpy()
        xy[vertex, 1] = table["y"].to_numpy()
        return xy

    def layout(self, *, seed: int = 42, max_nodes: int | None = None) -> pd.DataFrame:
        # Starting positions come from ``seed``; cuGraph adds its Barnes-Hut forces up with
        # floating-point atomics, so on a real GPU two runs may differ in the last digits.
        if self._n == 0:
            return empty_layout(self.accounts)
        senders, receivers, _ = self._host_edges
        row, col = structure_edges(senders, receivers, self._n)
        core = layout_core(row, col, self._n, max_nodes)
        xy = np.full((self._n, 2), np.nan)
        if core.all():
            pos = self._force_atlas2(self.undirected_graph, seed)
            xy[:, 0] = self._by_vertex(pos, "x")
            xy[:, 1] = self._by_vertex(pos, "y")
        else:
            sub_row, sub_col = induced_edges(row, col, core)
            xy[core] = self._core_layout(sub_row, sub_col, int(core.sum()), seed)
        xy = xy.astype(np.float64)
        placed = np.isfinite(xy).all(axis=1)
        xy = place_remaining(row, col, xy, placed, seed=seed, layout_piece=_circle_piece)
        return pd.DataFrame({"account": self.accounts, "x": xy[:, 0], "y": xy[:, 1]})


class GpuEngine(GraphEngine):
    """Graph algorithms on an NVIDIA GPU with RAPIDS cuDF and cuGraph.

    ``cudf`` and ``cugraph`` default to the installed packages, imported on the first build;
    tests pass a stand-in with the same API.
    """

    name: ClassVar[str] = "gpu"

    def __init__(self, *, cudf: Any = None, cugraph: Any = None) -> None:
        if (cudf is None) != (cugraph is None):
            raise ValueError("pass both cudf and cugraph, or neither")
        self._cudf = cudf
        self._cugraph = cugraph

    def _libraries(self) -> tuple[Any, Any]:
        if self._cudf is None:
            try:
                import cudf
                import cugraph
            except ImportError as exc:
                raise ImportError(
                    "the gpu graph engine needs RAPIDS cudf and cugraph (the 'gpu' extra) "
                    f"on a machine with an NVIDIA GPU: {exc}"
                ) from exc
            self._cudf, self._cugraph = cudf, cugraph
        return self._cudf, self._cugraph

    def build(self, edges: pd.DataFrame, accounts: pd.Index | None = None) -> GpuGraph:
        validate_edges(edges)
        cudf, cugraph = self._libraries()
        return GpuGraph(edges, accounts, cudf=cudf, cugraph=cugraph)
