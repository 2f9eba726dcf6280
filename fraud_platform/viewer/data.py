"""What the viewer reads from the warehouse: the list of datasets, one dataset by id, its rows.

A dataset is looked up by its ``dataset_id`` (never by position or date), so a URL sent months ago
still opens that day's dataset, or a 404 once the day is gone. The day's accounts and transfer
pairs are read with the warehouse's own COPY reader (`read_slice`) over the day's partition.
Columns added to the warehouse later (``x``, ``y``, ``in_amount``, ``out_amount``) may be missing
from an older database: they are read when present and come back as NaN otherwise.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from dagster import TimeWindow
from psycopg import sql
from psycopg.rows import dict_row

# `TableSlice` is Dagster's, but not public: the warehouse imports it in one place
# (`fraud_platform.storage.warehouse.dagster_db`, which names the missing public API) and
# re-exports it with the COPY reader that takes it.
from fraud_platform.storage.warehouse import (
    PostgresWarehouse,
    TablePartitionDimension,
    TableSlice,
    lock_day_partitions,
    read_slice,
    table_exists,
)
from fraud_platform.tables import (
    DATASET_COLUMNS,
    DATASET_EDGE_COLUMNS,
    DATASET_EDGE_SCHEMA,
    DATASET_NODE_COLUMNS,
    DATASET_NODE_SCHEMA,
    DATASET_SCHEMA,
    DAY,
    PARTITION_COLUMN,
    UUID,
)

#: What the index and the page header show of a dataset: its whole `datasets` row.
SUMMARY_COLUMNS = DATASET_COLUMNS
_KEYS = ("dataset_id", PARTITION_COLUMN)
#: What the viewer reads of a day's accounts and transfer pairs: their rows without the keys that
#: select them (and without ``pattern``, which the page does not show).
NODE_COLUMNS = tuple(c for c in DATASET_NODE_COLUMNS if c not in (*_KEYS, "pattern"))
EDGE_COLUMNS = tuple(c for c in DATASET_EDGE_COLUMNS if c not in _KEYS)


def _float_columns(schema: pa.Schema, columns: tuple[str, ...]) -> list[str]:
    """Of ``columns``, those ``schema`` types as float64 (read as float even when all NULL)."""
    return [f.name for f in schema if f.type == pa.float64() and f.name in columns]


def parse_dataset_id(text: str) -> str | None:
    """The canonical form of a dataset id, or None when ``text`` is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _summary_query(schema: str) -> sql.Composed:
    """``SELECT`` of every `datasets` column, days and ids as text (as frames hold them)."""
    columns = [
        sql.SQL("{c}::text AS {c}").format(c=sql.Identifier(f.name))
        if f.type in (DAY, UUID)
        else sql.Identifier(f.name)
        for f in DATASET_SCHEMA
    ]
    return sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(columns), sql.Identifier(schema, "datasets")
    )


def list_datasets(warehouse: PostgresWarehouse) -> pd.DataFrame:
    """Every dataset, oldest day first (no rows if nothing was ever published)."""
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        if not table_exists(connection, schema, "datasets"):
            rows: list[dict[str, Any]] = []
        else:
            query = sql.SQL("{} ORDER BY {}").format(
                _summary_query(schema), sql.Identifier(PARTITION_COLUMN)
            )
            with connection.cursor(row_factory=dict_row) as cursor:
                rows = cursor.execute(query).fetchall()
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def dataset_summary(warehouse: PostgresWarehouse, dataset_id: str) -> dict[str, Any] | None:
    """The ``datasets`` row of ``dataset_id``, or None when there is no such dataset."""
    canonical = parse_dataset_id(dataset_id)
    if canonical is None:
        return None
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        if not table_exists(connection, schema, "datasets"):
            return None
        query = sql.SQL("{} WHERE dataset_id = %s").format(_summary_query(schema))
        with connection.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(query, [canonical]).fetchone()


def _day_slice(schema: str, table: str, day: str, columns: list[str]) -> TableSlice:
    start = datetime.combine(datetime.fromisoformat(day).date(), time(), tzinfo=UTC)
    window = TimeWindow(start, start + timedelta(days=1))
    return TableSlice(
        table=table,
        schema=schema,
        columns=columns,
        partition_dimensions=[TablePartitionDimension(PARTITION_COLUMN, window)],
    )


def _present_columns(connection: psycopg.Connection, schema: str, table: str) -> set[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        [schema, table],
    ).fetchall()
    return {name for (name,) in rows}


def _read(
    connection: psycopg.Connection, schema: str, table: str, day: str, wanted: tuple[str, ...]
) -> pd.DataFrame:
    present = _present_columns(connection, schema, table)
    columns = [c for c in wanted if c in present]
    frame = read_slice(connection, _day_slice(schema, table, day, columns))
    for column in wanted:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame[list(wanted)]


def _read_day(
    warehouse: PostgresWarehouse, schema: str, day: str, *, lock: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    with warehouse.connect() as connection:
        # One snapshot for both reads: a re-run of the day committing in between is not mixed in.
        # The lock comes first, before the snapshot: a re-run in progress is waited for and then
        # seen, not seen as the empty day its TRUNCATE shows to older snapshots.
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        if lock:
            lock_day_partitions(connection, schema, day)
        nodes = _read(connection, schema, "dataset_nodes", day, NODE_COLUMNS)
        edges = _read(connection, schema, "dataset_edges", day, EDGE_COLUMNS)
    return nodes, edges


def dataset_tables(
    warehouse: PostgresWarehouse, summary: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's accounts (`NODE_COLUMNS`) and transfer pairs (`EDGE_COLUMNS`) of a dataset."""
    schema, day = warehouse.schema_name, str(summary[PARTITION_COLUMN])
    try:
        nodes, edges = _read_day(warehouse, schema, day, lock=True)
    except psycopg.errors.UndefinedTable:  # no partitions for the day: nothing to wait for
        nodes, edges = _read_day(warehouse, schema, day, lock=False)
    nodes = nodes.astype({c: "float64" for c in _float_columns(DATASET_NODE_SCHEMA, NODE_COLUMNS)})
    nodes["cluster"] = nodes["cluster"].fillna(-1).astype("int64")
    nodes["reasons"] = nodes["reasons"].fillna("").astype("str")  # datasets from before reasons
    edges = edges.astype({c: "float64" for c in _float_columns(DATASET_EDGE_SCHEMA, EDGE_COLUMNS)})
    return nodes, edges
