"""The deployment as operators run it: dagster-webserver and dagster-daemon on PostgreSQL.

A 3-day backfill is launched with the GraphQL mutation the UI sends (`launchPartitionBackfill`);
the daemon runs it; the alert sensor (running by default) delivers one webhook message per day.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
import requests
from dagster_cli import clean_env, pg_url
from http_receiver import Receiver
from psycopg import sql

from fraud_platform.sample_data.generator import SampleConfig, generate_days

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DAYS = ["2024-10-01", "2024-10-02", "2024-10-03"]
DAILY_KEYS = [
    "raw_transactions",
    "rejected_transactions",
    "transaction_graph",
    "account_scores",
    "fraud_dataset",
]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs { runId status } }
    ... on PythonError { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str, variables: dict) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


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
        str(storage), date(2024, 10, 1), len(DAYS), SampleConfig(transactions_per_day=3000)
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = clean_env()
    env |= {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": pg_url(dagster_database),
        "FRAUD_STORAGE_URL": str(storage),
        "FRAUD_DATABASE_URL": pg_url(database_url),
        "FRAUD_DATABASE_SCHEMA": warehouse_schema,
        "FRAUD_ALERT_WEBHOOK_URL": f"{receiver.url}/alerts",
        "FRAUD_HIGH_RISK_THRESHOLD": "0.6",
    }
    port = free_port()
    bin_dir = Path(sys.executable).parent
    logs = [open(tmp_path / f"{n}.log", "w") for n in ("webserver", "daemon")]  # noqa: SIM115
    processes = [
        subprocess.Popen(
            [
                str(bin_dir / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "workspace.yaml",
            ],
            cwd=REPO,
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(1)
        else:
            pytest.fail(
                "webserver did not start: " + (tmp_path / "webserver.log").read_text()[-3000:]
            )
        yield url, receiver, env
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for log in logs:
            log.close()


def test_backfill_from_the_ui_mutation_runs_and_alerts(
    deployment: tuple[str, Receiver, dict[str, str]], database_url: str, warehouse_schema: str
) -> None:
    url, webhook, _ = deployment
    launched = graphql(
        url,
        LAUNCH,
        {"params": {"partitionNames": DAYS, "assetSelection": [{"path": [k]} for k in DAILY_KEYS]}},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + 420
    status = None
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if status["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
            break
        time.sleep(3)
    assert status is not None and status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), status
    assert status["runs"] and all(r["status"] == "SUCCESS" for r in status["runs"])

    with psycopg.connect(database_url) as conn:
        datasets = conn.execute(
            sql.SQL(
                "SELECT partition_date::text, high_risk_count FROM {}.datasets ORDER BY 1"
            ).format(sql.Identifier(warehouse_schema))
        ).fetchall()
    assert [d for d, _ in datasets] == DAYS
    expected_days = {d for d, high in datasets if high > 0}
    assert expected_days, "the sample days should have high-risk accounts at this threshold"

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(webhook.requests) < len(expected_days):
        time.sleep(2)
    days_alerted = [body["partition_date"] for body in webhook.bodies()]
    assert sorted(days_alerted) == sorted(expected_days)
    with psycopg.connect(database_url) as conn:
        undelivered, alerts = conn.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL), count(*) FROM {}.alerts"
            ).format(sql.Identifier(warehouse_schema))
        ).fetchone()
    assert undelivered == 0
    assert alerts == sum(high for _, high in datasets)
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "webhook_payloads.json").write_text(json.dumps(webhook.bodies(), indent=2))
