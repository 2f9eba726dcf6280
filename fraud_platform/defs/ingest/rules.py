"""The validation rules: every row of a landing file is kept or rejected with one reason.

Rules (the README documents them for users):
- A file is CSV (optionally gzip-compressed) with a header row, or Parquet. Other suffixes are
  rejected as a whole file. CSV text is UTF-8 (a byte-order mark is allowed); a file that is not
  valid UTF-8 is read as Latin-1, the encoding such exports almost always use.
- Required columns: ``transaction_id, timestamp, sender, receiver, amount``; ``currency`` is
  optional; other columns are ignored and columns may come in any order. Headers are matched
  ignoring case and surrounding spaces (`records.contract_name`: ``Amount`` is ``amount``). A file
  missing a required column has every row rejected, naming the column.
- ``timestamp`` is ISO-8601; a naive timestamp means UTC. Timestamps outside the partition's UTC
  day are rejected (they belong to another day's analysis, and are kept aside rather than lost).
- ``amount`` is a decimal number, finite, greater than zero and at most ``MAX_AMOUNT``.
- ``sender`` and ``receiver`` are non-empty and differ (a self-transfer moves no money between
  accounts). Account ids are stored verbatim, whatever characters they contain, up to
  ``MAX_TEXT_CHARS`` characters (as are ``transaction_id`` and ``currency``).
- No field may hold a NUL character: PostgreSQL text cannot store one, so such a row is rejected
  here rather than failing the warehouse load of the whole day.
- A ``transaction_id`` seen earlier in the day (same file or an earlier file, files in name order)
  is rejected as a duplicate; the first occurrence is kept (`duplicates`).

Each rejected row records the file, the line (the CSV's physical line, header = line 1; for Parquet
the row number + 1), the first field that failed, the reason and the raw row, so that for every
file ``rows read = rows valid + rows rejected``. ``raw`` is the row's contract fields as read, in
the file's column order; a line the CSV reader could not split is kept as its original text.

The checks run on one batch of a file's columns at a time, with Arrow kernels and NumPy (which
release the GIL, so two batches run side by side); the parsers are `timestamps` and `amounts`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.ingest.amounts import amount_values
from fraud_platform.defs.ingest.arrow_text import (
    byte_lengths,
    empty_as_null,
    is_text,
    large_text,
    nul_rows,
    null_mask,
    take_rows,
    trimmed,
    without_rows,
)
from fraud_platform.defs.ingest.records import (
    LANDING_COLUMNS,
    NUL,
    RAW_MAX_CHARS,
    TEXT,
    UTC_MICROS,
    VALID_BATCH_SCHEMA,
    Column,
    Rejections,
    contract_name,
    rejections_frame,
    transactions_frame,
    transactions_table,
)
from fraud_platform.defs.ingest.timestamps import timestamp_values
from fraud_platform.tables import LANDING_REQUIRED_COLUMNS

#: Larger amounts are data errors, not transfers (a trillion in any currency).
MAX_AMOUNT = 1e12
#: Longest ``transaction_id``, ``sender``, ``receiver`` or ``currency`` accepted, in characters.
#: Account ids are indexed in PostgreSQL, whose btree entries hold at most 2,704 bytes; 512
#: characters are at most 2,048 bytes of UTF-8, and far beyond any real account id.
MAX_TEXT_CHARS = 512


def raw_rows(columns: Sequence[Column], rows: np.ndarray) -> list[str]:
    """Rows as CSV text of ``columns``, values as read (only called for rejected rows).

    A value is written as read, before any trimming or parsing; each is cut to ``RAW_MAX_CHARS``
    first, so a megabyte-long field costs no megabyte-long string.
    """
    values = [
        take_rows(column, rows).to_pylist()
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


def contract_columns(rows: pa.Table) -> dict[str, Column]:
    """The contract columns of a table (the first of a name given twice), in its order."""
    columns: dict[str, Column] = {}
    typed: list[int] = []
    for index, name in enumerate(rows.column_names):
        if name not in LANDING_COLUMNS or name in columns:
            continue
        values = rows.column(index)
        if is_text(values.type):
            columns[name] = large_text(values)
        else:
            columns[name] = pd.Series(dtype=object)  # a placeholder, keeping the order
            typed.append(index)
    if typed:
        # As the rules were written: a typed column is what pandas makes of it.
        frame = rows.select(typed).to_pandas()
        for position, index in enumerate(typed):
            columns[rows.column_names[index]] = frame.iloc[:, position]
    return columns


def _columns_of_frame(rows: pd.DataFrame) -> dict[str, Column]:
    """`contract_columns` of a pandas frame: Arrow-backed text as Arrow, the rest as is."""
    columns: dict[str, Column] = {}
    for position, name in enumerate(rows.columns):
        if name not in LANDING_COLUMNS or name in columns:
            continue
        values = rows.iloc[:, position]
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            columns[name] = large_text(pa.chunked_array([pa.array(values.array)]))
        else:
            columns[name] = values
    return columns


def _nul_mask(values: Column) -> np.ndarray:
    """Rows holding a NUL (numbers and timestamps cannot)."""
    if isinstance(values, pa.ChunkedArray):
        return nul_rows(values)
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return np.zeros(len(values), dtype=bool)
    return values.astype("str").str.contains(NUL, regex=False).fillna(False).to_numpy(bool)


def _text(values: Column) -> pa.ChunkedArray:
    """A text field trimmed as ``str.strip()`` does, as Arrow text whatever it was read as."""
    if isinstance(values, pa.ChunkedArray):
        return trimmed(values)
    stripped = values.astype("str").str.strip()
    return large_text(pa.chunked_array([pa.array(stripped.array)]))


@dataclass
class _TextField:
    """A text field after trimming, with what its checks need."""

    values: pa.ChunkedArray
    empty: np.ndarray
    too_long: np.ndarray

    @classmethod
    def of(cls, values: pa.ChunkedArray) -> _TextField:
        lengths = byte_lengths(values)
        empty = (lengths == 0) | null_mask(values)
        too_long = np.zeros(len(values), dtype=bool)
        # A character is at least one byte: only values longer in bytes can be too long.
        candidates = np.flatnonzero((lengths > MAX_TEXT_CHARS) & ~empty)
        if candidates.size:
            chars = pc.utf8_length(take_rows(values, candidates)).to_numpy()
            too_long[candidates] = chars > MAX_TEXT_CHARS
        return cls(values, empty, too_long)


def validate_batch(
    rows: pa.Table | pa.RecordBatch, source_file: str, partition_date: str
) -> tuple[pa.Table, pd.DataFrame]:
    """Split one batch of a file's rows into valid transactions and rejected rows.

    ``rows`` holds the file's contract columns as read (text, or typed for Parquet) in the
    file's order, plus ``line``. Nothing here needs the rest of the file, so a file can be fed
    batch by batch; duplicates across the day are `duplicates`' business. The valid rows
    come back as Arrow (`VALID_BATCH_SCHEMA`), the rejected ones as their table's rows.

    One caveat for batches: pandas reads an odd value in the light of the others it is given
    (a timestamp with nanoseconds makes every year beyond 2262 unparseable; an integer column
    with a null becomes floats), so the verdict on such a value can depend on its company.
    `ingest_day` gives pandas a whole file, as it always did; a batch gives it the batch.
    """
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
    lines = table.column("line").to_numpy().astype(np.int64, copy=False)
    named = [name for name in table.column_names if name != "line"]
    valid, rejections = validate_columns(contract_columns(table), named, lines, partition_date)
    return valid, rejections_frame(partition_date, [(source_file, rejections)])


#: A batch's parsed timestamps (microseconds, unparseable) and amounts.
Parsed = tuple[np.ndarray, np.ndarray, np.ndarray]


def parse_values(columns: dict[str, Column]) -> Parsed:
    """Timestamps and amounts parsed side by side (both parsers release the GIL)."""
    timestamps, amounts = side_by_side(
        [
            lambda: timestamp_values(columns["timestamp"]),
            lambda: amount_values(columns["amount"]),
        ]
    )
    return *timestamps, amounts


#: Threads validating one file: NumPy and Arrow release the GIL, so batches run side by side.
VALIDATION_THREADS = min(2, os.cpu_count() or 1)
_Result = TypeVar("_Result")


def side_by_side(tasks: Sequence[Callable[[], _Result]]) -> list[_Result]:
    """The tasks' results, in order, computed on `VALIDATION_THREADS` threads."""
    if len(tasks) < 2 or VALIDATION_THREADS < 2:
        return [task() for task in tasks]
    with ThreadPoolExecutor(VALIDATION_THREADS, thread_name_prefix="validate") as pool:
        return list(pool.map(lambda task: task(), tasks))


