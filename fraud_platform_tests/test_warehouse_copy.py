"""The warehouse's binary COPY and day-partitioned tables against a live PostgreSQL: every column
type through the encoder (NULLs, NaN, empty and hostile text, extremes), the same stored values as
the previous CSV feed, the upgrade of a database of the earlier layout, replacing days, failures
mid-load, locks seen by readers of other days, and row counts per day.

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)

Why one module of this length: it covers one component, the binary COPY, and its helpers (the
type table, frames) serve every test in it.
"""

import io
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from dagster import asset, materialize
from psycopg import sql

from fraud_platform.partitions import daily_partitions
from fraud_platform.storage.warehouse import (
    PARTITIONED_TABLES,
    WAREHOUSE_TABLES,
    PostgresIOManager,
    PostgresWarehouse,
    TablePartitionDimension,
    TableSlice,
    WarehouseError,
    binary_rows,
    column_type,
    copy_frame,
    delete_days,
    encode_columns,
    ensure_warehouse_schema,
    partition_name,
    prepare_write,
    read_slice,
    stored_row_counts,
)
from fraud_platform.tables import FraudDataset

DAYS = ("2024-10-01", "2024-10-02", "2024-10-03")
HOSTILE = [
    "",
    "x'); DROP TABLE fraud.datasets; --",
    'say "hi", then ""',
    "back\\slash \\N \\. \\\\",
    "a\n\\.\nb",
    "line one\r\nline two\ttab,comma",
    "Алиса 🦊 naïve 中文 \u200b",
    "NULL",
    "   padded   ",
    "x" * 100_000,
]

#: A table with every type the encoder knows, added to WAREHOUSE_TABLES for a test.
ALL_TYPES = {
    "id": "uuid",
    "partition_date": "date NOT NULL",
    "label": "text",
    "ratio": "double precision",
    "small_ratio": "real",
    "count32": "integer",
    "count64": "bigint",
    "count16": "smallint",
    "flag": "boolean",
    "at": "timestamptz",
}


def query(connection: psycopg.Connection, statement: str, schema: str, *params: object) -> list:
    composed = sql.SQL(statement).format(s=sql.Identifier(schema))
    return connection.execute(composed, params).fetchall()


def every_type_frame() -> pd.DataFrame:
    """Twelve rows covering NULL in every column, extremes, NaN/inf/-0.0 and hostile text."""
    rows = 12
    ids = [str(uuid.uuid4()) for _ in range(rows)]
    ids[1] = ids[1].upper()  # PostgreSQL reads any case; stored canonical
    ids[2] = None
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="str"),
            "partition_date": pd.Series([DAYS[0]] * rows, dtype="str"),
            "label": pd.Series([*HOSTILE, None, "ok"], dtype="str"),
            "ratio": [
                0.1 + 0.2,
                1e300,
                5e-324,
                -0.0,
                math.inf,
                -math.inf,
                math.nan,
                -1.5,
                0,
                2,
                3,
                4,
            ],
            "small_ratio": np.array([1.5, -2.25, np.nan, 0, 1, 2, 3, 4, 5, 6, 7, 8], np.float32),
            "count32": pd.array(
                [2**31 - 1, -(2**31), None, 0, -1, 1, 2, 3, 4, 5, 6, 7], dtype="Int64"
            ),
            "count64": pd.array(
                [2**63 - 1, -(2**63), 0, None, -1, 1, 2, 3, 4, 5, 6, 7], dtype="Int64"
            ),
            "count16": pd.array(
                [2**15 - 1, -(2**15), 0, 1, None, 1, 2, 3, 4, 5, 6, 7], dtype="Int16"
            ),
            "flag": pd.array([True, False, None, True] * 3, dtype="boolean"),
            "at": pd.to_datetime(
                [
                    "2024-10-01 23:59:59.999999+00:00",
                    "1999-12-31 23:59:59.5+00:00",  # before PostgreSQL's epoch
                    "1960-01-01 00:00:00.000001+00:00",  # before the Unix epoch
                    None,
                    "2024-10-01 12:00:00+02:00",
                    "2000-01-01 00:00:00+00:00",
                    "2262-04-11 00:00:00+00:00",
                    "1677-09-22 00:00:00+00:00",
                    "2024-02-29 06:30:00+00:00",
                    "2024-10-01 00:00:00+00:00",
                    "2024-10-01 00:00:00+00:00",
                    "2024-10-01 00:00:00+00:00",
                ],
                utc=True,
                format="ISO8601",
            ),
        }
    )


