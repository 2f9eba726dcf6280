"""A day's analytics: centrality and clusters from a graph engine, then the risk score.

The graph is built once per day and every algorithm reuses it; days in a range are computed
independently (each day is its own network).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from fraud_platform.defs.analytics.engines import GraphEngine
from fraud_platform.defs.analytics.scoring import score_accounts
from fraud_platform.tables import PARTITION_COLUMN, TransactionGraph

DAMPING = 0.85
LOUVAIN_RESOLUTION = 1.0


@dataclass(frozen=True)
class DayAnalytics:
    """What the algorithms reported for one day, beside the per-account scores."""

    partition_date: str
    accounts: int
    clusters: int
    modularity: float
    pagerank_iterations: int


def score_day(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    engine: GraphEngine,
    *,
    damping: float = DAMPING,
    resolution: float = LOUVAIN_RESOLUTION,
    seed: int = 42,
) -> tuple[pd.DataFrame, DayAnalytics]:
    """PageRank (directed, amount-weighted) and Louvain (undirected) for one day, then risk."""
    day = str(nodes[PARTITION_COLUMN].iloc[0])
    graph = engine.build(edges)
    pagerank = graph.pagerank(alpha=damping)
    communities = graph.louvain(resolution=resolution, seed=seed)
    scores = score_accounts(nodes, pagerank.scores, communities.clusters)
    return scores, DayAnalytics(
        partition_date=day,
        accounts=len(scores),
        clusters=communities.count,
        modularity=communities.modularity,
        pagerank_iterations=pagerank.iterations,
    )


def score_graph(
    graph: TransactionGraph,
    engine: GraphEngine,
    *,
    damping: float = DAMPING,
    resolution: float = LOUVAIN_RESOLUTION,
    seed: int = 42,
) -> tuple[pd.DataFrame, list[DayAnalytics]]:
    """Scores for every day in ``graph`` (one day, or a range), and what each day reported."""
    parts: list[pd.DataFrame] = []
    reports: list[DayAnalytics] = []
    edges_by_day = dict(tuple(graph.edges.groupby(PARTITION_COLUMN, sort=True)))
    for day, nodes in graph.nodes.groupby(PARTITION_COLUMN, sort=True):
        scores, report = score_day(
            nodes, edges_by_day[day], engine, damping=damping, resolution=resolution, seed=seed
        )
        parts.append(scores)
        reports.append(report)
    if not parts:
        return empty_scores(graph.nodes), reports
    return pd.concat(parts, ignore_index=True), reports


def empty_scores(nodes: pd.DataFrame) -> pd.DataFrame:
    """The score table of a day without transfers: the right columns, no rows."""
    return score_accounts(
        nodes,
        pd.DataFrame({"account": pd.Series(dtype="str"), "pagerank": pd.Series(dtype="float64")}),
        pd.DataFrame({"account": pd.Series(dtype="str"), "cluster": pd.Series(dtype="int64")}),
    )
