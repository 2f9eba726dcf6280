"""How fast a day's dataset loads into PostgreSQL: the ways to feed COPY, and the table layouts.

    python benchmarks/postgres_load.py --rows 1,10                  # about 15 min on 2 cores
    python benchmarks/postgres_load.py --rows 1 --repeat 3 --layouts partitioned,brin
    python benchmarks/postgres_load.py --rows 1 --dataset DIR       # a real day the pipeline wrote

``--rows`` are day sizes in millions of transactions. A day is synthesized with the shape of a
real one (per 1M transactions: 242,919 accounts, 898,260 sender/receiver pairs, account ids like
``ACC0001234``), or read from ``--dataset``: a ``fraud_dataset`` day folder (``nodes.parquet``,
``edges.parquet``, ``summary.parquet``), repeated with suffixed account ids for larger sizes.
``FRAUD_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names the server;
the benchmark works in a schema of its own, dropped at the end.

Every load is a whole day (summary, nodes and edges) replaced as the IO manager does it: advisory
lock, removal of the day, COPY, commit, timed until the commit returns.

1. **Feeds** (``--feeds``): the same frames into the same tables (the layout in use), one after
   the other in the same run; each replaces the day the previous one wrote. ``write_row``:
   psycopg's ``Copy.write_row``, row by row. ``csv``: Arrow CSV buffers, COPY FORMAT csv (the
   previous feed). ``binary``: the feed in use, `warehouse.encode_frame` + ``copy_encoded``
   (Arrow batches encoded to COPY's binary format, the next table encoded while one loads).
   ``pgpq``: the same COPY in the same transaction, the binary format written by pgpq's
   ``ArrowToPostgresBinaryEncoder`` (Rust) from Arrow columns of the types it encodes as the
   table's (`arrow_for_copy`, prepared while the previous table loads), when installed.
   ``adbc``: ``adbc_ingest`` of adbc-driver-postgresql on its own connection, when installed.
   Ratios are against ``csv`` (``binary`` when csv is not run). The binary encoders (``binary``,
   ``pgpq``) are also timed alone, no server: the CPU they take from the server on a small
   machine.
2. **Layouts** (``--layouts``), binary feed: a first load of a day into empty tables, a first load
   of a second day next to it, then replacing the first day; meanwhile a thread measures how long
   a reader of the *other* day (``WHERE partition_date = ...``) and a reader of all days wait.
   ``old``: the earlier layout (plain tables, foreign key to ``datasets`` ON DELETE CASCADE,
   btree on partition_date, account, dataset_id); ``btree`` / ``brin``: plain tables, no foreign
   key, a btree / BRIN day index plus the btree account index on nodes, DELETE + COPY;
   ``brin-noaccount``: BRIN day index only; ``partitioned``: the layout in use (a LIST partition
   per day, no index, TRUNCATE + COPY); ``partitioned-account``: the same plus an account index.
   Ratios are against ``old``.

Timings are noisy on a shared machine: every figure is the range over ``--repeat`` runs.

Why one file of this length: the feeds and layouts it compares must run in one invocation on the
same synthesized day, so the synthesizer, each feed and the report stay together.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from fraud_platform.storage.warehouse import (
    COPY_BATCH_ROWS,
    FRAUD_DATASET_TABLES,
    WAREHOUSE_TABLES,
    TablePartitionDimension,
    TableSlice,
    binary_rows,
    clear_slice,
    column_type,
    copy_encoded,
    encode_frame,
    ensure_warehouse_schema,
    partition_name,
    prepare_write,
    replaced_together,
    slice_lock_keys,
)
from fraud_platform.tables import PARTITION_COLUMN, FraudDataset

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
MILLION = 1_000_000
NODES_PER_TRANSACTION = 242_919 / MILLION
EDGES_PER_TRANSACTION = 898_260 / MILLION
DAYS = ("2024-10-01", "2024-10-02")
FEEDS = ("write_row", "csv", "binary", "pgpq", "adbc")
#: Feeds whose library may be missing: the module each needs.
OPTIONAL_FEEDS = {"pgpq": "pgpq", "adbc": "adbc_driver_postgresql.dbapi"}
#: Arrow type of each fixed-width column type (`column_type`) on the wire.
WIRE_TYPES = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
LAYOUTS = ("old", "btree", "brin", "brin-noaccount", "partitioned", "partitioned-account")
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


# -- data -----------------------------------------------------------------------------------------


def dataset_id_of(day: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fraud_platform/benchmark/{day}"))


def synthesize(millions: float, seed: int = 7) -> FraudDataset:
    """A day with the row counts and value shapes of a real one, frames as the asset makes them
    (`for_day` sets their dataset_id and partition_date)."""
    rng = np.random.default_rng(seed)
    n_nodes = round(NODES_PER_TRANSACTION * millions * MILLION)
    n_edges = round(EDGES_PER_TRANSACTION * millions * MILLION)

    def accounts(numbers: np.ndarray) -> pd.Series:
        text = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), 7, "0")
        joined = pc.binary_join_element_wise("ACC", text, "")
        return pd.Series(joined.cast(pa.large_string()).to_pandas(), dtype="str")

    nodes = pd.DataFrame(
        {
            "dataset_id": "",
            PARTITION_COLUMN: "",
            "account": accounts(rng.permutation(n_nodes)),
            "centrality": rng.exponential(1.0 / n_nodes, n_nodes),
            "cluster": rng.integers(0, 5_000, n_nodes),
            "risk_score": rng.beta(1.0, 6.0, n_nodes),
            "point_color": pd.Series(rng.choice(PALETTE, n_nodes), dtype="str"),
            "point_size": rng.uniform(2.0, 12.0, n_nodes),
            "x": rng.uniform(-1000.0, 1000.0, n_nodes),
            "y": rng.uniform(-1000.0, 1000.0, n_nodes),
            "in_amount": rng.lognormal(6.0, 1.5, n_nodes).round(2),
            "out_amount": rng.lognormal(6.0, 1.5, n_nodes).round(2),
        }
    )
    edges = pd.DataFrame(
        {
            "dataset_id": "",
            PARTITION_COLUMN: "",
            "sender": accounts(rng.integers(0, n_nodes, n_edges)),
            "receiver": accounts(rng.integers(0, n_nodes, n_edges)),
            "amount_total": rng.lognormal(5.5, 1.5, n_edges).round(2),
            "tx_count": rng.geometric(0.8, n_edges).astype("int64"),
        }
    )
    summary = pd.DataFrame(
        {
            "dataset_id": [""],
            PARTITION_COLUMN: [""],
            "name": ["Benchmark day"],
            "description": ["synthesized"],
            "url": ["http://viewer.test/datasets/x"],
            "node_count": [n_nodes],
            "edge_count": [n_edges],
            "high_risk_count": [int((nodes["risk_score"] >= 0.8).sum())],
            "created_at": [pd.Timestamp(datetime.now(UTC))],
        }
    )
    return FraudDataset(summary=summary, nodes=nodes, edges=edges)


def from_folder(folder: Path, millions: float) -> FraudDataset:
    """A real day, repeated (account ids suffixed ``-1``, ``-2``...) up to ``millions``."""
    members = {m: pd.read_parquet(folder / f"{m}.parquet") for m in ("summary", "nodes", "edges")}
    copies = max(1, round(millions))
    if copies > 1:
        for member, columns in (("nodes", ["account"]), ("edges", ["sender", "receiver"])):
            parts = []
            for i in range(copies):
                part = members[member].copy()
                if i:
                    for column in columns:
                        part[column] = part[column] + f"-{i}"
                parts.append(part)
            members[member] = pd.concat(parts, ignore_index=True)
    return FraudDataset(**members)


def for_day(dataset: FraudDataset, day: str) -> FraudDataset:
    """The dataset relabelled as ``day`` (its dataset id and partition_date columns)."""
    members = {}
    for member, frame in dataset.members().items():
        frame = frame.copy(deep=False)
        frame["dataset_id"] = pd.Series([dataset_id_of(day)] * len(frame), dtype="str")
        frame[PARTITION_COLUMN] = pd.Series([day] * len(frame), dtype="str")
        members[member] = frame
    return FraudDataset(**members)


# -- feeds ----------------------------------------------------------------------------------------


def _columns(table: str, frame: pd.DataFrame) -> list[str]:
    return [c for c in WAREHOUSE_TABLES[table] if c in frame.columns]


def _copy_statement(schema: str, table: str, columns: list[str], how: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
        sql.Identifier(schema, table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(how),
    )


def copy_write_row(
    connection: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame
) -> None:
    """psycopg's row-by-row path: one Python tuple per row, text format (NaN stored as NULL)."""
    columns = _columns(table, frame)
    values = frame[columns].astype(object).where(frame[columns].notna(), None)
    with (
        connection.cursor() as cursor,
        cursor.copy(_copy_statement(schema, table, columns, "text")) as copy,
    ):
        for row in values.itertuples(index=False, name=None):
            copy.write_row(row)


