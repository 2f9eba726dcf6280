"""A day streamed: each landing file read, validated, rid of repeated ids and handed on.

Files are read one at a time, in name order, the next on a worker thread while this one is
validated; a Parquet file comes a few row groups at a time. Each piece's valid rows go to the
caller as soon as they are validated, so memory holds one piece (and the next, being read) plus
the day's kept transaction ids, never the day's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from upath import UPath

from fraud_platform.defs.ingest.duplicates import SeenIds
from fraud_platform.defs.ingest.landing import (
    FileTooLargeError,
    file_budget_error,
    landing_file_sizes,
    list_landing_files,
)
from fraud_platform.defs.ingest.reader import read_landing_pieces
from fraud_platform.defs.ingest.records import (
    VALID_BATCH_SCHEMA,
    FileReport,
    IngestResult,
    IngestSummary,
    LandingFile,
    Rejections,
    rejections_frame,
    transactions_frame,
    transactions_table,
)
from fraud_platform.defs.ingest.rules import (
    contract_columns,
    parse_values,
    raw_rows,
    side_by_side,
    validate_columns,
)
from fraud_platform.tables import LANDING_REQUIRED_COLUMNS

#: Rows validated at a time: every intermediate array stays a few megabytes, which the
#: allocator reuses, where arrays the size of a whole file would be fresh memory every time.
BATCH_ROWS = 1 << 18


def _validate_file(landing: LandingFile, partition_date: str) -> tuple[pa.Table, Rejections]:
    """`validate_columns` over a file in batches of `BATCH_ROWS`, after the reader's own rejections.

    Typed columns become pandas, and timestamps and amounts are parsed, once for the whole
    file, as the rules were written: pandas' readings depend on the other values they are
    given (an integer column with a null anywhere becomes floats everywhere; one timestamp with
    nanoseconds makes years beyond 2262 unparseable), and a file was always given whole.
    """
    rows = landing.rows
    columns = contract_columns(rows)
    named = [name for name in rows.column_names if name != "line"]
    lines = rows.column("line").to_numpy()
    rejections = Rejections.of_frame(landing.rejected)
    checked = (
        all(named.count(c) == 1 for c in LANDING_REQUIRED_COLUMNS) and named.count("currency") <= 1
    )
    parsed = parse_values(columns) if checked and rows.num_rows else None

    def batch(start: int) -> Callable[[], tuple[pa.Table, Rejections]]:
        stop = min(start + BATCH_ROWS, rows.num_rows)
        part = {
            name: values.slice(start, stop - start)
            if isinstance(values, pa.ChunkedArray)
            else values.iloc[start:stop]
            for name, values in columns.items()
        }
        done = None if parsed is None else tuple(values[start:stop] for values in parsed)
        return lambda: validate_columns(part, named, lines[start:stop], partition_date, done)

    results = side_by_side([batch(start) for start in range(0, rows.num_rows, BATCH_ROWS)])
    for _, rejected in results:
        rejections.extend(rejected)
    valid_parts = [valid for valid, _ in results]
    valid = pa.concat_tables(valid_parts) if valid_parts else VALID_BATCH_SCHEMA.empty_table()
    return valid, rejections


def _drop_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table`` without ``rows`` (the repeated ids: few, so pyarrow's filter serves)."""
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    return table.filter(pa.array(keep))


