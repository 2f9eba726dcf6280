"""Analysts' decisions reach the next days: confirmed accounts join the watchlist, dismissed ones
stop alerting until their score rises past the margin. Real Dagster runs, the alert sensor as
the daemon ticks it, the live PostgreSQL (helpers shared with ``test_alerts``,
its ``alert_settings`` deployment from conftest)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest
from dagster import DagsterInstance, build_sensor_context, materialize
from psycopg import sql
from test_alerts import (
    DAY1,
    DAY2,
    DAY3,
    Ticker,
    run_days,
    write_landing,
)

from fraud_platform.defs.analytics.assets import account_scores
from fraud_platform.defs.cases.assets import analyst_labels
from fraud_platform.defs.cases.logic import parse_decision, suppressing_dismissals
from fraud_platform.defs.cases.resources import (
    add_analyst,
    alerts_of_day,
    record_decision,
)
from fraud_platform.defs.cases.sensors import analyst_decisions_sensor
from fraud_platform.defs.features.assets import account_features, account_history
from fraud_platform.defs.graph.assets import transaction_graph
from fraud_platform.defs.model.assets import risk_model
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings
from fraud_platform.storage.warehouse import PostgresWarehouse

LABEL_INPUTS = (transaction_graph, account_features, account_history, account_scores)


def recorded(deployment: Settings, day: str) -> dict[str, tuple[bool, bool]]:
    """account -> (silenced?, delivered?) of the day's recorded alerts."""
    with psycopg.connect(str(deployment.database_url)) as connection:
        rows = connection.execute(
            sql.SQL(
                "SELECT account, suppressed_by IS NOT NULL, delivered_at IS NOT NULL FROM {} "
                "WHERE partition_date = %s"
            ).format(sql.Identifier(deployment.database_schema, "alerts")),
            [day],
        ).fetchall()
    return {account: (silenced, delivered) for account, silenced, delivered in rows}


