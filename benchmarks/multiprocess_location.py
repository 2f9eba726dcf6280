"""The daily job under Dagster's multiprocess executor, for `daily_pipeline.py --compare-executors`.

The code location (`fraud_platform.definitions`) runs a day's steps in the run's own process;
this location is the same assets, job and resources with one process per step, the executor
Dagster uses when none is set, so the two can be timed on the same day.
"""

from dagster import Definitions, multiprocess_executor

from fraud_platform.deployment import deployment_resources
from fraud_platform.schedules import daily_assets, daily_fraud_job

defs = Definitions(
    assets=daily_assets,
    jobs=[daily_fraud_job],
    resources=deployment_resources(),
    executor=multiprocess_executor.configured({"max_concurrent": 2}),
)
