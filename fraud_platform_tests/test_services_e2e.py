"""The deployment as operators run it: dagster-webserver and dagster-daemon on PostgreSQL.

A 3-day backfill is launched with the GraphQL mutation the UI sends (`launchPartitionBackfill`)
and a fourth day with `dagster job backfill`; the daemon runs one run per day. The third day's
files exceed the input budget: its run fails, naming the reason, and the other days are
published and alerted on; the alert sensor (running by default) delivers one webhook message per
published day, and the run-failure sensor a notice of the failed run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from dagster_cli import pg_url
from http_receiver import Receiver
from psycopg import sql
from services import (
    LAUNCH,
    clean_env,
    dagster_services,
    graphql,
    make_dagster_home,
    runs_tagged,
    wait_for_backfill,
)

from fraud_platform.sample_data.generator import SampleConfig, generate_days
from fraud_platform.settings import DEFAULT_ALERT_BUDGET_SHARE, alert_budget

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DAYS = ["2024-10-01", "2024-10-02", "2024-10-03"]
BAD_DAY = "2024-10-03"  # its landing files exceed the input budget
CLI_DAY = "2024-10-04"
#: The input budget per file: the generated files are far below it, the bad day's extra file above.
MAX_FILE_BYTES = 4_000_000
DAILY_KEYS = [
    "raw_transactions",
    "rejected_transactions",
    "transaction_graph",
    "account_features",
    "account_history",
    "account_scores",
    "fraud_dataset",
]

AUTOMATION = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name scheduleState { status } }
        sensors { name sensorState { status } }
      }
    }
  }
}
"""
FAILURES = """
query Failures($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events { __typename ... on ExecutionStepFailureEvent { stepKey error { message } } }
    }
  }
}
"""


