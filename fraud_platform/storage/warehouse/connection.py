"""Reaching the warehouse: the `PostgresWarehouse` resource, its connections and its errors.

Everything else in the package takes a ``psycopg.Connection`` from here; nothing here knows the
tables. Errors name where the database is but never carry its password.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import LiteralString

import psycopg
from dagster import ConfigurableResource, InitResourceContext
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field

from fraud_platform.settings import redact_url
from fraud_platform.storage.embedded_postgres import EMBEDDED_DATABASE, embedded_database_url
from fraud_platform.storage.paths import remote_run_launcher
from fraud_platform.storage.redaction import scrub

#: The schema of the platform's tables unless the resource names another.
DEFAULT_SCHEMA = "fraud"
CONNECT_TIMEOUT_SECONDS = 10


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or used; the message never holds a password."""


def describe_database(url: str) -> str:
    """Where ``url`` points (host, port, database), safe to log: never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        params = {}
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    where = f"host {host}, port {port}, database {params.get('dbname') or '?'}"
    if "://" in url:
        return f"{redact_url(url)} ({where})"
    return where


def _scrub(message: str, url: str) -> str:
    """Remove the password from a driver message (libpq may quote parts of a malformed URL)."""
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        password = None
    return scrub(message, [password])


class PostgresWarehouse(ConfigurableResource):
    """A PostgreSQL database: ``database_url`` in production, else an embedded server.

    Pass the URL as ``EnvVar("FRAUD_DATABASE_URL")`` so the password stays out of config and logs.
    """

    database_url: str | None = Field(
        default=None, description="libpq URL of the database; takes precedence over embedded_dir."
    )
    embedded_dir: str | None = Field(
        default=None, description="Data folder of an embedded PostgreSQL used when no URL is set."
    )
    schema_name: str = Field(default=DEFAULT_SCHEMA, description="Schema of the platform tables.")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Refuse the embedded server where runs execute on workers of their own: each would
        start a database of its own, and the days would not meet."""
        launcher = remote_run_launcher(getattr(context, "instance", None))
        if launcher is not None and not self.database_url:
            raise WarehouseError(
                f"no FRAUD_DATABASE_URL: the embedded PostgreSQL is this machine's, but this "
                f"Dagster instance runs each run on a worker of its own ({launcher}); set "
                "FRAUD_DATABASE_URL to the shared PostgreSQL (see deploy/)"
            )

    def url(self) -> str:
        """The libpq URL to connect to, starting the embedded server if that is the one."""
        if self.database_url:
            return self.database_url
        if self.embedded_dir:
            return embedded_database_url(Path(self.embedded_dir))
        raise WarehouseError("no database configured: set FRAUD_DATABASE_URL or embedded_dir")

    def database_name(self) -> str:
        """The database name, without connecting (or starting an embedded server)."""
        if self.database_url:
            return str(conninfo_to_dict(self.database_url).get("dbname") or "")
        return EMBEDDED_DATABASE

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """A connection that commits when the block ends normally and rolls back otherwise."""
        url = self.url()
        try:
            params = conninfo_to_dict(url)
            params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
            params.setdefault("application_name", "fraud_platform")
            connection = psycopg.connect(**params)
        except psycopg.Error as error:
            # `from None`: the driver's exception is already summarised, password removed.
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {describe_database(url)}: "
                f"{_scrub(str(error).strip(), url)}"
            ) from None
        with connection:
            yield connection


def catalog_rows(
    connection: psycopg.Connection, query: LiteralString, schema: str, table: str
) -> list[tuple]:
    """Rows of a catalog ``query`` about ``schema.table``, whose one ``%s`` is that table (as
    ``%s::regclass``): the name is quoted as an identifier, never formatted into the SQL."""
    name = sql.Identifier(schema, table).as_string(connection)
    return connection.execute(query, [name]).fetchall()


def table_exists(connection: psycopg.Connection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists (a reader answers "nothing stored" rather than failing)."""
    return catalog_rows(connection, "SELECT to_regclass(%s)", schema, table)[0][0] is not None