def copy_csv(connection: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame) -> None:
    """The previous feed: Arrow's CSV writer, 64k rows per buffer, COPY FORMAT csv."""
    columns = _columns(table, frame)
    arrow = pa.Table.from_pandas(frame[columns], preserve_index=False)
    for index, column in enumerate(arrow.schema):
        if pa.types.is_dictionary(column.type):
            arrow = arrow.set_column(index, column.name, arrow.column(index).dictionary_decode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with (
        connection.cursor() as cursor,
        cursor.copy(_copy_statement(schema, table, columns, "csv")) as copy,
    ):
        for batch in arrow.to_batches(max_chunksize=65_536):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, options)
            copy.write(buffer.getvalue())


Loader = Callable[[psycopg.Connection, str, FraudDataset], dict[str, float]]


def table_by_table(copy: Callable[[psycopg.Connection, str, str, pd.DataFrame], object]) -> Loader:
    """A loader calling ``copy`` for the summary, the nodes, then the edges."""

    def load(
        connection: psycopg.Connection, schema: str, dataset: FraudDataset
    ) -> dict[str, float]:
        seconds = {}
        for member, frame in dataset.members().items():
            table = FRAUD_DATASET_TABLES[member]
            begun = time.perf_counter()
            copy(connection, schema, table, frame)
            seconds[table] = time.perf_counter() - begun
        return seconds

    return load


