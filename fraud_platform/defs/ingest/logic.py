"""Reading and validating a day's landing files: every row is either kept or rejected with a reason.

Rules (the README documents them for users):
- A file is CSV (optionally gzip-compressed) with a header row, or Parquet. Other suffixes are
  rejected as a whole file. CSV text is UTF-8 (a byte-order mark is allowed); a file that is not
  valid UTF-8 is read as Latin-1, the encoding such exports almost always use.
- Required columns: ``transaction_id, timestamp, sender, receiver, amount``; ``currency`` is
  optional; other columns are ignored and columns may come in any order. A file missing a required
  column has every row rejected, naming the column.
- ``timestamp`` is ISO-8601; a naive timestamp means UTC. Timestamps outside the partition's UTC
  day are rejected (they belong to another day's analysis, and are kept aside rather than lost).
- ``amount`` is a decimal number, finite, greater than zero and at most ``MAX_AMOUNT``.
- ``sender`` and ``receiver`` are non-empty and differ (a self-transfer moves no money between
  accounts). Account ids are stored verbatim, whatever characters they contain, up to
  ``MAX_TEXT_CHARS`` characters (as are ``transaction_id`` and ``currency``).
- No field may hold a NUL character: PostgreSQL text cannot store one, so such a row is rejected
  here rather than failing the warehouse load of the whole day.
- A ``transaction_id`` seen earlier in the day (same file or an earlier file, files in name order)
  is rejected as a duplicate; the first occurrence is kept.

Each rejected row records the file, the line (the CSV's physical line, header = line 1; for Parquet
the row number + 1), the first field that failed, the reason and the raw row, so that for every
file ``rows read = rows valid + rows rejected``. ``raw`` is the row's contract fields as read, in
the file's column order; a line the CSV reader could not split is kept as its original text.
Blank lines are not rows. A CSV line that cannot be parsed (ragged, an unbalanced quote, a field
beyond the CSV reader's limit) is rejected on its own: the lines after it are still read.

How it stays fast: rows stay in Arrow from the reader to the writer. Validation
(`validate_batch`) works on one batch of a file's columns at a time with Arrow kernels and NumPy
over the Arrow buffers; ISO-8601 timestamps and plain decimals are parsed from their bytes, and
only values of another shape go through the pandas parsers that define the rules
(``pd.to_datetime(format="ISO8601", utc=True)``, ``pd.to_numeric``). Duplicates are found by
hashing the ids: only ids sharing a hash are compared, exactly (`_SeenIds`). The next file is
read on a worker thread while this one is validated (a gzip file is parsed while it is
inflated) and a file's batches are validated two at a time: NumPy, Arrow and zlib release the
GIL. pyarrow's CSV reader is trusted only where the line-by-line reader would give the same rows
(`_arrow_reading_is_exact`); any other file is read as it always was.

A day is streamed (`stream_day`): its files are read one at a time, in name order — a CSV file
whole, a Parquet file a few row groups at a time (`read_landing_pieces`) — and each piece's
valid rows are handed to the caller as soon as they are validated, so memory holds one piece
(and the next one, being read) plus the day's kept transaction ids, never the day's rows. A CSV
file is parsed whole, so one larger than a byte budget is refused before anything of the day is
read (`FileTooLargeError`), rather than being killed for running out of memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dagster import Failure
from upath import UPath

from fraud_platform.storage.object_store import (
    ObjectStoreAccessError,
    object_store_errors,
    store_path,
)
from fraud_platform.tables import (
    LANDING_OPTIONAL_COLUMNS,
    LANDING_REQUIRED_COLUMNS,
    PARTITION_COLUMN,
    RAW_TRANSACTION_COLUMNS,
    REJECTED_COLUMNS,
)

#: Larger amounts are data errors, not transfers (a trillion in any currency).
MAX_AMOUNT = 1e12
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
LANDING_COLUMNS = (*LANDING_REQUIRED_COLUMNS, *LANDING_OPTIONAL_COLUMNS)
#: ``raw`` keeps at most this many characters of a rejected row, so one absurd row cannot bloat
#: the rejected-rows table; the file and line still locate the original.
RAW_MAX_CHARS = 2_000
#: Longest ``transaction_id``, ``sender``, ``receiver`` or ``currency`` accepted, in characters.
#: Account ids are indexed in PostgreSQL, whose btree entries hold at most 2,704 bytes; 512
#: characters are at most 2,048 bytes of UTF-8, and far beyond any real account id.
MAX_TEXT_CHARS = 512
_NUL = "\x00"
_BOM = b"\xef\xbb\xbf"
#: Text travels as Arrow ``large_string``: pandas' ``str`` dtype wraps it without a copy.
_TEXT = pa.large_string()
_STR = pd.StringDtype("pyarrow", na_value=np.nan)
_UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass
class FileReport:
    """What happened to one landing file."""

    source_file: str
    rows_read: int
    rows_valid: int = 0
    rows_rejected: int = 0
    error: str | None = None


@dataclass
class LandingFile:
    """A landing file's rows as read, before validation, or the reason it could not be read."""

    source_file: str
    #: The file's contract columns as read (CSV: text; Parquet: as stored), in the file's order,
    #: plus ``line``; missing columns are absent.
    rows: pa.Table
    rejected: pd.DataFrame = field(default_factory=lambda: empty_rejected())


@dataclass
class IngestResult:
    """A day's valid rows, rejected rows and per-file counts."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    files: list[FileReport]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)


@dataclass
class IngestSummary:
    """What `stream_day` made of a day, but for its valid rows (they went to ``write``)."""

    rejected: pd.DataFrame
    files: list[FileReport]
    #: The stored size of the day's landing files (a gzip file counts compressed).
    bytes_read: int = 0

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_valid(self) -> int:
        return sum(f.rows_valid for f in self.files)


def empty_rejected() -> pd.DataFrame:
    return _EMPTY_REJECTED.copy()


def _empty_rejected() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(dtype="str"),
            "source_file": pd.Series(dtype="str"),
            "line": pd.Series(dtype="int64"),
            "field": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "raw": pd.Series(dtype="str"),
        }
    )
    return frame[list(REJECTED_COLUMNS)]


#: Built once: a pandas frame costs milliseconds to build and is asked for several times a file.
_EMPTY_REJECTED = _empty_rejected()


def empty_transactions() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(dtype="str"),
            "transaction_id": pd.Series(dtype="str"),
            "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
            "sender": pd.Series(dtype="str"),
            "receiver": pd.Series(dtype="str"),
            "amount": pd.Series(dtype="float64"),
            "currency": pd.Series(dtype="str"),
            "source_file": pd.Series(dtype="str"),
            "line": pd.Series(dtype="int64"),
        }
    )
    return frame[list(RAW_TRANSACTION_COLUMNS)]


#: Arrow types of the ``raw_transactions`` columns; only ``currency`` may be missing.
_RAW_TRANSACTION_TYPES = {
    PARTITION_COLUMN: _TEXT,
    "transaction_id": _TEXT,
    "timestamp": _UTC_MICROS,
    "sender": _TEXT,
    "receiver": _TEXT,
    "amount": pa.float64(),
    "currency": _TEXT,
    "source_file": _TEXT,
    "line": pa.int64(),
}
_RAW_TRANSACTION_SCHEMA = pa.schema(
    [
        pa.field(name, _RAW_TRANSACTION_TYPES[name], nullable=name == "currency")
        for name in RAW_TRANSACTION_COLUMNS
    ]
)


def raw_transaction_schema() -> pa.Schema:
    """The schema of every table `stream_day` writes: one for all files and days, so that the
    tables can go to one Parquet file (text is ``large_string``, as pandas' ``str`` wraps it)."""
    return _RAW_TRANSACTION_SCHEMA


def day_folder(landing_url: str, partition_date: str) -> UPath:
    return store_path(landing_url) / f"date={partition_date}"


def list_landing_files(landing_url: str, partition_date: str) -> list[UPath]:
    """The day's files in name order (the order that decides which duplicate is kept).

    Names starting with ``.`` or ``_`` (uploads in progress, ``_SUCCESS`` markers) and
    subfolders are not landing files.
    """
    folder = day_folder(landing_url, partition_date)
    with object_store_errors(folder, "list"):
        # s3fs caches listings (sizes and ETags) for the life of the process: a file replaced or
        # added since would be missed, or read with a stale ETag that S3 refuses
        # (PreconditionFailed). A day's listing is one request: always ask again.
        folder.fs.invalidate_cache(folder.path)
        if not folder.exists():
            return []
        return sorted(
            (p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))),
            key=lambda p: p.name,
        )


# -- the input budget -----------------------------------------------------------------------------


class FileTooLargeError(Failure):
    """A landing CSV file exceeds the input budget; raised before any of the day's files is read.

    A Dagster `Failure` without retries: the files do not shrink by waiting.
    """

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


