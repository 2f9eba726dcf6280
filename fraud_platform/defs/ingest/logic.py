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

A day is read whole into memory, so ``ingest_day`` refuses a day whose files add up to more than
a byte budget before reading any of them (`DayTooLargeError`), rather than being killed for
running out of memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dagster import Failure
from upath import UPath

from fraud_platform.storage.object_store import (
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
    """A landing file's rows as text, before validation, or the reason it could not be read."""

    source_file: str
    rows: pd.DataFrame  # LANDING_COLUMNS that exist (text) plus `line`; missing columns absent
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


def empty_rejected() -> pd.DataFrame:
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


class DayTooLargeError(Failure):
    """A day's files exceed the input budget; raised before any of them is read.

    A Dagster `Failure` without retries: the files do not shrink by waiting.
    """

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


def _size_text(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"


def day_budget_error(
    partition_date: str, sizes: Mapping[str, int], max_day_bytes: int
) -> str | None:
    """Why a day whose files have ``sizes`` (name -> bytes) cannot be read, or None if it can."""
    total = sum(sizes.values())
    if total <= max_day_bytes:
        return None
    largest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:3]
    shown = ", ".join(f"{name} {_size_text(size)}" for name, size in largest)
    more = f" and {len(sizes) - len(largest)} more" if len(sizes) > len(largest) else ""
    return (
        f"day {partition_date} not read: its {len(sizes)} landing file(s) hold "
        f"{_size_text(total)}, above the input budget of {_size_text(max_day_bytes)} "
        f"(LandingZone.max_day_bytes, set by FRAUD_MAX_DAY_BYTES). Largest: {shown}{more}. "
        "A day is read whole into memory: raise the budget on a machine with several times that "
        "memory, or split the day's files across partitions."
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


def _read_csv_bytes(data: bytes) -> tuple[pd.DataFrame, list[BrokenLine]]:
    """Parse CSV bytes into text columns; returns (rows with `line`, unparseable lines).

    pyarrow's multi-threaded reader is the fast path; every column is read as text, so ``007``
    stays ``007``. It numbers rows, not physical lines, and refuses ragged rows and Latin-1, so
    files with blank lines, quoted newlines, ragged rows or bytes that are not UTF-8 go through
    the standard-library reader instead.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if _needs_exact_reader(data):
        return _read_csv_exact(data)
    try:
        header = _header_names(data)
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                # Read everything as text: validation decides what a value means.
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                auto_dict_encode=False,
            ),
        )
        # A header name the line split above read differently would have been type-inferred.
        text = table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
        return _read_csv_exact(data)
    rows = text.to_pandas(types_mapper=lambda _t: pd.StringDtype("pyarrow", na_value=np.nan))
    rows["line"] = np.arange(2, len(rows) + 2, dtype="int64")
    return rows, []


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


def _read_csv_exact(data: bytes) -> tuple[pd.DataFrame, list[BrokenLine]]:
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
            return pd.DataFrame({"line": pd.Series(dtype="int64")}), []
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
    rows = pd.DataFrame(records, columns=header, dtype="str")
    rows["line"] = np.asarray(numbers, dtype="int64")
    return rows, broken


# -- reading a file -------------------------------------------------------------------------------


def _read_parquet_bytes(data: bytes) -> pd.DataFrame:
    """The contract columns of a Parquet file (others are not even decoded), in file order."""
    parquet = pq.ParquetFile(pa.BufferReader(data))
    names = [name for name in parquet.schema_arrow.names if name in LANDING_COLUMNS]
    table = parquet.read(columns=names) if names else parquet.read(columns=[])
    for index, column in enumerate(table.schema):
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            # Text written as bytes: must be UTF-8 like any other text (raises if not).
            table = table.set_column(index, column.name, table.column(index).cast(pa.string()))
    rows = table.to_pandas()
    if not names:  # no contract column: the row count must survive for the rejection
        rows = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    rows["line"] = np.arange(2, len(rows) + 2, dtype="int64")
    return rows


def read_landing_file(path: UPath, partition_date: str) -> LandingFile:
    """Read one landing file into text columns; a file that cannot be read at all is reported.

    The bytes are fetched first: a fault of the store (refused credentials, unreachable S3, a
    file gone since the listing) fails the step, so its retries apply; anything wrong with the
    bytes themselves is bad data, recorded against the file.
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
    with object_store_errors(path, "read"):
        data = path.read_bytes()
    if name.endswith(PARQUET_SUFFIXES):
        try:
            rows = _read_parquet_bytes(data)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            return _unreadable(source, partition_date, f"unreadable Parquet file: {exc}")
        return LandingFile(source, rows)
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return _unreadable(source, partition_date, f"unreadable gzip file: {exc}")
    if not data.strip():
        return LandingFile(source, pd.DataFrame({"line": pd.Series(dtype="int64")}))
    try:
        rows, broken = _read_csv_bytes(data)
    except ValueError as exc:
        return _unreadable(source, partition_date, f"unreadable CSV file: {exc}")
    rows.columns = [str(c).strip() for c in rows.columns]
    keep = [c for c in rows.columns if c in LANDING_COLUMNS]
    rejected = _rejected_frame(
        partition_date,
        source,
        [line for line, _, _ in broken],
        "row",
        [reason for _, reason, _ in broken],
        [raw for _, _, raw in broken],
    )
    return LandingFile(source, rows[[*keep, "line"]], rejected)


def _unreadable(source: str, partition_date: str, reason: str) -> LandingFile:
    # The whole file is one rejected record: its rows cannot be counted, so line 0 stands for it.
    rejected = _rejected_frame(partition_date, source, [0], "file", [reason], [""])
    return LandingFile(source, pd.DataFrame({"line": pd.Series(dtype="int64")}), rejected)


def _storable(values: pd.Series) -> pd.Series:
    """Text PostgreSQL can store: a NUL becomes U+FFFD, the replacement character."""
    return values.str.replace(_NUL, "\ufffd", regex=False)


def _rejected_frame(
    partition_date: str,
    source: str,
    lines: Sequence[int] | np.ndarray,
    field_name: str | Sequence[str],
    reasons: Sequence[str] | str,
    raws: Sequence[str] | pd.Series,
) -> pd.DataFrame:
    n = len(lines)
    if n == 0:
        return empty_rejected()
    frame = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series([partition_date] * n, dtype="str"),
            "source_file": _storable(pd.Series([source] * n, dtype="str")),
            "line": np.asarray(lines, dtype="int64"),
            "field": pd.Series(
                [field_name] * n if isinstance(field_name, str) else list(field_name), dtype="str"
            ),
            # A reason may quote a value or a parser's message: it is stored text too.
            "reason": _storable(
                pd.Series([reasons] * n if isinstance(reasons, str) else list(reasons), dtype="str")
            ),
            "raw": _storable(pd.Series(list(raws), dtype="str").str.slice(0, RAW_MAX_CHARS)),
        }
    )
    return frame