def load_binary(
    connection: psycopg.Connection, schema: str, dataset: FraudDataset
) -> dict[str, float]:
    """The feed in use, as `FraudDatasetTypeHandler` runs it: a worker encodes each table
    (`encode_frame`) while the previous one loads (`copy_encoded`)."""
    seconds = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = [
            pool.submit(encode_frame, FRAUD_DATASET_TABLES[member], frame)
            for member, frame in dataset.members().items()
        ]
        begun = time.perf_counter()
        for future in pending:
            rows = future.result()
            copy_encoded(connection, schema, rows)
            seconds[rows.table], begun = time.perf_counter() - begun, time.perf_counter()
    return seconds


def replace_day(
    connection: psycopg.Connection, schema: str, day: str, dataset: FraudDataset, load: Loader
) -> dict[str, float]:
    """Replace ``day`` as the IO manager does; seconds per table and in total (to the commit)."""
    table_slice = TableSlice(
        table="datasets",
        schema=schema,
        partition_dimensions=[TablePartitionDimension(PARTITION_COLUMN, [day])],
    )
    started = time.perf_counter()
    with connection.transaction():
        prepare_write(connection, table_slice)
    with connection.transaction():
        for table in replaced_together("datasets"):
            for key in slice_lock_keys(table_slice._replace(table=table)):
                connection.execute("SELECT pg_advisory_xact_lock(%s)", [key])
        for table in replaced_together("datasets"):
            clear_slice(connection, table_slice._replace(table=table))
        seconds = load(connection, schema, dataset)
    seconds["total"] = time.perf_counter() - started
    return seconds


def available(feed: str) -> bool:
    """Whether the library an optional feed needs is installed."""
    if feed not in OPTIONAL_FEEDS:
        return True
    try:
        importlib.import_module(OPTIONAL_FEEDS[feed])
    except ImportError:
        return False
    return True


