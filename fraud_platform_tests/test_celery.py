"""Runs on a pool of workers: deploy/celery's instance, real celery workers, RabbitMQ and Redis.

The deployment as operators start it: `dagster-celery` workers in processes, working folders and
(where root may make them) network namespaces of their own, reaching the services only through
loopback forwarding, the daemon handing queued runs to the pool's run launcher, the webserver, Dagster's
storage and the warehouse in PostgreSQL, the object store on S3 (the test server). A six-day
backfill launched as the UI launches it runs one day per run, on both workers, and publishes each
day once. A worker killed mid-day is noticed by run monitoring, its day runs again on the other
worker, and the day is published once. A broker that does not answer fails the run with a message
naming it, and nothing is written. The deployment refuses what workers cannot share: a local
object store folder, the embedded PostgreSQL. RabbitMQ (5672) and Redis (6379) must listen on
loopback; without them the worker tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
import netns
import psycopg
import pytest
import yaml
from dagster import instance_for_test
from dagster_cli import pg_url
from daily_runs import materialize_day
from psycopg import sql
from services import (
    clean_env,
    dagster_command,
    dagster_services,
    free_port,
    graphql,
    launch_job_backfill,
    make_dagster_home,
    runs_tagged,
    wait_for_backfill,
)
from test_services_e2e import partition_of, wait_for_runs

from fraud_platform.sample_data.generator import SampleConfig, generate_days
from fraud_platform.settings import Settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DAY = "2024-10-01"
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
BACKEND = "redis://127.0.0.1:6379/5"
BROKER_CONFIG = {"broker": BROKER, "backend": BACKEND}
CELERY_LAUNCHER = {
    "module": "dagster_celery.launcher",
    "class": "CeleryRunLauncher",
    "config": BROKER_CONFIG,
}


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def pool_env(
    tmp_path: Path, database_url: str, dagster_database: str, warehouse_schema: str, s3_env: str
) -> Iterator[dict[str, str]]:
    """The environment every process of the pool shares (deploy/celery's instance)."""
    home = make_dagster_home(tmp_path / "dagster_home", REPO / "deploy" / "celery" / "dagster.yaml")
    env = clean_env()  # keeps the AWS_* variables of the S3 test server
    env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_URL=pg_url(dagster_database),
        FRAUD_DATABASE_URL=database_url,
        FRAUD_DATABASE_SCHEMA=warehouse_schema,
        FRAUD_STORAGE_URL=s3_env,
        FRAUD_CELERY_BROKER=BROKER,
        FRAUD_CELERY_BACKEND=BACKEND,
        # `dagster-celery worker start` runs `celery` from the PATH: this venv's.
        PATH=f"{Path(dagster_command()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    yield env


RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status tags { key value } } }
}
"""
EVENTS = """
query Events($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message }
        ... on MaterializationEvent { assetKey { path } }
        ... on EngineEvent { error { message } }
      }
    }
  }
}
"""


@dataclass
class Pool:
    """A running pool: the webserver's GraphQL url, each worker's process and folder."""

    url: str
    workers: dict[str, subprocess.Popen]
    folders: dict[str, Path]
    #: Per worker, the command prefix that runs a program in its network namespace (or none).
    namespaces: dict[str, list[str]]
    webserver_port: int

    def run(self, run_id: str) -> dict:
        return graphql(self.url, RUN, {"runId": run_id})["runOrError"]

    def events(self, run_id: str) -> list[dict]:
        return graphql(self.url, EVENTS, {"runId": run_id})["logsForRun"]["events"]

    def launch_days(self, days: list[str], queue: str) -> str:
        """The UI's "Launch backfill" on daily_fraud_job's partitions: one run per day."""
        launched = launch_job_backfill(self.url, days, {"dagster-celery/queue": queue})
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def backfill_runs(self, backfill_id: str, count: int, timeout: float) -> list[dict]:
        """The backfill's runs once ``count`` of them have finished."""
        return wait_for_runs(
            self.url, [{"key": "dagster/backfill", "value": backfill_id}], count, timeout
        )


