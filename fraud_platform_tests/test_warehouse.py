"""The PostgreSQL warehouse against a live server: schema, round trips, replacement, ranges,
atomicity under failure and a killed connection, hostile text, errors, and the embedded server.

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)

Why one module of this length: it covers one component against a live server, and its helpers
(schemas, frames, assets) serve every test in it.
"""

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pytest
from dagster import AssetExecutionContext, BackfillPolicy, asset, materialize, mem_io_manager
from psycopg import sql

from fraud_platform.partitions import daily_partitions
from fraud_platform.storage.embedded_postgres import embedded_database_url, stop_embedded
from fraud_platform.storage.warehouse import (
    WAREHOUSE_TABLES,
    PostgresDbClient,
    PostgresIOManager,
    PostgresWarehouse,
    TablePartitionDimension,
    TableSlice,
    WarehouseError,
    copy_frame,
    describe_database,
    ensure_warehouse_schema,
    read_slice,
)
from fraud_platform.storage.warehouse.schema import (
    COLUMN_CONSTRAINTS,
    PG_TYPES,
    STORED_TYPES,
    column_definitions,
)
from fraud_platform.tables import (
    ALERT_SCHEMA,
    DATASET_COLUMNS,
    DATASET_EDGE_COLUMNS,
    DATASET_NODE_COLUMNS,
    EDGE_COLUMNS,
    EDGE_SCHEMA,
    REJECTED_COLUMNS,
    WAREHOUSE_SCHEMAS,
    FraudDataset,
    empty_frame,
    pandas_dtypes,
)

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # backfill_policy

DAY = "2024-10-01"
RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2024-10-01",
    "dagster/asset_partition_range_end": "2024-10-03",
}
HOSTILE = [
    "x'); DROP TABLE fraud.datasets; --",
    'say "hi", then ""',
    "back\\slash \\N \\.",
    "a\n\\.\nb",
    "\\.",
    "line one\r\nline two\ttab",
    "Алиса 🦊 naïve",
    "",
    "NULL",
    "   padded   ",
]


def rejected(day: str, reasons: list[str], first_line: int = 2) -> pd.DataFrame:
    count = len(reasons)
    return pd.DataFrame(
        {
            "partition_date": pd.Series([day] * count, dtype="str"),
            "source_file": pd.Series([f"part-{i}.csv" for i in range(count)], dtype="str"),
            "line": np.arange(first_line, first_line + count, dtype="int64"),
            "field": pd.Series(["amount"] * count, dtype="str"),
            "reason": pd.Series(reasons, dtype="str"),
            "raw": pd.Series(reasons, dtype="str"),
        }
    )


def fraud_dataset(day: str, accounts: list[str], dataset_id: str | None = None) -> FraudDataset:
    dataset_id = dataset_id or str(uuid.uuid4())
    n = len(accounts)
    return FraudDataset(
        summary=pd.DataFrame(
            {
                "dataset_id": [dataset_id],
                "partition_date": [day],
                "name": [f"Transfers {day}"],
                "description": [None],
                "url": [f"http://viewer.test/datasets/{dataset_id}"],
                "node_count": [n],
                "edge_count": [n - 1],
                "high_risk_count": [1],
                "created_at": pd.to_datetime([f"{day} 23:59:59.123456"], utc=True),
            }
        )
        .astype({"dataset_id": "str", "partition_date": "str", "name": "str", "description": "str"})
        .astype({"url": "str"}),
        nodes=pd.DataFrame(
            {
                "dataset_id": pd.Series([dataset_id] * n, dtype="str"),
                "partition_date": pd.Series([day] * n, dtype="str"),
                "account": pd.Series(accounts, dtype="str"),
                "centrality": np.full(n, 1.0 / n),
                "cluster": np.arange(n, dtype="int64") % 2,
                "risk_score": np.linspace(0.0, 1.0, n),
                "point_color": pd.Series(["#d62728"] * n, dtype="str"),
                "point_size": np.full(n, 4.5),
                "x": np.linspace(-1.0, 1.0, n),
                "y": np.linspace(1.0, -1.0, n),
                "in_amount": np.full(n, 10.0),
                "out_amount": np.full(n, 9.5),
                "reasons": pd.Series(
                    ["passed on 95% of the money it received"] + [""] * (n - 1), dtype="str"
                ),
                "pattern": pd.Series(["relay"] + [""] * (n - 1), dtype="str"),
            }
        ),
        edges=pd.DataFrame(
            {
                "dataset_id": pd.Series([dataset_id] * (n - 1), dtype="str"),
                "partition_date": pd.Series([day] * (n - 1), dtype="str"),
                "sender": pd.Series(accounts[:-1], dtype="str"),
                "receiver": pd.Series(accounts[1:], dtype="str"),
                "amount_total": np.full(n - 1, 0.1) + 0.2,
                "tx_count": np.arange(1, n, dtype="int64"),
            }
        ),
    )


