"""Dagster's side: the `PostgresIOManager` that stores asset outputs in the warehouse.

It follows Dagster's own database IO managers (dagster-duckdb, dagster-snowflake): a `DbIOManager`
with a `DbClient` (connection, schema, delete of the slice being replaced) and `DbTypeHandler`s
(how a value becomes rows). ``PostgresDbClient.connect`` opens ONE transaction around
``ensure_schema_exists`` + ``delete_table_slice`` + the handler's COPY, so a re-run of a day
replaces that day's rows or, if anything fails (even a killed connection mid-COPY), changes
nothing (Dagster's stock managers do not yet: dagster-io/dagster issue #14091). DDL a write needs
(tables, a new day's partitions) is committed just before, in a short transaction of its own, so
the load never holds a lock on a whole table.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd
import psycopg
from dagster import (
    ConfigurableIOManagerFactory,
    InitResourceContext,
    InputContext,
    OutputContext,
    ResourceDependency,
)

from fraud_platform.storage.warehouse.connection import PostgresWarehouse, WarehouseError
from fraud_platform.storage.warehouse.copy_read import read_slice
from fraud_platform.storage.warehouse.copy_write import copy_encoded, copy_frame, encode_frame
from fraud_platform.storage.warehouse.dagster_db import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TableSlice,
)
from fraud_platform.storage.warehouse.schema import (
    FRAUD_DATASET_TABLES,
    ensure_warehouse_schema,
    table_spec,
)
from fraud_platform.storage.warehouse.slices import (
    check_rows_in_slice,
    clear_slice,
    prepare_write,
    replaced_together,
    select_statement,
    slice_lock_keys,
)
from fraud_platform.tables import FraudDataset

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
        table_spec(table_slice.table)
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


# The handlers' metadata is row counts: plain ints are metadata values, so ``Mapping[str, int]``
# stands for Dagster's ``RawMetadataValue``, an alias it does not export.


class DataFrameTypeHandler(DbTypeHandler[pd.DataFrame]):
    """A pandas DataFrame is the rows of one table."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: pd.DataFrame,
        connection: psycopg.Connection,
    ) -> Mapping[str, int]:
        check_rows_in_slice(obj, table_slice)
        rows = copy_frame(connection, table_slice.schema, table_slice.table, obj)
        metadata: dict[str, int] = {f"{table_slice.table}_rows": rows}
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
    ) -> Mapping[str, int]:
        if table_slice.table != FRAUD_DATASET_TABLES["summary"]:
            raise WarehouseError(
                f"a FraudDataset is stored from table 'datasets', not {table_slice.table!r}: give "
                "the asset metadata={'table': 'datasets'}"
            )
        members = {FRAUD_DATASET_TABLES[m]: frame for m, frame in obj.members().items()}
        for table, frame in members.items():
            check_rows_in_slice(frame, table_slice._replace(table=table))
        metadata: dict[str, int] = {}
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

    # Overrides a private method: Dagster has no public hook for an asset output's table. The
    # "table" metadata key of dagster-io/dagster PR #30310 is read, in the pinned 1.13.27, only
    # for op outputs (see `DbIOManager._get_table_slice`); drop this override once Dagster reads
    # it for assets too.
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