def arrow_for_copy(table: str, frame: pd.DataFrame) -> pa.Table:
    """The frame as Arrow columns of the types the table's columns have on the wire: uuid text as
    16 bytes (``binary(16)``), dates as date32, integers of the column's width, timestamps in
    microseconds. Uuid and date columns hold a few distinct values: each is converted once.
    (Counted in the feed's time, as `encode_frame` is in the binary feed's.)"""
    columns = _columns(table, frame)
    arrow = pa.Table.from_pandas(frame[columns], preserve_index=False)
    converted = []
    for name in columns:
        column = arrow.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        kind = column_type(WAREHOUSE_TABLES[table][name])
        if kind in ("uuid", "date"):
            encoded = column.dictionary_encode()
            values = encoded.dictionary
            if kind == "uuid":
                values = pa.array([uuid.UUID(v).bytes for v in values.to_pylist()], pa.binary(16))
            else:
                values = values.cast(pa.date32())
            column = values.take(encoded.indices)
        elif kind in WIRE_TYPES:
            column = column.cast(WIRE_TYPES[kind])
        converted.append(column)
    return pa.table(converted, names=columns)


def pgpq_chunks(arrow: pa.Table) -> Iterator[bytes]:
    """The table in COPY's binary format, header to trailer, as pgpq encodes it."""
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(arrow.schema)
    yield encoder.write_header()
    for batch in arrow.to_batches(max_chunksize=COPY_BATCH_ROWS):
        yield encoder.write_batch(batch)
    yield encoder.finish()


def load_pgpq(
    connection: psycopg.Connection, schema: str, dataset: FraudDataset
) -> dict[str, float]:
    """pgpq in place of the hand-written encoder, everything else as `load_binary`: the COPY in
    the caller's transaction, psycopg's writer thread, the next table prepared while one loads."""
    seconds = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = {
            FRAUD_DATASET_TABLES[member]: pool.submit(
                arrow_for_copy, FRAUD_DATASET_TABLES[member], frame
            )
            for member, frame in dataset.members().items()
        }
        begun = time.perf_counter()
        for table, future in pending.items():
            arrow = future.result()
            statement = _copy_statement(schema, table, arrow.column_names, "binary")
            with (
                connection.cursor() as cursor,
                cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
            ):
                for chunk in pgpq_chunks(arrow):
                    copy.write(chunk)
            seconds[table], begun = time.perf_counter() - begun, time.perf_counter()
    return seconds


def encode_only(feed: str, dataset: FraudDataset) -> float:
    """Seconds to encode the whole day to COPY's binary format, no server, one thread."""
    begun = time.perf_counter()
    for member, frame in dataset.members().items():
        table = FRAUD_DATASET_TABLES[member]
        if feed == "pgpq":
            for _ in pgpq_chunks(arrow_for_copy(table, frame)):
                pass
            continue
        rows = encode_frame(table, frame)
        for start in range(0, rows.rows, COPY_BATCH_ROWS):
            binary_rows(rows.encoded, start, min(start + COPY_BATCH_ROWS, rows.rows))
    return time.perf_counter() - begun


def adbc_tables(dataset: FraudDataset) -> dict[str, pa.Table]:
    """ADBC maps Arrow types to column types itself: `arrow_for_copy`, uuid as pa.uuid().
    (Counted in the feed's time.)"""
    tables = {}
    for member, frame in dataset.members().items():
        table = FRAUD_DATASET_TABLES[member]
        arrow = arrow_for_copy(table, frame)
        for index, name in enumerate(arrow.column_names):
            column = arrow.column(name)
            if pa.types.is_fixed_size_binary(column.type):
                arrow = arrow.set_column(index, name, column.cast(pa.uuid()))
            elif pa.types.is_large_string(column.type):
                arrow = arrow.set_column(index, name, column.cast(pa.string()))
        tables[table] = arrow
    return tables


