"""Where the day's transaction files land."""

from collections.abc import Callable

import pyarrow as pa
from dagster import ConfigurableResource
from pydantic import Field

from fraud_platform.defs.fields import share_field
from fraud_platform.defs.ingest.logic import IngestResult, IngestSummary, ingest_day, stream_day
from fraud_platform.settings import DEFAULT_MAX_FILE_BYTES


class LandingZone(ConfigurableResource):
    """The landing zone: ``{url}/date=YYYY-MM-DD/*.csv|*.csv.gz|*.parquet``.

    A local folder or an fsspec URL (``s3://bucket/prefix/landing/transactions``).
    """

    url: str = Field(description="Root of the landing zone, without the date= folder.")
    rejected_warn_share: float = share_field(0.01, "Rejected share above which the check warns.")
    rejected_error_share: float = share_field(
        0.20, "Rejected share above which the check fails and blocks the day's graph."
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        gt=0,
        description=(
            "Input budget of one landing CSV file: its stored size (a gzip file counts "
            "compressed). A file above it fails the day before anything is read, naming the file "
            "and its size; a CSV file is parsed whole in memory, while the day is streamed file "
            "by file and a Parquet file row group by row group."
        ),
    )

    def ingest(self, partition_date: str) -> IngestResult:
        """The day's valid rows in memory (for callers that want the day whole)."""
        return ingest_day(self.url, partition_date, max_file_bytes=self.max_file_bytes)

    def stream(self, partition_date: str, write: Callable[[pa.Table], None]) -> IngestSummary:
        """The day's valid rows handed to ``write`` file by file (`stream_day`)."""
        return stream_day(self.url, partition_date, write, max_file_bytes=self.max_file_bytes)