def _size_text(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"


def file_budget_error(
    partition_date: str, sizes: Mapping[str, int], max_file_bytes: int
) -> str | None:
    """Why a day whose files have ``sizes`` (name -> bytes) cannot be read, or None if it can.

    The budget is per CSV file: a day is streamed file by file, and a Parquet file row group by
    row group, but a CSV file is parsed whole.
    """
    over = sorted(
        (
            (name, size)
            for name, size in sizes.items()
            if size > max_file_bytes and not name.endswith(PARQUET_SUFFIXES)
        ),
        key=lambda item: (-item[1], item[0]),
    )
    if not over:
        return None
    shown = ", ".join(f"{name} {_size_text(size)}" for name, size in over[:3])
    more = f" and {len(over) - 3} more" if len(over) > 3 else ""
    return (
        f"day {partition_date} not read: {len(over)} of its {len(sizes)} landing file(s) "
        f"exceed the input budget of {_size_text(max_file_bytes)} per file "
        f"(LandingZone.max_file_bytes, set by FRAUD_MAX_FILE_BYTES): {shown}{more}. "
        "A CSV file is read whole into memory (the day is streamed file by file, a Parquet file "
        "row group by row group): split the file into smaller files in the same date= folder, "
        "write it as Parquet, or raise the budget on a machine with several times that memory."
    )


def landing_file_sizes(paths: Sequence[UPath]) -> dict[str, int]:
    """Name -> stored size in bytes, from the listing's metadata (nothing is read)."""
    sizes = {}
    for path in paths:
        with object_store_errors(path, "look up"):
            sizes[path.name] = int(path.stat().st_size)
    return sizes


# -- reading CSV ----------------------------------------------------------------------------------


#: What one unparseable CSV line becomes: (physical line, reason, original text).
BrokenLine = tuple[int, str, str]
#: A file's columns as read, the physical line of each row, and the lines that could not be read.
CsvRows = tuple[pa.Table, np.ndarray, list[BrokenLine]]


def _read_csv_bytes(data: bytes) -> CsvRows:
    """Parse CSV bytes into text columns, with each row's physical line and unparseable lines.

    pyarrow's multi-threaded reader is the fast path; every column is read as text, so ``007``
    stays ``007``. It numbers rows, not physical lines, and refuses ragged rows and Latin-1, so
    files with blank lines, quoted newlines, ragged rows or bytes that are not UTF-8 go through
    the standard-library reader instead.

    The reader is first tried without skipping empty lines, so that a blank line shows, and its
    result is kept when `_arrow_reading_is_exact` proves that the line-by-line quote scan of
    `_needs_exact_reader` would have passed; otherwise (a rare file) that scan decides, as ever.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        header = _header_names(data)
    except (UnicodeDecodeError, csv.Error):
        header = []
    if header:
        table = _read_csv_arrow(pa.BufferReader(data), header, ignore_empty_lines=False)
        quoted = b'"' in data
        last_line = _last_line(data) if quoted else b""
        if table is not None and _arrow_reading_is_exact(table, quoted, last_line):
            return table, _row_lines(table.num_rows), []
    if _needs_exact_reader(data):
        return _read_csv_exact(data)
    try:
        header = _header_names(data)
    except (UnicodeDecodeError, csv.Error):
        return _read_csv_exact(data)
    table = _read_csv_arrow(pa.BufferReader(data), header, ignore_empty_lines=True)
    if table is None:
        return _read_csv_exact(data)
    return table, _row_lines(table.num_rows), []


def _read_csv_arrow(
    source: pa.NativeFile, header: list[str], *, ignore_empty_lines: bool
) -> pa.Table | None:
    """Every column as text with pyarrow's reader, or None where it refuses the file."""
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=False, ignore_empty_lines=ignore_empty_lines
            ),
            convert_options=pacsv.ConvertOptions(
                # Read everything as text: validation decides what a value means.
                column_types={name: _TEXT for name in header},
                strings_can_be_null=False,
                auto_dict_encode=False,
            ),
        )
        # A header name the line split above read differently would have been type-inferred.
        return table.cast(pa.schema([(name, _TEXT) for name in table.column_names]))
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
        return None


def _row_lines(rows: int) -> np.ndarray:
    return np.arange(2, rows + 2, dtype=np.int64)


def _arrow_reading_is_exact(table: pa.Table, quoted: bool, last_line: bytes | None) -> bool:
    """Whether `_needs_exact_reader` would pass a file pyarrow read without skipping lines.

    Read that way, a blank line is a row of empty values: none means no line was blank. Every
    line has an even number of quotes when no value or name holds a quote or a line break and
    the last line's count is even: pyarrow takes a quote inside an unquoted value or a doubled
    quote as data, and a quoted value that runs past its line takes the line break with it, so
    each line held only opening and closing pairs, but for an unterminated quote at the very
    end of the file. ``quoted``: the file holds a quote; ``last_line``: its last line (None:
    not known).
    """
    if _has_empty_row(table):
        return False
    if not quoted:
        return True
    if any(char in name for name in table.column_names for char in '"\r\n'):
        return False
    if any(_holds_any(column, _QUOTE_OR_BREAK) for column in table.columns):
        return False
    return last_line is not None and last_line.count(b'"') % 2 == 0


def _has_empty_row(table: pa.Table) -> bool:
    """Whether some row has only empty values (what a blank line reads as)."""
    if table.num_columns == 0 or table.num_rows == 0:
        return False
    first = _byte_lengths(table.column(0))
    if first.min() > 0:
        return False
    empty = first == 0
    for index in range(1, table.num_columns):
        empty &= _byte_lengths(table.column(index)) == 0
    return bool(empty.any())


def _last_line(data: bytes) -> bytes:
    """The last of ``data.splitlines()``, found from the end."""
    end = len(data)
    if data.endswith(b"\r\n"):
        end -= 2
    elif data.endswith((b"\n", b"\r")):
        end -= 1
    newline = data.rfind(b"\n", 0, end)
    carriage = data.rfind(b"\r", newline + 1, end)
    return data[max(newline, carriage) + 1 : end]


def _needs_exact_reader(data: bytes) -> bool:
    """Whether physical line numbers could differ from row numbers + 1 in pyarrow's reading.

    Blank lines (pyarrow skips them) and quoted newlines (a row spanning lines); an odd number
    of quotes on some line is the cheap sign of the latter, or of an unbalanced quote.
    """
    if data.startswith((b"\n", b"\r")) or b"\n\n" in data or b"\n\r\n" in data or b"\r\r" in data:
        return True
    return b'"' in data and any(line.count(b'"') % 2 for line in data.splitlines())


def _header_names(data: bytes) -> list[str]:
    """The first line's field names (the fast path reads every named column as text)."""
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")
    return next(csv.reader([first]), [])


def _decoded_lines(data: bytes) -> list[str]:
    """Physical lines with their endings; a line that is not valid UTF-8 is read as Latin-1."""
    try:
        return io.StringIO(data.decode("utf-8"), newline="").readlines()
    except UnicodeDecodeError:
        # Line by line, so one Latin-1 line does not garble the UTF-8 lines of the same file.
        lines = []
        for raw in data.splitlines(keepends=True):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("latin-1"))
        return lines


