"""Where assets live: Parquet files in the object store and tables in the PostgreSQL warehouse."""

from fraud_platform.storage.embedded_postgres import embedded_database_url, stop_embedded
from fraud_platform.storage.object_store import ParquetFilesIOManager, ParquetIOManager
from fraud_platform.storage.warehouse import (
    DEFAULT_SCHEMA,
    WAREHOUSE_TABLES,
    PostgresIOManager,
    PostgresTableIOManager,
    PostgresWarehouse,
    WarehouseError,
    ensure_warehouse_schema,
)

__all__ = [
    "DEFAULT_SCHEMA",
    "WAREHOUSE_TABLES",
    "ParquetFilesIOManager",
    "ParquetIOManager",
    "PostgresIOManager",
    "PostgresTableIOManager",
    "PostgresWarehouse",
    "WarehouseError",
    "embedded_database_url",
    "ensure_warehouse_schema",
    "stop_embedded",
]