@pytest.fixture
def all_types(monkeypatch: pytest.MonkeyPatch) -> str:
    """The ``all_types`` table in WAREHOUSE_TABLES (and a twin the CSV feed loads) for a test."""
    monkeypatch.setitem(WAREHOUSE_TABLES, "all_types", dict(ALL_TYPES))
    monkeypatch.setitem(WAREHOUSE_TABLES, "all_types_csv", dict(ALL_TYPES))
    return "all_types"


def copy_csv(connection: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame) -> None:
    """The previous feed (Arrow CSV, COPY FORMAT csv), to compare what gets stored."""
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        buffer = io.BytesIO()
        pa_csv.write_csv(arrow, buffer, options)
        copy.write(buffer.getvalue())


# -- the encoder ----------------------------------------------------------------------------------


def test_every_column_type_round_trips_and_matches_the_csv_feed(
    database_url: str, warehouse_schema: str, all_types: str
) -> None:
    frame = every_type_frame()
    with psycopg.connect(database_url) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        ensure_warehouse_schema(connection, warehouse_schema)
        assert copy_frame(connection, warehouse_schema, all_types, frame) == len(frame)
        copy_csv(connection, warehouse_schema, "all_types_csv", frame)
        # What the CSV feed stored, the binary feed stored: no row of one is missing in the other
        # (EXCEPT compares NULL with NULL and NaN with NaN as equal).
        for a, b in (("all_types", "all_types_csv"), ("all_types_csv", "all_types")):
            difference = sql.SQL("SELECT * FROM {} EXCEPT ALL SELECT * FROM {}").format(
                sql.Identifier(warehouse_schema, a), sql.Identifier(warehouse_schema, b)
            )
            assert connection.execute(difference).fetchall() == []
        stored = query(
            connection,
            "SELECT id, label, ratio, small_ratio, count32, count64, count16, flag, at, "
            "label IS NULL, ratio IS NULL FROM {s}.all_types ORDER BY count32 NULLS LAST, ctid",
            warehouse_schema,
        )
        loaded = read_slice(connection, TableSlice(table=all_types, schema=warehouse_schema))

    by_id = {row[0]: row for row in stored if row[0] is not None}
    ids = frame["id"].tolist()
    assert str(by_id[uuid.UUID(ids[1])][0]) == ids[1].lower()
    assert sum(row[0] is None for row in stored) == 1
    labels = sorted(row[1] for row in stored if row[1] is not None)
    assert labels == sorted([*HOSTILE, "ok"])  # "" kept, verbatim, distinct from NULL
    assert sum(row[9] for row in stored) == 1  # the one NULL label
    ratios = [row[2] for row in stored]
    assert 0.1 + 0.2 in ratios and 1e300 in ratios and 5e-324 in ratios
    assert math.inf in ratios and -math.inf in ratios
    assert any(r == 0 and math.copysign(1, r) < 0 for r in ratios if r is not None)  # -0.0
    assert sum(row[10] for row in stored) == 1  # NaN is stored as NULL, as the CSV feed did
    assert {row[4] for row in stored} >= {2**31 - 1, -(2**31), None}
    assert {row[5] for row in stored} >= {2**63 - 1, -(2**63), None}
    assert {row[6] for row in stored} >= {2**15 - 1, -(2**15), None}
    assert [row[7] for row in stored].count(None) == 3
    assert {row[8] for row in stored} >= {
        datetime(2024, 10, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(1960, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 10, 1, 10, 0, tzinfo=UTC),
        None,
    }
    assert loaded["partition_date"].tolist() == [DAYS[0]] * len(frame)
    pd.testing.assert_series_equal(
        loaded.sort_values("count64", ignore_index=True)["count64"],
        frame.sort_values("count64", ignore_index=True)["count64"],
        check_dtype=False,
    )


def test_pandas_column_kinds_are_stored_by_value(
    database_url: str, warehouse_schema: str, all_types: str
) -> None:
    """Object, categorical, nullable, float-for-integer and UUID-object columns; the frame's column
    order does not matter (the table's does)."""
    first = uuid.uuid4()
    frame = pd.DataFrame(
        {
            "flag": [True, False, True],
            "label": pd.Categorical(["b", None, "b"]),
            "count64": [1.0, 2.0, None],  # floats holding integers
            "count32": np.array([1, 2, 3], np.int8),
            "ratio": [1, 2, 3],  # integers into a float column
            "id": pd.Series([first, None, uuid.UUID(int=0)], dtype=object),
            "partition_date": pd.Series([DAYS[0]] * 3, dtype=object),
            "at": pd.to_datetime(  # naive: UTC
                ["2024-10-01 00:00:00.0000015", None, "2024-10-01"], format="ISO8601"
            ),
        }
    )
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        copy_frame(connection, warehouse_schema, all_types, frame)
        rows = query(
            connection,
            "SELECT id, label, count64, count32, ratio, flag, at FROM {s}.all_types ORDER BY count32",
            warehouse_schema,
        )
    assert rows == [
        (first, "b", 1, 1, 1.0, True, datetime(2024, 10, 1, 0, 0, 0, 2, tzinfo=UTC)),
        (None, None, 2, 2, 2.0, False, None),
        (uuid.UUID(int=0), "b", None, 3, 3.0, True, datetime(2024, 10, 1, tzinfo=UTC)),
    ]


def test_uuid_text_in_the_forms_postgresql_reads(
    database_url: str, warehouse_schema: str, all_types: str
) -> None:
    """Canonical text (any case) is decoded by numpy, other forms by uuid.UUID; many distinct
    values and a NULL."""
    ids = [uuid.uuid4() for _ in range(1000)]
    texts = [str(u) if i % 2 else str(u).upper() for i, u in enumerate(ids)]
    texts[1], texts[2], texts[3] = f"{{{ids[1]}}}", ids[2].hex, None
    frame = pd.DataFrame(
        {"id": pd.Series(texts, dtype="str"), "partition_date": DAYS[0], "count32": range(1000)}
    )
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        copy_frame(connection, warehouse_schema, all_types, frame)
        stored = query(
            connection, "SELECT id FROM {s}.all_types ORDER BY count32", warehouse_schema
        )
    assert [row[0] for row in stored] == [None if i == 3 else u for i, u in enumerate(ids)]


def test_nanoseconds_round_half_to_even_like_postgresql() -> None:
    stamps = pd.Series(
        pd.to_datetime([1500, 2500, 2501, -1500], unit="ns", utc=True), name="at"
    ).to_frame()
    (column,) = encode_columns(pa.Table.from_pandas(stamps), {"at": "timestamptz"})
    epoch = 946_684_800 * 1_000_000
    micro = column.values.view(">i8").ravel() + epoch
    assert micro.tolist() == [2, 2, 3, -2]


def test_batches_are_seamless_across_nulls_and_lengths() -> None:
    """Rows split over several batches encode to the same bytes as in one batch."""
    rows = 3 * 1000 + 7
    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "label": pa.array([None if i % 7 == 0 else "é" * (i % 13) for i in range(rows)]),
            "ratio": pa.array([None if i % 5 == 0 else float(i) for i in range(rows)]),
            "count64": pa.array(rng.integers(-(2**62), 2**62, rows)),
        }
    )
    encoded = encode_columns(table, {"label": "text", "ratio": "float8", "count64": "int8"})
    whole = bytes(binary_rows(encoded, 0, rows))
    parts = b"".join(
        bytes(binary_rows(encoded, s, min(s + 1000, rows))) for s in range(0, rows, 1000)
    )
    assert whole == parts


