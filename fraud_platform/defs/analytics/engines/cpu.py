"""The CPU engine: per algorithm, the fastest well-kept library measured on a 2-core machine.

Figures from ``benchmarks/graph_libraries.py`` on its heavy-tailed synthetic day (1M transfers
merged into 943k edges between 200k accounts), 2 cores, best of 2–3 runs; the ranges span three
runs on a machine shared with other jobs. Each choice below repeats the figures that decided it.
Louvain and Leiden run networkit on one thread: on two its partitions change from run to run
even with the seed fixed, and a daily dataset must be reproducible. At 5M transfers / 1M
accounts (one contended run) the ranking holds: PageRank scipy 3.8 s, igraph 10.5 s, networkit
14.7 s; Louvain PLM 8.8 s, igraph 23.7 s + 5.5 s build; Leiden networkit 12.4 s, igraph 24.5 s
+ 5.5 s build.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import ClassVar

import networkit as nk
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path

from fraud_platform.defs.analytics.engines.base import (
    CommunityResult,
    EngineGraph,
    GraphEngine,
    PageRankNotConvergedError,
    PageRankResult,
    compact_indices,
    degree_table,
    edge_vertices,
    empty_layout,
    induced_edges,
    layout_core,
    layout_pieces,
    modularity,
    place_remaining,
    renumber_by_size,
    structure_edges,
    validate_edges,
)

#: Pivots of the PivotMDS layout: each costs one breadth-first search of the day's graph.
LAYOUT_PIVOTS = 20
#: Rounds of pulling each account towards its counterparties after PivotMDS.
LAYOUT_SMOOTHING_ROUNDS = 20
#: How far each smoothing round moves an account towards the mean of its counterparties.
LAYOUT_SMOOTHING = 0.9


def pagerank_transition(
    senders: np.ndarray, receivers: np.ndarray, weights: np.ndarray, n: int
) -> tuple[sp.csr_array, np.ndarray]:
    """The transposed, row-normalized transfer matrix (receiver × sender) and the dangling mask.

    Stored receiver-major so each power step is one CSR mat-vec; repeated pairs add up.
    Accounts whose outgoing weight is zero are dangling: their column is empty.
    """
    out_weight = np.bincount(senders, weights=weights, minlength=n)
    dangling = out_weight <= 0.0
    inverse = np.divide(1.0, out_weight, out=np.zeros(n), where=~dangling)
    data = weights * inverse[senders]
    matrix = sp.csr_array((data, (receivers, senders)), shape=(n, n), dtype=np.float64)
    return compact_indices(matrix), dangling


def pagerank_power(
    transition: sp.csr_array,
    dangling: np.ndarray,
    *,
    alpha: float = 0.85,
    tol: float = 1e-10,
    max_iter: int = 200,
    personalization: np.ndarray | None = None,
) -> tuple[np.ndarray, int, float]:
    """Power iteration with networkx's update rule; returns (scores, iterations, last L1 change).

    ``x ← α (T x + (Σ x_dangling) p) + (1 − α) p`` from the uniform start, with ``p`` the
    personalization (uniform when None). Stops when ``‖Δx‖₁ < tol``: networkx compares with
    ``N · tol``, which on a million accounts stops after one or two steps.
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), not {alpha}")
    n = transition.shape[0]
    if n == 0:
        return np.zeros(0), 0, 0.0
    if personalization is None:
        p = np.full(n, 1.0 / n)
    else:
        p = np.asarray(personalization, dtype=np.float64)
        if not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError("personalization must be finite, non-negative and not all zero")
        p = p / p.sum()
    dangling_ids = np.flatnonzero(dangling)
    x = np.full(n, 1.0 / n)
    delta = np.inf
    for iteration in range(1, max_iter + 1):
        new = transition @ x
        new *= alpha
        new += (alpha * x[dangling_ids].sum() + (1.0 - alpha)) * p
        delta = float(np.abs(new - x).sum())
        x = new
        if delta < tol:
            return x, iteration, delta
    raise PageRankNotConvergedError(max_iter, delta, tol)