def query(url: str, schema: str, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as connection:
        composed = sql.SQL(statement).format(s=sql.Identifier(schema))
        return connection.execute(composed, params).fetchall()


def migrated_column(
    database_url: str, schema: str, tables: dict, table: str, column: str
) -> list[tuple]:
    """A warehouse made with today's DDL, migrated to ``tables`` (a change, then none on the
    second run), and the added column's (data_type, is_nullable) as PostgreSQL reports it."""
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, schema)
    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, schema, tables) is True
    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, schema, tables) is False
    return query(
        database_url,
        schema,
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        schema,
        table,
        column,
    )


def resources(warehouse: PostgresWarehouse) -> dict[str, object]:
    """The warehouse IO manager for the assets under test; checks keep their values in memory."""
    return {
        "warehouse_io_manager": PostgresIOManager(warehouse=warehouse),
        "io_manager": mem_io_manager,
    }


FRAMES: dict = {}


@asset(
    partitions_def=daily_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"partition_expr": "partition_date"},
)
def rejected_transactions() -> pd.DataFrame:
    return FRAMES["rejected_transactions"]()


@asset(
    partitions_def=daily_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"partition_expr": "partition_date", "table": "datasets"},
)
def published() -> FraudDataset:
    return FRAMES["published"]()


@pytest.fixture
def frames() -> Iterator[dict]:
    """What the module's assets return in this test: asset name -> callable."""
    FRAMES.clear()
    yield FRAMES
    FRAMES.clear()


# -- schema ---------------------------------------------------------------------------------------


def test_the_schema_is_created_once_with_proper_types_and_indexes(
    database_url: str, warehouse_schema: str
) -> None:
    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, warehouse_schema) is True
    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, warehouse_schema) is False

    types = dict(
        ((table, column), data_type)
        for table, column, data_type in query(
            database_url,
            warehouse_schema,
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s",
            warehouse_schema,
        )
    )
    assert types[("datasets", "dataset_id")] == "uuid"
    assert types[("datasets", "partition_date")] == "date"
    assert types[("datasets", "created_at")] == "timestamp with time zone"
    assert types[("datasets", "node_count")] == "bigint"
    assert types[("dataset_nodes", "centrality")] == "double precision"
    assert types[("dataset_nodes", "cluster")] == "integer"
    assert types[("dataset_edges", "tx_count")] == "bigint"
    assert types[("rejected_transactions", "raw")] == "text"
    # Every contract column is there, in every table.
    for table, columns in {
        "datasets": DATASET_COLUMNS,
        "dataset_nodes": DATASET_NODE_COLUMNS,
        "dataset_edges": DATASET_EDGE_COLUMNS,
        "rejected_transactions": REJECTED_COLUMNS,
    }.items():
        assert sorted(c for t, c in types if t == table) == sorted(columns)

    indexes = {
        name
        for (name,) in query(
            database_url,
            warehouse_schema,
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s",
            warehouse_schema,
        )
    }
    assert {
        "rejected_transactions_partition_date_idx",
        "datasets_pkey",
        "datasets_partition_date_key",
    } <= indexes
    # Nodes and edges: one partition per day, no index, no foreign key.
    assert not {name for name in indexes if name.startswith(("dataset_nodes", "dataset_edges"))}
    assert query(
        database_url,
        warehouse_schema,
        "SELECT relname::text, relkind::text FROM pg_class WHERE relnamespace = %s::regnamespace "
        "AND relname IN ('dataset_nodes', 'dataset_edges') ORDER BY 1",
        warehouse_schema,
    ) == [("dataset_edges", "p"), ("dataset_nodes", "p")]
    assert (
        query(
            database_url,
            warehouse_schema,
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = %s::regnamespace",
            warehouse_schema,
        )
        == []
    )