def test_every_warehouse_column_has_an_encoder_that_matches_the_database(
    database_url: str, warehouse_schema: str
) -> None:
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        for table, spec in WAREHOUSE_TABLES.items():
            stored = dict(
                query(
                    connection,
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                    warehouse_schema,
                    sql.Identifier(warehouse_schema, table).as_string(connection),
                )
            )
            for column, definition in spec.items():
                assert column_type(definition) == column_type(stored[column]), (table, column)


@pytest.mark.parametrize(
    ("column", "column_values", "message"),
    [
        ("count32", [1, 2**40], "value 1099511627776 is out of range for int4"),
        ("count16", [1, -(2**20)], "out of range for int2"),
        ("id", [str(uuid.uuid4()), "not-a-uuid"], "'id' .* cannot be stored .* as uuid"),
        ("partition_date", ["2024-10-01", "2024-13-01"], "'partition_date' .* cannot be stored"),
        ("count64", [1.0, 1.5], "'count64' .* cannot be stored"),
        ("label", ["a", 1], "cannot be stored"),  # mixed object column
    ],
)
def test_values_the_column_cannot_hold_are_refused(
    database_url: str,
    warehouse_schema: str,
    all_types: str,
    column: str,
    column_values: list,
    message: str,
) -> None:
    frame = every_type_frame().head(2)
    frame[column] = pd.Series(column_values, dtype=object if column == "label" else None)
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        with pytest.raises(WarehouseError, match=message):
            copy_frame(connection, warehouse_schema, all_types, frame)


