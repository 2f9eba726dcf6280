"""What ingest produces: per-file reports, rejected-row records and ``raw_transactions`` tables.

Shared by the readers, the rules and the streamed day, so that every part builds the same
shapes: a rejected row always has its file, line, field, reason and raw text, and every table
of valid rows has `raw_transaction_schema`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_platform.tables import (
    DAY,
    LANDING_OPTIONAL_COLUMNS,
    LANDING_REQUIRED_COLUMNS,
    PARTITION_COLUMN,
    RAW_TRANSACTION_COLUMNS,
    RAW_TRANSACTION_SCHEMA,
    REJECTED_SCHEMA,
    empty_frame,
)

LANDING_COLUMNS = (*LANDING_REQUIRED_COLUMNS, *LANDING_OPTIONAL_COLUMNS)
#: ``raw`` keeps at most this many characters of a rejected row, so one absurd row cannot bloat
#: the rejected-rows table; the file and line still locate the original.
RAW_MAX_CHARS = 2_000
NUL = "\x00"
#: Text travels as Arrow ``large_string``: pandas' ``str`` dtype wraps it without a copy.
TEXT = pa.large_string()
STR = pd.StringDtype("pyarrow", na_value=np.nan)
UTC_MICROS = pa.timestamp("us", tz="UTC")


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


#: A contract column as read: Arrow text, or (typed Parquet columns, pandas input) a pandas Series
#: that keeps the pandas conversions these rules were written for.
Column = pa.ChunkedArray | pd.Series


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows frame with no rows, typed like every other (`REJECTED_COLUMNS`)."""
    return _EMPTY_REJECTED.copy()


#: Built once: a pandas frame costs milliseconds to build and is asked for several times a file.
_EMPTY_REJECTED = empty_frame(REJECTED_SCHEMA)


def empty_transactions() -> pd.DataFrame:
    """A ``raw_transactions`` frame with no rows, typed like `transactions_frame`'s."""
    return empty_frame(RAW_TRANSACTION_SCHEMA)


#: Arrow types of the ``raw_transactions`` columns; only ``currency`` may be missing.
#: `RAW_TRANSACTION_SCHEMA` as the day's streamed tables hold it: text (the day too) as
#: ``large_string``, every column but ``currency`` required.
_RAW_TRANSACTION_SCHEMA = pa.schema(
    [
        pa.field(
            f.name,
            TEXT if f.type in (pa.string(), DAY) else f.type,
            nullable=f.name == "currency",
        )
        for f in RAW_TRANSACTION_SCHEMA
    ]
)


def raw_transaction_schema() -> pa.Schema:
    """The schema of every table `stream_day` writes: one for all files and days, so that the
    tables can go to one Parquet file (text is ``large_string``, as pandas' ``str`` wraps it)."""
    return _RAW_TRANSACTION_SCHEMA


#: Columns of a batch's valid rows, before the day adds ``partition_date`` and ``source_file``.
VALID_BATCH_SCHEMA = pa.schema(
    [
        ("transaction_id", TEXT),
        ("timestamp", UTC_MICROS),
        ("sender", TEXT),
        ("receiver", TEXT),
        ("amount", pa.float64()),
        ("currency", TEXT),
        ("line", pa.int64()),
    ]
)


def contract_name(header: object) -> str | None:
    """The contract column a file's column header names, matched ignoring case and surrounding
    spaces (``" Amount"`` is ``amount``), or None for a column the contract does not read."""
    name = str(header).strip().lower()
    return name if name in LANDING_COLUMNS else None


def with_lines(table: pa.Table, keep: Sequence[int], lines: np.ndarray) -> pa.Table:
    """The contract columns ``keep`` of ``table`` (by position), under their contract names
    (`contract_name`), plus ``line``."""
    names = [contract_name(table.column_names[i]) or table.column_names[i] for i in keep]
    columns = [table.column(i) for i in keep]
    return pa.Table.from_arrays([*columns, pa.array(lines, pa.int64())], names=[*names, "line"])


def no_rows() -> pa.Table:
    """The rows of a file that has none: just the ``line`` column."""
    return pa.table({"line": pa.array([], pa.int64())})


def unreadable(source: str, partition_date: str, reason: str) -> LandingFile:
    """A file that could not be read at all, as one rejected record (field ``file``): its rows
    cannot be counted, so line 0 stands for it."""
    rejected = rejected_frame(partition_date, source, [0], "file", [reason], [""])
    return LandingFile(source, no_rows(), rejected)


def _storable(text: str) -> str:
    """Text PostgreSQL can store: a NUL becomes U+FFFD, the replacement character."""
    return text.replace(NUL, "\ufffd")


@dataclass
class Rejections:
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

    def extend(self, other: Rejections) -> None:
        self.add(other.lines, other.fields, other.reasons, other.raws)

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Rejections:
        rejections = cls()
        rejections.add(frame["line"], frame["field"], frame["reason"], frame["raw"])
        return rejections


def rejections_frame(partition_date: str, parts: Sequence[tuple[str, Rejections]]) -> pd.DataFrame:
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


def rejected_frame(
    partition_date: str,
    source: str,
    lines: Sequence[int] | np.ndarray,
    field_name: str | Sequence[str],
    reasons: Sequence[str] | str,
    raws: Sequence[str],
) -> pd.DataFrame:
    """One file's rejected rows as a frame; a single ``field_name`` or reason holds for all."""
    n = len(lines)
    rejections = Rejections()
    rejections.add(
        lines,
        [field_name] * n if isinstance(field_name, str) else field_name,
        [reasons] * n if isinstance(reasons, str) else reasons,
        raws,
    )
    return rejections_frame(partition_date, [(source, rejections)])


def transactions_table(source_file: str, valid: pa.Table, partition_date: str) -> pa.Table:
    """A file's valid rows (`VALID_BATCH_SCHEMA`) as ``raw_transactions`` rows
    (`raw_transaction_schema`); the text columns stay the Arrow buffers they were read into."""
    added = {
        PARTITION_COLUMN: pa.repeat(pa.scalar(partition_date, TEXT), valid.num_rows),
        "source_file": pa.repeat(pa.scalar(source_file, TEXT), valid.num_rows),
    }
    columns = [added[c] if c in added else valid.column(c) for c in RAW_TRANSACTION_COLUMNS]
    return pa.Table.from_arrays(columns, schema=_RAW_TRANSACTION_SCHEMA)


def transactions_frame(tables: Sequence[pa.Table]) -> pd.DataFrame:
    """``raw_transactions`` tables as one frame: one conversion, and the text columns stay
    the Arrow buffers they were read into."""
    if not tables:
        return empty_transactions()
    table = pa.concat_tables(tables)
    return table.to_pandas(types_mapper=lambda kind: STR if kind == TEXT else None)
