"""The code location: every asset, check, job, schedule, sensor and resource, in one Definitions."""

from dagster import Definitions, in_process_executor

from fraud_platform.defs.alerts import alert_sensors
from fraud_platform.defs.cases.assets import analyst_labels
from fraud_platform.defs.cases.sensors import analyst_decisions_sensor, analyst_labels_job
from fraud_platform.defs.model.assets import risk_model
from fraud_platform.defs.trends.assets import weekly_fraud_trends
from fraud_platform.deployment import deployment_resources
from fraud_platform.schedules import (
    daily_assets,
    daily_fraud_job,
    daily_schedule,
    risk_model_job,
    weekly_trends_job,
    weekly_trends_schedule,
)
from fraud_platform.settings import Settings

settings = Settings.from_env()

defs = Definitions(
    assets=[*daily_assets, weekly_fraud_trends, analyst_labels, risk_model],
    jobs=[daily_fraud_job, weekly_trends_job, risk_model_job, analyst_labels_job],
    schedules=[daily_schedule(settings), weekly_trends_schedule],
    sensors=[*alert_sensors, analyst_decisions_sensor],
    resources=deployment_resources(settings),
    # A day's steps form a chain, so running them in the run's own process saves the start-up of
    # one Python process per step (seconds each) and the hand-off costs nothing.
    executor=in_process_executor,
)

__all__ = ["daily_assets", "defs"]
