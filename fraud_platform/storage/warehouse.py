"""The PostgreSQL warehouse: a connection resource and a Dagster database IO manager over it.

The IO manager follows Dagster's own database IO managers (dagster-duckdb, dagster-snowflake):
a `DbIOManager` with a `DbClient` (connection, schema, delete of the slice being replaced) and
`DbTypeHandler`s (how a value becomes rows). ``DbClient.connect`` opens ONE transaction around
``ensure_schema_exists`` + ``delete_table_slice`` + the handler's COPY, so a re-run of a day
replaces that day's rows or, if anything fails (even a killed connection mid-COPY), changes
nothing. DDL a write needs (tables, a new day's partitions) is committed just before, in a short
transaction of its own, so the load never holds a lock on a whole table.

Rows are bulk-loaded with ``COPY ... FROM STDIN (FORMAT binary)``, encoded from Arrow by
vectorized code (numpy and Arrow compute over the column buffers, 64k-row batches, no Python per
row: `encode_frame`, `binary_rows`), column order and types from `WAREHOUSE_TABLES`, checked
against the database (binary COPY would take the 8 bytes of a float for a bigint). psycopg's
writer thread sends a batch while the next is encoded, and the next table is encoded while the
server loads the current one. ``benchmarks/postgres_load.py``, 2 shared cores, a whole day
(summary, nodes, edges) until the commit, same tables, same run:

    feed                          1M day (1.1M rows)   10M day (11.4M rows)
    psycopg Copy.write_row        7.1-8.6 s            85-89 s
    Arrow CSV (the previous feed) 4.0-5.2 s            43-46 s
    binary (this)                 1.5-1.9 s            15.3-17.4 s
    ADBC adbc_ingest              2.6-2.9 s            24-25 s

The server is the limit: COPY of the same rows encoded beforehand takes 14.5-16 s at 10M. ADBC
is slower and needs a connection of its own, so a second transaction: a day could no longer be
replaced atomically with the rest, hence not used.

``dataset_nodes`` and ``dataset_edges`` are LIST-partitioned by day (``{table}_YYYYMMDD``),
without foreign keys or indexes (queries read them by day, or whole). Replacing a day is
TRUNCATE of its partitions (constant time, no dead rows) plus COPY through the parent table.
First load / replace of a day, 1M (10M): earlier layout (foreign keys, 3 indexes) 16-18 /
17-21 s; plain tables with btree day and account indexes 4.1-4.7 / 6.4-7.1 s (47 / 66 s); a BRIN
day index alone 2.1-2.6 / 3.5-4.0 s (19-28 / 32-34 s); partitions 1.8-2.0 / 1.7-2.0 s
(15.7-17.3 / 14.3-18.0 s), and an account index on them doubles the 10M load. (COPY FREEZE would
have to name the partition, and measured no faster.) A new day's partitions are made with CREATE
TABLE + ATTACH PARTITION, committed before the load: ``CREATE TABLE ... PARTITION OF`` would lock
the parent against every reader. Readers of other days are never blocked (partition pruning); a
reader of the day being replaced, or of all days, waits for the load to commit. TRUNCATE is not
MVCC-safe: a REPEATABLE READ transaction whose snapshot predates that commit then sees the day
empty.

Reads use ``COPY (SELECT ...) TO STDOUT`` parsed by ``pyarrow.csv`` (1.8 s per 1M rows against 7 s
for ``fetchall``).
"""

import hashlib
import io
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from dagster import (
    ConfigurableIOManagerFactory,
    ConfigurableResource,
    InitResourceContext,
    InputContext,
    OutputContext,
    ResourceDependency,
    TimeWindow,
)
from dagster._core.definitions.metadata import RawMetadataValue
from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.copy import QueuedLibpqWriter
from pydantic import Field

from fraud_platform.settings import redact_url
from fraud_platform.storage.embedded_postgres import EMBEDDED_DATABASE, embedded_database_url
from fraud_platform.storage.object_store import remote_run_launcher
from fraud_platform.tables import HISTORY_COLUMNS, PARTITION_COLUMN, FraudDataset

DEFAULT_SCHEMA = "fraud"

