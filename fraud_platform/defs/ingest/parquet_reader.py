"""A landing Parquet file in pieces of whole row groups, so that any size streams through.

Only the contract columns are decoded; a row group that cannot be decoded ends the file with
one rejected record naming the first row lost, and the rows before it stay.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from fraud_platform.defs.ingest.records import (
    TEXT,
    LandingFile,
    contract_name,
    empty_rejected,
    no_rows,
    unreadable,
    with_lines,
)
from fraud_platform.storage.object_store import ObjectStoreAccessError, object_store_errors

#: Rows of a landing Parquet file read at a time (whole row groups, so a piece may hold more).
PARQUET_PIECE_ROWS = 1 << 20

#: Faults of the store while a file is read: they fail the step (its retries apply), where bytes
#: that do not decode are bad data, recorded against the file.
_STORE_FAULTS = (ObjectStoreAccessError, FileNotFoundError)


def _contract_names(parquet: pq.ParquetFile) -> list[str]:
    # No contract column: no columns are read, but the rows are still counted.
    return [name for name in parquet.schema_arrow.names if contract_name(name)]


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
            table = table.set_column(index, column.name, table.column(index).cast(TEXT))
    lines = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
    return with_lines(table, list(range(table.num_columns)), lines)


def parquet_pieces(path: UPath, partition_date: str) -> Iterator[LandingFile]:
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
            yield unreadable(source, partition_date, f"unreadable Parquet file: {exc}")
            return
        row = 0
        for groups in _row_group_runs(parquet.metadata, PARQUET_PIECE_ROWS):
            try:
                rows = _read_row_groups(path, parquet, groups, first_line=row + 2)
            except _STORE_FAULTS:
                raise
            except Exception as exc:
                reason = f"unreadable Parquet file from row {row + 1} on: {exc}"
                yield unreadable(source, partition_date, reason)
                return
            row += rows.num_rows
            yield LandingFile(source, rows)
            del rows  # not held while the next piece is read


def _joined(pieces: list[LandingFile]) -> LandingFile:
    """A Parquet file's pieces as one: their rows, and the record of a piece not read, if any."""
    read = [piece for piece in pieces if piece.rejected.empty]
    unread = [piece.rejected for piece in pieces if not piece.rejected.empty]
    rows = pa.concat_tables([piece.rows for piece in read]) if read else no_rows()
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


def read_parquet_file(path: UPath, partition_date: str) -> LandingFile:
    """A Parquet file whole: its pieces put together, so it reads the same whole or streamed."""
    return _joined(list(parquet_pieces(path, partition_date)))