def replace_day_adbc(url: str, schema: str, day: str, dataset: FraudDataset) -> dict[str, float]:
    """The day replaced through ADBC: its own connection, hence its own transaction."""
    import adbc_driver_postgresql.dbapi as adbc

    started = time.perf_counter()
    tables = adbc_tables(dataset)
    seconds: dict[str, float] = {}
    with adbc.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE {} = {}")
            .format(
                sql.Identifier(schema, "datasets"),
                sql.Identifier(PARTITION_COLUMN),
                sql.Literal(date.fromisoformat(day)),
            )
            .as_string()
        )
        for table in ("dataset_nodes", "dataset_edges"):
            partition = sql.Identifier(schema, partition_name(table, day))
            cursor.execute(sql.SQL("TRUNCATE {}").format(partition).as_string())
        for table, arrow in tables.items():
            begun = time.perf_counter()
            cursor.adbc_ingest(table, arrow, mode="append", db_schema_name=schema)
            seconds[table] = time.perf_counter() - begun
        connection.commit()
    seconds["total"] = time.perf_counter() - started
    return seconds


# -- layouts --------------------------------------------------------------------------------------


def _definitions(schema: str, table: str, old: bool) -> sql.Composed:
    """The table's column definitions; the old layout's nodes and edges reference datasets."""
    definitions = []
    for column, definition in WAREHOUSE_TABLES[table].items():
        if old and table != "datasets" and column == "dataset_id":
            definition += " REFERENCES {schema}.datasets (dataset_id) ON DELETE CASCADE"
        definitions.append(
            sql.SQL("{} {}").format(
                sql.Identifier(column), sql.SQL(definition).format(schema=sql.Identifier(schema))
            )
        )
    return sql.SQL(", ").join(definitions)


def create_layout(connection: psycopg.Connection, schema: str, layout: str) -> None:
    """The three dataset tables in ``schema`` (dropped first), as ``layout`` has them."""
    connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    if layout.startswith("partitioned"):
        ensure_warehouse_schema(connection, schema)
        if layout == "partitioned-account":
            connection.execute(
                sql.SQL("CREATE INDEX ON {} (account)").format(
                    sql.Identifier(schema, "dataset_nodes")
                )
            )
        return
    connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for table in FRAUD_DATASET_TABLES.values():
        connection.execute(
            sql.SQL("CREATE TABLE {} ({})").format(
                sql.Identifier(schema, table), _definitions(schema, table, old=layout == "old")
            )
        )
    indexes: list[tuple[str, str, str]] = []
    if layout == "old":
        indexes = [
            (t, c, "btree")
            for t in ("dataset_nodes", "dataset_edges")
            for c in (PARTITION_COLUMN, "account", "dataset_id")
            if c in WAREHOUSE_TABLES[t]
        ]
    elif layout in ("btree", "brin", "brin-noaccount"):
        method = layout.split("-")[0]
        indexes = [(t, PARTITION_COLUMN, method) for t in ("dataset_nodes", "dataset_edges")]
        if layout != "brin-noaccount":
            indexes.append(("dataset_nodes", "account", "btree"))
    for table, column, method in indexes:
        connection.execute(
            sql.SQL("CREATE INDEX ON {} USING {} ({})").format(
                sql.Identifier(schema, table), sql.SQL(method), sql.Identifier(column)
            )
        )


def replace_day_plain(
    connection: psycopg.Connection, schema: str, day: str, dataset: FraudDataset, layout: str
) -> dict[str, float]:
    """DELETE + COPY on plain tables (the old layout lets the foreign key cascade)."""
    started = time.perf_counter()
    with connection.transaction():
        tables = ["datasets"] if layout == "old" else list(FRAUD_DATASET_TABLES.values())
        for table in tables:
            connection.execute(
                sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                    sql.Identifier(schema, table), sql.Identifier(PARTITION_COLUMN)
                ),
                [day],
            )
        seconds = {"delete": time.perf_counter() - started}
        seconds |= load_binary(connection, schema, dataset)
    seconds["total"] = time.perf_counter() - started
    return seconds


@dataclass
class Waits:
    """Longest wait of a reader of another day, and of a reader of all days, during a load."""

    other_day: float = 0.0
    all_days: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def readers(url: str, schema: str, other_day: str) -> Iterator[Waits]:
    """Probe every 50 ms, on a connection of its own, while the block runs."""
    waits = Waits()
    table = sql.Identifier(schema, "dataset_nodes")
    probes = {
        "other_day": sql.SQL("SELECT 1 FROM {} WHERE {} = %s LIMIT 1").format(
            table, sql.Identifier(PARTITION_COLUMN)
        ),
        "all_days": sql.SQL("SELECT 1 FROM {} LIMIT 1").format(table),
    }

    def probe() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            while not waits.stop.is_set():
                for name, statement in probes.items():
                    begun = time.perf_counter()
                    params = [other_day] if name == "other_day" else []
                    connection.execute(statement, params).fetchall()
                    setattr(waits, name, max(getattr(waits, name), time.perf_counter() - begun))
                waits.stop.wait(0.05)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        waits.stop.set()
        thread.join(timeout=600)