class _Day:
    """A day being streamed: each file validated, rid of ids seen before, written, dropped."""

    def __init__(self, partition_date: str, write: Callable[[pa.Table], None]) -> None:
        self.partition_date = partition_date
        self.write = write
        self.seen = SeenIds()
        self.files: list[FileReport] = []
        self.rejected: list[tuple[str, Rejections]] = []
        #: Kept apart: the day's rejected frame lists every file's duplicates after the rest.
        self.duplicates: list[tuple[str, Rejections]] = []

    def add(self, landing: LandingFile) -> None:
        """Validate a file, or the next piece of the file added last (`read_landing_pieces`)."""
        source = landing.source_file
        valid, rejections = _validate_file(landing, self.partition_date)
        repeated, reasons = self.seen.repeats(valid, source)
        # Rows the reader could not split (and an unreadable file, as one record) count as read.
        report = FileReport(
            source_file=source,
            rows_read=landing.rows.num_rows + len(landing.rejected),
            rows_valid=valid.num_rows - repeated.size,
            rows_rejected=len(rejections) + repeated.size,
            error=rejections.reasons[0] if "file" in rejections.fields else None,
        )
        if self.files and self.files[-1].source_file == source:
            whole = self.files[-1]
            whole.rows_read += report.rows_read
            whole.rows_valid += report.rows_valid
            whole.rows_rejected += report.rows_rejected
            whole.error = whole.error or report.error
        else:
            self.files.append(report)
        self.rejected.append((source, rejections))
        if repeated.size:
            # ``raw`` as read: the rows of the file, found by line.
            repeat_lines = valid.column("line").to_numpy()[repeated]
            at = np.searchsorted(landing.rows.column("line").to_numpy(), repeat_lines)
            duplicates = Rejections()
            duplicates.add(
                repeat_lines,
                ["transaction_id"] * repeated.size,
                reasons,
                raw_rows(list(contract_columns(landing.rows).values()), at),
            )
            self.duplicates.append((source, duplicates))
            valid = _drop_rows(valid, repeated)
        if valid.num_rows:
            self.write(transactions_table(source, valid, self.partition_date))

    def summary(self, bytes_read: int) -> IngestSummary:
        rejected = rejections_frame(self.partition_date, [*self.rejected, *self.duplicates])
        return IngestSummary(rejected=rejected, files=self.files, bytes_read=bytes_read)


def stream_day(
    landing_url: str,
    partition_date: str,
    write: Callable[[pa.Table], None],
    *,
    max_file_bytes: int | None = None,
) -> IngestSummary:
    """Read and validate every landing file of one day, handing its valid rows to ``write``.

    ``write`` gets one table per file (per piece of a Parquet file) that has valid rows
    (`raw_transaction_schema`), in the day's order (files in name order, rows in file order), as
    soon as it is validated and rid of ids seen earlier in the day, and before the piece after
    next is read: memory holds one piece and the next one, plus the day's ids, never the day's
    rows. With ``max_file_bytes`` a CSV file larger than that (as stored) raises
    `FileTooLargeError` before anything is read.
    """
    paths = list_landing_files(landing_url, partition_date)
    sizes = landing_file_sizes(paths)
    if max_file_bytes is not None:
        error = file_budget_error(partition_date, sizes, max_file_bytes)
        if error:
            raise FileTooLargeError(error)
    day = _Day(partition_date, write)
    _read_each(paths, partition_date, read_landing_pieces, day.add)
    return day.summary(bytes_read=sum(sizes.values()))


def ingest_day(
    landing_url: str, partition_date: str, max_file_bytes: int | None = None
) -> IngestResult:
    """Read and validate every landing file of one day, its valid rows in one frame.

    `stream_day`, its tables collected: for callers that want the day in memory.
    """
    tables: list[pa.Table] = []
    summary = stream_day(landing_url, partition_date, tables.append, max_file_bytes=max_file_bytes)
    return IngestResult(
        valid=transactions_frame(tables), rejected=summary.rejected, files=summary.files
    )


def _read_each(
    paths: Sequence[UPath],
    partition_date: str,
    read: Callable[[UPath, str], Iterable[LandingFile]],
    handle: Callable[[LandingFile], None],
) -> None:
    """``handle`` each piece of ``read(path)`` (a file, or a Parquet file's row groups), path by
    path in order, the next piece read on a worker thread while this one is handled.

    Reading waits on the store, zlib and pyarrow's parser, handling on NumPy and Arrow kernels;
    all of them release the GIL, so the two overlap. A piece is read once the one before it is
    handed over and the one before that dropped: two pieces at most are held at a time.
    """
    if not paths:
        return
    pieces = (piece for path in paths for piece in read(path, partition_date))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-read")
    try:
        pending = pool.submit(next, pieces, None)
        while (landing := pending.result()) is not None:
            pending = pool.submit(next, pieces, None)
            handle(landing)
            del landing  # not held while the next piece is awaited
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        pieces.close()  # no reader is running now: closes the file being read, if any
