"""Analysts and their decisions on alerts: validation rules, and the store on a live PostgreSQL."""

from __future__ import annotations

import time

import pandas as pd
import psycopg
import pytest

from fraud_platform.defs.alerts.logic import build_alerts
from fraud_platform.defs.alerts.resources import record_alerts
from fraud_platform.defs.cases.logic import (
    MAX_NOTE_CHARS,
    DecisionError,
    parse_decision,
    token_digest,
)
from fraud_platform.defs.cases.resources import (
    AnalystError,
    add_analyst,
    alerts_of_day,
    analyst_for_token,
    decision_history,
    ensure_case_tables,
    find_alert,
    list_analysts,
    record_decision,
    revoke_analyst,
)
from fraud_platform.storage.warehouse import PostgresWarehouse

DAY = "2024-10-01"


def _record(connection: psycopg.Connection, schema: str, accounts: dict[str, float]) -> list[str]:
    high_risk = pd.DataFrame(
        {
            "partition_date": DAY,
            "dataset_id": "6f1c1f0e-0000-4000-8000-000000000001",
            "account": list(accounts),
            "risk_score": list(accounts.values()),
            "cluster": 1,
            "url": "http://viewer/datasets/x",
            "reasons": "passed on 98% of its inflow within 1 h",
        }
    )
    alerts = build_alerts(high_risk, threshold=0.5)
    ensure_case_tables(connection, schema)
    record_alerts(connection, schema, alerts)
    return alerts["alert_id"].tolist()


# -- rules ----------------------------------------------------------------------------------------


def test_a_decision_is_validated_field_by_field() -> None:
    assert parse_decision({"decision": "confirmed", "note": "mule"}).decision == "confirmed"
    dismissed = parse_decision({"decision": "dismissed", "category": " payroll "})
    assert (dismissed.category, dismissed.note) == ("payroll", "")
    cases = [
        ([], "body"),
        ({"decision": "fraud"}, "decision"),
        ({}, "decision"),
        ({"decision": "dismissed"}, "category"),
        ({"decision": "dismissed", "category": "  "}, "category"),
        ({"decision": "dismissed", "category": 3}, "category"),
        ({"decision": "confirmed", "note": 5}, "note"),
        ({"decision": "confirmed", "note": "x" * (MAX_NOTE_CHARS + 1)}, "note"),
    ]
    for body, field in cases:
        with pytest.raises(DecisionError) as error:
            parse_decision(body)
        assert error.value.field == field, body


# -- the store ------------------------------------------------------------------------------------


def test_analysts_get_a_token_once_stored_only_as_its_hash(
    warehouse: PostgresWarehouse,
) -> None:
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        token = add_analyst(connection, schema, "ana")
        assert analyst_for_token(connection, schema, token) == "ana"
        assert analyst_for_token(connection, schema, token + "x") is None
        assert analyst_for_token(connection, schema, "") is None
        stored = connection.execute(
            psycopg.sql.SQL("SELECT token_hash FROM {}").format(
                psycopg.sql.Identifier(schema, "analysts")
            )
        ).fetchall()
        assert stored == [(token_digest(token),)] and token not in str(stored)
        with pytest.raises(AnalystError, match="already exists"):
            add_analyst(connection, schema, "ana")
        with pytest.raises(ValueError, match="invalid analyst name"):
            add_analyst(connection, schema, "ana; DROP TABLE x")
        revoke_analyst(connection, schema, "ana")
        assert analyst_for_token(connection, schema, token) is None
        with pytest.raises(AnalystError, match="no active analyst"):
            revoke_analyst(connection, schema, "ana")
        again = add_analyst(connection, schema, "ana")  # a revoked analyst gets a new token
        assert again != token and analyst_for_token(connection, schema, again) == "ana"
        assert analyst_for_token(connection, schema, token) is None
        assert list_analysts(connection, schema)["name"].tolist() == ["ana"]


def test_decisions_are_kept_and_the_newest_one_is_current(warehouse: PostgresWarehouse) -> None:
    schema = warehouse.schema_name
    with warehouse.connect() as connection:
        mule, processor = _record(connection, schema, {"mule-1": 0.97, "proc-9": 0.81})
        add_analyst(connection, schema, "ana")
        add_analyst(connection, schema, "ben")
        first = record_decision(
            connection, schema, processor, parse_decision({"decision": "escalated"}), "ana"
        )
        time.sleep(0.01)
        second = record_decision(
            connection,
            schema,
            processor,
            parse_decision(
                {"decision": "dismissed", "category": "payment processor", "note": "<b>ok</b>"}
            ),
            "ben",
        )
        assert first is not None and second is not None
        assert (second["account"], second["partition_date"]) == ("proc-9", DAY)
        assert second["risk_score"] == pytest.approx(0.81) and second["analyst"] == "ben"
        assert second["note"] == "<b>ok</b>"  # stored as given; pages escape it

        day = alerts_of_day(connection, schema, DAY)
        assert day["account"].tolist() == ["mule-1", "proc-9"]  # highest risk first
        current = day.set_index("account")
        assert pd.isna(current.loc["mule-1", "decision"])
        assert current.loc["proc-9", ["decision", "category", "analyst"]].tolist() == [
            "dismissed",
            "payment processor",
            "ben",
        ]
        history = decision_history(connection, schema, alert_id=processor)
        assert history["decision"].tolist() == ["escalated", "dismissed"]
        assert decision_history(connection, schema, account="proc-9").equals(history)
        assert find_alert(connection, schema, mule)["account"] == "mule-1"


def test_unknown_alerts_and_revoked_analysts_store_nothing(warehouse: PostgresWarehouse) -> None:
    schema = warehouse.schema_name
    confirm = parse_decision({"decision": "confirmed"})
    with warehouse.connect() as connection:
        (alert,) = _record(connection, schema, {"mule-1": 0.97})
        add_analyst(connection, schema, "ana")
        unknown = "00000000-0000-4000-8000-000000000000"
        assert record_decision(connection, schema, unknown, confirm, "ana") is None
        assert record_decision(connection, schema, "not-a-uuid", confirm, "ana") is None
        assert find_alert(connection, schema, "not-a-uuid") is None
        assert record_decision(connection, schema, alert, confirm, "nobody") is None
        revoke_analyst(connection, schema, "ana")
        assert record_decision(connection, schema, alert, confirm, "ana") is None
        assert decision_history(connection, schema).empty