def test_every_table_in_the_database_has_exactly_its_arrow_schemas_columns(
    database_url: str, warehouse_schema: str
) -> None:
    """The DDL is derived from tables.py: same columns, in order, with their types and nulls."""
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
    stored: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, data_type, nullable in query(
        database_url,
        warehouse_schema,
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES' "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_schema, table_name) WHERE c.table_schema = %s "
        "AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position",
        warehouse_schema,
    ):
        stored.setdefault(table, []).append((column, data_type, nullable))
    spelled = {"timestamptz": "timestamp with time zone"}  # information_schema's spelling
    primary_keys = {
        (table, column)
        for table, columns in COLUMN_CONSTRAINTS.items()
        for column, constraint in columns.items()
        if "PRIMARY KEY" in constraint
    }
    expected = {}
    for table, arrow_schema in WAREHOUSE_SCHEMAS.items():
        expected[table] = []
        for f in arrow_schema:
            pg_type = STORED_TYPES.get(table, {}).get(f.name) or PG_TYPES[f.type]
            nullable = f.nullable and (table, f.name) not in primary_keys
            expected[table].append((f.name, spelled.get(pg_type, pg_type), nullable))
    assert stored == expected
    assert set(WAREHOUSE_TABLES) == set(WAREHOUSE_SCHEMAS)


def test_a_column_added_to_an_arrow_schema_reaches_an_existing_database(
    database_url: str, warehouse_schema: str
) -> None:
    """Adding a column is one edit of tables.py: the derived DDL migrates existing tables."""
    tables = dict(WAREHOUSE_TABLES)
    tables["alerts"] = column_definitions(
        ALERT_SCHEMA.append(pa.field("escalated_at", pa.timestamp("us", tz="UTC"))),
        COLUMN_CONSTRAINTS["alerts"],
    )
    added = migrated_column(database_url, warehouse_schema, tables, "alerts", "escalated_at")
    assert added == [("timestamp with time zone", "YES")]


def test_an_empty_frame_of_a_schema_has_its_columns_and_is_stored_as_is(
    database_url: str, warehouse_schema: str
) -> None:
    """Frames hold days and ids as text, the rest as Arrow says; the COPY encoder takes them."""
    edges = empty_frame(EDGE_SCHEMA)
    assert list(edges.columns) == list(EDGE_COLUMNS)
    assert pandas_dtypes(EDGE_SCHEMA)["partition_date"] == str(pd.Series([], dtype="str").dtype)
    assert str(edges["first_timestamp"].dtype) == "datetime64[us, UTC]"
    assert str(edges["sender_node"].dtype) == "int32"
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        tables = (
            "datasets",
            "dataset_nodes",
            "alerts",
            "high_risk_history",
            "rejected_transactions",
        )
        for table in tables:
            frame = empty_frame(WAREHOUSE_SCHEMAS[table])
            assert copy_frame(connection, warehouse_schema, table, frame) == 0


