"""Shared fixtures: a real PostgreSQL, a fresh schema per test and a storage folder per test.

``FRAUD_TEST_DATABASE_URL`` selects the PostgreSQL to test against (CI sets it to the server the
machine runs). Without it, an embedded PostgreSQL is started once per session in a temporary
folder, and stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from fraud_platform.storage.embedded_postgres import embedded_database_url, stop_embedded
from fraud_platform.storage.warehouse import PostgresWarehouse

TEST_DATABASE_URL_ENV = "FRAUD_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a live PostgreSQL for the whole session."""
    configured = os.environ.get(TEST_DATABASE_URL_ENV)
    if configured:
        yield configured
        return
    pgdata = tmp_path_factory.mktemp("embedded_postgres") / "pgdata"
    try:
        yield embedded_database_url(pgdata)
    finally:
        stop_embedded(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def warehouse_schema(database_url: str) -> Iterator[str]:
    """A schema name no other test uses; the schema (if the test created it) is dropped after."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def warehouse(database_url: str, warehouse_schema: str) -> PostgresWarehouse:
    """The warehouse resource on the test database, writing to the test's own schema."""
    return PostgresWarehouse(database_url=database_url, schema_name=warehouse_schema)


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """An empty folder standing in for ``FRAUD_STORAGE_URL``."""
    folder = tmp_path / "storage"
    folder.mkdir()
    return folder