class _Lines(Iterator[str]):
    """Physical lines fed to `csv.reader`, with a cursor that can be moved back after a bad line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.position = 0  # index of the next line to hand out

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]

    def text(self, index: int) -> str:
        return self.lines[index].rstrip("\r\n")


def _read_csv_exact(data: bytes) -> CsvRows:
    """Standard-library CSV reading with physical line numbers, one verdict per bad line.

    A record that spans lines but has the wrong number of fields is an unbalanced quote that
    swallowed the lines after it: only its first line is rejected and reading resumes on the next
    line, so a stray quote costs one row, not the rest of the file. The same holds for a line
    the reader refuses (``csv.Error``: an unbalanced quote at the end of the file, a field beyond
    the reader's size limit).
    """
    lines = _Lines(_decoded_lines(data))
    reader = csv.reader(lines, strict=True)
    header: list[str] = []
    while not header:  # blank lines before the header are skipped
        try:
            header = next(reader)
        except StopIteration:
            return pa.table({}), _row_lines(0), []
        except csv.Error as exc:
            raise ValueError(f"malformed CSV header: {exc}") from None
    width = len(header)
    records: list[list[str]] = []
    numbers: list[int] = []
    broken: list[BrokenLine] = []
    while True:
        start = lines.position
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reason = f"malformed CSV: {exc}"
            if str(exc) == "unexpected end of data":
                reason = "unbalanced quote: a quoted value runs to the end of the file"
            broken.append((start + 1, reason, lines.text(start)))
            lines.position = start + 1
            reader = csv.reader(lines, strict=True)  # a fresh reader: no half-read record
            continue
        if not record:  # a blank line
            continue
        if len(record) == width:
            records.append(record)
            numbers.append(start + 1)
        elif lines.position - start > 1:
            reason = f"unbalanced quote: expected {width} fields, found {len(record)}"
            broken.append((start + 1, reason, lines.text(start)))
            lines.position = start + 1
            reader = csv.reader(lines, strict=True)
        else:
            reason = f"expected {width} fields, found {len(record)}"
            broken.append((start + 1, reason, lines.text(start)))
    columns = list(zip(*records, strict=True)) if records else [()] * width
    table = pa.Table.from_arrays([pa.array(values, _TEXT) for values in columns], names=header)
    return table, np.asarray(numbers, dtype=np.int64), broken


# -- reading a file -------------------------------------------------------------------------------


def _contract_names(parquet: pq.ParquetFile) -> list[str]:
    # No contract column: no columns are read, but the rows are still counted.
    return [name for name in parquet.schema_arrow.names if name in LANDING_COLUMNS]


def _read_row_groups(
    path: UPath, parquet: pq.ParquetFile, groups: list[int], first_line: int
) -> pa.Table:
    """The contract columns of some row groups of a Parquet file (others are not even decoded),
    in file order, with ``line`` (row number + 1) from ``first_line``."""
    with object_store_errors(path, "read"):
        table = parquet.read_row_groups(groups, columns=_contract_names(parquet))
    for index, column in enumerate(table.schema):
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            # Text written as bytes: must be UTF-8 like any other text (raises if not).
            table = table.set_column(index, column.name, table.column(index).cast(_TEXT))
    lines = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
    return _with_lines(table, list(range(table.num_columns)), lines)


#: Rows of a landing Parquet file read at a time (whole row groups, so a piece may hold more).
PARQUET_PIECE_ROWS = 1 << 20


#: Faults of the store while a file is read: they fail the step (its retries apply), where bytes
#: that do not decode are bad data, recorded against the file.
_STORE_FAULTS = (ObjectStoreAccessError, FileNotFoundError)


def read_landing_pieces(path: UPath, partition_date: str) -> Iterator[LandingFile]:
    """A landing file as it is validated: a CSV file whole (`read_landing_file`), a Parquet file
    in pieces of whole row groups (`_parquet_pieces`)."""
    if path.name.endswith(PARQUET_SUFFIXES):
        yield from _parquet_pieces(path, partition_date)
    else:
        yield read_landing_file(path, partition_date)


def _parquet_pieces(path: UPath, partition_date: str) -> Iterator[LandingFile]:
    """A Parquet file in pieces of whole row groups, about `PARQUET_PIECE_ROWS` rows each, so
    that a file of any size streams through a bounded memory.

    A piece's ``line`` continues the one before. The file is read from the store as its row
    groups are. A row group that cannot be decoded ends the file with one rejected record naming
    the first row not read; the rows before it were read and stay.
    """
    source = f"date={partition_date}/{path.name}"
    with object_store_errors(path, "read"):
        handle = path.open("rb")
    with handle:
        try:
            with object_store_errors(path, "read"):
                parquet = pq.ParquetFile(handle)
        except _STORE_FAULTS:
            raise
        except Exception as exc:  # pyarrow raises several types for corrupt files
            yield _unreadable(source, partition_date, f"unreadable Parquet file: {exc}")
            return
        row = 0
        for groups in _row_group_runs(parquet.metadata, PARQUET_PIECE_ROWS):
            try:
                rows = _read_row_groups(path, parquet, groups, first_line=row + 2)
            except _STORE_FAULTS:
                raise
            except Exception as exc:
                reason = f"unreadable Parquet file from row {row + 1} on: {exc}"
                yield _unreadable(source, partition_date, reason)
                return
            row += rows.num_rows
            yield LandingFile(source, rows)
            del rows  # not held while the next piece is read


def _joined(pieces: list[LandingFile]) -> LandingFile:
    """A Parquet file's pieces as one: their rows, and the record of a piece not read, if any."""
    read = [piece for piece in pieces if piece.rejected.empty]
    unread = [piece.rejected for piece in pieces if not piece.rejected.empty]
    rows = pa.concat_tables([piece.rows for piece in read]) if read else _no_rows()
    rejected = pd.concat(unread, ignore_index=True) if unread else empty_rejected()
    return LandingFile(pieces[0].source_file, rows, rejected)


def _row_group_runs(metadata: pq.FileMetaData, rows: int) -> Iterator[list[int]]:
    """Consecutive row groups of a file, in runs of at least ``rows`` rows (but the last)."""
    run: list[int] = []
    count = 0
    for index in range(metadata.num_row_groups):
        run.append(index)
        count += metadata.row_group(index).num_rows
        if count >= rows:
            yield run
            run, count = [], 0
    if run or metadata.num_row_groups == 0:
        yield run


def _with_lines(table: pa.Table, keep: Sequence[int], lines: np.ndarray) -> pa.Table:
    """The columns ``keep`` of ``table`` (by position) plus ``line``."""
    names = [str(table.column_names[i]).strip() for i in keep]
    columns = [table.column(i) for i in keep]
    return pa.Table.from_arrays([*columns, pa.array(lines, pa.int64())], names=[*names, "line"])


def read_landing_file(path: UPath, partition_date: str) -> LandingFile:
    """Read one landing file whole into columns; a file that cannot be read at all is reported.

    A CSV file's bytes are fetched first: a fault of the store (refused credentials, unreachable
    S3, a file gone since the listing) fails the step, so its retries apply; anything wrong with
    the bytes themselves is bad data, recorded against the file. A Parquet file is its pieces
    (`_parquet_pieces`) put together, so it reads the same whole or streamed.
    """
    name = path.name
    # Named relative to the landing zone, so the record reads the same in every deployment.
    source = f"date={partition_date}/{name}"
    if not name.endswith((*PARQUET_SUFFIXES, *CSV_SUFFIXES)):
        return _unreadable(
            source,
            partition_date,
            f"unknown file format {name!r}: expected .csv, .csv.gz or .parquet",
        )
    if name.endswith(PARQUET_SUFFIXES):
        return _joined(list(_parquet_pieces(path, partition_date)))
    with object_store_errors(path, "read"):
        data = path.read_bytes()
    streamed = _read_gzip_csv(data) if name.endswith(".gz") else None
    if streamed is not None:
        text, lines, broken = streamed
    else:
        if name.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                return _unreadable(source, partition_date, f"unreadable gzip file: {exc}")
        if not data or data.isspace():  # what `not data.strip()` says, without a copy
            return LandingFile(source, _no_rows())
        try:
            text, lines, broken = _read_csv_bytes(data)
        except ValueError as exc:
            return _unreadable(source, partition_date, f"unreadable CSV file: {exc}")
    del data
    keep = [i for i, c in enumerate(text.column_names) if str(c).strip() in LANDING_COLUMNS]
    rejected = _rejected_frame(
        partition_date,
        source,
        [line for line, _, _ in broken],
        "row",
        [reason for _, reason, _ in broken],
        [raw for _, _, raw in broken],
    )
    return LandingFile(source, _with_lines(text, keep, lines), rejected)


def _read_gzip_csv(compressed: bytes) -> CsvRows | None:
    """The CSV of a gzip file parsed while it is inflated, or None for the whole-bytes path.

    pyarrow's reader pulls the text through `_GunzipStream`, so parsing runs while zlib
    inflates and the file is never held whole. Only a clean single-member file whose reading
    `_arrow_reading_is_exact` accepts is kept: anything else (damage, several members, a blank
    line, a header longer than the first piece, a small file) is left to the whole-bytes path,
    which decides as it always did.
    """
    stream = _GunzipStream(compressed)
    first = stream.peek(_GUNZIP_STEP)
    if stream.unusual or stream.done or first.isspace():
        return None  # damaged, small enough to read whole, or maybe blank
    if first.startswith(_BOM):
        stream.skip(len(_BOM))
        first = first[len(_BOM) :]
    if b"\n" not in first:
        return None
    try:
        header = _header_names(first)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not header:
        return None
    table = _read_csv_arrow(pa.PythonFile(stream, mode="r"), header, ignore_empty_lines=False)
    if table is None or not stream.done:
        return None
    if not _arrow_reading_is_exact(table, stream.quoted, stream.last_line()):
        return None
    return table, _row_lines(table.num_rows), []


class _GunzipStream(io.RawIOBase):
    """A gzip file's text, inflated as it is read (`_read_gzip_csv`).

    Notes what the caller needs to trust the reading: whether a quote occurs, the last two
    blocks read (the last line), and whether the input was one clean member (``done``: zlib
    checked its CRC and length and only zero padding follows, as ``gzip.decompress`` accepts;
    ``unusual``: anything else).
    """

    def __init__(self, compressed: bytes) -> None:
        super().__init__()
        self._input = memoryview(compressed)
        self._fed = 0
        self._inflater = zlib.decompressobj(wbits=31)
        self._pending: list[bytes | memoryview] = []
        self._pending_bytes = 0
        self._blocks: list[bytes] = []
        self.quoted = False
        self.unusual = False
        self.done = False

    def readable(self) -> bool:
        return True

    def _inflate(self) -> bool:
        """Inflate the next piece of input; False once the member or the input has ended."""
        if self.done or self.unusual or self._fed >= len(self._input):
            self.unusual = self.unusual or not self.done  # input ended inside the member
            return False
        piece = self._input[self._fed : self._fed + _GUNZIP_STEP]
        self._fed += len(piece)
        try:
            out = self._inflater.decompress(piece)
        except zlib.error:
            self.unusual = True
            return False
        if out:
            self._pending.append(out)
            self._pending_bytes += len(out)
            self.quoted = self.quoted or b'"' in out
        if self._inflater.eof:
            after = self._inflater.unused_data + self._input[self._fed :].tobytes()
            self.unusual = bool(after.lstrip(b"\x00"))  # another member, or trailing bytes
            self.done = not self.unusual
        return True

    def peek(self, size: int) -> bytes:
        """At least ``size`` bytes from the current position (fewer at the end), not consumed."""
        while self._pending_bytes < size and self._inflate():
            pass
        data = b"".join(self._pending)
        self._pending = [data]
        return data

    def skip(self, size: int) -> None:
        """Drop ``size`` bytes of what `peek` returned (the byte-order mark)."""
        self._pending = [memoryview(b"".join(self._pending))[size:]]
        self._pending_bytes -= size

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or self._pending_bytes < size) and self._inflate():
            pass
        if size < 0 or self._pending_bytes <= size:
            block = b"".join(self._pending)
            self._pending, self._pending_bytes = [], 0
        else:
            taken, parts = 0, []
            while taken < size:
                part = self._pending.pop(0)
                if taken + len(part) > size:
                    cut = size - taken
                    self._pending.insert(0, memoryview(part)[cut:])
                    part = memoryview(part)[:cut]
                parts.append(part)
                taken += len(part)
            block = b"".join(parts)
            self._pending_bytes -= size
        if block:
            self._blocks = [*self._blocks[-1:], block]
        return block

    def last_line(self) -> bytes | None:
        """The text's last line (`_last_line`) when the last two blocks hold it, else None."""
        for count in (1, 2):
            tail = b"".join(self._blocks[-count:])
            line = _last_line(tail)
            if len(line) < len(tail.rstrip(b"\r\n")) or count > len(self._blocks):
                return line
        return None


