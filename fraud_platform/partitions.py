"""The one calendar every daily asset shares, how a range of its days is run, how steps retry."""

import warnings
from datetime import timedelta
from typing import Any

from dagster import (
    BackfillPolicy,
    Backoff,
    BetaWarning,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    Jitter,
    RetryPolicy,
)

from fraud_platform.tables import PARTITION_COLUMN

# Every daily asset sets its backfill policy on purpose (below); Dagster's notice that the
# parameter is in beta would otherwise print once per asset on every load of the code location.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)

FIRST_DAY = "2024-10-01"

daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")

#: A backfill runs ONE RUN PER DAY. Days are independent (each is its own network), so a bad day
#: fails alone, as its own failed run naming the failing step and error, while every other day of
#: the range succeeds and is published. The price is one process start-up per day (about 4-8 s
#: with the in-process executor, against the seconds to minutes a day's work takes); the queue in
#: dagster.yaml runs two days at a time. A run of several days would share one start-up, but one
#: bad day would fail all of them and each step would hold the whole range in memory (10.8 GB
#: for 30 one-million-transfer days in one run). Ranges are launched from the UI or with
#: `dagster job backfill -j daily_fraud_job --from A --to B` (both need the daemon); Dagster's
#: `asset materialize --partition-range` only takes single-run assets and so refuses these.
daily_backfill_policy = BackfillPolicy.multi_run(max_partitions_per_run=1)

#: Every daily step reads or writes the object store and most write PostgreSQL: a dropped
#: connection or a throttled request is retried after 2 s, 4 s, 8 s (with jitter) before the
#: step fails for good. Bad data is not retried: it is rejected row by row, not raised.
storage_retry_policy = RetryPolicy(
    max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

#: A day's data is expected analysed and published by 06:00 UTC the next morning: each daily
#: asset must have been materialized in the 24 hours before every 06:00 deadline.
daily_freshness_policy = FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24), timezone="UTC"
)


def warehouse_table() -> dict[str, Any]:
    """An asset (or output) stored as a warehouse table, one day's rows replaced at a time."""
    return {
        "io_manager_key": "warehouse_io_manager",
        "metadata": {"partition_expr": PARTITION_COLUMN},
    }


def daily_step(group_name: str, *, fresh: bool = True, warehouse: bool = False) -> dict[str, Any]:
    """What every step of the day declares: the daily partitions, one run per day, the storage
    retries, its group and (``fresh``) the 06:00 freshness deadline; ``warehouse`` adds
    `warehouse_table`. Spread into ``@asset``/``@multi_asset``, beside what is the asset's own.
    """
    return {
        "partitions_def": daily_partitions,
        "backfill_policy": daily_backfill_policy,
        "retry_policy": storage_retry_policy,
        "group_name": group_name,
        **({"freshness_policy": daily_freshness_policy} if fresh else {}),
        **(warehouse_table() if warehouse else {}),
    }
