"""The one calendar every daily asset shares, and how a range of its days is run."""

from dagster import BackfillPolicy, DailyPartitionsDefinition

FIRST_DAY = "2024-10-01"

daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")

#: A range of days (a backfill, or `dagster asset materialize --partition-range A...B`) runs as
#: one run: the days share one process start-up, each asset computes every day of the range
#: separately, and the IO managers write one object and one set of rows per day. Dagster's CLI
#: accepts a partition range only for assets with this policy.
daily_backfill_policy = BackfillPolicy.single_run()
