"""The decisions API over HTTP, on a live viewer server and PostgreSQL: who may write, what is kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import requests
from viewer_server import Viewer

from fraud_platform.defs.alerts.logic import build_alerts
from fraud_platform.defs.alerts.resources import record_alerts
from fraud_platform.defs.cases.resources import (
    add_analyst,
    decision_history,
    ensure_case_tables,
    revoke_analyst,
)
from fraud_platform.storage.warehouse import PostgresWarehouse

DAY = "2024-10-01"


@pytest.fixture
def alerts(warehouse: PostgresWarehouse) -> dict[str, str]:
    """Two recorded alerts of `DAY`: account -> alert id."""
    high_risk = pd.DataFrame(
        {
            "partition_date": DAY,
            "dataset_id": "6f1c1f0e-0000-4000-8000-000000000001",
            "account": ["mule-1", "proc-9"],
            "risk_score": [0.97, 0.81],
            "cluster": 1,
            "url": "http://viewer/datasets/x",
            "reasons": ["passed on 98% of its inflow within 1 h", "120 payers"],
        }
    )
    rows = build_alerts(high_risk, threshold=0.5)
    with warehouse.connect() as connection:
        ensure_case_tables(connection, warehouse.schema_name)
        record_alerts(connection, warehouse.schema_name, rows)
    return dict(zip(rows["account"], rows["alert_id"], strict=True))


@pytest.fixture
def token(warehouse: PostgresWarehouse) -> str:
    with warehouse.connect() as connection:
        return add_analyst(connection, warehouse.schema_name, "ana")


def post(viewer: Viewer, alert_id: str, body: object, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{viewer.base}/api/alerts/{alert_id}/decision", json=body, headers=headers, timeout=30
    )


def stored(warehouse: PostgresWarehouse) -> pd.DataFrame:
    with warehouse.connect() as connection:
        return decision_history(connection, warehouse.schema_name)


def test_an_analyst_decides_through_the_api_and_the_day_lists_it(
    viewer: Viewer, warehouse: PostgresWarehouse, alerts: dict[str, str], token: str
) -> None:
    answer = post(
        viewer,
        alerts["proc-9"],
        {"decision": "dismissed", "category": "payment processor", "note": "settles merchants"},
        token,
    )
    assert answer.status_code == 201, answer.text
    decision = answer.json()
    assert decision["alert_id"] == alerts["proc-9"] and decision["account"] == "proc-9"
    assert (decision["decision"], decision["category"], decision["analyst"]) == (
        "dismissed",
        "payment processor",
        "ana",
    )
    assert decision["decided_at"].startswith("20")
    assert answer.headers["Cache-Control"] == "no-store"

    day = viewer.get(f"/api/alerts?day={DAY}")
    assert day.status_code == 200
    listed = {a["account"]: a for a in day.json()["alerts"]}
    assert [a["account"] for a in day.json()["alerts"]] == ["mule-1", "proc-9"]
    assert listed["proc-9"]["decision"] == "dismissed" and listed["mule-1"]["decision"] is None
    assert listed["mule-1"]["alert_id"] == alerts["mule-1"]
    assert listed["mule-1"]["risk_score"] == pytest.approx(0.97)

    again = post(viewer, alerts["proc-9"], {"decision": "escalated"}, token)
    assert again.status_code == 201
    one = viewer.get(f"/api/alerts/{alerts['proc-9']}").json()
    assert [d["decision"] for d in one["decisions"]] == ["dismissed", "escalated"]
    assert one["decision"] == "escalated"  # the newest is current; the history stays


def test_writes_without_a_valid_token_are_refused_and_store_nothing(
    viewer: Viewer, warehouse: PostgresWarehouse, alerts: dict[str, str], token: str
) -> None:
    body = {"decision": "confirmed"}
    for credential in (None, "fpa_not-a-token", token + "x"):
        answer = post(viewer, alerts["mule-1"], body, credential)
        assert answer.status_code == 401, credential
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    basic = requests.post(
        f"{viewer.base}/api/alerts/{alerts['mule-1']}/decision",
        json=body,
        auth=("ana", token),
        timeout=30,
    )
    assert basic.status_code == 401
    with warehouse.connect() as connection:
        revoke_analyst(connection, warehouse.schema_name, "ana")
    assert post(viewer, alerts["mule-1"], body, token).status_code == 401
    assert stored(warehouse).empty


def test_bad_requests_name_what_is_wrong_and_store_nothing(
    viewer: Viewer, warehouse: PostgresWarehouse, alerts: dict[str, str], token: str
) -> None:
    unknown = post(viewer, "00000000-0000-4000-8000-000000000000", {"decision": "confirmed"}, token)
    assert unknown.status_code == 404
    assert post(viewer, "not-an-id", {"decision": "confirmed"}, token).status_code == 404
    for body, field in [
        ({"decision": "fraud"}, "decision"),
        ({"decision": "dismissed"}, "category"),
        ({"decision": "confirmed", "note": "x" * 1_000_000}, "note"),
        (["confirmed"], "body"),
    ]:
        answer = post(viewer, alerts["mule-1"], body, token)
        assert answer.status_code == 422, body
        assert answer.json()["field"] == field
        assert field in answer.json()["error"]
    not_json = requests.post(
        f"{viewer.base}/api/alerts/{alerts['mule-1']}/decision",
        data=b"{decision",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert not_json.status_code == 422 and not_json.json()["field"] == "body"
    huge = requests.post(
        f"{viewer.base}/api/alerts/{alerts['mule-1']}/decision",
        data=b" " * (3 * 1024 * 1024),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert huge.status_code == 413
    assert viewer.get("/api/alerts?day=yesterday").status_code == 422
    assert viewer.get("/api/alerts").json()["field"] == "day"
    assert viewer.get("/api/nothing").status_code == 404
    assert viewer.get("/api/nothing").headers["Content-Type"] == "application/json"
    assert requests.get(f"{viewer.base}/api/alerts/x/decision", timeout=30).status_code == 405
    assert stored(warehouse).empty


def test_a_note_with_markup_comes_back_as_text(
    viewer: Viewer, alerts: dict[str, str], token: str
) -> None:
    note = '<script>alert("x")</script><b>payroll</b>'
    answer = post(viewer, alerts["mule-1"], {"decision": "confirmed", "note": note}, token)
    assert answer.status_code == 201 and answer.json()["note"] == note
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.slow
def test_the_analysts_command_adds_and_revokes(database_url: str, warehouse_schema: str) -> None:
    env = {
        **os.environ,
        "FRAUD_DATABASE_URL": database_url,
        "FRAUD_DATABASE_SCHEMA": warehouse_schema,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fraud_platform.cli", "analysts", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = cli("add", "ana")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("fpa_") and "shown only this once" in added.stdout
    warehouse = PostgresWarehouse(database_url=database_url, schema_name=warehouse_schema)
    with warehouse.connect() as connection:
        from fraud_platform.defs.cases.resources import analyst_for_token

        assert analyst_for_token(connection, warehouse_schema, token) == "ana"
    twice = cli("add", "ana")
    assert twice.returncode == 1 and "already exists" in twice.stderr
    assert "ana" in cli("list").stdout and "active" in cli("list").stdout
    assert cli("revoke", "ana").returncode == 0
    assert "revoked" in cli("list").stdout
    with warehouse.connect() as connection:
        assert analyst_for_token(connection, warehouse_schema, token) is None
    assert cli("revoke", "nobody").returncode == 1
    assert cli("add").returncode == 2  # argparse: a name is needed
