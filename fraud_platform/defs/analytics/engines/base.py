"""The contract every graph engine meets, so a CPU and a GPU engine can be swapped per run.

Inputs and outputs are plain pandas DataFrames keyed by the original account ids: each engine
numbers the accounts into its own dense integer space internally and translates back, so callers
never see engine-specific vertex numbers (cuGraph renumbers vertices its own way, for instance).
Given the day's node table (``accounts``) and edges that carry their accounts' rows in it
(``sender_node``, ``receiver_node``, as `build_transaction_graph` writes them), an engine takes
those rows as its vertex numbers and every result comes back in node-table order: nothing matches
account strings. A day's graph is built once with `GraphEngine.build` and every algorithm reuses
it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

#: Columns an engine reads from the day's edge table (one row per ordered sender/receiver pair).
ENGINE_EDGE_COLUMNS = ("sender", "receiver", "amount_total", "tx_count")
#: Optional edge columns: the rows of the sender and the receiver in the day's node table.
NODE_ROW_COLUMNS = ("sender_node", "receiver_node")

#: Columns of `EngineGraph.layout`'s result.
LAYOUT_COLUMNS = ("account", "x", "y")
#: Connected pieces of at most this many accounts are drawn as a circle (a ring of five transfers
#: reads as a ring); larger pieces go through the engine's layout algorithm.
CIRCLE_MAX_ACCOUNTS = 32


class PageRankNotConvergedError(RuntimeError):
    """PageRank did not reach the tolerance: reported rather than returning unconverged scores."""

    def __init__(self, iterations: int, delta: float, tol: float) -> None:
        super().__init__(
            f"PageRank did not converge in {iterations} iterations: the last L1 change was "
            f"{delta:.3e}, above tol={tol:.1e}; raise max_iter or loosen tol"
        )
        self.iterations = iterations
        self.delta = delta
        self.tol = tol


@dataclass(frozen=True)
class PageRankResult:
    """PageRank per account (sums to 1) and how the iteration ended."""

    scores: pd.DataFrame  # account, pagerank (float64)
    iterations: int
    converged: bool
    delta: float  # L1 change of the last iteration


@dataclass(frozen=True)
class CommunityResult:
    """A partition of the accounts and its modularity at the resolution that produced it."""

    clusters: pd.DataFrame  # account, cluster (int64, 0 = largest cluster)
    modularity: float

    @property
    def count(self) -> int:
        """How many clusters the partition has."""
        return int(self.clusters["cluster"].nunique())


def validate_edges(edges: pd.DataFrame) -> None:
    """Refuse edge tables the algorithms would silently mis-handle (missing ids, bad weights)."""
    missing = [c for c in ("sender", "receiver", "amount_total") if c not in edges.columns]
    if missing:
        raise ValueError(f"edge table lacks column(s) {missing}; it needs {ENGINE_EDGE_COLUMNS}")
    if edges["sender"].isna().any() or edges["receiver"].isna().any():
        raise ValueError("edge table has a missing sender or receiver id")
    amounts = edges["amount_total"].to_numpy(dtype=np.float64)
    if not np.isfinite(amounts).all() or (amounts < 0).any():
        raise ValueError("edge table has an amount_total that is negative, NaN or infinite")


def edge_vertices(
    edges: pd.DataFrame, accounts: pd.Index | None = None
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """Vertex numbers for the edges: (vertex accounts, sender numbers, receiver numbers).

    With ``accounts`` (the day's node table) the vertices are those accounts in that order: the
    edges' ``sender_node`` / ``receiver_node`` when present (bounds checked), else their ids
    looked up. Without it, one factorization of both columns numbers the accounts in first-seen
    order, senders first.
    """
    n_edges = len(edges)
    if accounts is None:
        both = pd.concat([edges["sender"], edges["receiver"]], ignore_index=True)
        codes, uniques = pd.factorize(both)
        codes = codes.astype(np.int64, copy=False)
        return pd.Index(uniques, name="account"), codes[:n_edges], codes[n_edges:]
    accounts = pd.Index(accounts, name="account")
    if set(NODE_ROW_COLUMNS) <= set(edges.columns):
        senders = edges["sender_node"].to_numpy(dtype=np.int64)
        receivers = edges["receiver_node"].to_numpy(dtype=np.int64)
    else:
        senders = accounts.get_indexer(edges["sender"])
        receivers = accounts.get_indexer(edges["receiver"])
    n = len(accounts)
    if n_edges and (
        min(senders.min(), receivers.min()) < 0 or max(senders.max(), receivers.max()) >= n
    ):
        raise ValueError("edges name an account that the day's node table lacks")
    return accounts, senders, receivers


def renumber_by_size(labels: np.ndarray, accounts: pd.Index) -> np.ndarray:
    """Relabel groups 0..k-1 by descending size, ties broken by the group's smallest account id.

    Library labels are arbitrary and differ between engines and runs; this order is a property
    of the partition alone, so the same partition always gets the same numbers.
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, dense = np.unique(labels, return_inverse=True)
    dense = dense.reshape(-1)
    sizes = np.bincount(dense)
    # Position of each account in id order; the smallest position in a group names its tie-break.
    id_rank = np.empty(len(accounts), dtype=np.int64)
    id_rank[accounts.argsort()] = np.arange(len(accounts), dtype=np.int64)
    first_id = np.full(sizes.size, len(accounts), dtype=np.int64)
    np.minimum.at(first_id, dense, id_rank)
    order = np.lexsort((first_id, -sizes))  # last key is primary: size descending
    new_label = np.empty(sizes.size, dtype=np.int64)
    new_label[order] = np.arange(sizes.size, dtype=np.int64)
    return new_label[dense]


def modularity(
    senders: np.ndarray,
    receivers: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
    *,
    resolution: float = 1.0,
) -> float:
    """Weighted undirected modularity of a partition of the symmetrized graph.

    ``Q = Σ_c [ W_c / W − γ (K_c / 2W)² ]`` with W the total weight, W_c the weight of edges
    inside c and K_c the summed degree of c (a self loop counts twice in its degree): the
    networkx / igraph definition, on edge arrays (sender and receiver vertex numbers, weights)
    and one label per vertex. Every engine reports this function's value rather than its
    library's, so all engines and algorithms report the same quantity. 0.0 without weight.
    """
    total = float(weights.sum())
    if total <= 0.0:
        return 0.0
    inside = float(weights[labels[senders] == labels[receivers]].sum())
    k = int(labels.max()) + 1
    degree = np.bincount(labels[senders], weights=weights, minlength=k) + np.bincount(
        labels[receivers], weights=weights, minlength=k
    )
    return inside / total - resolution * float(np.square(degree / (2.0 * total)).sum())


class EngineGraph(ABC):
    """One day's transfer network inside an engine, ready for every algorithm."""

    #: Every account seen as a sender or a receiver, in the engine's vertex order.
    accounts: pd.Index

    def pagerank(
        self,
        *,
        alpha: float = 0.85,
        tol: float = 1e-10,
        max_iter: int = 200,
        personalization: pd.Series | None = None,
    ) -> PageRankResult:
        """Directed PageRank weighted by ``amount_total``, as ``networkx.pagerank(weight=...)``.

        Dangling accounts (nothing sent) spread their mass uniformly, or like ``personalization``
        when it is given (a Series indexed by account; accounts absent from the graph are
        ignored). Convergence is an L1 change below ``tol`` itself, not ``N * tol``; failing to
        converge within ``max_iter`` raises `PageRankNotConvergedError`.
        """
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), not {alpha}")
        return self._pagerank(alpha, tol, max_iter, personalization)

    @abstractmethod
    def _pagerank(
        self, alpha: float, tol: float, max_iter: int, personalization: pd.Series | None
    ) -> PageRankResult:
        """The engine's PageRank, as `pagerank` describes it (``alpha`` already checked)."""

    @abstractmethod
    def louvain(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        """Louvain communities of the symmetrized graph (a→b and b→a weights added)."""

    @abstractmethod
    def leiden(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        """Leiden communities of the symmetrized graph, optimizing modularity (not CPM)."""

    @abstractmethod
    def degree_features(self) -> pd.DataFrame:
        """account, in_degree, out_degree, in_amount, out_amount of the merged graph.

        Degrees count distinct counterparties (one per ordered pair); amounts add every
        transfer's money. A self loop counts once in and once out.
        """

    @abstractmethod
    def weakly_connected_components(self) -> pd.DataFrame:
        """account, component: 0 is the largest component, ties by smallest account id."""

    @abstractmethod
    def layout(self, *, seed: int = 42, max_nodes: int | None = None) -> pd.DataFrame:
        """account, x, y: finite 2-D positions to draw the day's network with.

        Positions follow the structure alone (who paid whom, in either direction, unweighted:
        amounts span orders of magnitude and would let one payment dominate), so accounts that
        transact sit near each other. The same graph and seed give the same positions. With
        ``max_nodes``, only that many accounts (those with the most counterparties) go through
        the layout algorithm and every other account is placed beside its placed counterparties,
        which bounds the cost on very large days.
        """


class GraphEngine(ABC):
    """A graph library family (CPU or GPU) that turns an edge table into an `EngineGraph`."""

    name: ClassVar[str]

    @abstractmethod
    def build(self, edges: pd.DataFrame, accounts: pd.Index | None = None) -> EngineGraph:
        """Build the day's graph from ``sender, receiver, amount_total, tx_count`` rows.

        Self loops and repeated pairs are tolerated (repeated pairs add up). With ``accounts``,
        the day's node table, its order is the vertex order of every result (see
        `edge_vertices`).
        """


# -- layout helpers shared by the engines (host arrays) -------------------------------------------


def empty_layout(accounts: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {"account": accounts, "x": np.zeros(len(accounts)), "y": np.zeros(len(accounts))}
    )


def structure_edges(
    senders: np.ndarray, receivers: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each pair of distinct accounts that transacted, once, as (low, high) vertex numbers."""
    keep = senders != receivers
    low = np.minimum(senders[keep], receivers[keep])
    high = np.maximum(senders[keep], receivers[keep])
    # Merged through CSR: 0.05 s at 900k pairs, where np.unique on pair keys took 0.7 s.
    merged = sp.csr_array((np.ones(low.size), (low, high)), shape=(n, n))
    merged.sum_duplicates()
    row, col = merged.tocoo().coords
    return row.astype(np.int64), col.astype(np.int64)


def symmetric_adjacency(row: np.ndarray, col: np.ndarray, n: int) -> sp.csr_array:
    """The 0/1 adjacency matrix holding each pair in both directions."""
    both_rows = np.concatenate([row, col])
    both_cols = np.concatenate([col, row])
    return compact_indices(
        sp.csr_array(
            (np.ones(both_rows.size, dtype=np.float64), (both_rows, both_cols)), shape=(n, n)
        )
    )


def compact_indices(matrix: sp.csr_array) -> sp.csr_array:
    """``matrix`` with 32-bit column indices and row pointers where they fit.

    scipy keeps the 64-bit indices of int64 coordinates; a mat-vec streams the indices with the
    values, so halving them is 30-40% off each product on the 9M-edge day (memory-bound).
    """
    if max(matrix.shape) >= 2**31 or matrix.nnz >= 2**31 or matrix.indices.dtype == np.int32:
        return matrix
    return sp.csr_array(
        (matrix.data, matrix.indices.astype(np.int32), matrix.indptr.astype(np.int32)),
        shape=matrix.shape,
    )


def layout_core(row: np.ndarray, col: np.ndarray, n: int, max_nodes: int | None) -> np.ndarray:
    """Mask of the accounts the layout algorithm places: all, or the ``max_nodes`` with the most
    counterparties (ties by vertex number, so the choice is reproducible)."""
    if max_nodes is None or n <= max_nodes:
        return np.ones(n, dtype=bool)
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")
    degree = np.bincount(row, minlength=n) + np.bincount(col, minlength=n)
    order = np.lexsort((np.arange(n), -degree))
    core = np.zeros(n, dtype=bool)
    core[order[:max_nodes]] = True
    return core


def induced_edges(
    row: np.ndarray, col: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs with both ends in ``mask``, renumbered 0..mask.sum()-1 in vertex order."""
    index = np.cumsum(mask) - 1
    keep = mask[row] & mask[col]
    return index[row[keep]], index[col[keep]]


def _shelf_offsets(extents: np.ndarray, gap: float) -> np.ndarray:
    """Centers for discs of the given radii (largest first), packed in rows like books on
    shelves; the row width fits the largest disc or the square root of the total area."""
    width = max(2.0 * float(extents.max()), float(np.sqrt(np.square(2.0 * extents + gap).sum())))
    centers = np.zeros((extents.size, 2))
    x = y = row_height = 0.0
    for i, radius in enumerate(extents):
        box = 2.0 * radius + gap
        if x > 0.0 and x + box > width:
            x, y, row_height = 0.0, y - row_height, 0.0
        centers[i] = (x + box / 2.0, y - box / 2.0)
        x += box
        row_height = max(row_height, box)
    return centers


def layout_pieces(
    row: np.ndarray,
    col: np.ndarray,
    n: int,
    *,
    seed: int,
    layout_piece: Callable[[sp.csr_array, int], np.ndarray],
) -> np.ndarray:
    """Positions (n × 2) for a graph given as distinct pairs: each connected piece on its own,
    then the pieces packed side by side, the largest first.

    A piece of ``size`` accounts fills a disc of radius about √size, so the density is the same
    everywhere. Pieces up to `CIRCLE_MAX_ACCOUNTS` accounts become circles (vectorized: a day
    has thousands of two-account pieces); larger ones are laid out by ``layout_piece(adjacency,
    seed)``, scaled to their disc (outliers pulled in), and jittered a little so accounts with
    the same counterparties do not hide each other.
    """
    if n == 0:
        return np.zeros((0, 2))
    adjacency = symmetric_adjacency(row, col, n)
    _, labels = connected_components(adjacency, directed=False)
    sizes = np.bincount(labels)
    radius = np.sqrt(sizes.astype(np.float64))
    extents = radius.copy()
    by_piece = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[by_piece] = np.arange(n) - starts[labels[by_piece]]
    angle = 2.0 * np.pi * rank / sizes[labels]
    local = np.column_stack([np.cos(angle), np.sin(angle)]) * radius[labels, None]
    rng = np.random.default_rng(seed)
    for piece in np.flatnonzero(sizes > CIRCLE_MAX_ACCOUNTS):
        members = np.flatnonzero(labels == piece)
        xy = np.asarray(layout_piece(adjacency[members][:, members], seed), dtype=np.float64)
        xy = xy - np.median(xy, axis=0)
        distance = np.hypot(xy[:, 0], xy[:, 1])
        spread = float(np.quantile(distance, 0.9))
        if spread > 0:
            # The bulk fills the disc; the few accounts far out (the end of a long chain) are
            # pulled in on a log scale, else they would set the scale and shrink the rest.
            far = np.maximum(distance / spread, 1.0)
            xy *= (radius[piece] / spread) * ((1.0 + 0.25 * np.log(far)) / far)[:, None]
        xy += rng.normal(0.0, 0.15, xy.shape)
        local[members] = xy
        extents[piece] = float(np.hypot(xy[:, 0], xy[:, 1]).max())
    order = np.lexsort((np.arange(sizes.size), -sizes))
    centers = np.empty((sizes.size, 2))
    centers[order] = _shelf_offsets(extents[order], gap=2.0)
    return local + centers[labels]


def place_remaining(
    row: np.ndarray,
    col: np.ndarray,
    xy: np.ndarray,
    placed: np.ndarray,
    *,
    seed: int,
    layout_piece: Callable[[sp.csr_array, int], np.ndarray],
) -> np.ndarray:
    """Positions for the accounts not ``placed``: beside their placed counterparties, ring by
    ring outwards (the mean of those counterparties plus a little noise); pieces with no placed
    account are laid out on their own and set to the right of the rest."""
    xy, placed = xy.copy(), placed.copy()
    n = placed.size
    if placed.all():
        return xy
    adjacency = symmetric_adjacency(row, col, n)
    both = placed[row] & placed[col]
    lengths = np.hypot(*(xy[row[both]] - xy[col[both]]).T)
    step = float(np.median(lengths)) if lengths.size else 1.0
    step = step if step > 0 else 1.0
    rng = np.random.default_rng(seed)
    while True:
        weight = placed.astype(np.float64)
        counts = adjacency @ weight
        new = ~placed & (counts > 0)
        if not new.any():
            break
        sums = adjacency @ np.where(placed[:, None], xy, 0.0)
        xy[new] = sums[new] / counts[new, None] + rng.normal(0.0, step / 2.0, (int(new.sum()), 2))
        placed |= new
    if not placed.all():
        rest = ~placed
        sub_row, sub_col = induced_edges(row, col, rest)
        pieces = (
            layout_pieces(sub_row, sub_col, int(rest.sum()), seed=seed, layout_piece=layout_piece)
            * step
        )
        if placed.any():
            pieces[:, 0] += xy[placed, 0].max() - pieces[:, 0].min() + 4.0 * step
            pieces[:, 1] += xy[placed, 1].max() - pieces[:, 1].max()
        xy[rest] = pieces
    return xy


def degree_table(
    accounts: pd.Index, senders: np.ndarray, receivers: np.ndarray, weights: np.ndarray
) -> pd.DataFrame:
    """Degree and flow features from merged integer edges (one row per ordered pair)."""
    n = len(accounts)
    return pd.DataFrame(
        {
            "account": accounts,
            "in_degree": np.bincount(receivers, minlength=n).astype(np.int64),
            "out_degree": np.bincount(senders, minlength=n).astype(np.int64),
            "in_amount": np.bincount(receivers, weights=weights, minlength=n),
            "out_amount": np.bincount(senders, weights=weights, minlength=n),
        }
    )
