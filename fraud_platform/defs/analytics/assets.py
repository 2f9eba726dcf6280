"""Analytics: every account's centrality, cluster and risk score for the day."""

import time
from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, Config, MetadataValue, Output, asset
from pydantic import Field

from fraud_platform.defs.analytics.checks import (
    account_scores_check,
    account_scores_check_spec,
    alert_budget_check,
    alert_budget_check_spec,
)
from fraud_platform.defs.analytics.logic import DAMPING, LOUVAIN_RESOLUTION, score_graph
from fraud_platform.defs.analytics.resources import GraphEngineResource, Watchlist
from fraud_platform.defs.check_results import log_failed_check
from fraud_platform.defs.datasets.logic import dataset_id_for, dataset_url
from fraud_platform.defs.datasets.resources import DatasetPublishing
from fraud_platform.defs.model.resources import RiskModelStore
from fraud_platform.partitions import daily_step
from fraud_platform.reporting import top_accounts_markdown
from fraud_platform.settings import redact_url
from fraud_platform.tables import AccountFeatures, TransactionGraph


class AccountScoresConfig(Config):
    damping: float = Field(default=DAMPING, gt=0.0, lt=1.0, description="PageRank damping.")
    resolution: float = Field(default=LOUVAIN_RESOLUTION, gt=0.0, description="Louvain resolution.")
    seed: int = Field(default=42, description="Seed of the community detection.")


@asset(
    **daily_step("analytics"),
    check_specs=[account_scores_check_spec, alert_budget_check_spec],
)
def account_scores(
    context: AssetExecutionContext,
    config: AccountScoresConfig,
    graph_engine: GraphEngineResource,
    publishing: DatasetPublishing,
    watchlist: Watchlist,
    risk_models: RiskModelStore,
    transaction_graph: TransactionGraph,
    account_features: AccountFeatures,
    account_history: pd.DataFrame,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    """PageRank centrality (directed, by amount), Louvain cluster, risk score and its reasons.

    ``risk_score`` is the newest risk model's (the packaged one before any was trained here),
    else the rules score; ``rules_score`` always holds the rules'. The watchlist, when its file
    exists, is read on every run: a listing added today applies to the days computed from now
    on (and to re-runs of earlier days within its ``since``). The checks run on the scores once
    they are stored: consistency, and the alert budget.
    """
    engine, reason = graph_engine.select()
    context.log.info(f"Graph engine: {engine.name} ({reason})")
    model, model_source = risk_models.latest()
    context.log.info(f"Risk score: {model_source}")
    url = watchlist.url
    listed = watchlist.read()
    if listed is None:
        context.log.info(f"No watchlist at {redact_url(url)}: association scores are 0")
    started = time.perf_counter()
    threshold = publishing.high_risk_threshold
    scores, reports = score_graph(
        transaction_graph,
        engine,
        damping=config.damping,
        resolution=config.resolution,
        seed=config.seed,
        watchlist=listed,
        threshold=threshold,
        features=account_features.accounts,
        history=account_history,
        model=model,
    )
    metadata: dict[str, object] = {
        "engine": engine.name,
        "risk_model": model_source,
        "engine_reason": reason,
        "accounts": len(scores),
        "high_risk_threshold": threshold,
        "high_risk": sum(r.high_risk for r in reports),
        "watchlist": redact_url(url) if listed is not None else f"none (no {redact_url(url)})",
        "watchlist_size": 0 if listed is None else int(listed["account"].nunique()),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if len(reports) == 1:
        (report,) = reports
        url = dataset_url(publishing.viewer_base_url, dataset_id_for(report.partition_date))
        metadata |= {
            "view": MetadataValue.url(url),
            "top_accounts": MetadataValue.md(top_accounts_markdown(scores)),
            "clusters": report.clusters,
            "modularity": report.modularity,
            "pagerank_iterations": report.pagerank_iterations,
            "watchlisted_active": report.watchlisted,
        }
    elif reports:
        metadata["days"] = MetadataValue.md(
            pd.DataFrame([r.__dict__ for r in reports]).to_markdown(index=False)
        )
    yield Output(scores, metadata=metadata)
    days = context.partition_keys
    for check in (
        account_scores_check(scores, days),
        alert_budget_check(scores, threshold, publishing.alert_budget_share, days),
    ):
        log_failed_check(context.log, check)
        yield check