def validate_columns(
    columns: dict[str, Column],
    named: list[str],
    lines: np.ndarray,
    partition_date: str,
    parsed: Parsed | None = None,
) -> tuple[pa.Table, Rejections]:
    """`validate_batch` on a batch's columns (`contract_columns`) and lines; ``parsed`` when the
    caller parsed timestamps and amounts over more rows (`_validate_file`)."""
    # The file's own column order, so `raw` reads like the row in the file.
    present = list(columns)
    rejections = Rejections()
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
        raws = raw_rows([columns[c] for c in present], everything) if present else None
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
        else pa.chunked_array([pa.nulls(len(lines), TEXT)])
    )
    micros, unparseable, amount = parse_values(columns) if parsed is None else parsed
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
            raw_rows([columns[c] for c in present], bad),
        )

    def kept(values: pa.ChunkedArray) -> pa.ChunkedArray:
        return values if bad.size == 0 else without_rows(values, bad)

    def kept_numbers(values: np.ndarray) -> np.ndarray:
        return values if bad.size == 0 else np.delete(values, bad)

    valid = pa.Table.from_arrays(
        [
            kept(transaction_id.values),
            pa.array(kept_numbers(micros).view("datetime64[us]"), UTC_MICROS),
            kept(sender.values),
            kept(receiver.values),
            pa.array(kept_numbers(amount), pa.float64()),
            empty_as_null(kept(currency.values)),  # an empty currency is a missing one
            pa.array(kept_numbers(lines), pa.int64()),
        ],
        schema=VALID_BATCH_SCHEMA,
    )
    return valid, rejections


def validate_transactions(
    rows: pd.DataFrame | pa.Table, source_file: str, partition_date: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one file's rows into valid transactions and rejected rows (one reason per row).

    ``rows`` holds landing columns (text or typed) and ``line``. Duplicates across files are
    `stream_day`'s business: they need the rest of the day.
    """
    if isinstance(rows, pd.DataFrame):
        rows = rows.rename(columns=lambda header: contract_name(header) or header)
        named = [str(name) for name in rows.columns if name != "line"]
        lines = rows["line"].to_numpy(dtype=np.int64)
        valid, rejections = validate_columns(_columns_of_frame(rows), named, lines, partition_date)
        rejected = rejections_frame(partition_date, [(source_file, rejections)])
    else:
        valid, rejected = validate_batch(rows, source_file, partition_date)
    return transactions_frame([transactions_table(source_file, valid, partition_date)]), rejected