#: The warehouse DDL, as data: table -> column -> SQL definition (type first). Adding a column is
#: one line here: `ensure_warehouse_schema` adds it to existing databases too. ``{schema}`` is
#: replaced by the quoted schema name. The first word(s) of a definition are the column's type,
#: which the binary COPY encodes (`column_type`).
WAREHOUSE_TABLES: dict[str, dict[str, str]] = {
    "datasets": {
        "dataset_id": "uuid PRIMARY KEY",
        PARTITION_COLUMN: "date NOT NULL UNIQUE",
        "name": "text",
        "description": "text",
        "url": "text",
        "node_count": "bigint",
        "edge_count": "bigint",
        "high_risk_count": "bigint",
        "created_at": "timestamptz NOT NULL DEFAULT now()",
    },
    "dataset_nodes": {
        "dataset_id": "uuid NOT NULL",
        PARTITION_COLUMN: "date NOT NULL",
        "account": "text NOT NULL",
        "centrality": "double precision",
        "cluster": "integer",
        "risk_score": "double precision",
        "point_color": "text",
        "point_size": "double precision",
        "x": "double precision",
        "y": "double precision",
        "in_amount": "double precision",
        "out_amount": "double precision",
        "reasons": "text",
        "pattern": "text",
    },
    "dataset_edges": {
        "dataset_id": "uuid NOT NULL",
        PARTITION_COLUMN: "date NOT NULL",
        "sender": "text NOT NULL",
        "receiver": "text NOT NULL",
        "amount_total": "double precision",
        "tx_count": "bigint",
    },
    # Each transfer of a day's high-risk accounts, seen from the account's side (direction in or
    # out): the timeline of an analyst's case page, looked up by (day, account).
    "high_risk_transfers": {
        PARTITION_COLUMN: "date NOT NULL",
        "account": "text NOT NULL",
        "direction": "text NOT NULL",
        "counterparty": "text",
        "amount": "double precision",
        "timestamp": "timestamptz",
        "transaction_id": "text",
    },
    # The trailing 28 days of each of a day's high-risk accounts (`account_history`): the
    # behaviour an analyst compares the day with, on the account's case page.
    "high_risk_history": {
        PARTITION_COLUMN: "date NOT NULL",
        "account": "text NOT NULL",
        **{column: "double precision" for column in HISTORY_COLUMNS[2:]},
    },
    "rejected_transactions": {
        PARTITION_COLUMN: "date NOT NULL",
        "source_file": "text",
        "line": "integer",
        "field": "text",
        "reason": "text",
        "raw": "text",
    },
    # One row per (day, high-risk account), recorded by the alert sensor. No foreign key: a
    # re-run day replaces its dataset rows, and its alerts (delivered or not) must survive that.
    # UNIQUE (partition_date, account) is a two-column index the alert code ensures.
    "alerts": {
        "alert_id": "uuid PRIMARY KEY",
        PARTITION_COLUMN: "date NOT NULL",
        "dataset_id": "uuid NOT NULL",
        "account": "text NOT NULL",
        "risk_score": "double precision NOT NULL",
        "cluster": "bigint",
        "url": "text",
        "created_at": "timestamptz NOT NULL DEFAULT now()",
        "delivered_at": "timestamptz",
        "reasons": "text",
        # The kind of evidence behind the score (its top reason's family, e.g. "relay").
        "pattern": "text",
        # The analyst's dismissal that silences this repeat alert (it is recorded, not sent).
        "suppressed_by": "uuid",
    },
    # Who may decide on alerts: a token is shown once and stored only as its SHA-256.
    "analysts": {
        "name": "text PRIMARY KEY",
        "token_hash": "text NOT NULL UNIQUE",
        "created_at": "timestamptz NOT NULL DEFAULT now()",
        "revoked_at": "timestamptz",
    },
    # Analysts' decisions on alerts, never updated: a new decision supersedes the one before.
    # ``risk_score`` is the alert's score when decided (a dismissal holds until the score rises).
    "alert_decisions": {
        "decision_id": "uuid PRIMARY KEY",
        "alert_id": "uuid NOT NULL",
        PARTITION_COLUMN: "date NOT NULL",
        "account": "text NOT NULL",
        "decision": "text NOT NULL",
        "category": "text",
        "note": "text",
        "analyst": "text NOT NULL",
        "risk_score": "double precision",
        "decided_at": "timestamptz NOT NULL DEFAULT clock_timestamp()",
    },
    # Analysts' decisions as labels for the risk model: the decided account's model input on the
    # alert's day (``features``: a JSON object feature -> value, so a model with other features
    # still reads it), ``label`` 1 for confirmed fraud, 0 for a dismissal. One day per partition.
    "analyst_labels": {
        PARTITION_COLUMN: "date NOT NULL",
        "account": "text NOT NULL",
        "alert_id": "uuid",
        "decision": "text NOT NULL",
        "category": "text",
        "label": "bigint NOT NULL",
        "analyst": "text",
        "decided_at": "timestamptz",
        "features": "text NOT NULL",
    },
    # Analysts' logins to the viewer's pages: the session id lives only in the browser's cookie,
    # this table keeps its SHA-256, whose it is, the CSRF token of its forms and when it ends.
    "analyst_sessions": {
        "session_hash": "text PRIMARY KEY",
        "analyst": "text NOT NULL",
        "csrf_token": "text NOT NULL",
        "created_at": "timestamptz NOT NULL DEFAULT now()",
        "expires_at": "timestamptz NOT NULL",
    },
}

#: Tables stored as one LIST partition per ``partition_date`` (``{table}_YYYYMMDD``), without
#: indexes or foreign keys: a day is replaced by TRUNCATE of its partition, not DELETE.
PARTITIONED_TABLES = ("dataset_nodes", "dataset_edges")

#: Columns indexed wherever a table that is not day-partitioned has them (unless already unique):
#: days are what the IO manager deletes and selects (rejected_transactions, alerts); decisions are
#: read by alert.
INDEXED_COLUMNS = (PARTITION_COLUMN, "account", "dataset_id", "alert_id")

#: Where each member of a `FraudDataset` is stored; replacing a day of ``datasets`` replaces that
#: day of the other two (`replaced_together`).
FRAUD_DATASET_TABLES = {"summary": "datasets", "nodes": "dataset_nodes", "edges": "dataset_edges"}

#: PostgreSQL type name -> Arrow type a loaded column gets. ``date`` stays ``YYYY-MM-DD`` text,
#: the frame contract of ``partition_date``; anything unlisted (text, uuid, ...) is text.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int64(),
    "int4": pa.int64(),
    "int8": pa.int64(),
    "float4": pa.float64(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "bool": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
}

COPY_BATCH_ROWS = 65_536
CONNECT_TIMEOUT_SECONDS = 10


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or used; the message never holds a password."""


# -- the connection resource ----------------------------------------------------------------------


def describe_database(url: str) -> str:
    """Where ``url`` points (host, port, database), safe to log: never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        params = {}
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    where = f"host {host}, port {port}, database {params.get('dbname') or '?'}"
    if "://" in url:
        return f"{redact_url(url)} ({where})"
    return where


def _scrub(message: str, url: str) -> str:
    """Remove the password from a driver message (libpq may quote parts of a malformed URL)."""
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    return message.replace(str(password), "***") if password else message


