"""Where the day's transaction files land."""

from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.ingest.logic import IngestResult, ingest_day


class LandingZone(ConfigurableResource):
    """The landing zone: ``{url}/date=YYYY-MM-DD/*.csv|*.csv.gz|*.parquet``.

    A local folder or an fsspec URL (``s3://bucket/prefix/landing/transactions``).
    """

    url: str = Field(description="Root of the landing zone, without the date= folder.")

    def ingest(self, partition_date: str) -> IngestResult:
        return ingest_day(self.url, partition_date)
