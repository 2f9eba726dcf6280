"""Trends: a week read from the warehouse (high-risk accounts per day, analysts' decisions).

What the viewer's ``/weeks/{monday}`` page shows. Reads only the week's day partitions of
``dataset_nodes`` (accounts at or above the threshold) and the week's ``alerts`` with their
current decisions, so a week costs seven partition scans and one indexed lookup.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
from psycopg import sql

from fraud_platform.defs.cases.resources import current_decision_join, ensure_case_tables
from fraud_platform.tables import PARTITION_COLUMN

#: Decision states of an alert on the weekly page (``open``: no decision yet; ``silenced``: a
#: repeat alert of a dismissed account, recorded but not sent).
DECISION_STATES = ("confirmed", "dismissed", "escalated", "open", "silenced")


def week_days(monday: str) -> list[str]:
    """The seven days of the week starting on ``monday`` (``YYYY-MM-DD``, which must be one)."""
    start = dt.date.fromisoformat(monday)
    if start.weekday() != 0:
        raise ValueError(f"{monday} is not a Monday")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(7)]


def week_high_risk(
    connection: psycopg.Connection, schema: str, days: list[str], threshold: float
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The week's high-risk accounts (``partition_date, account, cluster, risk_score``) and each
    published day's count of accounts."""
    wanted = [dt.date.fromisoformat(d) for d in days]
    counts = connection.execute(
        sql.SQL(
            "SELECT partition_date::text, node_count FROM {} WHERE partition_date = ANY(%s)"
        ).format(sql.Identifier(schema, "datasets")),
        [wanted],
    ).fetchall()
    rows = connection.execute(
        sql.SQL(
            "SELECT partition_date::text, account, cluster, risk_score FROM {} "
            "WHERE partition_date = ANY(%s) AND risk_score >= %s"
        ).format(sql.Identifier(schema, "dataset_nodes")),
        [wanted, threshold],
    ).fetchall()
    high = pd.DataFrame(rows, columns=[PARTITION_COLUMN, "account", "cluster", "risk_score"])
    return high, {day: int(n) for day, n in counts}


def week_decisions(connection: psycopg.Connection, schema: str, days: list[str]) -> pd.DataFrame:
    """Per day of the week: its alerts by decision state (`DECISION_STATES`), zeros included."""
    ensure_case_tables(connection, schema)
    rows = connection.execute(
        sql.SQL(
            "SELECT a.partition_date::text, CASE WHEN d.decision IS NOT NULL THEN d.decision "
            "WHEN a.suppressed_by IS NOT NULL THEN 'silenced' ELSE 'open' END AS state, count(*) "
            "FROM {alerts} AS a {current} WHERE a.partition_date = ANY(%s) GROUP BY 1, 2"
        ).format(alerts=sql.Identifier(schema, "alerts"), current=current_decision_join(schema)),
        [[dt.date.fromisoformat(d) for d in days]],
    ).fetchall()
    counts = pd.DataFrame(rows, columns=[PARTITION_COLUMN, "state", "alerts"])
    table = counts.pivot_table(
        index=PARTITION_COLUMN, columns="state", values="alerts", aggfunc="sum", fill_value=0
    )
    table = table.reindex(index=days, columns=list(DECISION_STATES), fill_value=0).fillna(0)
    return table.astype("int64").rename_axis(index=PARTITION_COLUMN, columns=None).reset_index()
