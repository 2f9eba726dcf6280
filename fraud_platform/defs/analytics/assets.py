"""Analytics: every account's centrality, cluster and risk score for the day."""

import time

import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue, asset
from pydantic import Field

from fraud_platform.defs.analytics.logic import DAMPING, LOUVAIN_RESOLUTION, score_graph
from fraud_platform.defs.analytics.resources import GraphEngineResource
from fraud_platform.partitions import (
    daily_backfill_policy,
    daily_partitions,
    storage_retry_policy,
)
from fraud_platform.tables import TransactionGraph


class AccountScoresConfig(Config):
    damping: float = Field(default=DAMPING, gt=0.0, lt=1.0, description="PageRank damping.")
    resolution: float = Field(default=LOUVAIN_RESOLUTION, gt=0.0, description="Louvain resolution.")
    seed: int = Field(default=42, description="Seed of the community detection.")


@asset(
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    retry_policy=storage_retry_policy,
    group_name="analytics",
)
def account_scores(
    context: AssetExecutionContext,
    config: AccountScoresConfig,
    graph_engine: GraphEngineResource,
    transaction_graph: TransactionGraph,
) -> pd.DataFrame:
    """PageRank centrality (directed, by amount), Louvain cluster and risk_score per account."""
    engine, reason = graph_engine.select()
    context.log.info(f"Graph engine: {engine.name} ({reason})")
    started = time.perf_counter()
    scores, reports = score_graph(
        transaction_graph,
        engine,
        damping=config.damping,
        resolution=config.resolution,
        seed=config.seed,
    )
    metadata: dict[str, object] = {
        "engine": engine.name,
        "engine_reason": reason,
        "accounts": len(scores),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if len(reports) == 1:
        (report,) = reports
        metadata |= {
            "clusters": report.clusters,
            "modularity": report.modularity,
            "pagerank_iterations": report.pagerank_iterations,
        }
    elif reports:
        metadata["days"] = MetadataValue.md(
            pd.DataFrame([r.__dict__ for r in reports]).to_markdown(index=False)
        )
    context.add_output_metadata(metadata)
    return scores
