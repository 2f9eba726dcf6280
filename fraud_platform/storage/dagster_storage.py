"""Dagster's own run, event-log and schedule storage: PostgreSQL through dagster-postgres.

``dagster.yaml`` names this class so that one file serves every deployment. The database is
chosen from the environment when an instance starts (webserver, daemon and every run agree):

1. ``DAGSTER_PG_URL`` — a database of its own for Dagster;
2. else ``FRAUD_DATABASE_URL`` — the warehouse's database (Dagster's tables live in its default
   schema, the warehouse in ``fraud``);
3. else the embedded PostgreSQL of the local deployment, started on demand.

Dagster's YAML cannot fall back from an unset variable (``env:`` fails), hence this small class
around `DagsterPostgresStorage` rather than a ``postgres:`` block.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import Field
from dagster_postgres import DagsterPostgresStorage

from fraud_platform.settings import Settings

#: SQLAlchemy 2.1 with its default driver breaks dagster-postgres 0.29's first write
#: (``NOTIFY run_events, $1``); the psycopg2 driver, which dagster-postgres installs, does not.
DRIVER_SCHEME = "postgresql+psycopg2"


def with_driver(url: str) -> str:
    """The URL with the psycopg2 driver scheme SQLAlchemy needs here."""
    for prefix in (
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return f"{DRIVER_SCHEME}://{url[len(prefix) :]}"
    raise ValueError("Dagster's database URL must start with postgresql://")


def dagster_database_url(environ: Mapping[str, str] | None = None) -> str:
    """The database Dagster keeps its runs in, by the rule in the module docstring."""
    env = os.environ if environ is None else environ
    url = env.get("DAGSTER_PG_URL") or env.get("FRAUD_DATABASE_URL")
    if not url:
        from fraud_platform.storage.embedded_postgres import embedded_database_url

        url = embedded_database_url(Settings.from_env(dict(env)).embedded_postgres_dir)
    return with_driver(url)


#: Connections each Dagster process may hold beyond the one it keeps open (threads, watchers).
MAX_OVERFLOW_CONNECTIONS = 4


class PlatformDagsterStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose database URL is resolved from the environment at start.

    It also keeps one connection open per storage for the life of the process, as
    dagster-postgres does in the webserver (``optimize_for_webserver``): by default it opens a
    new PostgreSQL connection for every event it writes, which cost a 1M-transfer day's run
    about a second (15% of its profile, in ``psycopg2.connect``).
    """

    # ``inst_data`` is Dagster's record of this class's entry in dagster.yaml, passed through
    # untouched; its class (ConfigurableClassData) is not exported by `dagster`, hence ``Any``.
    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data)
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(
                statement_timeout=0, pool_recycle=3600, max_overflow=MAX_OVERFLOW_CONNECTIONS
            )

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "should_autocreate_tables": Field(bool, is_required=False, default_value=True),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> PlatformDagsterStorage:
        return cls(
            postgres_url=dagster_database_url(),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
        )

    # The parent describes its parts as dagster_postgres classes configured with *its* config
    # schema, which this class does not share; Dagster rebuilds custom storage from this class.
    @property
    def event_storage_data(self) -> None:
        return None

    @property
    def run_storage_data(self) -> None:
        return None

    @property
    def schedule_storage_data(self) -> None:
        return None