@pytest.fixture
def deployment(
    tmp_path: Path,
    database_url: str,
    warehouse_schema: str,
    receiver: Receiver,
    dagster_database: str,
) -> Iterator[tuple[str, Receiver, dict[str, str]]]:
    """Webserver and daemon from the repository root, Dagster's storage in its own database."""
    storage = tmp_path / "storage"
    generate_days(
        str(storage), date(2024, 10, 1), len(DAYS) + 1, SampleConfig(transactions_per_day=3000)
    )
    bad_folder = storage / "landing" / "transactions" / f"date={BAD_DAY}"
    (bad_folder / "part-999.csv").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    home = make_dagster_home(tmp_path / "dagster_home", REPO / "dagster.yaml")
    env = clean_env()
    env |= {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": pg_url(dagster_database),
        "FRAUD_STORAGE_URL": str(storage),
        "FRAUD_DATABASE_URL": pg_url(database_url),
        "FRAUD_DATABASE_SCHEMA": warehouse_schema,
        "FRAUD_ALERT_WEBHOOK_URL": f"{receiver.url}/alerts",
        "FRAUD_HIGH_RISK_THRESHOLD": "0.6",
        "FRAUD_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    }
    with dagster_services(env, tmp_path, cwd=REPO, timeout=120) as services:
        yield services.url, receiver, env


def partition_of(run: dict) -> str:
    """The one day a run covers: a job run's partition, or an asset backfill run's range."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags["dagster/asset_partition_range_start"]
    assert tags["dagster/asset_partition_range_end"] == start, tags
    return start


def wait_for_runs(url: str, tags: list[dict], count: int, timeout: float) -> list[dict]:
    """The runs carrying ``tags`` once ``count`` of them have finished."""
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = runs_tagged(url, tags)
        done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(done) >= count:
            return runs
        time.sleep(3)
    pytest.fail(f"runs {tags} did not finish: {runs}")


def test_backfills_run_a_day_per_run_isolate_a_bad_day_and_alert(
    deployment: tuple[str, Receiver, dict[str, str]], database_url: str, warehouse_schema: str
) -> None:
    url, webhook, env = deployment
    # What the UI's Automation page shows: every schedule and sensor on, nobody switched them.
    (repository,) = graphql(url, AUTOMATION, {})["repositoriesOrError"]["nodes"]
    automation = {
        **{s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]},
        **{s["name"]: s["sensorState"]["status"] for s in repository["sensors"]},
    }
    assert automation == {
        "daily_fraud_schedule": "RUNNING",
        "weekly_trends_schedule": "RUNNING",
        "fraud_alert_sensor": "RUNNING",
        "run_failure_sensor": "RUNNING",
        "analyst_decisions_sensor": "RUNNING",
    }
    launched = graphql(
        url,
        LAUNCH,
        {"params": {"partitionNames": DAYS, "assetSelection": [{"path": [k]} for k in DAILY_KEYS]}},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    # The CLI's backfill of the next day, into the same queue.
    cli = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "job",
            "backfill",
            "-w",
            "workspace.yaml",
            "-j",
            "daily_fraud_job",
            "--from",
            CLI_DAY,
            "--to",
            CLI_DAY,
            "--noprompt",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    cli_backfill = re.search(r"Launched backfill job `([^`]+)`", cli.stdout)
    assert cli_backfill, cli.stdout[-3000:]

    status = wait_for_backfill(url, backfill_id, 420)
    assert status is not None, status
    # One run per day: the bad day failed on its own, the others succeeded.
    assert status["status"] in ("COMPLETED_FAILED", "FAILED"), status
    by_day = {partition_of(run): run for run in status["runs"]}
    assert sorted(by_day) == DAYS
    assert {day: run["status"] for day, run in by_day.items()} == {
        day: "FAILURE" if day == BAD_DAY else "SUCCESS" for day in DAYS
    }
    events = graphql(url, FAILURES, {"runId": by_day[BAD_DAY]["runId"]})["logsForRun"]["events"]
    failures = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    assert failures and failures[0]["stepKey"] == "raw_transactions"
    assert f"day {BAD_DAY} not read" in failures[0]["error"]["message"]
    assert "input budget" in failures[0]["error"]["message"]

    cli_runs = wait_for_runs(url, [{"key": "dagster/backfill", "value": cli_backfill[1]}], 1, 300)
    assert [(partition_of(r), r["status"]) for r in cli_runs] == [(CLI_DAY, "SUCCESS")]

    published = sorted([*(d for d in DAYS if d != BAD_DAY), CLI_DAY])
    with psycopg.connect(database_url) as conn:
        datasets = conn.execute(
            sql.SQL(
                "SELECT partition_date::text, high_risk_count, node_count FROM {}.datasets "
                "ORDER BY 1"
            ).format(sql.Identifier(warehouse_schema))
        ).fetchall()
    assert [d for d, _, _ in datasets] == published
    expected_days = {d for d, high, _ in datasets if high > 0}
    assert expected_days, "the sample days should have high-risk accounts at this threshold"

    def of_type(kind: str) -> list[dict]:
        return [body for body in webhook.bodies() if body["type"] == kind]

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (
        len(of_type("fraud_alert")) < len(expected_days) or not of_type("run_failure")
    ):
        time.sleep(2)
    days_alerted = [body["partition_date"] for body in of_type("fraud_alert")]
    assert sorted(days_alerted) == sorted(expected_days)
    # The bad day's failed run is notified through the same channel, naming the day and error.
    (failure,) = of_type("run_failure")
    assert failure["run_id"] == by_day[BAD_DAY]["runId"]
    assert failure["partitions"] == BAD_DAY
    assert failure["failed_steps"][0]["step_key"] == "raw_transactions"
    assert "input budget" in failure["failed_steps"][0]["error"]
    with psycopg.connect(database_url) as conn:
        undelivered, alerts = conn.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL), count(*) FROM {}.alerts"
            ).format(sql.Identifier(warehouse_schema))
        ).fetchone()
    assert undelivered == 0
    # Each day alerts on its high-risk accounts up to the day's alert budget (1% by default).
    budget = DEFAULT_ALERT_BUDGET_SHARE
    assert alerts == sum(min(high, alert_budget(n, budget)) for _, high, n in datasets)
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "webhook_payloads.json").write_text(json.dumps(webhook.bodies(), indent=2))