class PostgresWarehouse(ConfigurableResource):
    """A PostgreSQL database: ``database_url`` in production, else an embedded server.

    Pass the URL as ``EnvVar("FRAUD_DATABASE_URL")`` so the password stays out of config and logs.
    """

    database_url: str | None = Field(
        default=None, description="libpq URL of the database; takes precedence over embedded_dir."
    )
    embedded_dir: str | None = Field(
        default=None, description="Data folder of an embedded PostgreSQL used when no URL is set."
    )
    schema_name: str = Field(default=DEFAULT_SCHEMA, description="Schema of the platform tables.")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Refuse the embedded server where runs execute on workers of their own: each would
        start a database of its own, and the days would not meet."""
        launcher = remote_run_launcher(getattr(context, "instance", None))
        if launcher is not None and not self.database_url:
            raise WarehouseError(
                f"no FRAUD_DATABASE_URL: the embedded PostgreSQL is this machine's, but this "
                f"Dagster instance runs each run on a worker of its own ({launcher}); set "
                "FRAUD_DATABASE_URL to the shared PostgreSQL (see deploy/)"
            )

    def url(self) -> str:
        """The libpq URL to connect to, starting the embedded server if that is the one."""
        if self.database_url:
            return self.database_url
        if self.embedded_dir:
            return embedded_database_url(Path(self.embedded_dir))
        raise WarehouseError("no database configured: set FRAUD_DATABASE_URL or embedded_dir")

    def database_name(self) -> str:
        """The database name, without connecting (or starting an embedded server)."""
        if self.database_url:
            return str(conninfo_to_dict(self.database_url).get("dbname") or "")
        return EMBEDDED_DATABASE

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection that commits when the block ends normally and rolls back otherwise."""
        url = self.url()
        try:
            params = conninfo_to_dict(url)
            params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
            params.setdefault("application_name", "fraud_platform")
            connection = psycopg.connect(**params)
        except psycopg.Error as error:
            # `from None`: the driver's exception is already summarised, password removed.
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {describe_database(url)}: "
                f"{_scrub(str(error).strip(), url)}"
            ) from None
        with connection:
            yield connection


# -- the schema -----------------------------------------------------------------------------------


def _lock_key(schema: str, *parts: str) -> int:
    """A stable signed 64-bit advisory-lock key (Python's hash() is salted)."""
    name = ":".join(("fraud_platform.schema", schema, *parts))
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
    return sorted({_lock_key(table_slice.schema, table_slice.table, day) for day in days})


def replaced_together(table: str) -> tuple[str, ...]:
    """The tables a write to ``table`` replaces the slice of: a day's ``datasets`` row goes with
    its ``dataset_nodes`` and ``dataset_edges`` (what ON DELETE CASCADE did before)."""
    if table == FRAUD_DATASET_TABLES["summary"]:
        return tuple(FRAUD_DATASET_TABLES.values())
    return (table,)


def index_name(table: str, column: str) -> str:
    return f"{table}_{column}_idx"


