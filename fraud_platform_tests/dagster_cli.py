"""Running Dagster's own commands in subprocesses, as users do, against the test servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from services import wait_until_serving  # noqa: F401  (re-exported: it lives in services.py)

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


#: The module Dagster's CLI loads the definitions from, and the day's whole asset graph.
DEFINITIONS_MODULE = "fraud_platform.definitions"
DAILY_SELECTION = "*fraud_dataset"


def materialize_args(day: str, selection: str = DAILY_SELECTION) -> list[str]:
    """The command line of ``dagster asset materialize -m fraud_platform.definitions --select
    <selection> --partition <day>`` (for a test that starts it itself, e.g. to kill it)."""
    return [
        dagster_command(),
        "asset",
        "materialize",
        "-m",
        DEFINITIONS_MODULE,
        "--select",
        selection,
        "--partition",
        day,
    ]


def materialize_cli(
    day: str,
    env: dict[str, str],
    selection: str = DAILY_SELECTION,
    *,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``dagster asset materialize`` of ``selection`` for the partition ``day`` in ``env``, as a
    user runs it; its output captured as text (the test checks the return code)."""
    return subprocess.run(
        materialize_args(day, selection),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


#: The project's root: where ``pyproject.toml`` (and its ``[tool.dg]``) is, for ``dg``.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dg_cli(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Dagster's ``dg`` command with ``args`` in the project's root, as a user runs it there; its
    output captured as text (the test checks the return code)."""
    return subprocess.run(
        [dagster_command("dg"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


def fraud_platform_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The project's own ``fraud-platform`` command with ``args`` (``env``: the environment,
    default this process's); its output captured as text (the test checks the return code)."""
    return subprocess.run(
        [dagster_command("fraud-platform"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
