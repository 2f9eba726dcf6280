"""The contract every graph engine meets, so a CPU and a GPU engine can be swapped per run.

Inputs and outputs are plain pandas DataFrames keyed by the original account ids: each engine
factorizes the ids into its own dense integer space internally and translates back, so callers
never see engine-specific vertex numbers (cuGraph renumbers vertices its own way, for instance).
A day's graph is built once with `GraphEngine.build` and every algorithm reuses it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

#: Columns an engine reads from the day's edge table (one row per ordered sender/receiver pair).
ENGINE_EDGE_COLUMNS = ("sender", "receiver", "amount_total", "tx_count")


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

    @abstractmethod
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

    @abstractmethod
    def louvain(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        """Louvain communities of the symmetrized graph (a→b and b→a weights added)."""

    @abstractmethod
    def leiden(self, *, resolution: float = 1.0, seed: int = 42) -> CommunityResult:
        """Leiden communities of the symmetrized graph, optimizing modularity (not CPM)."""

    @abstractmethod
    def weakly_connected_components(self) -> pd.DataFrame:
        """account, component: 0 is the largest component, ties by smallest account id."""


class GraphEngine(ABC):
    """A graph library family (CPU or GPU) that turns an edge table into an `EngineGraph`."""

    name: ClassVar[str]

    @abstractmethod
    def build(self, edges: pd.DataFrame) -> EngineGraph:
        """Build the day's graph from ``sender, receiver, amount_total, tx_count`` rows.

        Self loops and repeated pairs are tolerated (repeated pairs add up).
        """
