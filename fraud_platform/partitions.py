"""The one calendar every daily asset shares."""

from dagster import DailyPartitionsDefinition

FIRST_DAY = "2024-10-01"

daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