def test_a_column_whose_type_differs_in_the_database_is_refused(
    database_url: str, warehouse_schema: str, all_types: str
) -> None:
    """Binary COPY would read the 8 bytes of a float as a bigint without complaint."""
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        connection.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN ratio TYPE bigint").format(
                sql.Identifier(warehouse_schema, all_types)
            )
        )
        with pytest.raises(WarehouseError, match=r"'ratio' .* is 'bigint' in the database"):
            copy_frame(connection, warehouse_schema, all_types, every_type_frame())


# -- days: partitions, replacement, failures, locks -----------------------------------------------


def dataset(day: str, accounts: list[str]) -> FraudDataset:
    dataset_id = str(uuid.uuid5(uuid.NAMESPACE_URL, day))
    n = len(accounts)
    ids = pd.Series([dataset_id] * n, dtype="str")
    days = pd.Series([day] * n, dtype="str")
    return FraudDataset(
        summary=pd.DataFrame(
            {
                "dataset_id": [dataset_id],
                "partition_date": [day],
                "name": [day],
                "node_count": [n],
                "edge_count": [n - 1],
            }
        ),
        nodes=pd.DataFrame(
            {
                "dataset_id": ids,
                "partition_date": days,
                "account": pd.Series(accounts, dtype="str"),
                "risk_score": np.linspace(0.0, 1.0, n),
                "x": np.full(n, np.nan),
            }
        ),
        edges=pd.DataFrame(
            {
                "dataset_id": ids[1:].reset_index(drop=True),
                "partition_date": days[1:].reset_index(drop=True),
                "sender": pd.Series(accounts[:-1], dtype="str"),
                "receiver": pd.Series(accounts[1:], dtype="str"),
                "tx_count": np.arange(1, n, dtype="int64"),
            }
        ),
    )


VALUES: dict = {}


@asset(
    partitions_def=daily_partitions,
    io_manager_key="warehouse_io_manager",
    metadata={"partition_expr": "partition_date", "table": "datasets"},
)
def day_dataset() -> FraudDataset:
    return VALUES["day_dataset"]()


@pytest.fixture
def values() -> Iterator[dict]:
    VALUES.clear()
    yield VALUES
    VALUES.clear()


def publish(warehouse: PostgresWarehouse, day: str, value: FraudDataset, **kwargs: object) -> bool:
    VALUES["day_dataset"] = lambda: value
    result = materialize(
        [day_dataset],
        partition_key=day,
        resources={"warehouse_io_manager": PostgresIOManager(warehouse=warehouse)},
        **kwargs,
    )
    return result.success


def counts(connection: psycopg.Connection, schema: str, days: tuple[str, ...] = DAYS) -> dict:
    return {
        table: stored_row_counts(connection, schema, table, days)
        for table in ("datasets", "dataset_nodes", "dataset_edges")
    }


