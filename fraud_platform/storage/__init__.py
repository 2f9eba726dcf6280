"""Where assets live: Parquet files in the object store and tables in the PostgreSQL warehouse.

The names below are loaded on first use, so that importing a small module of this package
(`fraud_platform.storage.paths`, which `fraud_platform.settings` uses) loads neither the IO
managers nor the warehouse.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each public name, by the module that defines it.
_SOURCES = {
    "embedded_database_url": "embedded_postgres",
    "stop_embedded": "embedded_postgres",
    "ParquetFilesIOManager": "object_store",
    "ParquetIOManager": "object_store",
    "DEFAULT_SCHEMA": "warehouse",
    "WAREHOUSE_TABLES": "warehouse",
    "PostgresIOManager": "warehouse",
    "PostgresTableIOManager": "warehouse",
    "PostgresWarehouse": "warehouse",
    "WarehouseError": "warehouse",
    "ensure_warehouse_schema": "warehouse",
}

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


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{source}"), name)
