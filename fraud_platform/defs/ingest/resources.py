"""Where the day's transaction files land."""

from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.ingest.logic import IngestResult, ingest_day
from fraud_platform.settings import DEFAULT_MAX_DAY_BYTES


class LandingZone(ConfigurableResource):
    """The landing zone: ``{url}/date=YYYY-MM-DD/*.csv|*.csv.gz|*.parquet``.

    A local folder or an fsspec URL (``s3://bucket/prefix/landing/transactions``).
    """

    url: str = Field(description="Root of the landing zone, without the date= folder.")
    rejected_warn_share: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Rejected share above which the check warns."
    )
    rejected_error_share: float = Field(
        default=0.20,
        ge=0.0,
        le=1.0,
        description="Rejected share above which the check fails and blocks the day's graph.",
    )
    max_day_bytes: int = Field(
        default=DEFAULT_MAX_DAY_BYTES,
        gt=0,
        description=(
            "Input budget of one day: the sum of its landing files' stored sizes. A day above it "
            "fails before anything is read (a day is read whole into memory), naming the sizes."
        ),
    )

    def ingest(self, partition_date: str) -> IngestResult:
        return ingest_day(self.url, partition_date, max_day_bytes=self.max_day_bytes)
