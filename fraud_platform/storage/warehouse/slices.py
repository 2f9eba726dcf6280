"""What a Dagster `TableSlice` (a table and the days written or read) means in SQL.

The days a slice covers, the advisory locks that make two writers of a day take turns, the
DDL a write needs first (`prepare_write`), the removal of the rows a write replaces
(`clear_slice`: TRUNCATE of day partitions, DELETE elsewhere), the WHERE clause of a read, and
the guard against rows of days the write does not cover. `delete_days` and `stored_row_counts`
do the same by plain days, for code outside the IO manager.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pandas as pd
import psycopg
from dagster import TimeWindow
from psycopg import sql

from fraud_platform.storage.warehouse.connection import WarehouseError, table_exists
from fraud_platform.storage.warehouse.dagster_db import TablePartitionDimension, TableSlice
from fraud_platform.storage.warehouse.schema import (
    FRAUD_DATASET_TABLES,
    PARTITIONED_TABLES,
    WAREHOUSE_TABLES,
    advisory_lock_key,
    ensure_day_partitions,
    ensure_warehouse_schema,
    existing_partitions,
    partition_name,
    table_spec,
)
from fraud_platform.tables import PARTITION_COLUMN


def slice_days(table_slice: TableSlice) -> list[str] | None:
    """The days (``YYYY-MM-DD``) a slice covers, or None when it is not partitioned."""
    if not (table_slice.partition_dimensions or ()):
        return None
    days: list[str] = []
    for dimension in table_slice.partition_dimensions or ():
        if isinstance(dimension.partitions, TimeWindow):
            window = dimension.partitions
            days += [
                d.strftime("%Y-%m-%d")
                for d in pd.date_range(window.start, window.end, freq="D", inclusive="left")
            ]
        else:
            days += [str(key) for key in dimension.partitions]
    return sorted(set(days))


def slice_lock_keys(table_slice: TableSlice) -> list[int]:
    """One advisory-lock key per (table, day) of a slice, in a fixed order.

    Two runs replacing the same day must take turns: under READ COMMITTED each would delete the
    rows it sees (none of the other's, still uncommitted) and both COPYs would land. Locking by
    day, not by table, lets different days load at once; a fixed order rules out deadlocks
    between overlapping ranges.
    """
    days = slice_days(table_slice) or ["*"]
    return sorted({advisory_lock_key(table_slice.schema, table_slice.table, day) for day in days})


def replaced_together(table: str) -> tuple[str, ...]:
    """The tables a write to ``table`` replaces the slice of: a day's ``datasets`` row goes with
    its ``dataset_nodes`` and ``dataset_edges`` (what ON DELETE CASCADE did before)."""
    if table == FRAUD_DATASET_TABLES["summary"]:
        return tuple(FRAUD_DATASET_TABLES.values())
    return (table,)


def prepare_write(connection: psycopg.Connection, table_slice: TableSlice) -> bool:
    """The DDL a write of ``table_slice`` needs: the schema and the partitions of its days.

    Meant for a short transaction committed before the load's own. True if anything was created.
    """
    created = ensure_warehouse_schema(connection, table_slice.schema)
    days = slice_days(table_slice) or []
    tables = [t for t in replaced_together(table_slice.table) if t in PARTITIONED_TABLES and days]
    new_partitions = [
        ensure_day_partitions(connection, table_slice.schema, t, days) for t in tables
    ]
    return created or any(new_partitions)


def clear_slice(connection: psycopg.Connection, table_slice: TableSlice) -> None:
    """Remove the slice's rows: TRUNCATE of its day partitions, DELETE for other tables.

    TRUNCATE locks only the partitions of the days being replaced; it is rolled back with the
    transaction like a DELETE.
    """
    schema, table = table_slice.schema, table_slice.table
    days = slice_days(table_slice)
    by_day = all(
        d.partition_expr == PARTITION_COLUMN for d in table_slice.partition_dimensions or ()
    )
    target = sql.Identifier(schema, table)
    existing = (
        existing_partitions(connection, schema, table) if table in PARTITIONED_TABLES else None
    )
    if existing is not None and by_day:
        if days is None:
            connection.execute(sql.SQL("TRUNCATE {}").format(target))
            return
        partitions = [
            sql.Identifier(schema, partition_name(table, day))
            for day in days
            if partition_name(table, day) in existing
        ]
        if partitions:
            connection.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(partitions)))
        return
    condition, params = slice_filter(table_slice)
    connection.execute(sql.SQL("DELETE FROM {} WHERE {}").format(target, condition), params)


def delete_days(
    connection: psycopg.Connection, schema: str, table: str, days: Iterable[str | date]
) -> None:
    """Remove ``days`` from ``table`` and the tables replaced with it (`replaced_together`): what
    the IO manager does before a load, for code that writes with `copy_frame` itself."""
    wanted = sorted({date.fromisoformat(str(day)).isoformat() for day in days})
    dimension = TablePartitionDimension(PARTITION_COLUMN, wanted)
    for member in replaced_together(table):
        clear_slice(
            connection, TableSlice(table=member, schema=schema, partition_dimensions=[dimension])
        )


def stored_row_counts(
    connection: psycopg.Connection, schema: str, table: str, days: Iterable[str | date]
) -> dict[str, int]:
    """Rows stored per day (``YYYY-MM-DD`` -> count, 0 for a day with none), counted by the
    server: a check can compare them without loading the rows."""
    spec = table_spec(table)
    if PARTITION_COLUMN not in spec:
        raise WarehouseError(f"table {table!r} has no {PARTITION_COLUMN} column")
    wanted = sorted({date.fromisoformat(str(day)) for day in days})
    if not wanted or not table_exists(connection, schema, table):
        return {d.isoformat(): 0 for d in wanted}
    day = sql.Identifier(PARTITION_COLUMN)
    rows = connection.execute(
        sql.SQL("SELECT {}::text, count(*) FROM {} WHERE {} = ANY(%s) GROUP BY 1").format(
            day, sql.Identifier(schema, table), day
        ),
        [wanted],
    ).fetchall()
    counts = {stored_day: int(count) for stored_day, count in rows}
    return {d.isoformat(): counts.get(d.isoformat(), 0) for d in wanted}


def _bound(value: datetime, column_type: str) -> date | datetime:
    """Window bounds compare as dates against ``date`` columns (daily windows start at 00:00)."""
    return value.date() if column_type == "date" else value


def slice_filter(
    table_slice: TableSlice, *, inline: bool = False
) -> tuple[sql.Composable, list[Any]]:
    """The WHERE condition selecting a slice's partitions, and its parameters.

    With ``inline`` the values are rendered by psycopg as literals (for display) and the list is
    empty. ``partition_expr`` is a column name here (quoted as an identifier), not an expression.
    """
    clauses: list[sql.Composable] = []
    params: list[Any] = []

    def value(item: Any) -> sql.Composable:
        if inline:
            return sql.Literal(item)
        params.append(item)
        return sql.Placeholder()

    spec = WAREHOUSE_TABLES.get(table_slice.table, {})
    for dimension in table_slice.partition_dimensions or ():
        column = sql.Identifier(dimension.partition_expr)
        column_type = spec.get(dimension.partition_expr, "").split(" ")[0]
        if isinstance(dimension.partitions, TimeWindow):
            start = value(_bound(dimension.partitions.start, column_type))
            end = value(_bound(dimension.partitions.end, column_type))
            clauses.append(sql.SQL("{c} >= {s} AND {c} < {e}").format(c=column, s=start, e=end))
        else:
            keys = value([str(key) for key in dimension.partitions])
            clauses.append(sql.SQL("{} = ANY({})").format(column, keys))
    if not clauses:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(clauses), params


def select_statement(
    table_slice: TableSlice, *, inline: bool = False
) -> tuple[sql.Composed, list[Any]]:
    """``SELECT columns FROM schema.table WHERE <slice>`` and its parameters."""
    columns = (
        sql.SQL(", ").join(sql.Identifier(c) for c in table_slice.columns)
        if table_slice.columns
        else sql.SQL("*")
    )
    condition, params = slice_filter(table_slice, inline=inline)
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        columns, sql.Identifier(table_slice.schema, table_slice.table), condition
    )
    return query, params


def _outside(days: pd.Series, partitions: Any) -> pd.Series:
    """Which ``YYYY-MM-DD`` values (or NULLs) fall outside a dimension's partitions."""
    if isinstance(partitions, TimeWindow):
        start = partitions.start.date().isoformat()
        end = partitions.end.date().isoformat()
        return days.isna() | (days < start) | (days >= end)
    return ~days.isin([str(key) for key in partitions])


def check_rows_in_slice(frame: pd.DataFrame, table_slice: TableSlice) -> None:
    """Refuse rows of days outside the slice: the delete does not cover them, so re-runs would
    duplicate them. Days are compared as ``YYYY-MM-DD`` text, which sorts like the dates."""
    spec = WAREHOUSE_TABLES.get(table_slice.table, {})
    for dimension in table_slice.partition_dimensions or ():
        column = dimension.partition_expr
        if column not in frame.columns or not spec.get(column, "").startswith("date"):
            continue
        # The distinct values first: a day's millions of rows hold one.
        distinct = pd.Series(frame[column].unique()).astype("str")
        if not _outside(distinct, dimension.partitions).any():
            continue
        days = frame[column].astype("str")
        outside = _outside(days, dimension.partitions)
        raise WarehouseError(
            f"{int(outside.sum())} rows for {table_slice.table} have {column} outside the "
            f"partitions being written, e.g. {sorted(set(days[outside].dropna()))[:5]}"
        )