#: Compressed bytes inflated at a time: a few megabytes of text, no copy of the input.
_GUNZIP_STEP = 1 << 20


def _no_rows() -> pa.Table:
    return pa.table({"line": pa.array([], pa.int64())})


def _unreadable(source: str, partition_date: str, reason: str) -> LandingFile:
    # The whole file is one rejected record: its rows cannot be counted, so line 0 stands for it.
    rejected = _rejected_frame(partition_date, source, [0], "file", [reason], [""])
    return LandingFile(source, _no_rows(), rejected)


def _storable(text: str) -> str:
    """Text PostgreSQL can store: a NUL becomes U+FFFD, the replacement character."""
    return text.replace(_NUL, "\ufffd")


@dataclass
class _Rejections:
    """Rejected rows of one file, as plain lists: the day's rejected frame is built once, at
    the end (a pandas frame costs about a millisecond to build, however few its rows)."""

    lines: list[int] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def add(
        self,
        lines: Iterable[int],
        fields: Iterable[str],
        reasons: Iterable[str],
        raws: Iterable[str],
    ) -> None:
        self.lines.extend(int(line) for line in lines)
        self.fields.extend(fields)
        self.reasons.extend(reasons)
        self.raws.extend(raws)

    def extend(self, other: _Rejections) -> None:
        self.add(other.lines, other.fields, other.reasons, other.raws)

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> _Rejections:
        rejections = cls()
        rejections.add(frame["line"], frame["field"], frame["reason"], frame["raw"])
        return rejections


def _rejections_frame(
    partition_date: str, parts: Sequence[tuple[str, _Rejections]]
) -> pd.DataFrame:
    """The rejected rows of ``parts`` (source file, its rejections) as one frame."""
    rows = sum(len(rejections) for _, rejections in parts)
    if rows == 0:
        return empty_rejected()
    sources = [_storable(source) for source, r in parts for _ in range(len(r))]
    lines = [line for _, r in parts for line in r.lines]
    fields = [name for _, r in parts for name in r.fields]
    # A reason may quote a value or a parser's message: it is stored text too.
    reasons = [_storable(reason) for _, r in parts for reason in r.reasons]
    raws = [_storable(raw[:RAW_MAX_CHARS]) for _, r in parts for raw in r.raws]
    return pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series([partition_date] * rows, dtype="str"),
            "source_file": pd.Series(sources, dtype="str"),
            "line": np.asarray(lines, dtype="int64"),
            "field": pd.Series(fields, dtype="str"),
            "reason": pd.Series(reasons, dtype="str"),
            "raw": pd.Series(raws, dtype="str"),
        }
    )


def _rejected_frame(
    partition_date: str,
    source: str,
    lines: Sequence[int] | np.ndarray,
    field_name: str | Sequence[str],
    reasons: Sequence[str] | str,
    raws: Sequence[str],
) -> pd.DataFrame:
    n = len(lines)
    rejections = _Rejections()
    rejections.add(
        lines,
        [field_name] * n if isinstance(field_name, str) else field_name,
        [reasons] * n if isinstance(reasons, str) else reasons,
        raws,
    )
    return _rejections_frame(partition_date, [(source, rejections)])


# -- Arrow text at the byte level -----------------------------------------------------------------

#: Bytes whose presence in a value means pyarrow's reading needs a second look.
_QUOTE_OR_BREAK = np.zeros(256, dtype=bool)
_QUOTE_OR_BREAK[[ord('"'), ord("\n"), ord("\r")]] = True
_SCAN_BLOCK = 1 << 20


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.string_view()


def _large_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return values if values.type == _TEXT else values.cast(_TEXT)


