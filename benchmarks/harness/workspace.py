"""Where a benchmark works: a temporary folder, warehouse schemas and Dagster databases on the
PostgreSQL server (all removed at the end), the generated landing days, and the environment a
platform process runs in."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from services import clean_env, make_dagster_home

from .common import DAY, REPO, log


def psycopg_module() -> Any:
    """psycopg, imported where used: the spawned generator processes import this module too."""
    import psycopg

    return psycopg


class Workspace:
    """Everything the benchmark creates, removed on exit unless ``keep``."""

    def __init__(self, database_url: str, keep: bool, workdir: str | None) -> None:
        self.database_url = database_url
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="fraud_bench_", dir=workdir))
        self.tag = uuid.uuid4().hex[:10]
        self.schemas: list[str] = []
        self.databases: list[str] = []

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            log(f"kept {self.root}, schemas {self.schemas}, databases {self.databases}")
            return
        psycopg = psycopg_module()
        from psycopg import sql

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            for schema in self.schemas:
                connection.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
            for database in self.databases:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
        shutil.rmtree(self.root, ignore_errors=True)

    def schema(self, name: str) -> str:
        """A warehouse schema name of this workspace's, dropped at the end (created by the run)."""
        schema = f"bench_{self.tag}_{name}"
        self.schemas.append(schema)
        return schema

    def database(self, name: str) -> str:
        """A new empty database on the server; its libpq URL."""
        psycopg = psycopg_module()
        from psycopg import sql

        database = f"bench_{self.tag}_{name}"
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        self.databases.append(database)
        info = psycopg.conninfo.conninfo_to_dict(self.database_url) | {"dbname": database}
        return url_of(info)

    def dagster_home(self) -> Path:
        """The ``DAGSTER_HOME`` of the platform runs: the repository's instance (production's)."""
        home = self.root / "dagster_home"
        if not home.exists():
            make_dagster_home(home, REPO / "dagster.yaml")
        return home


def url_of(info: dict[str, Any]) -> str:
    """A ``postgresql://`` URL from libpq parameters (Dagster's storage wants the URL form)."""
    from urllib.parse import quote

    user = quote(str(info.get("user") or "postgres"))
    password = f":{quote(str(info['password']))}" if info.get("password") else ""
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or 5432
    if str(host).startswith("/"):
        return f"postgresql://{user}{password}@/{info['dbname']}?host={host}&port={port}"
    return f"postgresql://{user}{password}@{host}:{port}/{info['dbname']}"


def _generate(storage: str, first_day: str, days: int, transactions: int, files: int) -> None:
    """Write ``days`` landing days (runs in a child process: a 10M day takes about 3 GB)."""
    from fraud_platform.sample_data.generator import SampleConfig, generate_days

    config = SampleConfig(transactions_per_day=transactions, files_per_day=files)
    generate_days(storage, date.fromisoformat(first_day), days, config, keep_transactions=False)


def generate(storage: Path | str, transactions: int, files: int, days: int = 1) -> float:
    """Generate landing files under ``storage`` in a child process; seconds taken."""
    start = time.perf_counter()
    process = multiprocessing.get_context("spawn").Process(
        target=_generate, args=(str(storage), DAY, days, transactions, files)
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"generating {transactions:,} rows failed (exit {process.exitcode})")
    return time.perf_counter() - start


def platform_env(
    ws: Workspace,
    storage: Path | str,
    schema: str,
    dagster_url: str,
    code: Path | None = None,
    home: Path | None = None,
) -> dict[str, str]:
    """The environment of a platform process, as a deployment sets it: nothing of this machine's
    FRAUD_/DAGSTER_ settings, the CPU engine, the storage, schema and Dagster database given;
    ``home`` (default: the workspace's) is its ``DAGSTER_HOME``, ``code`` another revision's."""
    env = clean_env()
    if code is not None:  # another revision's fraud_platform, ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env | {
        "FRAUD_STORAGE_URL": str(storage),
        "FRAUD_DATABASE_URL": ws.database_url,
        "FRAUD_DATABASE_SCHEMA": schema,
        "FRAUD_GRAPH_ENGINE": "cpu",
        "DAGSTER_HOME": str(home or ws.dagster_home()),
        "DAGSTER_PG_URL": dagster_url,
    }