@pytest.mark.slow
def test_rerunning_a_day_replaces_exactly_that_day(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, values: dict
) -> None:
    assert publish(warehouse, DAYS[0], dataset(DAYS[0], ["A", "B", "C", "D"]))
    assert publish(warehouse, DAYS[1], dataset(DAYS[1], ["E", "F"]))
    for _ in range(2):
        assert publish(warehouse, DAYS[0], dataset(DAYS[0], ["X", "Y", "Z"]))
    with psycopg.connect(database_url) as connection:
        assert counts(connection, warehouse_schema) == {
            "datasets": {DAYS[0]: 1, DAYS[1]: 1, DAYS[2]: 0},
            "dataset_nodes": {DAYS[0]: 3, DAYS[1]: 2, DAYS[2]: 0},
            "dataset_edges": {DAYS[0]: 2, DAYS[1]: 1, DAYS[2]: 0},
        }
        partitions = query(
            connection,
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY 1",
            warehouse_schema,
            sql.Identifier(warehouse_schema, "dataset_nodes").as_string(connection),
        )
        assert partitions == [("dataset_nodes_20241001",), ("dataset_nodes_20241002",)]
        nodes = read_slice(
            connection,
            TableSlice(
                table="dataset_nodes",
                schema=warehouse_schema,
                partition_dimensions=[TablePartitionDimension("partition_date", [DAYS[0]])],
            ),
        )
    assert sorted(nodes["account"]) == ["X", "Y", "Z"]
    assert nodes["x"].isna().all()  # NaN stored as NULL, read back as NaN


@pytest.mark.slow
def test_a_failure_in_the_encoder_mid_bundle_keeps_the_previous_day(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, values: dict
) -> None:
    assert publish(warehouse, DAYS[0], dataset(DAYS[0], ["A", "B", "C"]))
    broken = dataset(DAYS[0], ["X", "Y", "Z"])
    broken.edges["tx_count"] = [1, 2**40]  # fine for bigint: the edges load then fails on...
    broken.edges["dataset_id"] = pd.Series(["not-a-uuid", "x"], dtype="str")  # ...its uuids
    assert not publish(warehouse, DAYS[0], broken, raise_on_error=False)
    with psycopg.connect(database_url) as connection:
        assert counts(connection, warehouse_schema, DAYS[:1]) == {
            "datasets": {DAYS[0]: 1},
            "dataset_nodes": {DAYS[0]: 3},
            "dataset_edges": {DAYS[0]: 2},
        }
        assert query(
            connection, "SELECT account FROM {s}.dataset_nodes ORDER BY 1", warehouse_schema
        ) == [("A",), ("B",), ("C",)]


def test_delete_days_clears_a_day_of_every_dataset_table(
    database_url: str, warehouse_schema: str
) -> None:
    with psycopg.connect(database_url) as connection:
        ensure_warehouse_schema(connection, warehouse_schema)
        for day in DAYS[:2]:
            for table, frame in zip(
                ("datasets", "dataset_nodes", "dataset_edges"),
                dataset(day, ["A", "B"]).members().values(),
                strict=True,
            ):
                copy_frame(connection, warehouse_schema, table, frame)
        delete_days(connection, warehouse_schema, "datasets", [date.fromisoformat(DAYS[0])])
        assert counts(connection, warehouse_schema, DAYS[:2]) == {
            "datasets": {DAYS[0]: 0, DAYS[1]: 1},
            "dataset_nodes": {DAYS[0]: 0, DAYS[1]: 2},
            "dataset_edges": {DAYS[0]: 0, DAYS[1]: 1},
        }


