"""Runs on a pool of workers: deploy/celery's instance, a real celery worker, RabbitMQ and Redis.

The deployment as operators start it: a `dagster-celery` worker in a process of its own, the
daemon handing queued runs to `CeleryRunLauncher`, Dagster's storage and the warehouse in
PostgreSQL, the object store on S3 (the test server). A day launched with `dagster job launch`
runs on the worker and publishes its dataset. The deployment refuses what workers cannot share: a
local object store folder, the embedded PostgreSQL. RabbitMQ (5672) and Redis (6379) must listen
on loopback; without them the worker test is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
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
from dagster_cli import clean_env, dagster_command, pg_url
from psycopg import sql

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


def run_status(dagster_db: str, run_id: str) -> str | None:
    with psycopg.connect(dagster_db) as connection:
        row = connection.execute("SELECT status FROM runs WHERE run_id = %s", [run_id]).fetchone()
    return None if row is None else str(row[0])


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


def test_a_day_runs_on_a_celery_worker(
    pool_env: dict[str, str], tmp_path: Path, dagster_database: str, database_url: str
) -> None:
    if not (listening(5672) and listening(6379)):
        pytest.skip("RabbitMQ (5672) and Redis (6379) must listen on 127.0.0.1")
    generate_days(
        pool_env["FRAUD_STORAGE_URL"],
        date.fromisoformat(DAY),
        1,
        SampleConfig(transactions_per_day=3_000, seed=3),
    )
    queue = f"fraud-test-{uuid.uuid4().hex[:8]}"  # no other test's worker takes its runs
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("worker", "daemon")}
    worker = subprocess.Popen(
        [
            dagster_command("dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(REPO / "deploy" / "celery" / "worker.yaml"),
            "-q",
            queue,
            "-n",
            f"{queue}-w1",
        ],
        cwd=tmp_path,
        env=pool_env,
        stdout=logs["worker"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    daemon = subprocess.Popen(
        [dagster_command("dagster-daemon"), "run", "-m", "fraud_platform.definitions"],
        cwd=tmp_path,
        env=pool_env,
        stdout=logs["daemon"],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    run_id = str(uuid.uuid4())
    try:
        launched = subprocess.run(
            [
                dagster_command(),
                "job",
                "launch",
                "-m",
                "fraud_platform.definitions",
                "-j",
                "daily_fraud_job",
                "--run-id",
                run_id,
                "--tags",
                json.dumps({"dagster/partition": DAY, "dagster-celery/queue": queue}),
            ],
            cwd=tmp_path,
            env=pool_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline:
            status = run_status(dagster_database, run_id)
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        worker_log = (tmp_path / "worker.log").read_text()
        assert status == "SUCCESS", (status, worker_log[-4000:])
        assert run_id in worker_log  # the worker ran it, not this process
    finally:
        for process in (daemon, worker):
            process.terminate()
        for process in (daemon, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for handle in logs.values():
            handle.close()
    with psycopg.connect(database_url) as connection:
        datasets = connection.execute(
            sql.SQL("SELECT partition_date::text, node_count FROM {}").format(
                sql.Identifier(pool_env["FRAUD_DATABASE_SCHEMA"], "datasets")
            )
        ).fetchall()
    assert [day for day, _ in datasets] == [DAY] and datasets[0][1] > 0


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