def _raw_rows(rows: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Rejected rows as CSV text of ``columns`` (only called for rejected rows: may be slow).

    A value is written as read, before any trimming or parsing; each is cut to ``RAW_MAX_CHARS``
    first, so a megabyte-long field costs no megabyte-long string.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    texts = []
    for record in rows[list(columns)].itertuples(index=False):
        out.seek(0)
        out.truncate()
        writer.writerow(
            ["" if (v is None or v is pd.NA or v != v) else str(v)[:RAW_MAX_CHARS] for v in record]
        )
        texts.append(out.getvalue().rstrip("\n"))
    return pd.Series(texts, index=rows.index, dtype="str")


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


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip()


def _has_nul(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return pd.Series(False, index=values.index)
    return values.astype("str").str.contains(_NUL, regex=False)


def _whole_file_rejected(
    rows: pd.DataFrame,
    source_file: str,
    partition_date: str,
    field_name: str,
    reason: str,
    present: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    raws = _raw_rows(rows, present) if present else [""] * len(rows)
    rejected = _rejected_frame(
        partition_date, source_file, rows["line"].to_numpy(), field_name, reason, raws
    )
    return empty_transactions(), rejected


def validate_transactions(
    rows: pd.DataFrame, source_file: str, partition_date: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one file's rows into valid transactions and rejected rows (one reason per row).

    ``rows`` holds landing columns (text or typed) and ``line``. Duplicates across files are
    handled by :func:`reject_duplicates`, which needs the whole day.
    """
    named = list(rows.columns)
    twice = [c for c in LANDING_COLUMNS if named.count(c) > 1]
    if twice:
        # Which of two `amount` columns is the amount? Guessing would be worse than asking.
        rows = rows.loc[:, ~rows.columns.duplicated()]
    # The file's own column order, so `raw` reads like the row in the file.
    present = [c for c in rows.columns if c in LANDING_COLUMNS]
    if twice:
        reason = f"column(s) named more than once in the header: {', '.join(twice)}"
        return _whole_file_rejected(rows, source_file, partition_date, twice[0], reason, present)
    missing = [c for c in LANDING_REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        reason = f"missing required column(s): {', '.join(missing)}"
        return _whole_file_rejected(rows, source_file, partition_date, missing[0], reason, present)

    day_start = pd.Timestamp(partition_date, tz="UTC")
    day_end = day_start + pd.Timedelta(days=1)

    transaction_id = _text(rows["transaction_id"])
    sender = _text(rows["sender"])
    receiver = _text(rows["receiver"])
    currency = (
        _text(rows["currency"])
        if "currency" in rows.columns
        else pd.Series(pd.NA, index=rows.index, dtype="str")
    )
    timestamp = _parse_timestamps(rows["timestamp"])
    amount = _parse_amounts(rows["amount"])
    text = {
        "transaction_id": transaction_id,
        "sender": sender,
        "receiver": receiver,
        "currency": currency,
    }

    def too_long(name: str) -> tuple[str, pd.Series, str]:
        reason = f"{name} longer than {MAX_TEXT_CHARS} characters"
        return (name, text[name].str.len() > MAX_TEXT_CHARS, reason)

    # Checks in the order a person would fix them; the first failing one names the row's fault.
    # A NUL comes first: no other verdict could be stored with the row in PostgreSQL anyway.
    checks: list[tuple[str, pd.Series, str]] = [
        (name, _has_nul(rows[name]), f"NUL character in {name} (PostgreSQL text cannot hold it)")
        for name in present
    ]
    checks += [
        ("transaction_id", transaction_id.isna() | (transaction_id == ""), "empty transaction_id"),
        too_long("transaction_id"),
        ("timestamp", timestamp.isna(), "unparseable timestamp (expected ISO-8601)"),
        (
            "timestamp",
            (timestamp < day_start) | (timestamp >= day_end),
            f"timestamp outside the partition day {partition_date} (UTC)",
        ),
        ("sender", sender.isna() | (sender == ""), "empty sender"),
        too_long("sender"),
        ("receiver", receiver.isna() | (receiver == ""), "empty receiver"),
        too_long("receiver"),
        ("receiver", sender == receiver, "self-transfer (sender equals receiver)"),
        ("amount", amount.isna(), "amount is not a number"),
        ("amount", ~np.isfinite(amount.fillna(0.0)), "amount is not finite"),
        ("amount", amount <= 0, "amount must be greater than zero"),
        ("amount", amount > MAX_AMOUNT, f"amount above the maximum of {MAX_AMOUNT:.0e}"),
        too_long("currency"),
    ]
    failed = np.full(len(rows), -1, dtype="int64")  # index into `checks` of the first failure
    for index, (_, mask, _) in enumerate(checks):
        hit = mask.fillna(False).to_numpy(dtype=bool) & (failed < 0)
        failed[hit] = index
    bad = failed >= 0

    rejected = empty_rejected()
    if bad.any():
        bad_rows = rows[bad]
        rejected = _rejected_frame(
            partition_date,
            source_file,
            bad_rows["line"].to_numpy(),
            [checks[i][0] for i in failed[bad]],
            [checks[i][2] for i in failed[bad]],
            _raw_rows(bad_rows, present),
        )

    good = ~bad
    valid = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(partition_date, index=rows.index[good], dtype="str"),
            "transaction_id": transaction_id[good],
            "timestamp": timestamp[good],
            "sender": sender[good],
            "receiver": receiver[good],
            "amount": amount[good],
            "currency": currency[good].replace("", pd.NA).astype("str"),
            "source_file": pd.Series(source_file, index=rows.index[good], dtype="str"),
            "line": rows["line"][good].astype("int64"),
        }
    ).reset_index(drop=True)
    return valid, rejected


def reject_duplicates(
    valid: pd.DataFrame, originals: Mapping[str, pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first row of each transaction_id in the day; reject the others, naming the first.

    ``originals`` (source file -> that file's rows as read, with ``line``) gives the rejected
    rows their ``raw`` text as read; without it ``raw`` is rebuilt from the parsed values.
    """
    dup = valid.duplicated("transaction_id", keep="first").to_numpy()
    if not dup.any():
        return valid, empty_rejected()
    firsts = valid[~dup].set_index("transaction_id")
    dups = valid[dup]
    first_file = firsts["source_file"].reindex(dups["transaction_id"]).to_numpy()
    first_line = firsts["line"].reindex(dups["transaction_id"]).to_numpy()
    reasons = pd.Series(
        [
            f"duplicate transaction_id (first seen in {f} line {n})"
            for f, n in zip(first_file, first_line, strict=True)
        ],
        index=dups.index,
        dtype="str",
    )
    parts = []
    for src, group in dups.groupby("source_file", sort=False):
        original = (originals or {}).get(str(src))
        if original is not None:
            at = pd.Index(original["line"]).get_indexer(group["line"])
            columns = [c for c in original.columns if c in LANDING_COLUMNS]
            raws = _raw_rows(original.iloc[at], columns).tolist()
        else:
            columns = [c for c in LANDING_COLUMNS if c in group.columns]
            raws = _raw_rows(group.assign(timestamp=group["timestamp"].astype("str")), columns)
        parts.append(
            _rejected_frame(
                str(group[PARTITION_COLUMN].iloc[0]),
                str(src),
                group["line"].to_numpy(),
                "transaction_id",
                reasons[group.index].tolist(),
                raws,
            )
        )
    rejected = pd.concat(parts, ignore_index=True)
    return valid[~dup].reset_index(drop=True), rejected


def ingest_files(files: Sequence[LandingFile], partition_date: str) -> IngestResult:
    """Validate every file of a day, then reject duplicates across the day's files."""
    valid_parts: list[pd.DataFrame] = []
    rejected_parts: list[pd.DataFrame] = []
    reports: list[FileReport] = []
    for landing in files:
        valid, rejected = validate_transactions(landing.rows, landing.source_file, partition_date)
        rejected = pd.concat([landing.rejected, rejected], ignore_index=True)
        file_error = rejected["reason"].iloc[0] if (rejected["field"] == "file").any() else None
        # Rows the reader could not split (and an unreadable file, as one record) count as read.
        reports.append(
            FileReport(
                source_file=landing.source_file,
                rows_read=len(landing.rows) + len(landing.rejected),
                error=file_error,
            )
        )
        valid_parts.append(valid)
        rejected_parts.append(rejected)
    valid = pd.concat(valid_parts, ignore_index=True) if valid_parts else empty_transactions()
    valid, duplicates = reject_duplicates(valid, {f.source_file: f.rows for f in files})
    rejected = pd.concat([*rejected_parts, duplicates], ignore_index=True)
    _count(reports, valid, rejected)
    return IngestResult(valid=valid, rejected=rejected, files=reports)


def _count(reports: list[FileReport], valid: pd.DataFrame, rejected: pd.DataFrame) -> None:
    valid_counts = valid["source_file"].value_counts()
    rejected_counts = rejected["source_file"].value_counts()
    for report in reports:
        report.rows_valid = int(valid_counts.get(report.source_file, 0))
        report.rows_rejected = int(rejected_counts.get(report.source_file, 0))


def ingest_day(
    landing_url: str, partition_date: str, max_day_bytes: int | None = None
) -> IngestResult:
    """Read and validate every landing file of one day.

    With ``max_day_bytes`` the files' sizes are checked first, and a day above it raises
    `DayTooLargeError` before anything is read.
    """
    paths = list_landing_files(landing_url, partition_date)
    if max_day_bytes is not None and paths:
        error = day_budget_error(partition_date, landing_file_sizes(paths), max_day_bytes)
        if error:
            raise DayTooLargeError(error)
    return ingest_files([read_landing_file(p, partition_date) for p in paths], partition_date)
