"""The warehouse's tables and how a database gets them: DDL as data, migrations, day partitions.

`WAREHOUSE_TABLES` is every table's DDL, derived from the Arrow schemas of `fraud_platform.tables`
(the one statement of the columns) plus the keys and defaults Arrow cannot state;
`ensure_warehouse_schema` makes a database match it (new tables, new columns, indexes, and the
one-time upgrade of the earlier layout), and `ensure_day_partitions` adds a day's partitions
before it is loaded.

``dataset_nodes`` and ``dataset_edges`` are LIST-partitioned by day (``{table}_YYYYMMDD``),
without foreign keys or indexes (queries read them by day, or whole). Replacing a day is
TRUNCATE of its partitions (constant time, no dead rows) plus COPY through the parent table.
First load / replace of a day, 1M (10M), ``benchmarks/postgres_load.py``: earlier layout (foreign
keys, 3 indexes) 16-18 / 17-21 s; plain tables with btree day and account indexes 4.1-4.7 /
6.4-7.1 s (47 / 66 s); a BRIN day index alone 2.1-2.6 / 3.5-4.0 s (19-28 / 32-34 s); partitions
1.8-2.0 / 1.7-2.0 s (15.7-17.3 / 14.3-18.0 s), and an account index on them doubles the 10M load.
(COPY FREEZE would have to name the partition, and measured no faster.) A new day's partitions
are made with CREATE TABLE + ATTACH PARTITION, committed before the load: ``CREATE TABLE ...
PARTITION OF`` would lock the parent against every reader. Readers of other days are never
blocked (partition pruning); a reader of the day being replaced, or of all days, waits for the
load to commit. TRUNCATE is not MVCC-safe: a REPEATABLE READ transaction whose snapshot predates
that commit then sees the day empty (`lock_day_partitions` is the way around it).
"""

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from typing import NamedTuple

import psycopg
import pyarrow as pa
from psycopg import sql

from fraud_platform.storage.warehouse.connection import WarehouseError, catalog_rows
from fraud_platform.tables import (
    DAY,
    HISTORY_COLUMNS,
    PARTITION_COLUMN,
    UTC_TIME,
    UUID,
    WAREHOUSE_SCHEMAS,
)

#: Arrow type -> PostgreSQL type of a warehouse column. The binary COPY encodes by the latter
#: (`column_type`); a type not listed here cannot be stored.
PG_TYPES: dict[pa.DataType, str] = {
    DAY: "date",
    UUID: "uuid",
    UTC_TIME: "timestamptz",
    pa.string(): "text",
    pa.float64(): "double precision",
    pa.int64(): "bigint",
    pa.int32(): "integer",
}

#: Columns stored in another type than their Arrow type maps to, as the tables were first made
#: (the binary COPY converts the frame's values): table -> column -> PostgreSQL type.
STORED_TYPES: dict[str, dict[str, str]] = {
    "rejected_transactions": {"line": "integer"},
    "dataset_nodes": {"cluster": "integer"},
    # The case page shows these measures; the warehouse has always stored them as floats.
    "high_risk_history": {column: "double precision" for column in HISTORY_COLUMNS[2:]},
}

#: What the DDL says of a column beyond its type and NULL-ability, which Arrow cannot state:
#: keys, uniqueness and defaults. Table -> column -> SQL after the type.
COLUMN_CONSTRAINTS: dict[str, dict[str, str]] = {
    "datasets": {
        "dataset_id": "PRIMARY KEY",
        PARTITION_COLUMN: "UNIQUE",
        "created_at": "DEFAULT now()",
    },
    # No foreign key to datasets: a re-run day replaces its dataset rows, and its alerts
    # (delivered or not) must survive that. UNIQUE (partition_date, account) is a two-column index
    # the alert code ensures.
    "alerts": {"alert_id": "PRIMARY KEY", "created_at": "DEFAULT now()"},
    "analysts": {"name": "PRIMARY KEY", "token_hash": "UNIQUE", "created_at": "DEFAULT now()"},
    # Never updated: a new decision supersedes the one before.
    "alert_decisions": {"decision_id": "PRIMARY KEY", "decided_at": "DEFAULT clock_timestamp()"},
    "analyst_sessions": {"session_hash": "PRIMARY KEY", "created_at": "DEFAULT now()"},
}