def test_row_counts_per_day(database_url: str, warehouse_schema: str) -> None:
    with psycopg.connect(database_url) as connection:
        assert stored_row_counts(connection, warehouse_schema, "dataset_edges", DAYS[:1]) == {
            DAYS[0]: 0  # no table yet
        }
        ensure_warehouse_schema(connection, warehouse_schema)
        copy_frame(
            connection, warehouse_schema, "dataset_edges", dataset(DAYS[1], list("ABCD")).edges
        )
        copy_frame(
            connection, warehouse_schema, "dataset_edges", dataset(DAYS[2], list("AB")).edges
        )
        assert stored_row_counts(
            connection, warehouse_schema, "dataset_edges", [DAYS[2], date(2024, 10, 2), DAYS[0]]
        ) == {DAYS[0]: 0, DAYS[1]: 3, DAYS[2]: 1}
        assert stored_row_counts(connection, warehouse_schema, "datasets", []) == {}
        with pytest.raises(WarehouseError, match="not a warehouse table"):
            stored_row_counts(connection, warehouse_schema, "nope", DAYS)


def test_loads_lock_only_their_own_day(database_url: str, warehouse_schema: str) -> None:
    """While a day is being replaced (uncommitted), readers of other days, a load of another day
    and the creation of a new day's partition go ahead; a reader of that day waits."""
    slice_of = {
        day: TableSlice(
            table="datasets",
            schema=warehouse_schema,
            partition_dimensions=[TablePartitionDimension("partition_date", [day])],
        )
        for day in DAYS
    }
    with psycopg.connect(database_url) as setup:
        for day in DAYS[:2]:
            prepare_write(setup, slice_of[day])
            for table, frame in zip(
                ("datasets", "dataset_nodes", "dataset_edges"),
                dataset(day, ["A", "B", "C"]).members().values(),
                strict=True,
            ):
                copy_frame(setup, warehouse_schema, table, frame)

    loading = psycopg.connect(database_url)
    try:
        delete_days(loading, warehouse_schema, "datasets", [DAYS[0]])
        copy_frame(loading, warehouse_schema, "dataset_nodes", dataset(DAYS[0], ["X"]).nodes)
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")
            nodes = sql.Identifier(warehouse_schema, "dataset_nodes")
            day = sql.Identifier("partition_date")
            # Another day, by literal and by parameter (as the alerts and the viewer read).
            assert other.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = ANY(%s)").format(nodes, day),
                [[date.fromisoformat(DAYS[1])]],
            ).fetchone() == (3,)
            assert len(read_slice(other, slice_of[DAYS[1]]._replace(table="dataset_nodes"))) == 3
            assert stored_row_counts(other, warehouse_schema, "dataset_edges", DAYS[1:2]) == {
                DAYS[1]: 2
            }
            # A third day's partitions are created next to the load.
            with other.transaction():
                assert prepare_write(other, slice_of[DAYS[2]])
            # Another day is replaced next to it.
            with other.transaction():
                delete_days(other, warehouse_schema, "datasets", [DAYS[1]])
                copy_frame(other, warehouse_schema, "dataset_nodes", dataset(DAYS[1], ["E"]).nodes)
            # The day being replaced: its readers wait for the load to commit.
            other.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(nodes, day), [DAYS[0]]
                )
        loading.commit()
    finally:
        loading.close()
    with psycopg.connect(database_url) as connection:
        assert stored_row_counts(connection, warehouse_schema, "dataset_nodes", DAYS) == {
            DAYS[0]: 1,
            DAYS[1]: 1,
            DAYS[2]: 0,
        }


# -- the upgrade of an earlier database -----------------------------------------------------------

EARLIER_LAYOUT = """
CREATE SCHEMA {s};
CREATE TABLE {s}.datasets (dataset_id uuid PRIMARY KEY, partition_date date NOT NULL UNIQUE,
    name text, description text, url text, node_count bigint, edge_count bigint,
    high_risk_count bigint, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.dataset_nodes (
    dataset_id uuid NOT NULL REFERENCES {s}.datasets (dataset_id) ON DELETE CASCADE,
    partition_date date NOT NULL, account text NOT NULL, centrality double precision,
    cluster integer, risk_score double precision, point_color text, point_size double precision);
CREATE TABLE {s}.dataset_edges (
    dataset_id uuid NOT NULL REFERENCES {s}.datasets (dataset_id) ON DELETE CASCADE,
    partition_date date NOT NULL, sender text NOT NULL, receiver text NOT NULL,
    amount_total double precision, tx_count bigint);
CREATE INDEX dataset_nodes_partition_date_idx ON {s}.dataset_nodes (partition_date);
CREATE INDEX dataset_nodes_account_idx ON {s}.dataset_nodes (account);
CREATE INDEX dataset_nodes_dataset_id_idx ON {s}.dataset_nodes (dataset_id);
CREATE INDEX dataset_edges_partition_date_idx ON {s}.dataset_edges (partition_date);
CREATE INDEX dataset_edges_dataset_id_idx ON {s}.dataset_edges (dataset_id);
"""