def edit_instance(env: dict[str, str], **sections: dict) -> None:
    """Change sections of the pool's dagster.yaml (before its processes start)."""

    def merge(into: dict, values: dict) -> dict:
        for key, value in values.items():
            into[key] = merge(into.get(key, {}), value) if isinstance(value, dict) else value
        return into

    path = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), sections)))


@contextmanager
def pool(
    env: dict[str, str], tmp_path: Path, queue: str, workers: int, *, isolated: bool = False
) -> Iterator[Pool]:
    """``workers`` celery workers on ``queue``, the daemon and the webserver, stopped after.

    ``isolated``: each worker in a network namespace of its own that reaches only RabbitMQ,
    Redis, PostgreSQL and the S3 server, through loopback forwarding (see netns.py).
    """
    if not (listening(5672) and listening(6379)):
        pytest.skip("RabbitMQ (5672) and Redis (6379) must listen on 127.0.0.1")
    if isolated and not netns.available():
        pytest.skip("network namespaces need root and `ip netns` on this machine")
    names = [f"w{i}" for i in range(1, workers + 1)]
    with ExitStack() as stack:
        prefixes: dict[str, list[str]] = {name: [] for name in names}
        if isolated:
            prefixes = stack.enter_context(netns.namespaces(names, service_ports(env)))
        services = stack.enter_context(
            dagster_services(
                env, tmp_path, workers=names, queue=queue, prefixes=prefixes, timeout=120
            )
        )
        yield Pool(services.url, services.workers, services.folders, prefixes, services.port)


def service_ports(env: dict[str, str]) -> list[int]:
    """The loopback ports a worker needs: broker, result backend, PostgreSQL, the S3 server."""
    ports = {urlsplit(env[name]).port for name in ("FRAUD_CELERY_BROKER", "FRAUD_CELERY_BACKEND")}
    database = psycopg.conninfo.conninfo_to_dict(env["FRAUD_DATABASE_URL"])
    ports.add(int(database.get("port") or 5432))
    ports.add(urlsplit(env["AWS_ENDPOINT_URL"]).port)
    return sorted(p for p in ports if p)


def reachable(prefix: list[str], port: int) -> bool:
    """Whether a program run with ``prefix`` (in a worker's namespace) connects to loopback
    ``port``."""
    probe = f"import socket; raise SystemExit(socket.socket().connect_ex(('127.0.0.1', {port})))"
    return subprocess.run([*prefix, sys.executable, "-c", probe], timeout=30).returncode == 0


def worker_log(pool: Pool, name: str) -> str:
    return (pool.folders[name] / "worker.log").read_text()


def published(database_url: str, schema: str, table: str) -> list[tuple]:
    """Rows per day in one of the warehouse's tables."""
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            sql.SQL("SELECT partition_date::text, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                sql.Identifier(schema, table)
            )
        ).fetchall()


