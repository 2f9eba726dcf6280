"""Dagster's database IO manager classes, imported from their one (private) home.

`DbIOManager` with its `DbClient` and `DbTypeHandler`s is how Dagster's own database IO managers
(dagster-duckdb, dagster-snowflake, dagster-gcp) are built, and `TableSlice` is what it hands them.
Dagster exports none of it: ``dagster._core.storage.db_io_manager`` is the only import path (the
integrations use it too). The public API missing is ``dagster.DbIOManager``, ``DbClient``,
``DbTypeHandler``, ``TableSlice`` and ``TablePartitionDimension``: dagster-io/dagster issue
#10737 (document the DB IO manager abstractions, open) and PR #28207 ("worth looking at exposing
this rather than keeping it in a private, underscore-prefixed path"). Every module here imports
them from this one, so a Dagster upgrade that moves or publishes them changes one line.
"""

# No public API for these yet (dagster-io/dagster issue #10737): see the module docstring.
from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)

__all__ = ["DbClient", "DbIOManager", "DbTypeHandler", "TablePartitionDimension", "TableSlice"]