def test_a_database_of_the_earlier_layout_is_upgraded_on_first_use(
    warehouse: PostgresWarehouse, database_url: str, warehouse_schema: str, values: dict
) -> None:
    """Plain nodes/edges tables with a cascading foreign key, day/account/dataset-id indexes and
    without the columns added since become day-partitioned tables, rows kept; then days load."""
    with psycopg.connect(database_url) as connection:
        connection.execute(sql.SQL(EARLIER_LAYOUT).format(s=sql.Identifier(warehouse_schema)))
        for day, accounts in ((DAYS[0], ["A", "B", "C"]), (DAYS[1], ["D", "E"])):
            old = dataset(day, accounts)
            copy_frame(connection, warehouse_schema, "datasets", old.summary)
            copy_frame(connection, warehouse_schema, "dataset_nodes", old.nodes.drop(columns="x"))
            copy_frame(connection, warehouse_schema, "dataset_edges", old.edges)
        before = query(
            connection,
            "SELECT partition_date::text, account, risk_score FROM {s}.dataset_nodes ORDER BY 2",
            warehouse_schema,
        )

    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, warehouse_schema) is True
    with psycopg.connect(database_url) as connection:
        assert ensure_warehouse_schema(connection, warehouse_schema) is False
        assert query(
            connection,
            "SELECT relname::text, relkind::text FROM pg_class WHERE relnamespace = "
            "%s::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY 1",
            warehouse_schema,
            warehouse_schema,
        ) == sorted(
            (table, "p" if table in PARTITIONED_TABLES else "r") for table in WAREHOUSE_TABLES
        )
        assert {"dataset_nodes", "dataset_edges"} <= set(PARTITIONED_TABLES)
        foreign_keys = query(
            connection,
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = "
            "%s::regnamespace",
            warehouse_schema,
            warehouse_schema,
        )
        assert foreign_keys == []
        indexes = query(
            connection,
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s "
            "AND tablename LIKE 'dataset%%' AND tablename <> 'datasets'",
            warehouse_schema,
            warehouse_schema,
        )
        assert indexes == []
        assert counts(connection, warehouse_schema, DAYS[:2]) == {
            "datasets": {DAYS[0]: 1, DAYS[1]: 1},
            "dataset_nodes": {DAYS[0]: 3, DAYS[1]: 2},
            "dataset_edges": {DAYS[0]: 2, DAYS[1]: 1},
        }
        after = query(
            connection,
            "SELECT partition_date::text, account, risk_score FROM {s}.dataset_nodes ORDER BY 2",
            warehouse_schema,
        )
        assert after == before
        assert query(connection, "SELECT count(x) FROM {s}.dataset_nodes", warehouse_schema) == [
            (0,)
        ]
        names = {partition_name(t, d) for t in ("dataset_nodes", "dataset_edges") for d in DAYS[:2]}
        assert {
            name
            for (name,) in query(
                connection,
                "SELECT relname::text FROM pg_class WHERE relnamespace = %s::regnamespace "
                "AND relispartition",
                warehouse_schema,
                warehouse_schema,
            )
        } == names

    # The upgraded database works like a new one: a day is replaced, the other kept.
    assert publish(warehouse, DAYS[0], dataset(DAYS[0], ["X", "Y", "Z", "W"]))
    with psycopg.connect(database_url) as connection:
        assert counts(connection, warehouse_schema, DAYS[:2]) == {
            "datasets": {DAYS[0]: 1, DAYS[1]: 1},
            "dataset_nodes": {DAYS[0]: 4, DAYS[1]: 2},
            "dataset_edges": {DAYS[0]: 3, DAYS[1]: 1},
        }
