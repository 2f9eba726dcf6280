"""The one calendar every daily asset shares, how a range of its days is run, how steps retry."""

from datetime import timedelta

from dagster import (
    BackfillPolicy,
    Backoff,
    DailyPartitionsDefinition,
    FreshnessPolicy,
    Jitter,
    RetryPolicy,
)

FIRST_DAY = "2024-10-01"

daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")

#: A range of days (a backfill, or `dagster asset materialize --partition-range A...B`) runs as
#: one run: the days share one process start-up, each asset computes every day of the range
#: separately, and the IO managers write one object and one set of rows per day. Dagster's CLI
#: accepts a partition range only for assets with this policy.
daily_backfill_policy = BackfillPolicy.single_run()

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
