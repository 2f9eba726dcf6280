"""Cases: the sensor that turns new analysts' decisions into ``analyst_labels`` runs."""

from datetime import datetime

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from fraud_platform.defs.cases.assets import analyst_labels
from fraud_platform.defs.cases.resources import days_decided_since
from fraud_platform.storage.warehouse import PostgresWarehouse

analyst_labels_job = define_asset_job(
    "analyst_labels_job",
    selection=AssetSelection.assets(analyst_labels),
    description="Turn a day's analysts' decisions into labels for the risk model.",
)


@sensor(
    name="analyst_decisions_sensor",
    job=analyst_labels_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Materializes analyst_labels for every day analysts decided on since the last tick, so "
        "the next risk_model learns from their decisions."
    ),
)
def analyst_decisions_sensor(
    context: SensorEvaluationContext, warehouse: PostgresWarehouse
) -> SensorResult | SkipReason:
    """One run per day with new decisions; the cursor is the newest decision time seen.

    The run key holds that time, so a day decided on again later runs again, and a tick that
    is retried asks for nothing twice.
    """
    after = datetime.fromisoformat(context.cursor) if context.cursor else None
    with warehouse.connect() as connection:
        days, newest = days_decided_since(connection, warehouse.schema_name, after)
    if not days or newest is None:
        return SkipReason("no new decisions")
    stamp = newest.isoformat()
    return SensorResult(
        run_requests=[RunRequest(partition_key=day, run_key=f"{day}@{stamp}") for day in days],
        cursor=stamp,
    )
