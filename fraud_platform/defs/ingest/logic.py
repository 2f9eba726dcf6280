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
  accounts). Account ids are stored verbatim, whatever characters they contain.
- A ``transaction_id`` seen earlier in the day (same file or an earlier file, files in name order)
  is rejected as a duplicate; the first occurrence is kept.

Each rejected row records the file, the line (the CSV's physical line, header = line 1; for Parquet
the row number + 1), the first field that failed, the reason and the raw row, so that for every
file ``rows read = rows valid + rows rejected``.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
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
    """The day's files in name order (the order that decides which duplicate is kept)."""
    folder = day_folder(landing_url, partition_date)
    with object_store_errors(folder, "list"):
        if not folder.exists():
            return []
        return sorted(
            (p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))),
            key=lambda p: p.name,
        )


def _read_csv_bytes(data: bytes) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Parse CSV bytes into text columns; returns (rows with `line`, unparseable rows).

    pyarrow's multi-threaded reader is the fast path. It cannot report physical line numbers of
    ragged rows nor read Latin-1, so such files go through the standard-library reader instead.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={},
                strings_can_be_null=False,
                # Read everything as text: validation decides what a value means.
                auto_dict_encode=False,
            ),
        )
        if b"\n" in data and _has_quoted_newlines(data):
            raise pa.ArrowInvalid("quoted newlines: line numbers need the exact reader")
        text = table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))
        rows = text.to_pandas(types_mapper=lambda _t: pd.StringDtype("pyarrow", na_value=np.nan))
        rows["line"] = np.arange(2, len(rows) + 2, dtype="int64")
        return rows, []
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _read_csv_exact(data)


def _has_quoted_newlines(data: bytes) -> bool:
    # Cheap guard: an odd number of quotes on some line means a quoted value spans lines.
    return data.count(b'"') > 0 and any(line.count(b'"') % 2 for line in data.splitlines())


def _read_csv_exact(data: bytes) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Standard-library CSV reading with exact physical line numbers and ragged-row detection."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return pd.DataFrame({"line": pd.Series(dtype="int64")}), []
    width = len(header)
    records: list[list[str]] = []
    lines: list[int] = []
    broken: list[tuple[int, str, str]] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if len(record) != width:
                reason = f"expected {width} fields, found {len(record)}"
                broken.append((start, reason, ",".join(record)))
            else:
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        broken.append((start, f"malformed CSV: {exc}", ""))
    rows = pd.DataFrame(records, columns=header, dtype="str")
    rows["line"] = np.asarray(lines, dtype="int64")
    return rows, broken


def read_landing_file(path: UPath, partition_date: str) -> LandingFile:
    """Read one landing file into text columns; a file that cannot be read at all is reported."""
    name = path.name
    # Named relative to the landing zone, so the record reads the same in every deployment.
    source = f"date={partition_date}/{name}"
    # Access faults (refused credentials, unreachable S3) are not bad data: they fail the run.
    if name.endswith(PARQUET_SUFFIXES):
        try:
            with object_store_errors(path, "read"), path.open("rb") as handle:
                table = pq.read_table(handle)
        except ObjectStoreAccessError:
            raise
        except Exception as exc:  # pyarrow raises several types for corrupt files
            return _unreadable(source, partition_date, f"unreadable Parquet file: {exc}")
        rows = table.to_pandas()
        keep = [c for c in LANDING_COLUMNS if c in rows.columns]
        rows = rows[keep].copy()
        rows["line"] = np.arange(2, len(rows) + 2, dtype="int64")
        return LandingFile(source, rows)
    if name.endswith(CSV_SUFFIXES):
        try:
            with object_store_errors(path, "read"):
                data = path.read_bytes()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            return _unreadable(source, partition_date, f"unreadable gzip file: {exc}")
        if not data.strip():
            return LandingFile(source, pd.DataFrame({"line": pd.Series(dtype="int64")}))
        rows, broken = _read_csv_bytes(data)
        rows.columns = [str(c).strip() for c in rows.columns]
        keep = [c for c in LANDING_COLUMNS if c in rows.columns]
        rejected = _rejected_frame(
            partition_date,
            source,
            [line for line, _, _ in broken],
            "row",
            [reason for _, reason, _ in broken],
            [raw for _, _, raw in broken],
        )
        return LandingFile(source, rows[[*keep, "line"]], rejected)
    return _unreadable(
        source,
        partition_date,
        f"unknown file format {name!r}: expected .csv, .csv.gz or .parquet",
    )