def expected_indexes(tables: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Table -> columns to index: `INDEXED_COLUMNS` present and not already unique.

    Day-partitioned tables get none: each day is its own partition, and nothing looks their rows
    up otherwise (an account index doubles the load of a 10M day).
    """
    return {
        table: [
            column
            for column in INDEXED_COLUMNS
            if column in columns
            and "UNIQUE" not in columns[column].upper()
            and "PRIMARY KEY" not in columns[column].upper()
        ]
        for table, columns in tables.items()
        if table not in PARTITIONED_TABLES
    }


def partition_name(table: str, day: str) -> str:
    """The partition of ``table`` holding ``day`` (``YYYY-MM-DD``), e.g. dataset_nodes_20241001."""
    return f"{table}_{date.fromisoformat(day):%Y%m%d}"


def lock_day_partitions(connection: psycopg.Connection, schema: str, day: str) -> None:
    """Wait until no load of ``day`` is in progress and keep one from starting (ACCESS SHARE).

    A REPEATABLE READ reader calls this first: LOCK takes no snapshot, so the reads that follow
    see the day as last committed, never the empty day a TRUNCATE shows to older snapshots.
    Raises `psycopg.errors.UndefinedTable` when the day has no partitions.
    """
    names = [sql.Identifier(schema, partition_name(table, day)) for table in PARTITIONED_TABLES]
    connection.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.SQL(", ").join(names))
    )


class _Catalog(NamedTuple):
    columns: set[tuple[str, str]]  # (table, column) of the schema's tables (not partitions)
    indexes: set[str]
    kinds: dict[str, str]  # table -> relkind: 'r' plain, 'p' partitioned


def _catalog(connection: psycopg.Connection, schema: str) -> _Catalog:
    """What exists in ``schema``, from pg_catalog (partitions are left out)."""
    rows = connection.execute(
        "SELECT c.relname, c.relkind::text, a.attname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
        [schema],
    ).fetchall()
    indexes = connection.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s", [schema]
    ).fetchall()
    return _Catalog(
        columns={(table, column) for table, _, column in rows if column},
        indexes={name for (name,) in indexes},
        kinds={table: kind for table, kind, _ in rows},
    )


def _column_definition(schema: str, column: str, definition: str) -> sql.Composed:
    return sql.SQL("{} {}").format(
        sql.Identifier(column), sql.SQL(definition).format(schema=sql.Identifier(schema))
    )


def _create_table(
    connection: psycopg.Connection, schema: str, table: str, spec: Mapping[str, str]
) -> None:
    connection.execute(
        sql.SQL("CREATE TABLE {} ({}){}").format(
            sql.Identifier(schema, table),
            sql.SQL(", ").join(_column_definition(schema, c, d) for c, d in spec.items()),
            sql.SQL(" PARTITION BY LIST ({})").format(sql.Identifier(PARTITION_COLUMN))
            if table in PARTITIONED_TABLES
            else sql.SQL(""),
        )
    )


def _partition_plain_table(
    connection: psycopg.Connection, schema: str, table: str, spec: Mapping[str, str]
) -> None:
    """Turn a plain table of the earlier layout into a day-partitioned one, rows included.

    Its foreign key to ``datasets`` and its indexes go with the old table. Runs once per database,
    in the caller's transaction: a failure leaves the old table as it was.
    """
    old = f"{table}_unpartitioned"
    present = [
        name
        for (name,) in connection.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped",
            [sql.Identifier(schema, table).as_string(connection)],
        ).fetchall()
    ]
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in spec if c in present)
    connection.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(schema, table), sql.Identifier(old)
        )
    )
    _create_table(connection, schema, table, spec)
    days = connection.execute(
        sql.SQL("SELECT DISTINCT {}::text FROM {}").format(
            sql.Identifier(PARTITION_COLUMN), sql.Identifier(schema, old)
        )
    ).fetchall()
    ensure_day_partitions(connection, schema, table, [day for (day,) in days])
    connection.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            sql.Identifier(schema, table), columns, columns, sql.Identifier(schema, old)
        )
    )
    connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, old)))


def ensure_warehouse_schema(
    connection: psycopg.Connection,
    schema: str,
    tables: Mapping[str, Mapping[str, str]] = WAREHOUSE_TABLES,
) -> bool:
    """Create the schema, tables, missing columns and indexes; True if anything was created.

    A database of the earlier layout (plain ``dataset_nodes``/``dataset_edges`` with a foreign key
    to ``datasets`` and indexes) is upgraded: those tables become day-partitioned, rows kept.

    Checking the catalogs first keeps the common case (all there) free of DDL and its locks, which
    would otherwise be held until the caller's transaction ends. When something is missing, a
    transaction-scoped advisory lock makes concurrent first runs take turns, and the check is
    repeated under it.
    """
    wanted = {(t, c) for t, columns in tables.items() for c in columns}
    wanted_indexes = {
        index_name(t, c) for t, columns in expected_indexes(tables).items() for c in columns
    }

    def complete(catalog: _Catalog) -> bool:
        return (
            wanted <= catalog.columns
            and wanted_indexes <= catalog.indexes
            and all(catalog.kinds.get(t) == "p" for t in PARTITIONED_TABLES if t in tables)
        )

    if complete(_catalog(connection, schema)):
        return False
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema)])
    catalog = _catalog(connection, schema)
    exists = connection.execute(
        "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]
    ).fetchone()
    if exists is None:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for table, spec in tables.items():
        target = sql.Identifier(schema, table)
        if table not in catalog.kinds:
            _create_table(connection, schema, table, spec)
            continue
        present = {c for t, c in catalog.columns if t == table}
        for column, definition in spec.items():
            if column not in present:
                connection.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                        target, _column_definition(schema, column, definition)
                    )
                )
        if table in PARTITIONED_TABLES and catalog.kinds[table] != "p":
            _partition_plain_table(connection, schema, table, spec)
    for table, index_columns in expected_indexes(tables).items():
        for column in index_columns:
            if index_name(table, column) not in catalog.indexes:
                connection.execute(
                    sql.SQL("CREATE INDEX {} ON {} ({})").format(
                        sql.Identifier(index_name(table, column)),
                        sql.Identifier(schema, table),
                        sql.Identifier(column),
                    )
                )
    return True


def _partitions(connection: psycopg.Connection, schema: str, table: str) -> set[str] | None:
    """The names of the table's partitions, or None when it is not partitioned."""
    row = connection.execute(
        "SELECT c.relkind = 'p', ARRAY(SELECT p.relname::text FROM pg_inherits i "
        "JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        [sql.Identifier(schema, table).as_string(connection)],
    ).fetchone()
    if row is None or not row[0]:
        return None
    return set(row[1])


def ensure_day_partitions(
    connection: psycopg.Connection, schema: str, table: str, days: Iterable[str]
) -> list[str]:
    """Create the partitions of ``table`` that ``days`` lack; returns the days created.

    ``CREATE TABLE ... PARTITION OF`` would lock the parent table ACCESS EXCLUSIVE (against every
    reader and every load of every day) until the transaction ends. A standalone table attached
    with ``ATTACH PARTITION`` takes SHARE UPDATE EXCLUSIVE on the parent, which neither reads nor
    COPYs conflict with. Concurrent creators take turns on an advisory lock.
    """
    wanted = sorted({date.fromisoformat(str(day)).isoformat() for day in days})
    existing = _partitions(connection, schema, table)
    if existing is None or all(partition_name(table, day) in existing for day in wanted):
        return []
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema, table, "partition")])
    existing = _partitions(connection, schema, table) or set()
    created = []
    for day in wanted:
        name = partition_name(table, day)
        if name in existing:
            continue
        parent, partition = sql.Identifier(schema, table), sql.Identifier(schema, name)
        connection.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
                partition, parent
            )
        )
        connection.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                parent, partition, sql.Literal(date.fromisoformat(day))
            )
        )
        created.append(day)
    return created


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
    existing = _partitions(connection, schema, table) if table in PARTITIONED_TABLES else None
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
    spec = _table_spec(table)
    if PARTITION_COLUMN not in spec:
        raise WarehouseError(f"table {table!r} has no {PARTITION_COLUMN} column")
    wanted = sorted({date.fromisoformat(str(day)) for day in days})
    exists = connection.execute(
        "SELECT to_regclass(%s)", [sql.Identifier(schema, table).as_string(connection)]
    ).fetchone()
    if not wanted or exists is None or exists[0] is None:
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


def _table_spec(table: str) -> Mapping[str, str]:
    try:
        return WAREHOUSE_TABLES[table]
    except KeyError:
        raise WarehouseError(
            f"{table!r} is not a warehouse table (known: {sorted(WAREHOUSE_TABLES)}); give the "
            "asset metadata={'table': ...} or add the table to WAREHOUSE_TABLES"
        ) from None


# -- slices ---------------------------------------------------------------------------------------


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


# -- COPY in: PostgreSQL's binary format from Arrow -----------------------------------------------