def test_a_backfill_runs_its_days_on_two_workers(
    pool_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    """Six days launched as the UI launches a backfill: each day is one run on a worker, both
    workers run days, and every day is published once."""
    days = [f"2024-10-0{d}" for d in range(1, 7)]
    generate_days(
        pool_env["FRAUD_STORAGE_URL"],
        date.fromisoformat(days[0]),
        len(days),
        SampleConfig(transactions_per_day=2_000, seed=3),
    )
    queue = f"fraud-test-{uuid.uuid4().hex[:8]}"  # no other test's worker takes its runs
    with pool(pool_env, tmp_path, queue, workers=2, isolated=True) as workers:
        # Each worker is a machine of its own: its own network, the webserver out of its reach.
        ours = netns.net_namespace_of(os.getpid())
        theirs = {netns.net_namespace_of(p.pid) for p in workers.workers.values()}
        assert len(theirs) == 2 and ours not in theirs, (ours, theirs)
        for prefix in workers.namespaces.values():
            assert not reachable(prefix, workers.webserver_port)
            assert reachable(prefix, 5672)
        backfill_id = workers.launch_days(days, queue)
        status = wait_for_backfill(workers.url, backfill_id, 420)
        assert status.get("status") == "COMPLETED_SUCCESS", status
        runs = status["runs"]
        logs = {name: worker_log(workers, name) for name in ("w1", "w2")}
    assert sorted(partition_of(run) for run in runs) == days  # one run per day
    assert {run["status"] for run in runs} == {"SUCCESS"}, runs
    ran_on = {
        partition_of(run): [name for name, log in logs.items() if run["runId"] in log]
        for run in runs
    }
    assert all(len(workers) == 1 for workers in ran_on.values()), ran_on
    assert {workers[0] for workers in ran_on.values()} == {"w1", "w2"}, ran_on  # both worked
    schema = pool_env["FRAUD_DATABASE_SCHEMA"]
    assert published(database_url, schema, "datasets") == [(day, 1) for day in days]


def test_a_day_whose_worker_is_killed_fails_and_runs_again_on_another(
    pool_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    """SIGKILL to the worker running a day, after its first asset: run monitoring marks the run
    failed within its poll interval plus the launcher's two pings, the daemon's run retry runs the
    day on the other worker, and the day is published once."""
    poll, ping = 5, 3
    edit_instance(
        pool_env,
        run_monitoring={"poll_interval_seconds": poll},
        run_launcher={"config": {"worker_ping_timeout": ping}},
    )
    generate_days(
        pool_env["FRAUD_STORAGE_URL"],
        date.fromisoformat(DAY),
        1,
        SampleConfig(transactions_per_day=30_000, seed=5),
    )
    queue = f"fraud-test-{uuid.uuid4().hex[:8]}"
    with pool(pool_env, tmp_path, queue, workers=2) as workers:
        backfill_id = workers.launch_days([DAY], queue)
        tags = [{"key": "dagster/backfill", "value": backfill_id}]
        first = wait_until(lambda: runs_tagged(workers.url, tags), 120)[0]
        run_id = first["runId"]
        wait_until(
            lambda: [
                e for e in workers.events(run_id) if e["__typename"] == "MaterializationEvent"
            ],
            240,
        )
        victim = next(name for name in workers.workers if run_id in worker_log(workers, name))
        os.killpg(workers.workers[victim].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: workers.run(run_id)["status"] == "FAILURE", 120)
        noticed_in = time.monotonic() - killed_at
        events = workers.events(run_id)
        retry = wait_until(lambda: retries_of(workers, run_id), 120)[0]
        wait_until(lambda: workers.run(retry)["status"] in ("SUCCESS", "FAILURE"), 300)
        retried = workers.run(retry)
        survivor = next(name for name in workers.workers if name != victim)
        survivor_log = worker_log(workers, survivor)
    materialized = [
        e["assetKey"]["path"][-1] for e in events if e["__typename"] == "MaterializationEvent"
    ]
    assert "fraud_dataset" not in materialized, materialized  # killed in the middle of the day
    assert noticed_in < poll + 2 * ping + 15, noticed_in
    messages = " ".join(e.get("message") or "" for e in events)
    assert f"{queue}-{victim}" in messages and "did not answer" in messages, messages
    assert retried["status"] == "SUCCESS", retried
    assert {t["key"]: t["value"] for t in retried["tags"]}["dagster/partition"] == DAY
    assert retry in survivor_log
    schema = pool_env["FRAUD_DATABASE_SCHEMA"]
    assert published(database_url, schema, "datasets") == [(DAY, 1)]
    with psycopg.connect(database_url) as connection:
        alerts = connection.execute(
            sql.SQL("SELECT count(*), count(DISTINCT account) FROM {}").format(
                sql.Identifier(schema, "alerts")
            )
        ).fetchone()
    assert alerts[0] == alerts[1], alerts  # no account alerted twice for the day


def test_an_unreachable_broker_fails_the_run_naming_it_and_writes_nothing(
    pool_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    """The broker does not answer when the daemon hands it a day: the run fails with a message
    naming the broker (no password) and the setting, and the day wrote nothing."""
    closed = free_port()  # nothing listens there
    pool_env["FRAUD_CELERY_BROKER"] = f"pyamqp://guest:secret-pw@127.0.0.1:{closed}//"
    generate_days(
        pool_env["FRAUD_STORAGE_URL"],
        date.fromisoformat(DAY),
        1,
        SampleConfig(transactions_per_day=500),
    )
    generated = store_keys(pool_env)
    queue = f"fraud-test-{uuid.uuid4().hex[:8]}"
    with pool(pool_env, tmp_path, queue, workers=0) as workers:
        backfill_id = workers.launch_days([DAY], queue)
        runs = workers.backfill_runs(backfill_id, 1, 180)
        run_id = runs[0]["runId"]
        events = workers.events(run_id)
    assert runs[0]["status"] == "FAILURE", runs
    errors = " ".join((e.get("error") or {}).get("message", "") for e in events if e.get("error"))
    assert f"cannot reach the celery broker pyamqp://guest:**@127.0.0.1:{closed}//" in errors, (
        errors
    )
    assert "FRAUD_CELERY_BROKER" in errors and "wrote nothing" in errors
    assert "secret-pw" not in json.dumps(events)
    assert not [e for e in events if e["__typename"] == "MaterializationEvent"]
    assert day_rows(database_url, pool_env["FRAUD_DATABASE_SCHEMA"]) == {}
    assert store_keys(pool_env) == generated  # the input, and nothing beside it


def store_keys(env: dict[str, str]) -> list[str]:
    """Every object under the pool's object store prefix."""
    s3 = fsspec.filesystem("s3")
    s3.invalidate_cache()
    return s3.find(env["FRAUD_STORAGE_URL"].removeprefix("s3://"))


def day_rows(database_url: str, schema: str) -> dict[str, int]:
    """The warehouse tables of ``schema`` that hold any row of a day, with their row counts."""
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = %s AND column_name = 'partition_date'",
            (schema,),
        ).fetchall()
        counts = {
            table: connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()[0]
            for (table,) in tables
        }
    return {table: count for table, count in counts.items() if count}


def wait_until(probe: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """``probe()``'s first truthy value within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"nothing within {timeout} s: {probe()!r}")


def retries_of(pool: Pool, run_id: str) -> list[str]:
    """The runs the daemon launched to retry ``run_id``."""
    tags = [{"key": "dagster/parent_run_id", "value": run_id}]
    return [r["runId"] for r in runs_tagged(pool.url, tags)]


@pytest.mark.parametrize(
    "launcher",
    [
        CELERY_LAUNCHER,
        {**CELERY_LAUNCHER, "module": "fraud_platform.launcher", "class": "PoolRunLauncher"},
    ],
    ids=["CeleryRunLauncher", "PoolRunLauncher"],
)
def test_workers_share_no_folder_and_no_embedded_database(
    launcher: dict,
    storage_dir: Path,
    warehouse_schema: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a run launcher that runs runs on other machines, a local object store and the
    embedded PostgreSQL are refused at once, each naming the setting to change."""
    common = {"viewer_base_url": "http://v", "high_risk_threshold": 0.5}
    local = Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        database_schema=warehouse_schema,
        **common,
    )
    embedded = Settings(
        storage_url="s3://bucket/prefix",
        database_url=None,
        database_schema=warehouse_schema,
        **common,
    )
    with instance_for_test(overrides={"run_launcher": launcher}) as instance:
        for settings, expected in (
            (local, "the object store is a local folder"),
            (embedded, "no FRAUD_DATABASE_URL"),
        ):
            if settings.database_url:
                monkeypatch.setenv("FRAUD_DATABASE_URL", settings.database_url)
            else:
                monkeypatch.delenv("FRAUD_DATABASE_URL", raising=False)
            result = materialize_day(settings, DAY, instance=instance, raise_on_error=False)
            assert not result.success
            failures = [e for e in result.all_events if e.is_failure]
            text = " ".join(str(e.event_specific_data) for e in failures)
            assert expected in text and launcher["class"] in text, text


def test_the_single_machine_deployment_is_the_repositorys_own() -> None:
    """deploy/single is what `dagster dev` in the repository root reads: they must not drift."""
    single = (REPO / "deploy" / "single" / "dagster.yaml").read_text()
    assert single == (REPO / "dagster.yaml").read_text()
