"""Runs on a pool of workers: deploy/celery's instance, real celery workers, RabbitMQ and Redis.

The deployment as operators start it: two `dagster-celery` workers in processes (and working
folders) of their own, the daemon handing queued runs to `CeleryRunLauncher`, the webserver,
Dagster's storage and the warehouse in PostgreSQL, the object store on S3 (the test server). A
six-day backfill launched as the UI launches it runs one day per run, on both workers, and
publishes each day once. The deployment refuses what workers cannot share: a local object store
folder, the embedded PostgreSQL. RabbitMQ (5672) and Redis (6379) must listen on loopback;
without them the worker test is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from dagster import instance_for_test, materialize
from dagster_cli import clean_env, dagster_command, pg_url, wait_until_serving
from psycopg import sql
from test_services_e2e import (
    LAUNCH,
    STATUS,
    free_port,
    graphql,
    partition_of,
)

from fraud_platform.definitions import daily_assets
from fraud_platform.deployment import deployment_resources
from fraud_platform.sample_data.generator import SampleConfig, generate_days
from fraud_platform.settings import Settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DAY = "2024-10-01"
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
BACKEND = "redis://127.0.0.1:6379/5"
CELERY_LAUNCHER = {
    "module": "dagster_celery.launcher",
    "class": "CeleryRunLauncher",
    "config": {"broker": BROKER, "backend": BACKEND},
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
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", home / "dagster.yaml")
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


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A service in a process (and session) of its own, its output in ``log``."""
    with log.open("w") as handle:
        return subprocess.Popen(
            command,
            cwd=log.parent,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def worker_command(queue: str, name: str) -> list[str]:
    """`dagster-celery worker start` on ``queue``, one run at a time (so that days spread)."""
    worker_yaml = str(REPO / "deploy" / "celery" / "worker.yaml")
    return [
        dagster_command("dagster-celery"),
        *("worker", "start", "-A", "dagster_celery.app", "-y", worker_yaml),
        *("-q", queue, "-n", name, "--", "--concurrency=1"),
    ]


def test_a_backfill_runs_its_days_on_two_workers(
    pool_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    """Six days launched as the UI launches a backfill: each day is one run on a worker, both
    workers run days, and every day is published once."""
    if not (listening(5672) and listening(6379)):
        pytest.skip("RabbitMQ (5672) and Redis (6379) must listen on 127.0.0.1")
    days = [f"2024-10-0{d}" for d in range(1, 7)]
    generate_days(
        pool_env["FRAUD_STORAGE_URL"],
        date.fromisoformat(days[0]),
        len(days),
        SampleConfig(transactions_per_day=2_000, seed=3),
    )
    queue = f"fraud-test-{uuid.uuid4().hex[:8]}"  # no other test's worker takes its runs
    port = free_port()
    folders = {name: tmp_path / name for name in ("w1", "w2", "services")}
    for folder in folders.values():
        folder.mkdir()
    processes = [
        start(worker_command(queue, f"{queue}-w1"), pool_env, folders["w1"] / "worker.log"),
        start(worker_command(queue, f"{queue}-w2"), pool_env, folders["w2"] / "worker.log"),
        start(
            [dagster_command("dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
            pool_env,
            folders["services"] / "daemon.log",
        ),
        start(
            [
                dagster_command("dagster-webserver"),
                *("-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")),
            ],
            pool_env,
            folders["services"] / "webserver.log",
        ),
    ]
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        wait_until_serving(port, folders["services"] / "webserver.log")
        # The UI's "Launch backfill" on daily_fraud_job's partitions: one run of the job per day.
        params = {
            "selector": {
                "partitionSetName": "daily_fraud_job_partition_set",
                "repositorySelector": {
                    "repositoryName": "__repository__",
                    "repositoryLocationName": "fraud_platform",
                },
            },
            "partitionNames": days,
            "tags": [{"key": "dagster-celery/queue", "value": queue}],
        }
        launched = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        deadline = time.monotonic() + 420
        status: dict = {}
        while time.monotonic() < deadline:
            status = graphql(url, STATUS, {"id": launched["backfillId"]})
            status = status["partitionBackfillOrError"]
            if status["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            time.sleep(3)
        assert status.get("status") == "COMPLETED_SUCCESS", status
        runs = status["runs"]
        logs = {name: (folders[name] / "worker.log").read_text() for name in ("w1", "w2")}
    finally:
        stop(processes)
    assert sorted(partition_of(run) for run in runs) == days  # one run per day
    assert {run["status"] for run in runs} == {"SUCCESS"}, runs
    ran_on = {
        partition_of(run): [name for name, log in logs.items() if run["runId"] in log]
        for run in runs
    }
    assert all(len(workers) == 1 for workers in ran_on.values()), ran_on
    assert {workers[0] for workers in ran_on.values()} == {"w1", "w2"}, ran_on  # both worked
    with psycopg.connect(database_url) as connection:
        published = connection.execute(
            sql.SQL("SELECT partition_date::text, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(
                sql.Identifier(pool_env["FRAUD_DATABASE_SCHEMA"], "datasets")
            )
        ).fetchall()
    assert published == [(day, 1) for day in days]


def test_workers_share_no_folder_and_no_embedded_database(
    storage_dir: Path, warehouse_schema: str, database_url: str, monkeypatch: pytest.MonkeyPatch
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
    with instance_for_test(overrides={"run_launcher": CELERY_LAUNCHER}) as instance:
        for settings, expected in (
            (local, "the object store is a local folder"),
            (embedded, "no FRAUD_DATABASE_URL"),
        ):
            if settings.database_url:
                monkeypatch.setenv("FRAUD_DATABASE_URL", settings.database_url)
            else:
                monkeypatch.delenv("FRAUD_DATABASE_URL", raising=False)
            result = materialize(
                daily_assets,
                partition_key=DAY,
                resources=deployment_resources(settings),
                instance=instance,
                raise_on_error=False,
            )
            assert not result.success
            failures = [e for e in result.all_events if e.is_failure]
            text = " ".join(str(e.event_specific_data) for e in failures)
            assert expected in text and "CeleryRunLauncher" in text, text


def test_the_single_machine_deployment_is_the_repositorys_own() -> None:
    """deploy/single is what `dagster dev` in the repository root reads: they must not drift."""
    single = (REPO / "deploy" / "single" / "dagster.yaml").read_text()
    assert single == (REPO / "dagster.yaml").read_text()