def undirected_coo(
    senders: np.ndarray, receivers: np.ndarray, weights: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unordered pair once (row ≤ col) with the weights of both directions added.

    A self loop keeps its own weight; graph libraries count it twice in the account's degree,
    which is the standard convention (and the one `modularity` uses).
    """
    low = np.minimum(senders, receivers)
    high = np.maximum(senders, receivers)
    # Through CSR: summing duplicates there is 0.05 s at 1M edges against 0.3 s in COO form.
    merged = sp.csr_array((weights, (low, high)), shape=(n, n))
    merged.sum_duplicates()
    merged = merged.tocoo()
    row, col = merged.coords
    return (
        np.ascontiguousarray(row, dtype=np.int64),
        np.ascontiguousarray(col, dtype=np.int64),
        np.ascontiguousarray(merged.data, dtype=np.float64),
    )


def pivot_mds(
    adjacency: sp.csr_array, seed: int = 42, *, pivots: int = LAYOUT_PIVOTS
) -> np.ndarray:
    """2-D PivotMDS (Brandes & Pich 2006) of a connected graph, then a smoothing.

    Hop distances from ``pivots`` pivots chosen max-min (the first one by ``seed``, each next one
    the account farthest from those chosen) are double-centred, and the two leading
    eigenvectors of the small pivots × pivots product give the axes. Rounds of moving each
    account towards the mean of its counterparties (anchored to its PivotMDS position) then
    pull groups together: on the 243k-account day the mean length of a pair falls from 0.78 to
    0.60 of the mean distance between two random accounts, for 0.2 s. Signs are fixed (largest
    coordinate positive) so the result does not depend on the eigen-solver's sign choice.
    """
    n = adjacency.shape[0]
    k = min(pivots, n)
    distances = np.empty((n, k))
    nearest = np.full(n, np.inf)
    pivot = int(np.random.default_rng(seed).integers(n))
    for j in range(k):
        # The matrix holds both directions, so a directed search is an undirected one (scipy
        # would otherwise symmetrize the matrix again on every call).
        distances[:, j] = shortest_path(
            adjacency, method="D", directed=True, unweighted=True, indices=pivot
        )
        nearest = np.minimum(nearest, distances[:, j])
        pivot = int(np.argmax(nearest))
    squared = np.square(distances)
    centred = -0.5 * (
        squared - squared.mean(axis=0) - squared.mean(axis=1, keepdims=True) + squared.mean()
    )
    _, vectors = np.linalg.eigh(centred.T @ centred)
    xy = centred @ vectors[:, ::-1][:, :2]
    if xy.shape[1] < 2:
        xy = np.column_stack([xy, np.zeros(n)])
    for axis in range(2):
        if xy[np.argmax(np.abs(xy[:, axis])), axis] < 0:
            xy[:, axis] = -xy[:, axis]
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    mean_of_neighbours = sp.diags_array(1.0 / np.maximum(degree, 1.0)) @ adjacency
    anchor = xy
    for _ in range(LAYOUT_SMOOTHING_ROUNDS):
        xy = (1.0 - LAYOUT_SMOOTHING) * anchor + LAYOUT_SMOOTHING * (mean_of_neighbours @ xy)
    return xy


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run networkit on one thread: its parallel community moves depend on thread timing."""
    previous = nk.getMaxNumberOfThreads()
    nk.setNumberOfThreads(1)
    try:
        yield
    finally:
        nk.setNumberOfThreads(previous)


class CpuGraph(EngineGraph):
    """A day's graph held as integer edge arrays, with each library's view built on first use."""

    def __init__(self, edges: pd.DataFrame, accounts: pd.Index | None = None) -> None:
        validate_edges(edges)
        self.accounts, self._senders, self._receivers = edge_vertices(edges, accounts)
        self._weights = np.ascontiguousarray(edges["amount_total"].to_numpy(dtype=np.float64))
        self._n = len(self.accounts)

    @cached_property
    def _transition(self) -> tuple[sp.csr_array, np.ndarray]:
        return pagerank_transition(self._senders, self._receivers, self._weights, self._n)

    @cached_property
    def _undirected(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return undirected_coo(self._senders, self._receivers, self._weights, self._n)

    @cached_property
    def _networkit_undirected(self) -> nk.Graph:
        # From the upper triangle in CSR form (each unordered pair once): 4.4 s for the 9M pairs
        # of the 10M-transfer day, where GraphFromCoo inserts edge by edge in 18 s.
        row, col, weight = self._undirected
        upper = sp.csr_matrix((weight, (row, col)), shape=(self._n, self._n))
        return nk.graph.GraphFromCsr(upper, directed=False, weighted=True)

    def degree_features(self) -> pd.DataFrame:
        # Repeated pairs in the input add up, as in every other algorithm here.
        pairs = sp.coo_array(
            (self._weights, (self._senders, self._receivers)), shape=(self._n, self._n)
        ).tocsr()
        pairs.sum_duplicates()
        senders, receivers = pairs.nonzero()
        return degree_table(self.accounts, senders, receivers, pairs.data)

    def _frame(self, column: str, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"account": self.accounts, column: values})

    def _communities(self, labels: np.ndarray, resolution: float) -> CommunityResult:
        clusters = renumber_by_size(labels, self.accounts)
        q = modularity(
            self._senders, self._receivers, self._weights, clusters, resolution=resolution
        )
        return CommunityResult(clusters=self._frame("cluster", clusters), modularity=q)

    def _pagerank(
        self, alpha: float, tol: float, max_iter: int, personalization: pd.Series | None
    ) -> PageRankResult:
        # scipy CSR power iteration: 0.04 s to build + 0.14–0.17 s for 48 steps to an L1 change
        # below 1e-10. igraph (PRPACK, fixed tolerance) takes 1.0–1.6 s with its graph build and
        # lands 4e-11 away; networkit 0.85–2.6 s, 2e-9 away.
        transition, dangling = self._transition
        p = None
        if personalization is not None:
            p = personalization.reindex(self.accounts, fill_value=0.0).to_numpy(np.float64)
        x, iterations, delta = pagerank_power(
            transition, dangling, alpha=alpha, tol=tol, max_iter=max_iter, personalization=p
        )
        return PageRankResult(
            scores=self._frame("pagerank", x), iterations=iterations, converged=True, delta=delta
        )

    def louvain(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        # networkit PLM, refine=True, one thread: 0.94–1.2 s (+0.27 s graph build), modularity
        # 0.5506, same partition on every run. Two threads: 0.63–1.8 s, a different partition
        # each run (0.5509–0.5516). refine=False: 0.61–0.75 s for 0.5500. igraph
        # community_multilevel: 2.7–3.6 s (+0.9 s graph build) for 0.5529.
        if self._n == 0:
            return self._communities(np.zeros(0, dtype=np.int64), resolution)
        with _single_thread():
            nk.engineering.setSeed(seed, False)
            plm = nk.community.PLM(self._networkit_undirected, refine=True, gamma=resolution)
            plm.run()
            labels = np.asarray(plm.getPartition().getVector())
        return self._communities(labels, resolution)

    def leiden(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        # networkit ParallelLeiden, one thread: 1.35–2.1 s, modularity 0.5542, reproducible
        # (two threads: 0.9–3.0 s, not reproducible). igraph community_leiden with the
        # modularity objective reaches the same 0.5542 in 2.4–3.5 s (+0.9 s graph build), or
        # 0.5546 in 30 s when iterated until stable; it would also add a runtime dependency.
        if self._n == 0:
            return self._communities(np.zeros(0, dtype=np.int64), resolution)
        with _single_thread():
            nk.engineering.setSeed(seed, False)
            leiden = nk.community.ParallelLeiden(self._networkit_undirected, gamma=resolution)
            leiden.run()
            labels = np.asarray(leiden.getPartition().getVector())
        return self._communities(labels, resolution)

    def weakly_connected_components(self) -> pd.DataFrame:
        # scipy csgraph: 0.05–0.1 s including its CSR build, on the edge arrays we already hold;
        # networkit (0.04–0.06 s) and igraph (0.08–0.1 s) first need their own graph built.
        if self._n == 0:
            return self._frame("component", np.zeros(0, dtype=np.int64))
        structure = sp.csr_array(
            (np.ones(self._senders.size, dtype=np.int32), (self._senders, self._receivers)),
            shape=(self._n, self._n),
        )
        _, labels = connected_components(structure, directed=True, connection="weak")
        return self._frame("component", renumber_by_size(labels, self.accounts))

    def layout(self, *, seed: int = 42, max_nodes: int | None = None) -> pd.DataFrame:
        # PivotMDS on scipy's breadth-first searches, each connected piece on its own: 1.8-3.1 s on
        # the 243k-account day (1M transfers). networkit's own PivotMDS took 11.9 s there with
        # 30 pivots and 92 s with 100; its MaxentStress 4.9 s already on a 4.9k-account day.
        if self._n == 0:
            return empty_layout(self.accounts)
        row, col = structure_edges(self._senders, self._receivers, self._n)
        core = layout_core(row, col, self._n, max_nodes)
        xy = np.full((self._n, 2), np.nan)
        sub_row, sub_col = induced_edges(row, col, core)
        xy[core] = layout_pieces(
            sub_row, sub_col, int(core.sum()), seed=seed, layout_piece=pivot_mds
        )
        xy = place_remaining(row, col, xy, core, seed=seed, layout_piece=pivot_mds)
        return pd.DataFrame({"account": self.accounts, "x": xy[:, 0], "y": xy[:, 1]})


class CpuEngine(GraphEngine):
    """Graph algorithms on the CPU with scipy and networkit."""

    name: ClassVar[str] = "cpu"

    def build(self, edges: pd.DataFrame, accounts: pd.Index | None = None) -> CpuGraph:
        return CpuGraph(edges, accounts)
