"""One landing file read into columns, whatever its format: CSV, gzip CSV or Parquet.

The entry point for reading (`read_landing_file`, `read_landing_pieces`); the formats live in
`csv_reader`, `gzip_reader` and `parquet_reader`. A file that cannot be read at all becomes one
rejected record naming it, never an exception, but for faults of the store (they fail the step
so that its retries apply).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

from upath import UPath

from fraud_platform.defs.ingest.csv_reader import read_csv_bytes
from fraud_platform.defs.ingest.gzip_reader import read_gzip_csv
from fraud_platform.defs.ingest.landing import CSV_SUFFIXES, PARQUET_SUFFIXES
from fraud_platform.defs.ingest.parquet_reader import parquet_pieces, read_parquet_file
from fraud_platform.defs.ingest.records import (
    LandingFile,
    contract_name,
    no_rows,
    rejected_frame,
    unreadable,
    with_lines,
)
from fraud_platform.storage.object_store import object_store_errors


def read_landing_pieces(path: UPath, partition_date: str) -> Iterator[LandingFile]:
    """A landing file as it is validated: a CSV file whole (`read_landing_file`), a Parquet file
    in pieces of whole row groups (`parquet_pieces`)."""
    if path.name.endswith(PARQUET_SUFFIXES):
        yield from parquet_pieces(path, partition_date)
    else:
        yield read_landing_file(path, partition_date)


def read_landing_file(path: UPath, partition_date: str) -> LandingFile:
    """Read one landing file whole into columns; a file that cannot be read at all is reported.

    A CSV file's bytes are fetched first: a fault of the store (refused credentials, unreachable
    S3, a file gone since the listing) fails the step, so its retries apply; anything wrong with
    the bytes themselves is bad data, recorded against the file. A Parquet file is its pieces
    (`parquet_pieces`) put together, so it reads the same whole or streamed.
    """
    name = path.name
    # Named relative to the landing zone, so the record reads the same in every deployment.
    source = f"date={partition_date}/{name}"
    if not name.endswith((*PARQUET_SUFFIXES, *CSV_SUFFIXES)):
        return unreadable(
            source,
            partition_date,
            f"unknown file format {name!r}: expected .csv, .csv.gz or .parquet",
        )
    if name.endswith(PARQUET_SUFFIXES):
        return read_parquet_file(path, partition_date)
    with object_store_errors(path, "read"):
        data = path.read_bytes()
    streamed = read_gzip_csv(data) if name.endswith(".gz") else None
    if streamed is not None:
        text, lines, broken = streamed
    else:
        if name.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                return unreadable(source, partition_date, f"unreadable gzip file: {exc}")
        if not data or data.isspace():  # what `not data.strip()` says, without a copy
            return LandingFile(source, no_rows())
        try:
            text, lines, broken = read_csv_bytes(data)
        except ValueError as exc:
            return unreadable(source, partition_date, f"unreadable CSV file: {exc}")
    del data
    keep = [i for i, c in enumerate(text.column_names) if contract_name(c)]
    rejected = rejected_frame(
        partition_date,
        source,
        [line for line, _, _ in broken],
        "row",
        [reason for _, reason, _ in broken],
        [raw for _, _, raw in broken],
    )
    return LandingFile(source, with_lines(text, keep, lines), rejected)