# -- report ---------------------------------------------------------------------------------------


def seconds_range(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if high - low < 0.005 else f"{low:.2f}-{high:.2f}"


def ratio(values: list[float], baseline: list[float] | None) -> str:
    if not baseline:
        return ""
    return f"{statistics.median(values) / statistics.median(baseline):.2f}x"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the runs -------------------------------------------------------------------------------------


def run_feeds(
    url: str, schema: str, size: str, dataset: FraudDataset, feeds: list[str], repeat: int
) -> None:
    rows = {
        t: len(f)
        for t, f in zip(FRAUD_DATASET_TABLES.values(), dataset.members().values(), strict=True)
    }
    day = for_day(dataset, DAYS[0])
    loaders = {
        "write_row": table_by_table(copy_write_row),
        "csv": table_by_table(copy_csv),
        "binary": load_binary,
        "pgpq": load_pgpq,
    }
    results: dict[str, list[dict[str, float]]] = {feed: [] for feed in feeds}
    with psycopg.connect(url) as connection:
        create_layout(connection, schema, "partitioned")
        connection.commit()
        for attempt in range(repeat):
            for feed in feeds:
                log(f"  feeds {size}: {feed} ({attempt + 1}/{repeat})")
                if feed == "adbc":
                    results[feed].append(replace_day_adbc(url, schema, DAYS[0], day))
                else:
                    results[feed].append(
                        replace_day(connection, schema, DAYS[0], day, loaders[feed])
                    )
                counts = connection.execute(
                    sql.SQL("SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})").format(
                        sql.Identifier(schema, "dataset_nodes"),
                        sql.Identifier(schema, "dataset_edges"),
                    )
                ).fetchone()
                connection.commit()
                assert counts == (rows["dataset_nodes"], rows["dataset_edges"]), (feed, counts)
    reference = next((feed for feed in ("csv", "binary") if feed in results), None)
    baseline = (
        {k: [r[k] for r in results[reference]] for k in ("dataset_nodes", "dataset_edges", "total")}
        if reference
        else {}
    )
    table = []
    for feed in feeds:
        line = [feed]
        for key in ("dataset_nodes", "dataset_edges", "total"):
            values = [r[key] for r in results[feed]]
            count = rows[key] if key in rows else sum(rows.values())
            line += [
                seconds_range(values),
                f"{count / statistics.median(values) / 1000:,.0f}k",
                ratio(values, baseline.get(key)),
            ]
        table.append(line)
    print_table(
        f"Feeds, {size} transactions ({rows['dataset_nodes']:,} node rows, "
        f"{rows['dataset_edges']:,} edge rows), layout in use, {repeat} runs; "
        f"ratio = time / {reference} time",
        [
            "feed",
            "nodes s",
            "rows/s",
            "ratio",
            "edges s",
            "rows/s",
            "ratio",
            "day s",
            "rows/s",
            "ratio",
        ],
        table,
    )
    encoders = [feed for feed in ("binary", "pgpq") if feed in feeds]
    if encoders:
        run_encoders(size, day, encoders, repeat)


def run_encoders(size: str, dataset: FraudDataset, encoders: list[str], repeat: int) -> None:
    """The binary encoders alone: the day to COPY's format in memory, one thread, no server."""
    rows = sum(len(frame) for frame in dataset.members().values())
    seconds: dict[str, list[float]] = {feed: [] for feed in encoders}
    for attempt in range(repeat):
        for feed in encoders:
            log(f"  encoding {size}: {feed} ({attempt + 1}/{repeat})")
            seconds[feed].append(encode_only(feed, dataset))
    print_table(
        f"Encoding alone, {size} transactions ({rows:,} rows), one thread, no server, {repeat} "
        f"runs; ratio = time / {encoders[0]} time",
        ["encoder", "day s", "rows/s", "ratio"],
        [
            [
                feed,
                seconds_range(values),
                f"{rows / statistics.median(values) / 1000:,.0f}k",
                ratio(values, seconds[encoders[0]]),
            ]
            for feed, values in seconds.items()
        ],
    )


def run_layouts(
    url: str, schema: str, size: str, dataset: FraudDataset, layouts: list[str], repeat: int
) -> None:
    steps = ("first load", "second day", "replace")
    results: dict[str, dict[str, list[float]]] = {
        layout: {step: [] for step in steps} for layout in layouts
    }
    waits: dict[str, dict[str, float]] = {layout: {"other": 0.0, "all": 0.0} for layout in layouts}
    days = [for_day(dataset, day) for day in DAYS]
    with psycopg.connect(url) as connection:
        for attempt in range(repeat):
            for layout in layouts:
                create_layout(connection, schema, layout)
                connection.commit()
                for step, (day, data) in zip(
                    steps, [(0, days[0]), (1, days[1]), (0, days[0])], strict=True
                ):
                    log(f"  layouts {size}: {layout}, {step} ({attempt + 1}/{repeat})")
                    other = DAYS[1 - day]
                    with readers(url, schema, other) as probe:
                        if layout.startswith("partitioned"):
                            seconds = replace_day(connection, schema, DAYS[day], data, load_binary)
                        else:
                            seconds = replace_day_plain(connection, schema, DAYS[day], data, layout)
                    results[layout][step].append(seconds["total"])
                    if step != "first load":
                        waits[layout]["other"] = max(waits[layout]["other"], probe.other_day)
                        waits[layout]["all"] = max(waits[layout]["all"], probe.all_days)
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
        connection.commit()
    baseline = results.get("old")
    rows = len(dataset.nodes) + len(dataset.edges) + len(dataset.summary)
    table = []
    for layout in layouts:
        line = [layout]
        for step in steps:
            values = results[layout][step]
            line += [
                seconds_range(values),
                f"{rows / statistics.median(values) / 1000:,.0f}k",
                ratio(values, baseline[step] if baseline else None),
            ]
        line += [f"{waits[layout]['other']:.2f}", f"{waits[layout]['all']:.2f}"]
        table.append(line)
    print_table(
        f"Layouts, {size} transactions, binary feed, {repeat} runs; whole day (summary + nodes + "
        "edges) until commit; ratio = time / old layout; waits = longest probe of a reader "
        "during the second-day load and the replace",
        [
            "layout",
            "first load s",
            "rows/s",
            "ratio",
            "second day s",
            "rows/s",
            "ratio",
            "replace s",
            "rows/s",
            "ratio",
            "other-day reader waited s",
            "all-days reader waited s",
        ],
        table,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1,10", help="day sizes, millions of transactions")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement")
    parser.add_argument("--feeds", default=",".join(FEEDS))
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--dataset", type=Path, help="a fraud_dataset day folder to load")
    args = parser.parse_args()
    url = os.environ.get("FRAUD_DATABASE_URL", DEFAULT_DATABASE_URL)
    schema = f"bench_load_{uuid.uuid4().hex[:8]}"
    feeds = [f for f in args.feeds.split(",") if f and available(f)]
    layouts = [layout for layout in args.layouts.split(",") if layout]
    unknown = (set(feeds) - set(FEEDS)) | (set(layouts) - set(LAYOUTS))
    if unknown:
        parser.error(f"unknown feeds or layouts: {sorted(unknown)}")
    for feed, module in OPTIONAL_FEEDS.items():
        if feed in args.feeds.split(",") and feed not in feeds:
            log(f"{module} is not installed: no {feed} feed (pip install -e '.[bench]')")
    try:
        for millions in [float(r) for r in args.rows.split(",")]:
            size = f"{millions:g}M"
            log(f"{size}: preparing the day")
            dataset = from_folder(args.dataset, millions) if args.dataset else synthesize(millions)
            if feeds:
                run_feeds(url, schema, size, dataset, feeds, args.repeat)
            if layouts:
                run_layouts(url, schema, size, dataset, layouts, args.repeat)
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


if __name__ == "__main__":
    main()
