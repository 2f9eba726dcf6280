"""Which of a day's accounts a picture of it shows: the viewer's page and the previews.

A browser draws some tens of thousands of WebGL points fluidly, not a million, and what an
analyst opens a picture for is the high-risk accounts and whom they deal with. So a large day is
cut down to every high-risk account, then their counterparties (those moving the most money with
them first), then a seeded random sample of everyone else, up to `VIEW_CAP` points; the counts
say how many of each were left out so the page can state it. It lives outside ``viewer/`` so
that the Dagster definitions, which never import the viewer, can draw a day's picture with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraud_platform.defs.analytics.engines import CpuEngine
from fraud_platform.defs.analytics.engines.base import structure_edges

#: Most accounts the page draws.
VIEW_CAP = 20_000

ROLE_HIGH_RISK = 0  # risk_score >= the threshold
ROLE_NEIGHBOUR = 1  # a counterparty of a high-risk account
ROLE_OTHER = 2


@dataclass(frozen=True)
class ViewSelection:
    """The accounts and pairs the page draws, and how many of each kind the day has and shows."""

    #: Shown accounts: the node columns plus ``role`` and ``degree`` (counterparties that day).
    nodes: pd.DataFrame
    #: Pairs between shown accounts: ``source``, ``target`` (row numbers in ``nodes``),
    #: ``amount_total``, ``tx_count``.
    edges: pd.DataFrame
    counts: dict[str, int]


@dataclass(frozen=True)
class DayPairs:
    """A day's pairs on the row numbers of its node table (pairs naming an unlisted account are
    left out)."""

    senders: np.ndarray
    receivers: np.ndarray
    amounts: np.ndarray
    counts: np.ndarray


def day_pairs(nodes: pd.DataFrame, edges: pd.DataFrame) -> DayPairs:
    """The pairs as row numbers of ``nodes``, from one factorization of all the ids.

    Accounts come first and are unique, so they keep their row numbers as codes; a code past
    them is an account the node table does not list. On the 1M-transfer day this takes 0.6 s,
    where ``Index.get_indexer`` took 0.6 s for each of the two columns.
    """
    n, m = len(nodes), len(edges)
    both = pd.concat([nodes["account"], edges["sender"], edges["receiver"]], ignore_index=True)
    codes = pd.factorize(both)[0].astype(np.int64, copy=False)
    if not np.array_equal(codes[:n], np.arange(n)):
        raise ValueError("the node table lists an account more than once")
    senders, receivers = codes[n : n + m], codes[n + m :]
    known = (senders < n) & (receivers < n)
    tx_count = edges["tx_count"] if "tx_count" in edges.columns else pd.Series(1, index=edges.index)
    return DayPairs(
        senders=senders[known],
        receivers=receivers[known],
        amounts=edges["amount_total"].to_numpy(dtype=np.float64)[known],
        counts=tx_count.to_numpy(dtype=np.int64)[known],
    )


def complete_nodes(
    nodes: pd.DataFrame, edges: pd.DataFrame, *, pairs: DayPairs | None = None, seed: int = 42
) -> tuple[pd.DataFrame, bool]:
    """``nodes`` with money in and out and layout positions filled in where they are missing.

    Datasets written before those columns existed have NaN there: the amounts are the sums of
    the day's pairs, the positions the CPU engine's layout of the day. Returns the frame and
    whether a layout had to be computed.
    """
    nodes = nodes.reset_index(drop=True).copy()
    pairs = pairs or day_pairs(nodes, edges)
    n = len(nodes)
    for column, ends in (("in_amount", pairs.receivers), ("out_amount", pairs.senders)):
        values = nodes[column].to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        if missing.any():
            totals = np.bincount(ends, weights=pairs.amounts, minlength=n)
            nodes[column] = np.where(missing, totals, values)
    positions = nodes[["x", "y"]].to_numpy(dtype=np.float64)
    if n == 0 or np.isfinite(positions).all():
        return nodes, False
    layout = CpuEngine().build(edges[["sender", "receiver", "amount_total"]]).layout(seed=seed)
    placed = layout.set_index("account").reindex(nodes["account"])
    nodes["x"] = placed["x"].fillna(0.0).to_numpy()
    nodes["y"] = placed["y"].fillna(0.0).to_numpy()
    return nodes, True


def _neighbour_strength(
    senders: np.ndarray, receivers: np.ndarray, amounts: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Money each account moved with high-risk accounts (0 for accounts that moved none)."""
    n = high.size
    to_high = high[receivers] & ~high[senders]
    from_high = high[senders] & ~high[receivers]
    return np.bincount(senders[to_high], weights=amounts[to_high], minlength=n) + np.bincount(
        receivers[from_high], weights=amounts[from_high], minlength=n
    )