#: Type names as `WAREHOUSE_TABLES` or ``format_type`` spell them -> the encoder's type.
_PG_TYPES = {
    "uuid": "uuid",
    "date": "date",
    "text": "text",
    "double precision": "float8",
    "float8": "float8",
    "real": "float4",
    "float4": "float4",
    "bigint": "int8",
    "int8": "int8",
    "integer": "int4",
    "int4": "int4",
    "int": "int4",
    "smallint": "int2",
    "int2": "int2",
    "boolean": "bool",
    "bool": "bool",
    "timestamptz": "timestamptz",
    "timestamp with time zone": "timestamptz",
}
#: Fixed-width types: numpy big-endian dtype of the value (the network byte order COPY wants).
_FIXED_DTYPES = {
    "float8": ">f8",
    "float4": ">f4",
    "int8": ">i8",
    "int4": ">i4",
    "int2": ">i2",
    "bool": "u1",
    "date": ">i4",
    "timestamptz": ">i8",
}
_INTEGER_ARROW_TYPES = {"int8": pa.int64(), "int4": pa.int32(), "int2": pa.int16()}
_FLOAT_ARROW_TYPES = {"float8": pa.float64(), "float4": pa.float32()}
#: PostgreSQL counts dates and timestamps from 2000-01-01.
_PG_EPOCH_DAYS = 10_957
_PG_EPOCH_MICROSECONDS = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_BINARY_TRAILER = b"\xff\xff"
_NULL_FIELD = b"\xff\xff\xff\xff"  # field length -1
#: Hex digit value of each byte (16 and above: not a hex digit), for uuid text.
_HEX_DIGITS = np.full(256, 16, np.uint8)
_HEX_DIGITS[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
_HEX_DIGITS[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_UUID_HYPHENS = [8, 13, 18, 23]
_UUID_HEX_POSITIONS = [i for i in range(36) if i not in _UUID_HYPHENS]


def column_type(definition: str) -> str:
    """The encoder type of a column definition: ``"double precision NOT NULL"`` -> ``float8``."""
    text = " ".join(definition.lower().split())
    for name in sorted(_PG_TYPES, key=len, reverse=True):
        if text == name or text.startswith((f"{name} ", f"{name}(")):
            return _PG_TYPES[name]
    raise WarehouseError(f"no binary COPY encoder for column type {definition!r}")


class _Fixed(NamedTuple):
    """A fixed-width column: per-row big-endian values (``values[indices]`` when ``indices`` is
    set, a dictionary encoding; ``values[0]`` for every row when ``constant``), and which rows are
    NULL."""

    values: np.ndarray  # (rows | dictionary size | 1, width) uint8
    indices: np.ndarray | None = None
    nulls: np.ndarray | None = None
    constant: bool = False

    def payload(self, start: int, stop: int) -> np.ndarray | bytes:
        if self.constant:
            return self.values[0].tobytes()
        if self.indices is None:
            return self.values[start:stop]
        return self.values[self.indices[start:stop]]


class _Text(NamedTuple):
    """A text column: UTF-8 values as Arrow large_binary (NULL rows null) and their offsets."""

    values: pa.LargeBinaryArray
    offsets: np.ndarray  # int64, rows + 1
    nulls: np.ndarray | None


def _nulls(array: pa.Array) -> np.ndarray | None:
    """A boolean mask of the NULL rows, or None when there are none."""
    if array.null_count == 0:
        return None
    return np.asarray(array.is_null())


def _big_endian(values: np.ndarray, encoder_type: str) -> np.ndarray:
    """Values as (rows, width) uint8 in network byte order."""
    dtype = np.dtype(_FIXED_DTYPES[encoder_type])
    return np.ascontiguousarray(values, dtype=dtype).view(np.uint8).reshape(-1, dtype.itemsize)


def _dictionary_column(array: pa.Array, convert: Any) -> _Fixed:
    """Columns with few distinct values (a day, a dataset id): convert each value once."""
    if len(array) and array.null_count == 0 and pc.all(pc.equal(array, array[0])).as_py():
        return _Fixed(convert(array.slice(0, 1)), constant=True)
    encoded = array.dictionary_encode()
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    values = convert(encoded.dictionary)
    if not len(values):  # every row NULL: index 0 must still exist
        values = np.zeros((1, values.shape[1]), np.uint8)
    return _Fixed(values, indices, _nulls(array))


def _uuid_values(strings: pa.Array) -> np.ndarray:
    """The 16 bytes of each uuid text: the canonical 36-character form (any case) by numpy over
    the Arrow buffers, anything else PostgreSQL also reads (no hyphens, braces) by `uuid.UUID`."""
    strings = pc.cast(strings, pa.large_string())
    count = len(strings)
    if count and strings.null_count == 0:
        offsets = np.frombuffer(strings.buffers()[1], np.int64, count + 1, strings.offset * 8)
        if (np.diff(offsets) == 36).all():
            data = np.frombuffer(strings.buffers()[2], np.uint8)
            chars = data[offsets[0] : offsets[-1]].reshape(count, 36)
            nibbles = _HEX_DIGITS[chars[:, _UUID_HEX_POSITIONS]]
            if (chars[:, _UUID_HYPHENS] == ord("-")).all() and (nibbles < 16).all():
                return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    raw = b"".join(uuid.UUID(str(value)).bytes for value in strings.to_pylist())
    return np.frombuffer(raw, np.uint8).reshape(-1, 16)


def _date_values(dictionary: pa.Array) -> np.ndarray:
    days = pc.cast(dictionary, pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    return _big_endian(days.astype(np.int64) - _PG_EPOCH_DAYS, "date")


def _timestamp_microseconds(array: pa.Array) -> np.ndarray:
    """Microseconds since 1970 (UTC; a naive timestamp is UTC, the platform's contract).

    Nanoseconds round half to even, as PostgreSQL rounds the fraction of a text timestamp.
    """
    if pa.types.is_date(array.type):
        array = pc.cast(array, pa.timestamp("us"))
    elif not pa.types.is_timestamp(array.type):
        array = pc.cast(array, pa.timestamp("us", tz="UTC"))
    unit = array.type.unit
    raw = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    if unit == "ns":
        micro, rest = np.divmod(raw, 1000)
        return micro + ((rest > 500) | ((rest == 500) & (micro % 2 == 1)))
    return raw * {"s": 1_000_000, "ms": 1000, "us": 1}[unit]


def _integer_array(array: pa.Array, encoder_type: str, column: str) -> np.ndarray:
    target = _INTEGER_ARROW_TYPES[encoder_type]
    if pa.types.is_integer(array.type) and array.null_count < len(array):
        extremes = pc.min_max(array)
        info = np.iinfo(target.to_pandas_dtype())
        for value in (extremes["min"].as_py(), extremes["max"].as_py()):
            if not info.min <= value <= info.max:
                raise WarehouseError(
                    f"column {column!r}: value {value} is out of range for {encoder_type} "
                    f"({info.min} to {info.max})"
                )
    return pc.cast(array, target).fill_null(0).to_numpy(zero_copy_only=False)


def _encode_column(array: pa.Array, encoder_type: str, column: str) -> _Fixed | _Text:
    """One column of the frame, converted to what the table column receives."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    nulls = _nulls(array)
    if encoder_type == "text":
        textual = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)
        if not any(test(array.type) for test in (*textual, pa.types.is_large_binary)):
            array = pc.cast(array, pa.large_string())  # numbers etc. as Arrow prints them
        array = array.cast(pa.large_binary())
        offsets = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, array.offset * 8)
        return _Text(array, offsets, nulls)
    if encoder_type == "uuid":
        if isinstance(array, pa.ExtensionArray):  # pa.uuid(), what pyarrow makes of UUID objects
            array = array.storage
        if pa.types.is_fixed_size_binary(array.type) and array.type.byte_width == 16:
            filled = array.fill_null(bytes(16)) if nulls is not None else array
            raw = np.frombuffer(filled.buffers()[1], np.uint8)
            start = filled.offset * 16
            return _Fixed(raw[start : start + len(array) * 16].reshape(-1, 16), nulls=nulls)
        return _dictionary_column(pc.cast(array, pa.large_string()), _uuid_values)
    if encoder_type == "date":
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return _dictionary_column(array, _date_values)
        return _Fixed(_date_values(pc.cast(array, pa.date32(), safe=False)), nulls=nulls)
    if encoder_type == "timestamptz":
        micro = _timestamp_microseconds(array) - _PG_EPOCH_MICROSECONDS
        return _Fixed(_big_endian(micro, encoder_type), nulls=nulls)
    if encoder_type in _INTEGER_ARROW_TYPES:
        values = _integer_array(array, encoder_type, column)
        return _Fixed(_big_endian(values, encoder_type), nulls=nulls)
    if encoder_type in _FLOAT_ARROW_TYPES:
        values = pc.cast(array, _FLOAT_ARROW_TYPES[encoder_type]).fill_null(0)
        return _Fixed(_big_endian(values.to_numpy(zero_copy_only=False), encoder_type), nulls=nulls)
    if encoder_type == "bool":
        values = pc.cast(array, pa.bool_()).fill_null(False).to_numpy(zero_copy_only=False)
        return _Fixed(_big_endian(values.astype(np.uint8), encoder_type), nulls=nulls)
    raise WarehouseError(f"no binary COPY encoder for {encoder_type}")


def encode_columns(
    table: pa.Table, types: Mapping[str, str], table_name: str = "?"
) -> list[_Fixed | _Text]:
    """The columns of ``table`` (in its order) ready for `binary_rows`; ``types`` maps each column
    to its encoder type (`column_type`). Text of other Arrow types is cast to Arrow's text form."""
    encoded: list[_Fixed | _Text] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        try:
            encoded.append(_encode_column(array, types[name], name))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
            raise WarehouseError(
                f"column {name!r} ({array.type}) cannot be stored in {table_name} as "
                f"{types[name]}: {error}"
            ) from None
    return encoded


def _fixed_width_binary(matrix: np.ndarray) -> pa.Array:
    """A (rows, width) uint8 matrix as an Arrow large_binary array, without copying."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(matrix)]
    )


def _fixed_segment(parts: Sequence[np.ndarray | bytes], rows: int) -> pa.Array:
    """Consecutive fixed-width parts (bytes shared by every row, or (rows, width) matrices) laid
    side by side, as a large_binary array of one value per row."""
    merged: list[np.ndarray | bytes] = []
    for part in parts:  # runs of shared bytes become one assignment
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    widths = [len(part) if isinstance(part, bytes) else part.shape[1] for part in merged]
    # A structured view copies each part as one element per row, 5x faster than uint8 slices.
    layout = np.dtype(
        {
            "names": [f"f{i}" for i in range(len(merged))],
            "formats": [f"V{width}" for width in widths],
            "offsets": np.cumsum([0, *widths[:-1]]).tolist(),
            "itemsize": sum(widths),
        }
    )
    matrix = np.empty(rows, layout)
    for i, (part, width) in enumerate(zip(merged, widths, strict=True)):
        if isinstance(part, bytes):
            matrix[f"f{i}"] = np.void(part)
        else:
            matrix[f"f{i}"] = np.ascontiguousarray(part).view(f"V{width}").reshape(rows)
    return _fixed_width_binary(matrix.view(np.uint8).reshape(rows, layout.itemsize))


def binary_rows(columns: Sequence[_Fixed | _Text], start: int, stop: int) -> memoryview:
    """Rows ``start:stop`` in COPY's binary tuple format: a 16-bit field count, then per field
    a 32-bit length (-1 for NULL) and the value.

    Runs of fixed-width fields (and the length of the text after them) are laid out in one numpy
    array; Arrow's ``binary_join_element_wise`` then interleaves them with the text values.
    """
    rows = stop - start
    pieces: list[pa.Array] = []
    segment: list[np.ndarray | bytes] = [len(columns).to_bytes(2, "big")]
    for column in columns:
        nulls = None if column.nulls is None else column.nulls[start:stop]
        if isinstance(column, _Text):
            lengths = np.diff(column.offsets[start : stop + 1])
            if nulls is not None:
                lengths = np.where(nulls, -1, lengths)
            segment.append(_big_endian(lengths, "int4"))
            pieces.append(_fixed_segment(segment, rows))
            segment = []
            pieces.append(column.values.slice(start, rows))
            continue
        payload = column.payload(start, stop)
        prefix = column.values.shape[1].to_bytes(4, "big")
        if nulls is None or not nulls.any():
            segment += [prefix, payload]
            continue
        if segment:
            pieces.append(_fixed_segment(segment, rows))
            segment = []
        field = _fixed_segment([prefix, payload], rows)
        null = pa.scalar(_NULL_FIELD, pa.large_binary())
        pieces.append(pc.if_else(pa.array(~nulls), field, null))
    if segment:
        pieces.append(_fixed_segment(segment, rows))
    if len(pieces) == 1:
        joined = pieces[0]
    else:
        empty = pa.scalar(b"", pa.large_binary())
        joined = pc.binary_join_element_wise(
            *pieces, empty, null_handling="replace", null_replacement=b""
        )
    offsets = np.frombuffer(joined.buffers()[1], np.int64, rows + 1, joined.offset * 8)
    data = joined.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _distinct_days(column: _Fixed) -> list[str]:
    """The days an encoded ``date`` column holds (its dictionary when it has one)."""
    days = column.values.view(">i4").ravel()
    if column.indices is None and not column.constant:
        days = pc.unique(pa.array(days.astype(np.int32))).to_numpy()
    epoch = np.datetime64("2000-01-01")
    return [str(epoch + np.timedelta64(int(day), "D")) for day in days]


def _stored_columns(
    connection: psycopg.Connection, schema: str, table: str
) -> tuple[dict[str, str], bool]:
    """Column -> type name as the database has it (``format_type``), and whether the table is
    partitioned."""
    rows = connection.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.relkind = 'p' "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        [sql.Identifier(schema, table).as_string(connection)],
    ).fetchall()
    return {name: type_name for name, type_name, _ in rows}, any(p for _, _, p in rows)


class EncodedRows(NamedTuple):
    """A frame's rows ready for `copy_encoded`: the table columns it fills, in table order."""

    table: str
    columns: list[str]
    encoded: list[_Fixed | _Text]
    rows: int


def encode_frame(table: str, frame: pd.DataFrame) -> EncodedRows:
    """The frame's rows encoded for ``table`` (columns by name, types from `WAREHOUSE_TABLES`).

    CPU work only, no connection: `FraudDatasetTypeHandler` runs it in a worker thread for the
    next table while the server loads the current one. NaN in a float column becomes NULL, like
    pandas' missing values (as the CSV feed stored it); the empty string stays distinct from NULL.
    """
    spec = _table_spec(table)
    extra = [c for c in frame.columns if c not in spec]
    if extra:
        raise WarehouseError(
            f"columns {extra} are not in table {table}; add them to WAREHOUSE_TABLES"
        )
    columns = [c for c in spec if c in frame.columns]
    types = {c: column_type(spec[c]) for c in columns}
    try:
        arrow = pa.Table.from_pandas(frame[columns], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise WarehouseError(f"rows for {table} cannot be stored: {error}") from None
    return EncodedRows(table, columns, encode_columns(arrow, types, table), len(frame))


def copy_encoded(connection: psycopg.Connection, schema: str, rows: EncodedRows) -> int:
    """COPY encoded rows into ``schema.table``; returns the row count.

    The table's column types are checked against the database first: binary COPY would read the
    8 bytes of a float as a bigint without complaint. Rows of a partitioned table whose day has no
    partition yet get one, in this transaction.
    """
    spec = _table_spec(rows.table)
    stored, partitioned = _stored_columns(connection, schema, rows.table)
    for column in rows.columns:
        if _PG_TYPES.get(stored.get(column, "")) != column_type(spec[column]):
            raise WarehouseError(
                f"column {column!r} of {schema}.{rows.table} is "
                f"{stored.get(column, 'missing')!r} in the database but {spec[column]!r} in "
                "WAREHOUSE_TABLES"
            )
    if partitioned and PARTITION_COLUMN in rows.columns and rows.rows:
        day_column = rows.encoded[rows.columns.index(PARTITION_COLUMN)]
        if isinstance(day_column, _Fixed):
            ensure_day_partitions(connection, schema, rows.table, _distinct_days(day_column))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(schema, rows.table),
        sql.SQL(", ").join(sql.Identifier(c) for c in rows.columns),
    )
    # A writer thread sends one batch while the next is encoded.
    with (
        connection.cursor() as cursor,
        cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        copy.write(_BINARY_HEADER)
        for start in range(0, rows.rows, COPY_BATCH_ROWS):
            stop = min(start + COPY_BATCH_ROWS, rows.rows)
            copy.write(binary_rows(rows.encoded, start, stop))
        copy.write(_BINARY_TRAILER)
    return rows.rows


def copy_frame(connection: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame) -> int:
    """COPY the frame's rows into ``schema.table`` (columns by name); returns the row count.

    `encode_frame` then `copy_encoded`: binary COPY, column order and types from
    `WAREHOUSE_TABLES`.
    """
    return copy_encoded(connection, schema, encode_frame(table, frame))


# -- COPY out -------------------------------------------------------------------------------------


def read_slice(connection: psycopg.Connection, table_slice: TableSlice) -> pd.DataFrame:
    """The slice's rows as a DataFrame with the platform's dtypes.

    Integers are ``int64`` (``Int64`` when a NULL is present), ``timestamptz`` is
    ``datetime64[us, UTC]``, dates are ``YYYY-MM-DD`` strings and text is pandas' string dtype.
    """
    query, params = select_statement(table_slice)
    # COPY's text output follows these settings; pin them to what the parser below expects.
    connection.execute("SELECT set_config('DateStyle', 'ISO, YMD', true)")
    connection.execute("SELECT set_config('extra_float_digits', '1', true)")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("{} LIMIT 0").format(query), params)
        description = cursor.description or []
        names = [column.name for column in description]
        types = {}
        for column in description:
            info = connection.adapters.types.get(column.type_code)
            types[column.name] = _ARROW_TYPES.get(info.name if info else "", pa.string())
        buffer = io.BytesIO()
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        with cursor.copy(statement, params) as copy:
            for data in copy:
                buffer.write(data)
    schema = pa.schema([(name, types[name]) for name in names])
    if buffer.tell() == 0:
        table = schema.empty_table()
    else:
        buffer.seek(0)
        table = pa_csv.read_csv(
            buffer,
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            # COPY writes NULL as an unquoted empty field and quotes an empty string; nothing
            # else is NULL (Arrow's default list would also take the text "NULL" or "NaN").
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],  # how COPY writes booleans
                false_values=["f"],
            ),
        )
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name, arrow_type in types.items():
        if arrow_type == pa.int64() and not frame[name].hasnans:
            frame[name] = frame[name].astype("int64")
    return frame


# -- Dagster's database IO manager ----------------------------------------------------------------


#: Called at the end of an output's transaction, just before its COMMIT (see `commit_waits_for`).
_BEFORE_COMMIT: ContextVar[Callable[[], object] | None] = ContextVar("before_commit", default=None)


@contextmanager
def commit_waits_for(condition: Callable[[], object]) -> Iterator[None]:
    """Outputs written in this block call ``condition()`` before they commit, in their
    transaction: if it raises, the load is rolled back and the error is the output's.

    The dataset IO manager writes Parquet on another thread while the warehouse loads, and
    passes the Parquet write's ``result``: the warehouse rows, which mark a day as published,
    are committed only once its files are in place, as when the two ran one after the other.
    """
    token = _BEFORE_COMMIT.set(condition)
    try:
        yield
    finally:
        _BEFORE_COMMIT.reset(token)


class PostgresDbClient(DbClient[psycopg.Connection]):
    """Connection, schema and delete for `DbIOManager`; one transaction per output or input."""

    def __init__(self, warehouse: PostgresWarehouse) -> None:
        self.warehouse = warehouse

    @contextmanager
    def connect(
        self, context: OutputContext | InputContext, table_slice: TableSlice
    ) -> Iterator[psycopg.Connection]:
        with self.warehouse.connect() as connection:
            if isinstance(context, OutputContext):
                # Tables and a new day's partitions are committed before the load: their locks
                # on whole tables then last milliseconds, not the whole COPY.
                with connection.transaction():
                    if prepare_write(connection, table_slice):
                        context.log.info(
                            f"created warehouse tables or partitions in schema {table_slice.schema}"
                        )
            with connection.transaction():
                yield connection
                condition = _BEFORE_COMMIT.get()
                if condition is not None and isinstance(context, OutputContext):
                    condition()

    def ensure_schema_exists(
        self, context: OutputContext, table_slice: TableSlice, connection: psycopg.Connection
    ) -> None:
        if ensure_warehouse_schema(connection, table_slice.schema):
            context.log.info(f"created warehouse tables in schema {table_slice.schema}")

    def delete_table_slice(
        self, context: OutputContext, table_slice: TableSlice, connection: psycopg.Connection
    ) -> None:
        _table_spec(table_slice.table)
        tables = replaced_together(table_slice.table)
        keys = {key for t in tables for key in slice_lock_keys(table_slice._replace(table=t))}
        for key in sorted(keys):
            connection.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        for table in tables:
            clear_slice(connection, table_slice._replace(table=table))

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        """The slice's SELECT with its values inlined, for the materialization's metadata."""
        query, _ = select_statement(table_slice, inline=True)
        return query.as_string()


class DataFrameTypeHandler(DbTypeHandler[pd.DataFrame]):
    """A pandas DataFrame is the rows of one table."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: pd.DataFrame,
        connection: psycopg.Connection,
    ) -> Mapping[str, RawMetadataValue]:
        check_rows_in_slice(obj, table_slice)
        rows = copy_frame(connection, table_slice.schema, table_slice.table, obj)
        metadata: dict[str, RawMetadataValue] = {f"{table_slice.table}_rows": rows}
        # Dagster copies metadata to every partition of a range: only a single day's count is
        # that partition's row count.
        if not context.has_asset_partitions or len(context.asset_partition_keys) == 1:
            metadata["dagster/row_count"] = rows
        return metadata

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: psycopg.Connection
    ) -> pd.DataFrame:
        return read_slice(connection, table_slice)

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pd.DataFrame]


class FraudDatasetTypeHandler(DbTypeHandler[FraudDataset]):
    """A `FraudDataset` is a day's ``datasets`` row with its ``dataset_nodes`` and
    ``dataset_edges``; the asset's table must be ``datasets``, whose slice delete clears the same
    days of both (`PostgresDbClient.delete_table_slice`)."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: FraudDataset,
        connection: psycopg.Connection,
    ) -> Mapping[str, RawMetadataValue]:
        if table_slice.table != FRAUD_DATASET_TABLES["summary"]:
            raise WarehouseError(
                f"a FraudDataset is stored from table 'datasets', not {table_slice.table!r}: give "
                "the asset metadata={'table': 'datasets'}"
            )
        members = {FRAUD_DATASET_TABLES[m]: frame for m, frame in obj.members().items()}
        for table, frame in members.items():
            check_rows_in_slice(frame, table_slice._replace(table=table))
        metadata: dict[str, RawMetadataValue] = {}
        # A worker encodes the next table while the server loads the current one (the server is
        # the bottleneck: this keeps it busy from one COPY to the next).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warehouse-encode")
        try:
            pending = [pool.submit(encode_frame, t, frame) for t, frame in members.items()]
            for future in pending:
                rows = future.result()
                metadata[f"{rows.table}_rows"] = copy_encoded(connection, table_slice.schema, rows)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return metadata

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: psycopg.Connection
    ) -> FraudDataset:
        members = {
            member: read_slice(connection, table_slice._replace(table=table, columns=None))
            for member, table in FRAUD_DATASET_TABLES.items()
        }
        return FraudDataset(**members)

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [FraudDataset]


