"""The code location: every asset, job and resource, assembled in one Definitions object."""

from __future__ import annotations

from dagster import Definitions, define_asset_job, in_process_executor

from fraud_platform.defs.analytics.assets import account_scores
from fraud_platform.defs.datasets.assets import fraud_dataset
from fraud_platform.defs.graph.assets import transaction_graph
from fraud_platform.defs.ingest.assets import raw_transactions
from fraud_platform.deployment import deployment_resources

daily_assets = [raw_transactions, transaction_graph, account_scores, fraud_dataset]

daily_fraud_job = define_asset_job(
    "daily_fraud_job",
    selection=daily_assets,
    description="Ingest, graph, score and publish one day of transfers.",
)

defs = Definitions(
    assets=daily_assets,
    jobs=[daily_fraud_job],
    resources=deployment_resources(),
    # A day's steps form a chain, so running them in the run's own process saves the start-up of
    # one Python process per step (seconds each) and the hand-off costs nothing.
    executor=in_process_executor,
)