def select_view(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    threshold: float,
    cap: int = VIEW_CAP,
    seed: int = 0,
    pairs: DayPairs | None = None,
) -> ViewSelection:
    """At most ``cap`` accounts: high-risk ones (riskiest first), then their counterparties
    (most money with them first), then a random sample (``seed``) of the rest; and the pairs
    among them. Every account of a day that fits keeps its role for the page's filter."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, not {cap}")
    nodes = nodes.reset_index(drop=True)
    n = len(nodes)
    pairs = pairs or day_pairs(nodes, edges)
    senders, receivers, amounts = pairs.senders, pairs.receivers, pairs.amounts
    risk = nodes["risk_score"].to_numpy(dtype=np.float64)
    high = risk >= threshold
    strength = _neighbour_strength(senders, receivers, amounts, high)
    touches_high = np.zeros(n, dtype=bool)
    touches_high[senders[high[receivers]]] = True
    touches_high[receivers[high[senders]]] = True
    neighbour = touches_high & ~high
    role = np.where(high, ROLE_HIGH_RISK, np.where(neighbour, ROLE_NEIGHBOUR, ROLE_OTHER))

    order = np.arange(n)
    riskiest = order[high][np.lexsort((order[high], -risk[high]))]
    strongest = order[neighbour][np.lexsort((order[neighbour], -strength[neighbour]))]
    chosen = np.concatenate([riskiest, strongest])[:cap]
    rest = order[role == ROLE_OTHER]
    room = cap - chosen.size
    if room > 0:
        if rest.size > room:
            rest = np.sort(np.random.default_rng(seed).choice(rest, size=room, replace=False))
        chosen = np.concatenate([chosen, rest])
    shown = np.zeros(n, dtype=bool)
    shown[chosen] = True

    row, col = structure_edges(senders, receivers, n)
    degree = np.bincount(row, minlength=n) + np.bincount(col, minlength=n)
    position = np.full(n, -1, dtype=np.int64)
    kept = np.flatnonzero(shown)  # shown accounts in the day's order
    position[kept] = np.arange(kept.size)
    between = shown[senders] & shown[receivers]
    view_nodes = nodes.iloc[kept].reset_index(drop=True)
    view_nodes["role"] = role[kept]
    view_nodes["degree"] = degree[kept]
    view_edges = pd.DataFrame(
        {
            "source": position[senders[between]],
            "target": position[receivers[between]],
            "amount_total": amounts[between],
            "tx_count": pairs.counts[between],
        }
    )
    counts = {"accounts": n, "shown": int(kept.size), "edges": len(edges)}
    counts["edges_shown"] = len(view_edges)
    for name, value in (
        ("high_risk", ROLE_HIGH_RISK),
        ("neighbours", ROLE_NEIGHBOUR),
        ("others", ROLE_OTHER),
    ):
        counts[name] = int((role == value).sum())
        counts[f"{name}_shown"] = int((role[kept] == value).sum())
    return ViewSelection(nodes=view_nodes, edges=view_edges, counts=counts)
