"""Ingest's entry point: read and validate a day's landing files, every row kept or rejected.

The assets, resources and other areas import from here; the work lives in one module per job:

- `landing`: which files a day has (``date=YYYY-MM-DD/``, name order) and the input budget.
- `reader`: one landing file into columns, whatever its format, through `csv_reader` (CSV
  bytes, with physical line numbers and bad lines kept), `gzip_reader` (a ``.csv.gz`` parsed
  while it is inflated) and `parquet_reader` (a Parquet file in pieces of row groups).
- `rules`: the validation rules (the README's list), with their parsers `timestamps`
  (ISO-8601) and `amounts` (decimals), and `arrow_text` (byte-level checks of text columns).
- `duplicates`: ids seen earlier in the day, found by hashing.
- `stream`: the day streamed file by file (`stream_day`), or collected (`ingest_day`).
- `records`: the shapes they share: reports, rejected rows, ``raw_transactions`` tables.
"""

from __future__ import annotations

from fraud_platform.defs.ingest.landing import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    FileTooLargeError,
    day_folder,
    file_budget_error,
    landing_file_sizes,
    list_landing_files,
)
from fraud_platform.defs.ingest.reader import read_landing_file, read_landing_pieces
from fraud_platform.defs.ingest.records import (
    LANDING_COLUMNS,
    RAW_MAX_CHARS,
    VALID_BATCH_SCHEMA,
    FileReport,
    IngestResult,
    IngestSummary,
    LandingFile,
    empty_rejected,
    empty_transactions,
    raw_transaction_schema,
    transactions_frame,
)
from fraud_platform.defs.ingest.rules import (
    MAX_AMOUNT,
    MAX_TEXT_CHARS,
    validate_batch,
    validate_transactions,
)
from fraud_platform.defs.ingest.stream import ingest_day, stream_day

__all__ = [
    "CSV_SUFFIXES",
    "LANDING_COLUMNS",
    "MAX_AMOUNT",
    "MAX_TEXT_CHARS",
    "PARQUET_SUFFIXES",
    "RAW_MAX_CHARS",
    "VALID_BATCH_SCHEMA",
    "FileReport",
    "FileTooLargeError",
    "IngestResult",
    "IngestSummary",
    "LandingFile",
    "day_folder",
    "empty_rejected",
    "empty_transactions",
    "file_budget_error",
    "ingest_day",
    "landing_file_sizes",
    "list_landing_files",
    "raw_transaction_schema",
    "read_landing_file",
    "read_landing_pieces",
    "stream_day",
    "transactions_frame",
    "validate_batch",
    "validate_transactions",
]