def _buffers(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A ``large_string`` chunk's offsets (one per row, plus the end) and data bytes, uncopied."""
    if len(chunk) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    _, offsets, data = chunk.buffers()
    starts = np.frombuffer(offsets, dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)
    return starts, (np.zeros(0, np.uint8) if data is None else np.frombuffer(data, np.uint8))


def _present(chunk: pa.Array) -> np.ndarray | None:
    """Which rows are not null, or None when none is (a null may still own bytes in Arrow)."""
    return None if chunk.null_count == 0 else chunk.is_valid().to_numpy(zero_copy_only=False)


def _holds_any(values: pa.ChunkedArray, table: np.ndarray) -> bool:
    """Whether any value holds a byte marked in ``table`` (256 booleans)."""
    highest = int(np.flatnonzero(table)[-1])
    for chunk in values.chunks:
        offsets, data = _buffers(chunk)
        used = data[offsets[0] : offsets[-1]]
        if used.size == 0 or int(used.min()) > highest:  # no byte that low: nothing to look at
            continue
        for start in range(0, used.size, _SCAN_BLOCK):
            if table[used[start : start + _SCAN_BLOCK]].any():
                return True
    return False


def _nul_rows(values: pa.ChunkedArray) -> np.ndarray:
    """Rows holding a NUL character (a zero byte: UTF-8 has no other)."""
    masks = []
    for chunk in values.chunks:
        offsets, data = _buffers(chunk)
        mask = np.zeros(len(chunk), dtype=bool)
        used = data[offsets[0] : offsets[-1]]
        if used.size and int(used.min()) == 0:
            at = np.flatnonzero(used == 0) + offsets[0]
            mask[np.searchsorted(offsets, at, side="right") - 1] = True
            present = _present(chunk)
            if present is not None:
                mask &= present
        masks.append(mask)
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def _may_need_trim(chunk: pa.Array) -> bool:
    """Whether a value may start or end with whitespace: a first or last byte that is not
    printable ASCII (control, space, or part of a character beyond ASCII)."""
    offsets, data = _buffers(chunk)
    used = data[offsets[0] : offsets[-1]]
    if used.size == 0 or (used.min() > 0x20 and used.max() < 0x7F):  # no such byte at all
        return False
    first = np.take(data, offsets[:-1], mode="clip")
    last = np.take(data, offsets[1:] - 1, mode="clip")  # an empty value looks at a neighbour
    return bool(((first - np.uint8(0x21)) > 0x5D).any() or ((last - np.uint8(0x21)) > 0x5D).any())


def _trimmed(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``str.strip()`` as pandas does it (`utf8_trim_whitespace`), skipped where it changes
    nothing."""
    chunks = [pc.utf8_trim_whitespace(c) if _may_need_trim(c) else c for c in values.chunks]
    return pa.chunked_array(chunks, type=_TEXT)


def _byte_lengths(values: pa.ChunkedArray) -> np.ndarray:
    parts = [np.diff(_buffers(chunk)[0]) for chunk in values.chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _nulls(values: pa.ChunkedArray) -> np.ndarray:
    if values.null_count == 0:
        return np.zeros(len(values), dtype=bool)
    return values.is_null().to_numpy()


def _take(values: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``values.take(rows)`` for ascending ``rows``, chunk by chunk (Arrow's own take of a
    chunked array first joins its chunks: a copy of the whole column for a few rows)."""
    parts = []
    start = 0
    for chunk in values.chunks:
        low, high = np.searchsorted(rows, [start, start + len(chunk)])
        if high > low:
            parts.append(chunk.take(pa.array(rows[low:high] - start)))
        start += len(chunk)
    return pa.chunked_array(parts, type=values.type)


def _rows_by_length(
    chunk: pa.Array, shortest: int, longest: int
) -> Iterator[tuple[slice | np.ndarray, np.ndarray]]:
    """(rows, their bytes as a rows × length matrix) per byte length within the bounds.

    A chunk whose values all have one length is one matrix over its data buffer, uncopied;
    otherwise each length's rows are copied out (`_rows_matrix`) and viewed the same way.
    """
    if len(chunk) == 0:
        return
    offsets, _ = _buffers(chunk)
    lengths = np.diff(offsets)
    low, high = int(lengths.min()), int(lengths.max())
    if low == high:
        if shortest <= low <= longest:
            yield slice(None), _matrix(chunk, low)
        return
    clipped = np.clip(lengths, shortest - 1, longest + 1) - (shortest - 1)
    counts = np.bincount(clipped, minlength=longest - shortest + 3)
    buckets = np.flatnonzero(counts[1:-1]) + 1
    if len(buckets) <= 8:  # the usual case: a pass per length is cheaper than a sort
        groups = ((b, np.flatnonzero(clipped == b)) for b in buckets)
    else:
        order = np.argsort(clipped.astype(np.uint16), kind="stable")
        ends = np.cumsum(counts)
        groups = ((b, order[ends[b] - counts[b] : ends[b]]) for b in buckets)
    for bucket, rows in groups:
        length = int(bucket) + shortest - 1
        yield rows, _rows_matrix(chunk, rows, length)


def _matrix(chunk: pa.Array, length: int) -> np.ndarray:
    """The bytes of a chunk whose values all have ``length`` bytes, one row per value."""
    offsets, data = _buffers(chunk)
    start = int(offsets[0])
    return data[start : start + len(chunk) * length].reshape(len(chunk), length)


def _rows_matrix(chunk: pa.Array, rows: np.ndarray, length: int) -> np.ndarray:
    """The bytes of some rows (ascending) that all have ``length`` bytes, one row per value.

    Usually nearly every row has the common length: its rows then form a few runs, each a
    contiguous stretch of the data buffer, joined with one copy.
    """
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(cuts) > 64:
        return _matrix(chunk.take(pa.array(rows)), length)
    offsets, data = _buffers(chunk)
    firsts = rows[np.concatenate([[0], cuts])]
    lasts = rows[np.concatenate([cuts - 1, [len(rows) - 1]])]
    runs = [data[offsets[a] : offsets[b + 1]] for a, b in zip(firsts, lasts, strict=True)]
    return np.concatenate(runs).reshape(len(rows), length)


def _columns(matrix: np.ndarray) -> np.ndarray:
    """A rows × length byte matrix transposed (byte ``j`` of every row in row ``j``), so that
    every later step runs along long contiguous arrays; copied in cache-sized blocks."""
    rows, length = matrix.shape
    columns = np.empty((length, rows), dtype=np.uint8)
    for start in range(0, rows, _TRANSPOSE_ROWS):
        columns[:, start : start + _TRANSPOSE_ROWS] = matrix[start : start + _TRANSPOSE_ROWS].T
    return columns


def _layout_rows(keys: np.ndarray) -> Iterator[tuple[int, slice | np.ndarray]]:
    """(key, rows) for each value of small non-negative ``keys``; one slice when all agree."""
    counts = np.bincount(keys)
    if counts.max() == len(keys):
        yield int(keys[0]), slice(None)
        return
    for key in np.flatnonzero(counts):
        yield int(key), np.flatnonzero(keys == key)


def _template_ok(columns: np.ndarray, pattern: str) -> np.ndarray:
    """Rows whose bytes follow ``pattern``: ``D`` a digit, ``?`` any byte, others themselves."""
    ok = np.ones(columns.shape[1], dtype=bool)
    scratch = np.empty(columns.shape[1], dtype=np.uint8)
    check = np.empty(columns.shape[1], dtype=bool)
    for at, char in enumerate(pattern):
        if char == "D":
            np.less_equal(np.subtract(columns[at], _DIGIT, out=scratch), 9, out=check)
        elif char != "?":
            np.equal(columns[at], ord(char), out=check)
        else:
            continue
        ok &= check
    return ok


def _two_digits(columns: np.ndarray, at: int) -> np.ndarray:
    return columns[at].astype(np.int32) * 10 + columns[at + 1] - 528  # 528 = "00"


# -- parsing timestamps and amounts ---------------------------------------------------------------

_DIGIT = ord("0")
_TRANSPOSE_ROWS = 1 << 14
#: Timestamps parsed from their bytes: ``YYYY-MM-DD(T| )HH:MM:SS``, then ``.`` and 1 to 6
#: digits, then nothing, ``Z`` or ``±HH:MM`` (19 to 32 bytes). Years outside this span and every
#: other shape go to pandas, whose reading is the rule.
_ISO_LENGTHS = (19, 32)
_FAST_YEARS = (1900, 2199)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_ISO_BASE = "DDDD-DD-DD?DD:DD:DD"
_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Longest amount parsed by Arrow (`_plain_decimals`); longer ones go to pandas.
_DECIMAL_DIGITS = 15


def _iso_micros(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch (UTC) of ISO-8601 texts of one length, and which parsed.

    At one length the zone (none, ``Z`` or ``±HH:MM``) fixes where every field is.
    """
    length, rows = columns.shape
    zone = (columns[length - 1] == ord("Z")).astype(np.int8)
    if length >= 25:
        sign, colon = columns[length - 6], columns[length - 3]
        zone[((sign == ord("+")) | (sign == ord("-"))) & (colon == ord(":"))] = 2
    micros = np.zeros(rows, dtype=np.int64)
    ok = np.zeros(rows, dtype=bool)
    for key, members in _layout_rows(zone):
        suffix = ("", "Z", "?DD:DD")[key]
        digits = length - len(_ISO_BASE) - len(suffix) - 1  # after the seconds' "."
        if digits == -1 or 1 <= digits <= 6:
            pattern = _ISO_BASE + ("." + "D" * digits if digits > 0 else "") + suffix
            part = columns if isinstance(members, slice) else columns[:, members]
            micros[members], ok[members] = _iso_layout(part, pattern, max(digits, 0), key == 2)
    return micros, ok


def _iso_layout(
    columns: np.ndarray, pattern: str, digits: int, zoned: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`_iso_micros` for rows of one pattern (``digits`` of a fraction, ``zoned``: ±HH:MM)."""
    ok = _template_ok(columns, pattern)
    ok &= (columns[10] == ord("T")) | (columns[10] == ord(" "))
    hour, minute = _two_digits(columns, 11), _two_digits(columns, 14)
    second = _two_digits(columns, 17)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    clock = (hour * 60 + minute) * 60 + second
    if zoned:  # ±HH:MM: local time minus the offset is UTC
        length = len(pattern)
        hours, minutes = _two_digits(columns, length - 5), _two_digits(columns, length - 2)
        ok &= (hours <= 23) & (minutes <= 59)
        offset = (hours * 60 + minutes) * 60
        clock -= np.where(columns[length - 6] == ord("-"), -offset, offset)
    days = _iso_days(columns, ok)
    micros = (days * 86_400 + clock) * 1_000_000
    if digits:
        fraction = columns[20].astype(np.int32) - _DIGIT
        for at in range(21, 20 + digits):
            fraction = fraction * 10 + columns[at] - _DIGIT
        micros += fraction * 10 ** (6 - digits)
    return micros, ok


def _iso_days(columns: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the ``YYYY-MM-DD`` start of each row; invalid dates fail ``ok``.

    A file usually holds one day: when every row has the first row's date, it is computed once.
    """
    first = columns[:10, 0].tobytes() if columns.shape[1] else b""
    if _DATE.fullmatch(first) and (columns[:10] == columns[:10, :1]).all():
        year, month, day = (np.array([int(first[a:b])]) for a, b in ((0, 4), (5, 7), (8, 10)))
    else:
        year = _two_digits(columns, 0) * 100 + _two_digits(columns, 2)
        month, day = _two_digits(columns, 5), _two_digits(columns, 8)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    days_in_month = _MONTH_DAYS[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ok &= (
        month_ok
        & (day >= 1)
        & (day <= days_in_month)
        & (year >= _FAST_YEARS[0])
        & (year <= _FAST_YEARS[1])
    )
    # The proleptic Gregorian day number (H. Hinnant's days_from_civil), here for years >= 0.
    shifted = year.astype(np.int64) - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _str_series(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    """Arrow text as a pandas ``str`` Series, without copying it."""
    return pd.Series(_STR.__from_arrow__(values))


def _parse_timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    text = values.astype("str").str.strip()
    # format="ISO8601" accepts 'Z', offsets and naive values; utc=True makes naive mean UTC.
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[us, UTC]")


def _parse_amounts(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype("str").str.strip()
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _micros(parsed: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return parsed.array.asi8.copy(), parsed.isna().to_numpy()


def _text_timestamps(values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds, unparseable) of text as read; values of other shapes than the common ones
    go, only they, through `_parse_timestamps` (which trims them first)."""
    micros = np.zeros(len(values), dtype=np.int64)
    parsed = np.zeros(len(values), dtype=bool)
    at = 0
    for chunk in values.chunks:
        for rows, matrix in _rows_by_length(chunk, *_ISO_LENGTHS):
            got, ok = _iso_micros(_columns(matrix))
            index = slice(at, at + len(chunk)) if isinstance(rows, slice) else rows + at
            micros[index], parsed[index] = got, ok
        present = _present(chunk)
        if present is not None:
            parsed[at : at + len(chunk)] &= present
        at += len(chunk)
    missing = ~parsed
    rest = np.flatnonzero(missing)
    if rest.size:
        micros[rest], missing[rest] = _micros(_parse_timestamps(_str_series(_take(values, rest))))
    return micros, missing


def _text_amounts(values: pa.ChunkedArray) -> np.ndarray:
    """Amounts of text as read; values other than plain decimals go, only they, through
    `_parse_amounts` (which trims them first)."""
    amounts = np.zeros(len(values), dtype=np.float64)
    parsed = np.zeros(len(values), dtype=bool)
    at = 0
    for chunk in values.chunks:
        stop = at + len(chunk)
        amounts[at:stop], parsed[at:stop] = _plain_decimals(chunk)
        at = stop
    rest = np.flatnonzero(~parsed)
    if rest.size:
        amounts[rest] = _parse_amounts(_str_series(_take(values, rest))).to_numpy()
    return amounts


def _plain_decimals(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values written as plain decimals (``147.37``, ``007``), and which were.

    Digits with at most one dot between them, at most 15 bytes: Arrow's parsing rounds
    correctly, and so does ``pd.to_numeric`` when the digits make an exact integer divided once
    by an exact power of ten, which at most 15 digits guarantee, so both give the same float.
    """
    offsets, data = _buffers(chunk)
    lengths = np.diff(offsets)
    ok = (lengths >= 1) & (lengths <= _DECIMAL_DIGITS)
    present = _present(chunk)
    if present is not None:
        ok &= present
    start, end = int(offsets[0]), int(offsets[-1])
    if end > start:
        used = data[start:end]
        odd = np.subtract(used, ord("0")) > 9  # neither a digit...
        odd &= used != ord(".")  # ...nor a dot
        _clear_rows(ok, offsets, np.flatnonzero(odd) + start)
        first = np.take(data, offsets[:-1], mode="clip")
        last = np.take(data, offsets[1:] - 1, mode="clip")
        ok &= (first != ord(".")) & (last != ord("."))  # ".5" and "5." are left to pandas
    for _ in range(2):
        text = chunk if ok.all() else pc.if_else(pa.array(ok), chunk, pa.scalar("0", _TEXT))
        try:
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), ok
        except pa.ArrowInvalid:  # a value with two dots, left to pandas
            dots = np.flatnonzero(data[start:end] == ord(".")) + start
            rows = np.searchsorted(offsets, dots, side="right") - 1
            ok[rows[1:][rows[1:] == rows[:-1]]] = False
    raise AssertionError("unreachable: only plain decimals are left")


def _clear_rows(mask: np.ndarray, offsets: np.ndarray, positions: np.ndarray) -> None:
    """Set ``mask`` false for the rows holding the data-buffer byte ``positions``."""
    if positions.size:
        mask[np.searchsorted(offsets, positions, side="right") - 1] = False


# -- validating a batch of rows -------------------------------------------------------------------


#: A contract column as read: Arrow text, or (typed Parquet columns, pandas input) a pandas Series
#: that keeps the pandas conversions these rules were written for.
_Column = pa.ChunkedArray | pd.Series


def _raw_rows(columns: Sequence[_Column], rows: np.ndarray) -> list[str]:
    """Rows as CSV text of ``columns``, values as read (only called for rejected rows).

    A value is written as read, before any trimming or parsing; each is cut to ``RAW_MAX_CHARS``
    first, so a megabyte-long field costs no megabyte-long string.
    """
    values = [
        _take(column, rows).to_pylist()
        if isinstance(column, pa.ChunkedArray)
        else column.iloc[rows].tolist()
        for column in columns
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    texts = []
    for record in zip(*values, strict=True) if values else [()] * len(rows):
        out.seek(0)
        out.truncate()
        writer.writerow(
            ["" if (v is None or v is pd.NA or v != v) else str(v)[:RAW_MAX_CHARS] for v in record]
        )
        texts.append(out.getvalue().rstrip("\n"))
    return texts


def _columns_of(rows: pa.Table) -> dict[str, _Column]:
    """The contract columns of a table (the first of a name given twice), in its order."""
    columns: dict[str, _Column] = {}
    typed: list[int] = []
    for index, name in enumerate(rows.column_names):
        if name not in LANDING_COLUMNS or name in columns:
            continue
        values = rows.column(index)
        if _is_text(values.type):
            columns[name] = _large_text(values)
        else:
            columns[name] = pd.Series(dtype=object)  # a placeholder, keeping the order
            typed.append(index)
    if typed:
        # As the rules were written: a typed column is what pandas makes of it.
        frame = rows.select(typed).to_pandas()
        for position, index in enumerate(typed):
            columns[rows.column_names[index]] = frame.iloc[:, position]
    return columns


def _columns_of_frame(rows: pd.DataFrame) -> dict[str, _Column]:
    columns: dict[str, _Column] = {}
    for position, name in enumerate(rows.columns):
        if name not in LANDING_COLUMNS or name in columns:
            continue
        values = rows.iloc[:, position]
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            columns[name] = _large_text(pa.chunked_array([pa.array(values.array)]))
        else:
            columns[name] = values
    return columns


def _nul_mask(values: _Column) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        return _nul_rows(values)
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return np.zeros(len(values), dtype=bool)
    return values.astype("str").str.contains(_NUL, regex=False).fillna(False).to_numpy(bool)


def _text(values: _Column) -> pa.ChunkedArray:
    if isinstance(values, pa.ChunkedArray):
        return _trimmed(values)
    stripped = values.astype("str").str.strip()
    return _large_text(pa.chunked_array([pa.array(stripped.array)]))


def _timestamps(values: _Column) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, pa.ChunkedArray):
        # Untrimmed: the byte shapes parsed here hold no whitespace, the rest is stripped later.
        return _text_timestamps(values)
    return _micros(_parse_timestamps(values))


def _amounts(values: _Column) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        return _text_amounts(values)
    return _parse_amounts(values).to_numpy(dtype=np.float64)


@dataclass
class _TextField:
    """A text field after trimming, with what its checks need."""

    values: pa.ChunkedArray
    empty: np.ndarray
    too_long: np.ndarray

    @classmethod
    def of(cls, values: pa.ChunkedArray) -> _TextField:
        lengths = _byte_lengths(values)
        empty = (lengths == 0) | _nulls(values)
        too_long = np.zeros(len(values), dtype=bool)
        # A character is at least one byte: only values longer in bytes can be too long.
        candidates = np.flatnonzero((lengths > MAX_TEXT_CHARS) & ~empty)
        if candidates.size:
            chars = pc.utf8_length(_take(values, candidates)).to_numpy()
            too_long[candidates] = chars > MAX_TEXT_CHARS
        return cls(values, empty, too_long)


#: Columns of a batch's valid rows, before the day adds ``partition_date`` and ``source_file``.
VALID_BATCH_SCHEMA = pa.schema(
    [
        ("transaction_id", _TEXT),
        ("timestamp", _UTC_MICROS),
        ("sender", _TEXT),
        ("receiver", _TEXT),
        ("amount", pa.float64()),
        ("currency", _TEXT),
        ("line", pa.int64()),
    ]
)


def validate_batch(
    rows: pa.Table | pa.RecordBatch, source_file: str, partition_date: str
) -> tuple[pa.Table, pd.DataFrame]:
    """Split one batch of a file's rows into valid transactions and rejected rows.

    ``rows`` holds the file's contract columns as read (text, or typed for Parquet) in the
    file's order, plus ``line``. Nothing here needs the rest of the file, so a file can be fed
    batch by batch; duplicates across the day are `duplicate_rows`' business. The valid rows
    come back as Arrow (`VALID_BATCH_SCHEMA`), the rejected ones as their table's rows.

    One caveat for batches: pandas reads an odd value in the light of the others it is given
    (a timestamp with nanoseconds makes every year beyond 2262 unparseable; an integer column
    with a null becomes floats), so the verdict on such a value can depend on its company.
    `ingest_day` gives pandas a whole file, as it always did; a batch gives it the batch.
    """
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
    lines = table.column("line").to_numpy().astype(np.int64, copy=False)
    named = [name for name in table.column_names if name != "line"]
    valid, rejections = _validate(_columns_of(table), named, lines, partition_date)
    return valid, _rejections_frame(partition_date, [(source_file, rejections)])


#: A batch's parsed timestamps (microseconds, unparseable) and amounts.
_Parsed = tuple[np.ndarray, np.ndarray, np.ndarray]


def _parse(columns: dict[str, _Column]) -> _Parsed:
    timestamps, amounts = _side_by_side(
        [lambda: _timestamps(columns["timestamp"]), lambda: _amounts(columns["amount"])]
    )
    return *timestamps, amounts


#: Threads validating one file: NumPy and Arrow release the GIL, so batches run side by side.
VALIDATION_THREADS = min(2, os.cpu_count() or 1)
_Result = TypeVar("_Result")


def _side_by_side(tasks: Sequence[Callable[[], _Result]]) -> list[_Result]:
    """The tasks' results, in order, computed on `VALIDATION_THREADS` threads."""
    if len(tasks) < 2 or VALIDATION_THREADS < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(VALIDATION_THREADS, thread_name_prefix="validate") as pool:
        return list(pool.map(lambda task: task(), tasks))


def _validate(
    columns: dict[str, _Column],
    named: list[str],
    lines: np.ndarray,
    partition_date: str,
    parsed: _Parsed | None = None,
) -> tuple[pa.Table, _Rejections]:
    """`validate_batch` on a batch's columns (`_columns_of`) and lines; ``parsed`` when the
    caller parsed timestamps and amounts over more rows (`_validate_file`)."""
    # The file's own column order, so `raw` reads like the row in the file.
    present = list(columns)
    rejections = _Rejections()
    twice = [c for c in LANDING_COLUMNS if named.count(c) > 1]
    missing = [c for c in LANDING_REQUIRED_COLUMNS if c not in columns]
    if twice or missing:
        # Which of two `amount` columns is the amount? Guessing would be worse than asking.
        if twice:
            name = twice[0]
            reason = f"column(s) named more than once in the header: {', '.join(twice)}"
        else:
            name, reason = missing[0], f"missing required column(s): {', '.join(missing)}"
        everything = np.arange(len(lines))
        raws = _raw_rows([columns[c] for c in present], everything) if present else None
        rows = len(lines)
        rejections.add(lines, [name] * rows, [reason] * rows, raws or [""] * rows)
        return VALID_BATCH_SCHEMA.empty_table(), rejections

    day_start = pd.Timestamp(partition_date, tz="UTC").value // 1_000
    day_end = day_start + 86_400 * 1_000_000
    transaction_id = _TextField.of(_text(columns["transaction_id"]))
    sender = _TextField.of(_text(columns["sender"]))
    receiver = _TextField.of(_text(columns["receiver"]))
    currency = _TextField.of(
        _text(columns["currency"])
        if "currency" in columns
        else pa.chunked_array([pa.nulls(len(lines), _TEXT)])
    )
    micros, unparseable, amount = _parse(columns) if parsed is None else parsed
    same = pc.fill_null(pc.equal(sender.values, receiver.values), False).to_numpy()

    def too_long(name: str, text: _TextField) -> tuple[str, np.ndarray, str]:
        return (name, text.too_long, f"{name} longer than {MAX_TEXT_CHARS} characters")

    # Checks in the order a person would fix them; the first failing one names the row's fault.
    # A NUL comes first: no other verdict could be stored with the row in PostgreSQL anyway.
    checks: list[tuple[str, np.ndarray, str]] = [
        (
            name,
            _nul_mask(columns[name]),
            f"NUL character in {name} (PostgreSQL text cannot hold it)",
        )
        for name in present
    ]
    with np.errstate(invalid="ignore"):
        checks += [
            ("transaction_id", transaction_id.empty, "empty transaction_id"),
            too_long("transaction_id", transaction_id),
            ("timestamp", unparseable, "unparseable timestamp (expected ISO-8601)"),
            (
                "timestamp",
                (micros < day_start) | (micros >= day_end),  # only read where parsed
                f"timestamp outside the partition day {partition_date} (UTC)",
            ),
            ("sender", sender.empty, "empty sender"),
            too_long("sender", sender),
            ("receiver", receiver.empty, "empty receiver"),
            too_long("receiver", receiver),
            ("receiver", same, "self-transfer (sender equals receiver)"),
            ("amount", np.isnan(amount), "amount is not a number"),
            ("amount", np.isinf(amount), "amount is not finite"),
            ("amount", amount <= 0, "amount must be greater than zero"),
            ("amount", amount > MAX_AMOUNT, f"amount above the maximum of {MAX_AMOUNT:.0e}"),
            too_long("currency", currency),
        ]
    failing = np.zeros(len(lines), dtype=bool)
    for _, mask, _ in checks:
        failing |= mask
    bad = np.flatnonzero(failing)
    if bad.size:
        # The first failing check of each bad row (few rows: a small matrix).
        first = np.stack([mask[bad] for _, mask, _ in checks]).argmax(axis=0)
        rejections.add(
            lines[bad],
            [checks[i][0] for i in first],
            [checks[i][2] for i in first],
            _raw_rows([columns[c] for c in present], bad),
        )

    def kept(values: pa.ChunkedArray) -> pa.ChunkedArray:
        return values if bad.size == 0 else _without_rows(values, bad)

    def kept_numbers(values: np.ndarray) -> np.ndarray:
        return values if bad.size == 0 else np.delete(values, bad)

    valid = pa.Table.from_arrays(
        [
            kept(transaction_id.values),
            pa.array(kept_numbers(micros).view("datetime64[us]"), _UTC_MICROS),
            kept(sender.values),
            kept(receiver.values),
            pa.array(kept_numbers(amount), pa.float64()),
            _empty_as_null(kept(currency.values)),
            pa.array(kept_numbers(lines), pa.int64()),
        ],
        schema=VALID_BATCH_SCHEMA,
    )
    return valid, rejections


def _without_rows(values: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``values`` without the (ascending) ``rows``, chunk by chunk."""
    parts = []
    start = 0
    for chunk in values.chunks:
        low, high = np.searchsorted(rows, [start, start + len(chunk)])
        parts.append(_chunk_without(chunk, rows[low:high] - start) if high > low else chunk)
        start += len(chunk)
    return pa.chunked_array(parts, type=values.type)


def _chunk_without(chunk: pa.Array, rows: np.ndarray) -> pa.Array:
    """A text chunk without some rows: the byte stretches between them joined in one copy and
    the offsets recomputed (Arrow's ``filter`` copies value by value)."""
    keep = np.ones(len(chunk), dtype=bool)
    keep[rows] = False
    if chunk.null_count:
        return chunk.filter(pa.array(keep))
    offsets, data = _buffers(chunk)
    lengths = np.diff(offsets)[keep]
    kept_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=kept_offsets[1:])
    starts = np.concatenate([offsets[:1], offsets[rows + 1]])
    ends = np.concatenate([offsets[rows], offsets[-1:]])
    pieces = [data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True) if b > a]
    kept_data = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)
    buffers = [None, pa.py_buffer(kept_offsets), pa.py_buffer(kept_data)]
    return pa.Array.from_buffers(_TEXT, len(lengths), buffers)


def _empty_as_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Empty text as null (a missing currency), by rewriting validity bitmaps only."""
    chunks = []
    for chunk in values.chunks:
        offsets, _ = _buffers(chunk)
        empty = offsets[1:] == offsets[:-1]
        if not empty.any():
            chunks.append(chunk)
            continue
        present = ~empty
        nulls = _present(chunk)
        if nulls is not None:
            present &= nulls
        validity = pa.py_buffer(np.packbits(present, bitorder="little"))
        # The offsets as seen from this chunk's first row (a view), the data buffer as it is.
        buffers = [validity, pa.py_buffer(offsets), chunk.buffers()[2]]
        chunks.append(pa.Array.from_buffers(_TEXT, len(chunk), buffers))
    return pa.chunked_array(chunks, type=_TEXT)


def validate_transactions(
    rows: pd.DataFrame | pa.Table, source_file: str, partition_date: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one file's rows into valid transactions and rejected rows (one reason per row).

    ``rows`` holds landing columns (text or typed) and ``line``. Duplicates across files are
    `stream_day`'s business: they need the rest of the day.
    """
    if isinstance(rows, pd.DataFrame):
        named = [str(name) for name in rows.columns if name != "line"]
        lines = rows["line"].to_numpy(dtype=np.int64)
        valid, rejections = _validate(_columns_of_frame(rows), named, lines, partition_date)
        rejected = _rejections_frame(partition_date, [(source_file, rejections)])
    else:
        valid, rejected = validate_batch(rows, source_file, partition_date)
    return _transactions_frame([_transactions_table(source_file, valid, partition_date)]), rejected


def _transactions_table(source_file: str, valid: pa.Table, partition_date: str) -> pa.Table:
    """A file's valid rows (`VALID_BATCH_SCHEMA`) as ``raw_transactions`` rows
    (`raw_transaction_schema`); the text columns stay the Arrow buffers they were read into."""
    added = {
        PARTITION_COLUMN: _repeated(partition_date, valid.num_rows),
        "source_file": _repeated(source_file, valid.num_rows),
    }
    columns = [added[c] if c in added else valid.column(c) for c in RAW_TRANSACTION_COLUMNS]
    return pa.Table.from_arrays(columns, schema=_RAW_TRANSACTION_SCHEMA)


def _transactions_frame(tables: Sequence[pa.Table]) -> pd.DataFrame:
    """``raw_transactions`` tables as one frame: one conversion, and the text columns stay
    the Arrow buffers they were read into."""
    if not tables:
        return empty_transactions()
    table = pa.concat_tables(tables)
    return table.to_pandas(types_mapper=lambda kind: _STR if kind == _TEXT else None)


def _repeated(text: str, rows: int) -> pa.Array:
    """``text`` on every row, built from its buffers (twice as fast as ``pa.repeat``)."""
    value = text.encode()
    offsets = np.arange(rows + 1, dtype=np.int64) * len(value)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(value * rows)]
    return pa.Array.from_buffers(_TEXT, rows, buffers)


# -- duplicates across the day --------------------------------------------------------------------

_HASH_SEED = 0x9E3779B97F4A7C15
_HASH_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)
#: Longest id hashed from its bytes (512 characters of UTF-8); longer ones share a hash and are
#: compared exactly.
_HASH_BYTES = 4 * MAX_TEXT_CHARS


def _row_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 32-bit hash of each row of a byte matrix, from 8-byte words read in place."""
    rows, length = matrix.shape
    matrix = np.ascontiguousarray(matrix)
    if length < 8:
        padded = np.zeros((rows, 8), dtype=np.uint8)
        padded[:, :length] = matrix
        words = [padded.view(np.uint64)[:, 0]]
    else:
        starts = [*range(0, length - 7, 8), *([length - 8] if length % 8 else [])]
        words = [
            np.ndarray((rows,), dtype="<u8", buffer=matrix, offset=start, strides=(length,))
            for start in starts
        ]
    hashes = np.full(rows, (length * _HASH_SEED) % (1 << 64), dtype=np.uint64)
    for word in words:
        hashes ^= word
        hashes *= _HASH_MULTIPLIER
        hashes ^= hashes >> np.uint64(31)
    return (hashes >> np.uint64(32)).astype(np.uint32)


def _id_hashes(transaction_ids: pa.ChunkedArray) -> np.ndarray:
    """A 32-bit hash of each id's bytes (`_row_hashes`, ids of one byte length at a time)."""
    hashes = np.zeros(len(transaction_ids), dtype=np.uint32)
    at = 0
    for chunk in transaction_ids.chunks:
        for rows, matrix in _rows_by_length(chunk, 0, _HASH_BYTES):
            index = slice(at, at + len(chunk)) if isinstance(rows, slice) else rows + at
            hashes[index] = _row_hashes(matrix)
        at += len(chunk)
    return hashes


def _first_occurrences(ids: pa.ChunkedArray) -> np.ndarray:
    """For each id, the position of the first equal one: an exact comparison, with Arrow's hash
    table (only called for the few ids that share a hash with another)."""
    codes = pc.dictionary_encode(ids.combine_chunks()).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)  # each code's first position, in order
    first_of_code = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    first_of_code[codes[first]] = first
    return first_of_code[codes]


_LOW_BITS = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
#: Bits of `_SeenIds`' filter per id kept, at least: a new hash passes it 1 time in 32 at most.
_FILTER_BITS_PER_ID = 32


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of every ``[start, end)``, one range after the other."""
    counts = ends - starts
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())


class _SeenIds:
    """The transaction ids a day has kept so far, to reject their repeats in its later rows.

    Per file, its kept ids (Arrow text, copied out of the file), their lines, and a run of keys
    ``hash << 32 | index``, sorted. A bitmap over the hashes' top bits (a one-hash Bloom filter,
    `_FILTER_BITS_PER_ID` bits an id, rebuilt larger as the day grows) tells most ids of a new
    file that no earlier id has their hash, without looking at the runs; the few others are
    looked up in each run. Only ids sharing a 32-bit hash (the repeats, and a few collisions)
    are compared, exactly. Some 40 bytes an id, where the day's rows would take hundreds, and
    no file's work grows with the ids before it but for that lookup of the few.
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.ids: list[pa.Array] = []
        self.lines: list[np.ndarray] = []
        self.sources: list[str] = []
        self.count = 0
        self.shift = np.uint64(32)
        self.bits = np.zeros(1, dtype=np.uint8)

    def repeats(self, valid: pa.Table, source_file: str) -> tuple[np.ndarray, list[str]]:
        """The rows of a file's ``valid`` rows whose id the day has seen before (in an earlier
        file or earlier in this one), with reasons naming the first occurrence; the ids of the
        other rows are remembered."""
        rows = valid.num_rows
        if rows == 0:
            return np.zeros(0, dtype=np.int64), []
        ids = valid.column("transaction_id")
        lines = valid.column("line").to_numpy()
        # This file's rows by hash, then row: hashes shared within the file are neighbours.
        mine = np.sort(
            _id_hashes(ids).astype(np.uint64) << _SHIFT | np.arange(rows, dtype=np.uint64)
        )
        hashes, order = mine >> _SHIFT, (mine & _LOW_BITS).astype(np.int64)
        found, earlier = self._lookup(hashes)
        shared = found.copy()
        pairs = hashes[1:] == hashes[:-1]
        shared[1:] |= pairs
        shared[:-1] |= pairs
        repeated, reasons = np.zeros(0, dtype=np.int64), []
        if shared.any():
            candidates = np.sort(order[shared])
            repeated, reasons = self._compare(ids, lines, source_file, earlier, candidates)
        if repeated.size:
            keep = np.ones(rows, dtype=bool)
            keep[repeated] = False
            kept = keep[order]
            index = (np.cumsum(keep) - 1).astype(np.uint64)
            mine = hashes[kept] << _SHIFT | index[order[kept]]
            ids, lines = ids.filter(pa.array(keep)), lines[keep]
        self.runs.append(mine)
        # A copy: only the ids stay, not the buffers of the file they were read from.
        self.ids.append(pa.concat_arrays(ids.chunks) if ids.num_chunks else pa.array([], _TEXT))
        self.lines.append(lines)
        self.sources.append(source_file)
        self.count += mine.size
        if not self._grown():
            self._mark(mine >> _SHIFT)
        return repeated, reasons

    def _lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """Which of the (sorted) ``hashes`` an earlier kept id has, and those ids, as (file,
        indices) in the day's order."""
        found = np.zeros(hashes.size, dtype=bool)
        spots = hashes >> self.shift
        maybe = np.flatnonzero(self.bits[spots >> 3] >> (spots & 7).astype(np.uint8) & 1)
        if maybe.size == 0:
            return found, []
        wanted = np.unique(hashes[maybe])
        hit = np.zeros(wanted.size, dtype=bool)
        earlier = []
        for file, run in enumerate(self.runs):
            starts = np.searchsorted(run, wanted << _SHIFT)
            there = run[np.minimum(starts, run.size - 1)] >> _SHIFT == wanted
            if there.any():
                hit |= there
                ends = np.searchsorted(run, wanted[there] << _SHIFT | _LOW_BITS, side="right")
                index = run[_ranges(starts[there], ends)] & _LOW_BITS
                earlier.append((file, np.sort(index)))
        found[maybe] = hit[np.searchsorted(wanted, hashes[maybe])]
        return found, earlier

    def _compare(
        self,
        ids: pa.ChunkedArray,
        lines: np.ndarray,
        source_file: str,
        earlier: list[tuple[int, np.ndarray]],
        rows: np.ndarray,
    ) -> tuple[np.ndarray, list[str]]:
        """`repeats` among the ids that share a hash: the ``earlier`` kept ids and this file's
        ``rows``, compared exactly, in the day's order."""
        seen = [self.ids[file].take(pa.array(index)) for file, index in earlier]
        firsts = _first_occurrences(pa.chunked_array([*seen, *_take(ids, rows).chunks], _TEXT))
        # Where each candidate is: its file (this one comes next) and line.
        files = [np.full(index.size, file) for file, index in earlier]
        where = np.concatenate([*files, np.full(rows.size, len(self.sources))])
        at = np.concatenate([*(self.lines[file][index] for file, index in earlier), lines[rows]])
        repeat = firsts != np.arange(firsts.size)  # earlier ids are unique: only this file's
        sources = [*self.sources, source_file]
        reasons = [
            f"duplicate transaction_id (first seen in {sources[f]} line {n})"
            for f, n in zip(
                where[firsts[repeat]].tolist(), at[firsts[repeat]].tolist(), strict=True
            )
        ]
        return rows[repeat[firsts.size - rows.size :]], reasons

    def _grown(self) -> bool:
        """Whether the filter had to grow for ``count`` ids, and was rebuilt from the runs (four
        times larger each time, so that rebuilding costs a third of marking, at most)."""
        if self.bits.size * 8 >= _FILTER_BITS_PER_ID * self.count:
            return False
        bits = min(32, max(20, (4 * _FILTER_BITS_PER_ID * self.count - 1).bit_length()))
        self.shift = np.uint64(32 - bits)
        self.bits = np.zeros(1 << (bits - 3), dtype=np.uint8)
        for run in self.runs:
            self._mark(run >> _SHIFT)
        return True

    def _mark(self, hashes: np.ndarray) -> None:
        spots = hashes >> self.shift
        np.bitwise_or.at(self.bits, spots >> 3, np.left_shift(1, spots & 7).astype(np.uint8))


