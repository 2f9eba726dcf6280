"""The one calendar every daily asset shares, how a range of its days is run, how steps retry."""

from dagster import BackfillPolicy, Backoff, DailyPartitionsDefinition, Jitter, RetryPolicy

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