@pytest.mark.slow
def test_decisions_reach_the_next_days(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
) -> None:
    for day in (DAY1, DAY2, DAY3):
        write_landing(storage_dir, day, {"M1": 20, "M2": 12})
    warehouse = PostgresWarehouse(
        database_url=str(alert_settings.database_url), schema_name=alert_settings.database_schema
    )
    schema = alert_settings.database_schema
    ticker = Ticker(alert_settings, instance)

    run_days(alert_settings, instance, DAY1)
    ticker.tick()
    # The case timeline: every transfer of a high-risk account, from its side, in time order.
    with psycopg.connect(str(alert_settings.database_url)) as connection:
        timeline = connection.execute(
            sql.SQL(
                "SELECT direction, counterparty, amount FROM {} WHERE partition_date = %s "
                "AND account = 'M1' ORDER BY timestamp, direction"
            ).format(sql.Identifier(schema, "high_risk_transfers")),
            [DAY1],
        ).fetchall()
    assert timeline[:20] == [("in", f"M1-P{i:02d}", 100.0) for i in range(20)]
    assert timeline[20:] == [("out", "M1-OUT", 1900.0)]
    with warehouse.connect() as connection:
        day1 = alerts_of_day(connection, schema, DAY1).set_index("account")
        assert {"M1", "M2"} <= set(day1.index)
        add_analyst(connection, schema, "ana")
        confirmed = parse_decision({"decision": "confirmed", "note": "mule"})
        dismissed = parse_decision({"decision": "dismissed", "category": "payroll"})
        assert record_decision(connection, schema, day1.loc["M1", "alert_id"], confirmed, "ana")
        assert record_decision(connection, schema, day1.loc["M2", "alert_id"], dismissed, "ana")

    # The decisions become labels: the sensor asks for the decided day, whose run stores each
    # decided account's model input with its label; the next model learns from them.
    labels_tick = analyst_decisions_sensor(
        build_sensor_context(instance=instance, resources={"warehouse": warehouse}, cursor=None)
    )
    assert [r.partition_key for r in labels_tick.run_requests] == [DAY1]
    resources = deployment_resources(alert_settings)
    labelled = materialize(
        [analyst_labels, *(a.to_source_asset() for a in LABEL_INPUTS)],
        partition_key=DAY1,
        resources=resources,
        instance=instance,
    )
    assert labelled.success
    with warehouse.connect() as connection:
        stored = connection.execute(
            sql.SQL("SELECT account, label, decision, analyst FROM {} ORDER BY account").format(
                sql.Identifier(schema, "analyst_labels")
            )
        ).fetchall()
    assert stored == [("M1", 1, "confirmed", "ana"), ("M2", 0, "dismissed", "ana")]
    trained = materialize(
        [analyst_labels.to_source_asset(), risk_model],
        resources=resources,
        instance=instance,
        run_config={
            "ops": {
                "risk_model": {
                    "config": {
                        "worlds": ["retail_bank"],
                        "seeds": [1],
                        "days": 2,
                        "transactions_per_day": 2_000,
                    }
                }
            }
        },
    )
    meta = trained.asset_materializations_for_node("risk_model")[0].metadata
    assert (meta["analyst_labels"].value, meta["analyst_confirmed"].value) == (2, 1)
    assert meta["analyst_dismissed"].value == 1
    assert meta["generated_labels"].value > 0
    again = analyst_decisions_sensor(
        build_sensor_context(
            instance=instance, resources={"warehouse": warehouse}, cursor=labels_tick.cursor
        )
    )
    assert not getattr(again, "run_requests", None)  # nothing new decided

    # Day 2: M1 is on the watchlist (its own listing, from its confirmed day on); M2's repeat
    # alert is recorded, silenced by the dismissal, and not sent.
    result = run_days(alert_settings, instance, DAY2)
    scores = result.output_for_node("account_scores").set_index("account")
    meta = result.asset_materializations_for_node("account_scores")[0].metadata
    assert meta["watchlist_size"].value == 1
    assert scores.loc["M1", "watchlist_score"] == 1.0
    assert "watchlist_score 1.00" in scores.loc["M1", "reasons"]
    assert scores.loc["M1", "pattern"] == "watchlist"
    assert scores.loc["M2", "watchlist_score"] == 0.0
    with psycopg.connect(str(alert_settings.database_url)) as connection:
        behaviour = connection.execute(
            sql.SQL(
                "SELECT history_days, days_active, days_since_first_seen FROM {} "
                "WHERE partition_date = %s AND account = 'M1'"
            ).format(sql.Identifier(schema, "high_risk_history")),
            [DAY2],
        ).fetchall()
    assert behaviour == [(1.0, 1.0, 1.0)]  # the case page compares day 2 with day 1
    summary = ticker.tick()
    assert "silenced by analysts' dismissals" in summary, summary
    day2 = recorded(alert_settings, DAY2)
    assert day2["M2"] == (True, False)
    assert day2["M1"] == (False, True)

    # A dismissal made when M2 scored far lower holds no more: its behaviour has changed.
    with psycopg.connect(str(alert_settings.database_url)) as connection:
        connection.execute(
            sql.SQL("UPDATE {} SET risk_score = %s WHERE account = 'M2'").format(
                sql.Identifier(schema, "alert_decisions")
            ),
            [alert_settings.high_risk_threshold - 0.2],
        )
    run_days(alert_settings, instance, DAY3)
    ticker.tick()
    assert recorded(alert_settings, DAY3)["M2"] == (False, True)


def test_a_dismissal_silences_later_days_below_its_score_plus_the_margin() -> None:
    high_risk = pd.DataFrame(
        {
            "partition_date": [
                "2024-10-02",
                "2024-10-02",
                "2024-10-02",
                "2024-10-01",
                "2024-10-02",
            ],
            "account": ["payroll", "changed", "other", "payroll", "never"],
            "risk_score": [0.85, 0.95, 0.9, 0.8, 0.9],
        }
    )
    standing = pd.DataFrame(
        {
            "account": ["payroll", "changed", "other"],
            "partition_date": ["2024-10-01", "2024-10-01", "2024-10-02"],
            "risk_score": [0.8, 0.8, 0.9],
            "decision_id": ["d1", "d2", "d3"],
        }
    )
    silenced = suppressing_dismissals(high_risk, standing, margin=0.1)
    # payroll: later day, 0.85 < 0.9 -> silenced; changed: 0.95 >= 0.9 -> alerts again;
    # other: the dismissed day itself (not a repeat); payroll's own day; never dismissed.
    assert silenced.tolist() == ["d1", None, None, None, None]
    assert suppressing_dismissals(high_risk, standing.iloc[0:0]).isna().all()