class PostgresTableIOManager(DbIOManager):
    """`DbIOManager` whose asset outputs may name their table: ``metadata={"table": ...}``.

    The stock class takes the table from the asset key for assets and honours ``table`` only for
    op outputs; several assets here share a table under different keys.
    """

    def _get_table_slice(
        self, context: OutputContext | InputContext, output_context: OutputContext
    ) -> TableSlice:
        table_slice = super()._get_table_slice(context, output_context)
        table = (output_context.definition_metadata or {}).get("table")
        return table_slice._replace(table=str(table)) if table else table_slice


class PostgresIOManager(ConfigurableIOManagerFactory):
    """Stores DataFrames and FraudDatasets in the warehouse, replacing the partitions written.

    Partitioned assets give ``metadata={"partition_expr": "partition_date"}`` (a column name) and
    optionally ``"table"`` (default: the asset key's last part).
    """

    warehouse: ResourceDependency[PostgresWarehouse]

    def create_io_manager(self, context: InitResourceContext) -> PostgresTableIOManager:
        return PostgresTableIOManager(
            type_handlers=[DataFrameTypeHandler(), FraudDatasetTypeHandler()],
            db_client=PostgresDbClient(self.warehouse),
            database=self.warehouse.database_name(),
            schema=self.warehouse.schema_name,
            io_manager_name="PostgresIOManager",
            default_load_type=pd.DataFrame,
        )


__all__ = [
    "DEFAULT_SCHEMA",
    "FRAUD_DATASET_TABLES",
    "WAREHOUSE_TABLES",
    "DataFrameTypeHandler",
    "FraudDatasetTypeHandler",
    "PostgresDbClient",
    "PostgresIOManager",
    "PostgresTableIOManager",
    "PostgresWarehouse",
    "WarehouseError",
    "copy_encoded",
    "copy_frame",
    "delete_days",
    "encode_frame",
    "ensure_day_partitions",
    "ensure_warehouse_schema",
    "read_slice",
    "stored_row_counts",
]
