"""Running Dagster's own commands in subprocesses, as users do, against the test servers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests

from fraud_platform.settings import Settings


def dagster_command(name: str = "dagster") -> str:
    """A console script of the venv the tests run in (dagster, dagster-webserver, ...)."""
    return str(Path(sys.executable).with_name(name))


def clean_env() -> dict[str, str]:
    """The environment without any FRAUD_ or DAGSTER_ setting of the machine running the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FRAUD_", "DAGSTER_"))}


def cli_env(settings: Settings, dagster_home: Path) -> dict[str, str]:
    """The deployment ``settings`` describe, as environment variables, with a throwaway local
    Dagster home (telemetry off)."""
    env = clean_env()
    env.update(
        FRAUD_STORAGE_URL=settings.storage_url,
        FRAUD_DATABASE_URL=str(settings.database_url),
        FRAUD_DATABASE_SCHEMA=settings.database_schema,
        FRAUD_VIEWER_BASE_URL=settings.viewer_base_url,
        DAGSTER_HOME=str(dagster_home),
    )
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


def pg_url(conninfo: str) -> str:
    """A libpq key/value string (or a URL) as a postgresql:// URL, which Dagster's storage
    takes; a unix-socket host goes in the query string."""
    if conninfo.startswith("postgresql://"):
        return conninfo
    info = psycopg.conninfo.conninfo_to_dict(conninfo)
    user, host, port = info.get("user", "postgres"), info.get("host", ""), info.get("port", 5432)
    if host.startswith("/"):
        return f"postgresql://{user}@/{info['dbname']}?host={host}&port={port}"
    return f"postgresql://{user}@{host}:{port}/{info['dbname']}"


def wait_until_serving(port: int, log: Path, timeout: float = 120) -> None:
    """Wait for a `dagster-webserver` on loopback ``port`` to answer; fail with its ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            time.sleep(1)
    pytest.fail("webserver did not start: " + log.read_text()[-3000:])
