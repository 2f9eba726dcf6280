"""Trends: a weekly asset over the seven daily datasets of its week."""

import warnings

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BetaWarning,
    MetadataValue,
    TimeWindowPartitionMapping,
    WeeklyPartitionsDefinition,
    asset,
)

from fraud_platform.defs.datasets.resources import DatasetPublishing
from fraud_platform.defs.trends.logic import markdown_summary, weekly_trends
from fraud_platform.partitions import FIRST_DAY, storage_retry_policy
from fraud_platform.tables import FraudDataset

#: Weeks start on Monday (day_offset=1), UTC; the first week is the one holding FIRST_DAY.
weekly_partitions = WeeklyPartitionsDefinition(
    start_date="2024-09-30", day_offset=1, timezone="UTC"
)

with warnings.catch_warnings():
    # A beta parameter used on purpose; its notice would print on every load of the code.
    warnings.simplefilter("ignore", BetaWarning)
    #: The first week starts before FIRST_DAY: its missing days are simply not there.
    week_of_days = TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


@asset(
    partitions_def=weekly_partitions,
    group_name="trends",
    retry_policy=storage_retry_policy,
    ins={"fraud_dataset": AssetIn(partition_mapping=week_of_days)},
)
def weekly_fraud_trends(
    context: AssetExecutionContext, publishing: DatasetPublishing, fraud_dataset: FraudDataset
) -> pd.DataFrame:
    """High-risk accounts per day, accounts high risk on several days, persisting clusters."""
    window = context.partition_time_window
    days = [
        d.strftime("%Y-%m-%d") for d in pd.date_range(window.start, window.end, inclusive="left")
    ]
    days = [d for d in days if d >= FIRST_DAY]
    trends = weekly_trends(fraud_dataset, days, publishing.high_risk_threshold)
    context.add_output_metadata(
        {
            "summary": MetadataValue.md(
                markdown_summary(trends, context.partition_key, publishing.high_risk_threshold)
            ),
            "high_risk_account_days": int(trends.per_day["high_risk"].sum()),
            "repeat_accounts": len(trends.repeat_accounts),
            "persistent_clusters": len(trends.persistent_clusters),
            # The week's page in the viewer: per day, decisions, repeat accounts, clusters.
            "url": MetadataValue.url(
                f"{publishing.viewer_base_url.rstrip('/')}/weeks/{context.partition_key}"
            ),
        }
    )
    return trends.per_day.assign(week=context.partition_key)
