"""The PostgreSQL warehouse: its tables, how rows get in and out, and Dagster's IO manager on it.

One module a job, each importing only those above it in this list:

- `connection`: the `PostgresWarehouse` resource, its connections, `WarehouseError`.
- `schema`: `WAREHOUSE_TABLES` (the DDL as data), migrations, day partitions.
- `dagster_db`: Dagster's (private) `DbIOManager` classes, imported in one place.
- `slices`: what a Dagster `TableSlice` means in SQL: days, locks, removal, WHERE.
- `copy_write`: frames into tables by binary COPY (the encoder).
- `copy_read`: a slice of a table back as a frame (COPY TO, parsed by Arrow).
- `io_manager`: `PostgresIOManager`: one transaction per output, type handlers.

Everything the rest of the platform uses is re-exported here: import from
``fraud_platform.storage.warehouse``, not from the modules.
"""

from fraud_platform.storage.warehouse.connection import (
    DEFAULT_SCHEMA,
    PostgresWarehouse,
    WarehouseError,
    catalog_rows,
    describe_database,
    table_exists,
)
from fraud_platform.storage.warehouse.copy_read import read_slice
from fraud_platform.storage.warehouse.copy_write import (
    COPY_BATCH_ROWS,
    EncodedRows,
    binary_rows,
    column_type,
    copy_encoded,
    copy_frame,
    encode_columns,
    encode_frame,
)
from fraud_platform.storage.warehouse.dagster_db import TablePartitionDimension, TableSlice
from fraud_platform.storage.warehouse.io_manager import (
    DataFrameTypeHandler,
    FraudDatasetTypeHandler,
    PostgresDbClient,
    PostgresIOManager,
    PostgresTableIOManager,
    commit_waits_for,
)
from fraud_platform.storage.warehouse.schema import (
    FRAUD_DATASET_TABLES,
    PARTITIONED_TABLES,
    WAREHOUSE_TABLES,
    ensure_day_partitions,
    ensure_warehouse_schema,
    lock_day_partitions,
    partition_name,
)
from fraud_platform.storage.warehouse.slices import (
    clear_slice,
    delete_days,
    prepare_write,
    replaced_together,
    slice_lock_keys,
    stored_row_counts,
)

__all__ = [
    "COPY_BATCH_ROWS",
    "DEFAULT_SCHEMA",
    "FRAUD_DATASET_TABLES",
    "PARTITIONED_TABLES",
    "WAREHOUSE_TABLES",
    "DataFrameTypeHandler",
    "EncodedRows",
    "FraudDatasetTypeHandler",
    "PostgresDbClient",
    "PostgresIOManager",
    "PostgresTableIOManager",
    "PostgresWarehouse",
    "TablePartitionDimension",
    "TableSlice",
    "WarehouseError",
    "binary_rows",
    "catalog_rows",
    "clear_slice",
    "column_type",
    "commit_waits_for",
    "copy_encoded",
    "copy_frame",
    "delete_days",
    "describe_database",
    "encode_columns",
    "encode_frame",
    "ensure_day_partitions",
    "ensure_warehouse_schema",
    "lock_day_partitions",
    "partition_name",
    "prepare_write",
    "read_slice",
    "replaced_together",
    "slice_lock_keys",
    "stored_row_counts",
    "table_exists",
]