def column_definitions(
    schema: pa.Schema,
    constraints: Mapping[str, str] | None = None,
    stored_types: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Column -> SQL definition (type first) of a table whose columns are ``schema``'s.

    The type is `PG_TYPES`' for the field's (``stored_types`` overrides it). A non-nullable field
    is ``NOT NULL`` (a primary key says it by itself); ``constraints`` adds what follows, e.g.
    ``{"created_at": "DEFAULT now()"}``.
    """
    constraints, stored_types = constraints or {}, stored_types or {}
    definitions = {}
    for field in schema:
        try:
            words = [stored_types.get(field.name) or PG_TYPES[field.type]]
        except KeyError:
            raise WarehouseError(
                f"column {field.name!r} has Arrow type {field.type}, which has no PostgreSQL "
                f"type (known: {', '.join(map(str, PG_TYPES))})"
            ) from None
        extra = constraints.get(field.name, "")
        if not field.nullable and "PRIMARY KEY" not in extra:
            words.append("NOT NULL")
        if extra:
            words.append(extra)
        definitions[field.name] = " ".join(words)
    return definitions


#: The warehouse DDL, as data: table -> column -> SQL definition (type first), derived from
#: `fraud_platform.tables.WAREHOUSE_SCHEMAS`, `STORED_TYPES` and `COLUMN_CONSTRAINTS`. Adding a
#: column is one line in tables.py: `ensure_warehouse_schema` adds it to existing databases too.
#: ``{schema}`` in a definition is replaced by the quoted schema name.
WAREHOUSE_TABLES: dict[str, dict[str, str]] = {
    table: column_definitions(columns, COLUMN_CONSTRAINTS.get(table), STORED_TYPES.get(table))
    for table, columns in WAREHOUSE_SCHEMAS.items()
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


def advisory_lock_key(schema: str, *parts: str) -> int:
    """A stable signed 64-bit advisory-lock key (Python's hash() is salted)."""
    name = ":".join(("fraud_platform.schema", schema, *parts))
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def index_name(table: str, column: str) -> str:
    """The name `ensure_warehouse_schema` gives the index of ``table.column``."""
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
    """``"column" definition``, with ``{schema}`` in the definition filled in."""
    return sql.SQL("{} {}").format(
        sql.Identifier(column), sql.SQL(definition).format(schema=sql.Identifier(schema))
    )


def _create_table(
    connection: psycopg.Connection, schema: str, table: str, spec: Mapping[str, str]
) -> None:
    """CREATE TABLE from its spec, partitioned by day when it is in `PARTITIONED_TABLES`."""
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
        for (name,) in catalog_rows(
            connection,
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped",
            schema,
            table,
        )
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
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(schema)])
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


def existing_partitions(connection: psycopg.Connection, schema: str, table: str) -> set[str] | None:
    """The names of the table's partitions, or None when it is not partitioned."""
    rows = catalog_rows(
        connection,
        "SELECT c.relkind = 'p', ARRAY(SELECT p.relname::text FROM pg_inherits i "
        "JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        schema,
        table,
    )
    if not rows or not rows[0][0]:
        return None
    return set(rows[0][1])


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
    existing = existing_partitions(connection, schema, table)
    if existing is None or all(partition_name(table, day) in existing for day in wanted):
        return []
    connection.execute(
        "SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(schema, table, "partition")]
    )
    existing = existing_partitions(connection, schema, table) or set()
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


def table_spec(table: str) -> Mapping[str, str]:
    """The columns of ``table`` in `WAREHOUSE_TABLES`, or an error saying where to add it."""
    try:
        return WAREHOUSE_TABLES[table]
    except KeyError:
        raise WarehouseError(
            f"{table!r} is not a warehouse table (known: {sorted(WAREHOUSE_TABLES)}); give the "
            "asset metadata={'table': ...} or add the table to WAREHOUSE_SCHEMAS in "
            "fraud_platform/tables.py"
        ) from None