# -- a day ---------------------------------------------------------------------------------------


#: Rows validated at a time: every intermediate array stays a few megabytes, which the
#: allocator reuses, where arrays the size of a whole file would be fresh memory every time.
BATCH_ROWS = 1 << 18


def _validate_file(landing: LandingFile, partition_date: str) -> tuple[pa.Table, _Rejections]:
    """`_validate` over a file in batches of `BATCH_ROWS`, after the reader's own rejections.

    Typed columns become pandas, and timestamps and amounts are parsed, once for the whole
    file, as the rules were written: pandas' readings depend on the other values they are
    given (an integer column with a null anywhere becomes floats everywhere; one timestamp with
    nanoseconds makes years beyond 2262 unparseable), and a file was always given whole.
    """
    rows = landing.rows
    columns = _columns_of(rows)
    named = [name for name in rows.column_names if name != "line"]
    lines = rows.column("line").to_numpy()
    rejections = _Rejections.of_frame(landing.rejected)
    checked = (
        all(named.count(c) == 1 for c in LANDING_REQUIRED_COLUMNS) and named.count("currency") <= 1
    )
    parsed = _parse(columns) if checked and rows.num_rows else None

    def batch(start: int) -> Callable[[], tuple[pa.Table, _Rejections]]:
        stop = min(start + BATCH_ROWS, rows.num_rows)
        part = {
            name: values.slice(start, stop - start)
            if isinstance(values, pa.ChunkedArray)
            else values.iloc[start:stop]
            for name, values in columns.items()
        }
        done = None if parsed is None else tuple(values[start:stop] for values in parsed)
        return lambda: _validate(part, named, lines[start:stop], partition_date, done)

    results = _side_by_side([batch(start) for start in range(0, rows.num_rows, BATCH_ROWS)])
    for _, rejected in results:
        rejections.extend(rejected)
    valid_parts = [valid for valid, _ in results]
    valid = pa.concat_tables(valid_parts) if valid_parts else VALID_BATCH_SCHEMA.empty_table()
    return valid, rejections


def _drop_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    return table.filter(pa.array(keep))


class _Day:
    """A day being streamed: each file validated, rid of ids seen before, written, dropped."""

    def __init__(self, partition_date: str, write: Callable[[pa.Table], None]) -> None:
        self.partition_date = partition_date
        self.write = write
        self.seen = _SeenIds()
        self.files: list[FileReport] = []
        self.rejected: list[tuple[str, _Rejections]] = []
        #: Kept apart: the day's rejected frame lists every file's duplicates after the rest.
        self.duplicates: list[tuple[str, _Rejections]] = []

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
            duplicates = _Rejections()
            duplicates.add(
                repeat_lines,
                ["transaction_id"] * repeated.size,
                reasons,
                _raw_rows(list(_columns_of(landing.rows).values()), at),
            )
            self.duplicates.append((source, duplicates))
            valid = _drop_rows(valid, repeated)
        if valid.num_rows:
            self.write(_transactions_table(source, valid, self.partition_date))

    def summary(self, bytes_read: int) -> IngestSummary:
        rejected = _rejections_frame(self.partition_date, [*self.rejected, *self.duplicates])
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
        valid=_transactions_frame(tables), rejected=summary.rejected, files=summary.files
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