def test_the_derived_ddl_keeps_keys_and_defaults_and_refuses_unmapped_types() -> None:
    assert WAREHOUSE_TABLES["datasets"]["dataset_id"] == "uuid PRIMARY KEY"
    assert WAREHOUSE_TABLES["datasets"]["partition_date"] == "date NOT NULL UNIQUE"
    assert WAREHOUSE_TABLES["datasets"]["created_at"] == "timestamptz NOT NULL DEFAULT now()"
    assert WAREHOUSE_TABLES["dataset_nodes"]["cluster"] == "integer"
    with pytest.raises(WarehouseError, match=r"'flags' has Arrow type list<item: string>"):
        column_definitions(pa.schema([pa.field("flags", pa.list_(pa.string()))]))


def test_a_column_added_to_the_ddl_is_added_to_existing_tables(
    database_url: str, warehouse_schema: str
) -> None:
    extended = deepcopy(WAREHOUSE_TABLES)
    extended["dataset_nodes"]["note"] = "double precision"
    added = migrated_column(database_url, warehouse_schema, extended, "dataset_nodes", "note")
    assert added == [("double precision", "YES")]


def test_concurrent_first_runs_take_turns(database_url: str, warehouse_schema: str) -> None:
    """The second creator waits on the advisory lock until the first commits, then finds
    everything in place instead of failing on a duplicate catalog entry."""
    outcome: dict[str, object] = {}
    first = psycopg.connect(database_url)
    try:
        assert ensure_warehouse_schema(first, warehouse_schema) is True  # not committed yet

        def second_run() -> None:
            try:
                with psycopg.connect(database_url) as second:
                    outcome["created"] = ensure_warehouse_schema(second, warehouse_schema)
                    outcome["finished"] = time.monotonic()
            except Exception as error:  # reported below
                outcome["error"] = error

        thread = threading.Thread(target=second_run)
        thread.start()
        deadline = time.monotonic() + 20
        waiting: list[tuple] = []
        while not waiting and time.monotonic() < deadline:
            waiting = query(
                database_url,
                warehouse_schema,
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            time.sleep(0.02)
        assert waiting, "the second run never waited on the advisory lock"
        committed = time.monotonic()
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["created"] is True  # it saw missing tables before taking its turn
    assert outcome["finished"] >= committed


# -- round trips, replacement, ranges -------------------------------------------------------------


def test_hostile_text_round_trips_verbatim(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    written = rejected(DAY, HOSTILE)
    written.loc[3, "field"] = None  # NULL stays NULL while "" stays ""
    frames["rejected_transactions"] = lambda: written

    @asset(partitions_def=daily_partitions)
    def seen(rejected_transactions: pd.DataFrame) -> pd.DataFrame:
        return rejected_transactions

    result = materialize(
        [rejected_transactions, seen], partition_key=DAY, resources=resources(warehouse)
    )

    stored = query(
        database_url,
        warehouse_schema,
        "SELECT raw, field IS NULL FROM {s}.rejected_transactions ORDER BY line",
    )
    assert [raw for raw, _ in stored] == HOSTILE
    assert [is_null for _, is_null in stored] == [False, False, False, True] + [False] * 6
    loaded = result.output_for_node("seen").sort_values("line", ignore_index=True)
    pd.testing.assert_frame_equal(loaded, written)


@pytest.mark.slow
def test_rematerializing_a_day_replaces_only_that_day(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    for day, reasons in [("2024-10-01", ["a", "b", "c"]), ("2024-10-02", ["d", "e"])]:
        frames["rejected_transactions"] = lambda day=day, reasons=reasons: rejected(day, reasons)
        materialize([rejected_transactions], partition_key=day, resources=resources(warehouse))

    frames["rejected_transactions"] = lambda: rejected("2024-10-01", ["z"])
    result = materialize(
        [rejected_transactions], partition_key="2024-10-01", resources=resources(warehouse)
    )

    rows = query(
        database_url,
        warehouse_schema,
        "SELECT partition_date::text, reason FROM {s}.rejected_transactions ORDER BY 1, 2",
    )
    assert rows == [("2024-10-01", "z"), ("2024-10-02", "d"), ("2024-10-02", "e")]
    metadata = result.asset_materializations_for_node("rejected_transactions")[0].metadata
    assert metadata["rejected_transactions_rows"].value == 1
    assert metadata["dagster/row_count"].value == 1
    assert metadata["Query"].value == (
        f'SELECT * FROM "{warehouse_schema}"."rejected_transactions" WHERE "partition_date" >= '
        "'2024-10-01'::date AND \"partition_date\" < '2024-10-02'::date"
    )


@pytest.mark.slow
def test_a_fraud_dataset_round_trips_and_its_rerun_replaces_all_three_tables(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    first = fraud_dataset(DAY, ["A", "B", "C", "D"])
    frames["published"] = lambda: first
    result = materialize([published], partition_key=DAY, resources=resources(warehouse))
    metadata = result.asset_materializations_for_node("published")[0].metadata
    assert [
        metadata[f"{t}_rows"].value for t in ("datasets", "dataset_nodes", "dataset_edges")
    ] == [
        1,
        4,
        3,
    ]

    @asset(partitions_def=daily_partitions)
    def seen(published: FraudDataset) -> FraudDataset:
        return published

    loaded = materialize(
        [published.to_source_asset(), seen], partition_key=DAY, resources=resources(warehouse)
    ).output_for_node("seen")
    pd.testing.assert_frame_equal(loaded.summary, first.summary)
    pd.testing.assert_frame_equal(
        loaded.nodes.sort_values("account", ignore_index=True), first.nodes
    )
    pd.testing.assert_frame_equal(
        loaded.edges.sort_values("sender", ignore_index=True), first.edges
    )

    second = fraud_dataset(DAY, ["X", "Y"])
    frames["published"] = lambda: second
    materialize([published], partition_key=DAY, resources=resources(warehouse))
    counts = query(
        database_url,
        warehouse_schema,
        "SELECT (SELECT count(*) FROM {s}.datasets), (SELECT count(*) FROM {s}.dataset_nodes), "
        "(SELECT count(*) FROM {s}.dataset_edges), (SELECT dataset_id::text FROM {s}.datasets)",
    )
    assert counts == [(1, 2, 1, second.summary["dataset_id"][0])]


def test_a_three_day_run_writes_three_days_and_loads_as_one_frame(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str
) -> None:
    @asset(
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        io_manager_key="warehouse_io_manager",
        metadata={"partition_expr": "partition_date", "table": "rejected_transactions"},
    )
    def rejected_range(context: AssetExecutionContext) -> pd.DataFrame:
        assert context.partition_keys == ["2024-10-01", "2024-10-02", "2024-10-03"]
        return pd.concat(
            [rejected("2024-10-01", ["a", "b"]), rejected("2024-10-03", ["c"])],
            ignore_index=True,
        )

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def per_day(rejected_range: pd.DataFrame) -> None:
        counts = rejected_range.groupby("partition_date").size().to_dict()
        assert counts == {"2024-10-01": 2, "2024-10-03": 1}

    # A row of a day outside the range was there before and must survive the range's delete.
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        connection.execute(
            sql.SQL(
                "INSERT INTO {}.rejected_transactions (partition_date, reason) "
                "VALUES ('2024-10-04', 'kept'), ('2024-10-02', 'replaced')"
            ).format(sql.Identifier(warehouse_schema))
        )

    result = materialize([rejected_range, per_day], resources=resources(warehouse), tags=RANGE_TAGS)

    assert result.success
    rows = query(
        database_url,
        warehouse_schema,
        "SELECT partition_date::text, reason FROM {s}.rejected_transactions ORDER BY 1, 2",
    )
    assert rows == [
        ("2024-10-01", "a"),
        ("2024-10-01", "b"),
        ("2024-10-03", "c"),
        ("2024-10-04", "kept"),
    ]
    metadata = result.asset_materializations_for_node("rejected_range")[0].metadata
    assert metadata["rejected_transactions_rows"].value == 3
    assert "dagster/row_count" not in metadata


def test_rows_outside_the_partition_are_refused_and_nothing_changes(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    frames["rejected_transactions"] = lambda: rejected(DAY, ["kept"])
    materialize([rejected_transactions], partition_key=DAY, resources=resources(warehouse))

    frames["rejected_transactions"] = lambda: pd.concat(
        [rejected(DAY, ["new"]), rejected("2024-10-09", ["stray"])]
    )
    result = materialize(
        [rejected_transactions],
        partition_key=DAY,
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    assert "outside the partitions being written" in str(result.all_events)
    assert query(
        database_url, warehouse_schema, "SELECT reason FROM {s}.rejected_transactions"
    ) == [("kept",)]


def test_columns_outside_the_ddl_are_refused(warehouse: PostgresWarehouse, frames: dict) -> None:
    frames["rejected_transactions"] = lambda: rejected(DAY, ["a"]).assign(extra=1)
    result = materialize(
        [rejected_transactions],
        partition_key=DAY,
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    assert "columns ['extra'] are not in table" in str(result.all_events)


# -- atomicity ------------------------------------------------------------------------------------


def test_a_copy_failing_half_way_keeps_the_previous_rows(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    frames["rejected_transactions"] = lambda: rejected(DAY, ["old-1", "old-2"])
    materialize([rejected_transactions], partition_key=DAY, resources=resources(warehouse))

    many = rejected(DAY, ["new"] * 200_000)
    many.loc[len(many) - 1, "line"] = 2**40  # out of range for `integer`: the last row fails
    frames["rejected_transactions"] = lambda: many
    result = materialize(
        [rejected_transactions],
        partition_key=DAY,
        resources=resources(warehouse),
        raise_on_error=False,
    )

    assert not result.success
    assert "out of range" in str(result.all_events)
    assert query(
        database_url, warehouse_schema, "SELECT reason FROM {s}.rejected_transactions ORDER BY 1"
    ) == [("old-1",), ("old-2",)]


@pytest.mark.slow
def test_a_bundle_failing_after_its_first_table_keeps_the_previous_day(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    first = fraud_dataset(DAY, ["A", "B", "C"])
    frames["published"] = lambda: first
    materialize([published], partition_key=DAY, resources=resources(warehouse))

    broken = fraud_dataset(DAY, ["X", "Y", "Z"])
    broken.edges.loc[1, "receiver"] = None  # NOT NULL: the server refuses the edges' COPY
    frames["published"] = lambda: broken
    result = materialize(
        [published], partition_key=DAY, resources=resources(warehouse), raise_on_error=False
    )

    assert not result.success
    assert "not-null constraint" in str(result.all_events)
    assert query(
        database_url,
        warehouse_schema,
        "SELECT d.dataset_id::text, array_agg(n.account ORDER BY n.account), "
        "(SELECT count(*) FROM {s}.dataset_edges) "
        "FROM {s}.datasets d JOIN {s}.dataset_nodes n USING (dataset_id) GROUP BY 1",
    ) == [(first.summary["dataset_id"][0], ["A", "B", "C"], 2)]


@pytest.mark.slow
def test_a_connection_killed_mid_copy_keeps_the_previous_day(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, frames: dict
) -> None:
    """Another session holds an uncommitted row with the dataset id the new run will COPY, so
    the run's COPY waits on it, after its DELETE of the day; then its backend is terminated."""
    first = fraud_dataset(DAY, ["A", "B", "C"])
    frames["published"] = lambda: first
    materialize([published], partition_key=DAY, resources=resources(warehouse))

    second = fraud_dataset(DAY, ["X", "Y"])
    frames["published"] = lambda: second
    blocker = psycopg.connect(database_url)
    blocker.execute(
        sql.SQL(
            "INSERT INTO {}.datasets (dataset_id, partition_date, name) VALUES (%s, '2099-01-01', 'b')"
        ).format(sql.Identifier(warehouse_schema)),
        [second.summary["dataset_id"][0]],
    )
    killed: list[int] = []

    def kill_the_copy() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as admin:
                deadline = time.monotonic() + 30
                while not killed and time.monotonic() < deadline:
                    for (pid,) in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'COPY%%' AND query LIKE %s",
                        [f'%"{warehouse_schema}"%'],
                    ).fetchall():
                        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                        killed.append(pid)
                    time.sleep(0.02)
        finally:
            blocker.rollback()  # releases the COPY if it was never found (the test then fails)
            blocker.close()

    killer = threading.Thread(target=kill_the_copy)
    killer.start()
    result = materialize(
        [published], partition_key=DAY, resources=resources(warehouse), raise_on_error=False
    )
    killer.join(timeout=60)

    assert killed, "the COPY was never seen waiting"
    assert not result.success
    assert query(
        database_url,
        warehouse_schema,
        "SELECT d.dataset_id::text, (SELECT count(*) FROM {s}.dataset_nodes), "
        "(SELECT count(*) FROM {s}.dataset_edges) FROM {s}.datasets d",
    ) == [(first.summary["dataset_id"][0], 3, 2)]


# -- errors ---------------------------------------------------------------------------------------


def test_an_unreachable_database_is_named_without_its_password(frames: dict) -> None:
    secret = "pa55-w0rd-never-shown"
    warehouse = PostgresWarehouse(
        database_url=f"postgresql://fraud:{secret}@127.0.0.1:1/fraud", schema_name="fraud"
    )
    with pytest.raises(WarehouseError) as raised, warehouse.connect():
        pass
    message = str(raised.value)
    assert "127.0.0.1" in message and "port 1" in message and "database fraud" in message
    assert "fraud:***@127.0.0.1:1/fraud" in message
    assert secret not in message

    frames["rejected_transactions"] = lambda: rejected(DAY, ["a"])
    result = materialize(
        [rejected_transactions],
        partition_key=DAY,
        resources=resources(warehouse),
        raise_on_error=False,
    )
    assert not result.success
    events = str(result.all_events)
    assert "cannot connect to PostgreSQL" in events and "127.0.0.1" in events
    assert secret not in events


def test_a_key_value_dsn_is_described_without_its_password() -> None:
    described = describe_database("host=db.internal port=6543 dbname=w user=u password=hunter2")
    assert described == "host db.internal, port 6543, database w"


def test_the_select_statement_inlines_values_safely() -> None:
    table_slice = TableSlice(
        table="rejected_transactions",
        schema="fraud",
        partition_dimensions=[TablePartitionDimension("partition_date", ["x'); DROP --", "b"])],
    )
    assert PostgresDbClient.get_select_statement(table_slice) == (
        'SELECT * FROM "fraud"."rejected_transactions" WHERE "partition_date" = '
        "ANY('{\"x''); DROP --\",b}')"
    )


# -- the embedded server --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_embedded_server_starts_is_reused_and_stops(tmp_path: Path) -> None:
    pgdata = tmp_path / "nested" / "pgdata"  # the parent folder does not exist yet
    try:
        url = embedded_database_url(pgdata)
        with psycopg.connect(url) as connection:
            started = connection.execute("SELECT pg_postmaster_start_time()").fetchone()
            assert connection.execute("SELECT 6 * 7").fetchone() == (42,)

        assert embedded_database_url(pgdata) == url
        other_process = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; "
                "from fraud_platform.storage.embedded_postgres import embedded_database_url; "
                "print(embedded_database_url(Path(sys.argv[1])))",
                str(pgdata),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        assert other_process.stdout.strip() == url
        assert "RuntimeDirWarning" not in other_process.stderr
        with psycopg.connect(url) as connection:  # the same server: not restarted
            assert connection.execute("SELECT pg_postmaster_start_time()").fetchone() == started
    finally:
        assert stop_embedded(pgdata) is True
    assert stop_embedded(pgdata) is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_numbers_and_times_round_trip_exactly(database_url: str, warehouse_schema: str) -> None:
    amounts = [0.1 + 0.2, 1e300, 5e-324, -0.0, float("inf"), float("-inf"), float("nan")]
    edges = pd.DataFrame(
        {
            "dataset_id": pd.Series([str(uuid.uuid4())] * len(amounts), dtype="str"),
            "partition_date": pd.Series([DAY] * len(amounts), dtype="str"),
            "sender": pd.Series([f"S{i}" for i in range(len(amounts))], dtype="str"),
            "receiver": pd.Series(["R"] * len(amounts), dtype="str"),
            "amount_total": amounts,
            "tx_count": pd.array([2**62, 0, -1, None, 5, 6, 7], dtype="Int64"),
        }
    )
    datasets = pd.DataFrame(
        {
            "dataset_id": [edges["dataset_id"][0]],
            "partition_date": [DAY],
            "created_at": pd.to_datetime(["2024-10-01 23:59:59.999999"], utc=True),
        }
    )
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        copy_frame(connection, warehouse_schema, "datasets", datasets)
        copy_frame(connection, warehouse_schema, "dataset_edges", edges)
        edge_slice = TableSlice(table="dataset_edges", schema=warehouse_schema)
        loaded = read_slice(connection, edge_slice).sort_values("sender", ignore_index=True)
        created = read_slice(
            connection,
            TableSlice(table="datasets", schema=warehouse_schema, columns=["created_at"]),
        )

    assert loaded["amount_total"].tolist()[:6] == amounts[:6]
    assert np.signbit(loaded["amount_total"][3])  # -0.0 kept its sign
    assert np.isnan(loaded["amount_total"][6])  # NaN is stored as NULL and comes back as NaN
    assert str(loaded["tx_count"].dtype) == "Int64"  # a NULL keeps the integers integral
    assert loaded["tx_count"].tolist()[:3] == [2**62, 0, -1]
    assert pd.isna(loaded["tx_count"][3])
    assert created["created_at"].tolist() == list(datasets["created_at"])
    assert str(created["created_at"].dtype) == "datetime64[us, UTC]"


@pytest.mark.slow
def test_a_dataset_is_committed_only_once_its_parquet_files_are_written(
    warehouse: PostgresWarehouse,
    database_url: str,
    warehouse_schema: str,
    frames: dict,
    tmp_path: Path,
) -> None:
    """The dataset IO manager writes Parquet while the warehouse loads; a Parquet failure rolls
    the load back, so the warehouse keeps the previous day, and a success commits both."""
    from fraud_platform.defs.datasets.resources import FraudDatasetIOManager
    from fraud_platform.storage.object_store import ParquetIOManager

    store = tmp_path / "store"

    @asset(
        partitions_def=daily_partitions,
        io_manager_key="dataset_io_manager",
        metadata={"partition_expr": "partition_date", "table": "datasets"},
    )
    def dataset() -> FraudDataset:
        return FRAMES["published"]()

    def run(value: FraudDataset) -> bool:
        frames["published"] = lambda: value
        both = FraudDatasetIOManager(
            object_store=ParquetIOManager(base_url=str(store)),
            warehouse_io_manager=PostgresIOManager(warehouse=warehouse),
        )
        return materialize(
            [dataset],
            partition_key=DAY,
            resources={"dataset_io_manager": both},
            raise_on_error=False,
        ).success

    accounts = "SELECT array_agg(account ORDER BY account) FROM {s}.dataset_nodes"
    assert run(fraud_dataset(DAY, ["A", "B", "C"]))
    assert query(database_url, warehouse_schema, accounts) == [(["A", "B", "C"],)]

    # The day's Parquet folder cannot be replaced (a file stands where a folder must be made).
    folder = store / "dataset" / DAY
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("in the way")
    assert not run(fraud_dataset(DAY, ["X", "Y"]))
    assert query(database_url, warehouse_schema, accounts) == [(["A", "B", "C"],)]

    folder.unlink()
    assert run(fraud_dataset(DAY, ["X", "Y"]))
    assert query(database_url, warehouse_schema, accounts) == [(["X", "Y"],)]
    assert {p.name for p in folder.iterdir()} == {
        "summary.parquet",
        "nodes.parquet",
        "edges.parquet",
    }