def _unreadable(source: str, partition_date: str, reason: str) -> LandingFile:
    # The whole file is one rejected record: its rows cannot be counted, so line 0 stands for it.
    rejected = _rejected_frame(partition_date, source, [0], "file", [reason], [""])
    return LandingFile(source, pd.DataFrame({"line": pd.Series(dtype="int64")}), rejected)


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
            "source_file": pd.Series([source] * n, dtype="str"),
            "line": np.asarray(lines, dtype="int64"),
            "field": pd.Series(
                [field_name] * n if isinstance(field_name, str) else list(field_name), dtype="str"
            ),
            "reason": pd.Series([reasons] * n if isinstance(reasons, str) else list(reasons)),
            "raw": pd.Series(list(raws), dtype="str").str.slice(0, RAW_MAX_CHARS),
        }
    )
    frame["reason"] = frame["reason"].astype("str")
    return frame


def _raw_rows(rows: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Rebuild rejected rows as CSV text (only called for rejected rows, so it may be slow)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    texts = []
    for record in rows[list(columns)].itertuples(index=False):
        out.seek(0)
        out.truncate()
        writer.writerow(["" if (v is None or v is pd.NA or v != v) else v for v in record])
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


def validate_transactions(
    rows: pd.DataFrame, source_file: str, partition_date: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one file's rows into valid transactions and rejected rows (one reason per row).

    ``rows`` holds landing columns (text or typed) and ``line``. Duplicates across files are
    handled by :func:`reject_duplicates`, which needs the whole day.
    """
    missing = [c for c in LANDING_REQUIRED_COLUMNS if c not in rows.columns]
    present = [c for c in LANDING_COLUMNS if c in rows.columns]
    if missing:
        reason = f"missing required column(s): {', '.join(missing)}"
        rejected = _rejected_frame(
            partition_date,
            source_file,
            rows["line"].to_numpy(),
            missing[0],
            reason,
            _raw_rows(rows, present) if present else [""] * len(rows),
        )
        return empty_transactions(), rejected

    day_start = pd.Timestamp(partition_date, tz="UTC")
    day_end = day_start + pd.Timedelta(days=1)

    transaction_id = _text(rows["transaction_id"])
    sender = _text(rows["sender"])
    receiver = _text(rows["receiver"])
    timestamp = _parse_timestamps(rows["timestamp"])
    amount = _parse_amounts(rows["amount"])

    # Checks in the order a person would fix them; the first failing one names the row's fault.
    checks: list[tuple[str, pd.Series, pd.Series | str]] = [
        ("transaction_id", transaction_id.isna() | (transaction_id == ""), "empty transaction_id"),
        ("timestamp", timestamp.isna(), "unparseable timestamp (expected ISO-8601)"),
        (
            "timestamp",
            (timestamp < day_start) | (timestamp >= day_end),
            f"timestamp outside the partition day {partition_date} (UTC)",
        ),
        ("sender", sender.isna() | (sender == ""), "empty sender"),
        ("receiver", receiver.isna() | (receiver == ""), "empty receiver"),
        ("receiver", sender == receiver, "self-transfer (sender equals receiver)"),
        ("amount", amount.isna(), "amount is not a number"),
        ("amount", ~np.isfinite(amount.fillna(0.0)), "amount is not finite"),
        ("amount", amount <= 0, "amount must be greater than zero"),
        ("amount", amount > MAX_AMOUNT, f"amount above the maximum of {MAX_AMOUNT:.0e}"),
    ]
    failed_field = pd.Series(pd.NA, index=rows.index, dtype="str")
    failed_reason = pd.Series(pd.NA, index=rows.index, dtype="str")
    for name, mask, reason in checks:
        hit = mask.fillna(False).to_numpy(dtype=bool) & failed_field.isna().to_numpy()
        if hit.any():
            failed_field[hit] = name
            failed_reason[hit] = reason
    bad = failed_field.notna().to_numpy()

    rejected = empty_rejected()
    if bad.any():
        bad_rows = rows[bad]
        rejected = _rejected_frame(
            partition_date,
            source_file,
            bad_rows["line"].to_numpy(),
            failed_field[bad].tolist(),
            failed_reason[bad].tolist(),
            _raw_rows(bad_rows, present),
        )

    good = ~bad
    currency = (
        _text(rows["currency"])[good].replace("", pd.NA)
        if "currency" in rows.columns
        else pd.Series(pd.NA, index=rows.index[good], dtype="str")
    )
    valid = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(partition_date, index=rows.index[good], dtype="str"),
            "transaction_id": transaction_id[good],
            "timestamp": timestamp[good],
            "sender": sender[good],
            "receiver": receiver[good],
            "amount": amount[good],
            "currency": currency.astype("str"),
            "source_file": pd.Series(source_file, index=rows.index[good], dtype="str"),
            "line": rows["line"][good].astype("int64"),
        }
    ).reset_index(drop=True)
    return valid, rejected


def reject_duplicates(valid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first row of each transaction_id in the day; reject the others, naming the first."""
    dup = valid.duplicated("transaction_id", keep="first").to_numpy()
    if not dup.any():
        return valid, empty_rejected()
    firsts = valid[~dup].set_index("transaction_id")
    dups = valid[dup]
    first_file = firsts["source_file"].reindex(dups["transaction_id"]).to_numpy()
    first_line = firsts["line"].reindex(dups["transaction_id"]).to_numpy()
    reasons = [
        f"duplicate transaction_id (first seen in {f} line {n})"
        for f, n in zip(first_file, first_line, strict=True)
    ]
    raw_columns = ["transaction_id", "timestamp", "sender", "receiver", "amount", "currency"]
    raws = _raw_rows(dups.assign(timestamp=dups["timestamp"].astype("str")), raw_columns)
    rejected = pd.concat(
        [
            _rejected_frame(
                str(dups[PARTITION_COLUMN].iloc[0]),
                src,
                group["line"].to_numpy(),
                "transaction_id",
                [reasons[i] for i in np.flatnonzero(dups["source_file"].to_numpy() == src)],
                raws[group.index],
            )
            for src, group in dups.groupby("source_file", sort=False)
        ],
        ignore_index=True,
    )
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
    valid, duplicates = reject_duplicates(valid)
    rejected = pd.concat([*rejected_parts, duplicates], ignore_index=True)
    _count(reports, valid, rejected)
    return IngestResult(valid=valid, rejected=rejected, files=reports)


def _count(reports: list[FileReport], valid: pd.DataFrame, rejected: pd.DataFrame) -> None:
    valid_counts = valid["source_file"].value_counts()
    rejected_counts = rejected["source_file"].value_counts()
    for report in reports:
        report.rows_valid = int(valid_counts.get(report.source_file, 0))
        report.rows_rejected = int(rejected_counts.get(report.source_file, 0))


def ingest_day(landing_url: str, partition_date: str) -> IngestResult:
    """Read and validate every landing file of one day."""
    paths = list_landing_files(landing_url, partition_date)
    return ingest_files([read_landing_file(p, partition_date) for p in paths], partition_date)
