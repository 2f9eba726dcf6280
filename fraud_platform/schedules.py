"""Jobs and schedules: the nightly day and the weekly trends."""

from typing import Protocol

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from fraud_platform.defs.analytics.assets import account_scores
from fraud_platform.defs.datasets.assets import (
    fraud_dataset,
    high_risk_history,
    high_risk_transfers,
)
from fraud_platform.defs.features.assets import account_features, account_history
from fraud_platform.defs.graph.assets import transaction_graph
from fraud_platform.defs.ingest.assets import raw_transactions
from fraud_platform.defs.model.assets import risk_model
from fraud_platform.defs.trends.assets import weekly_fraud_trends
from fraud_platform.settings import Settings

daily_assets = [
    raw_transactions,
    transaction_graph,
    account_features,
    account_history,
    account_scores,
    fraud_dataset,
    high_risk_transfers,
    high_risk_history,
]

daily_fraud_job = define_asset_job(
    "daily_fraud_job",
    selection=AssetSelection.assets(*daily_assets),
    description="Ingest, graph, score and publish one day of transfers (with their checks).",
)

#: Retraining is launched on purpose (from the UI or `dagster job execute`), never by a day's run:
#: a model changes every later day's scores, so it is a decision, not a side effect.
risk_model_job = define_asset_job(
    "risk_model_job",
    selection=AssetSelection.assets(risk_model),
    description="Train a new risk model version on labelled days.",
)

weekly_trends_job = define_asset_job(
    "weekly_trends_job",
    selection=AssetSelection.assets(weekly_fraud_trends),
    description="Read a week of daily datasets together.",
)


class PartitionedSchedule(Protocol):
    """What `build_schedule_from_partitioned_job` returns for an asset job: the attributes read
    of it here and in the tests.

    Dagster's class for it is not public: the cadence comes from the job's partitions, known only
    once `Definitions` resolves the job's assets, which it does when it receives the schedule.
    """

    name: str
    hour_of_day: int | None
    minute_of_hour: int | None
    default_status: DefaultScheduleStatus


def daily_schedule(settings: Settings) -> PartitionedSchedule:
    """The previous day, every night at ``FRAUD_DAILY_SCHEDULE_TIME`` (02:00 UTC by default).

    The partitions are UTC days, so the schedule runs on UTC too; at 02:00 the last complete
    day is yesterday, which is the partition the schedule requests.
    """
    return build_schedule_from_partitioned_job(
        daily_fraud_job,
        name="daily_fraud_schedule",
        hour_of_day=settings.daily_schedule_hour,
        minute_of_hour=settings.daily_schedule_minute,
        # On as soon as a daemon serves the code location: nobody has to switch it on.
        default_status=DefaultScheduleStatus.RUNNING,
    )


#: Each Monday at 06:00 UTC, the week that ended on Sunday.
weekly_trends_schedule = build_schedule_from_partitioned_job(
    weekly_trends_job,
    name="weekly_trends_schedule",
    hour_of_day=6,
    default_status=DefaultScheduleStatus.RUNNING,
)
