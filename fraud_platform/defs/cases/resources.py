"""The analysts and their decisions in the warehouse (``analysts``, ``alert_decisions``).

Plain functions over a psycopg connection, as the alerts area's are: the viewer, the API, the
CLI and the ``analyst_decisions`` asset share them. Identifiers go through ``psycopg.sql`` and
values as parameters. A decision is stored by one ``INSERT ... SELECT`` that joins the alert and
an active analyst, so an unknown alert or an analyst revoked a moment ago stores nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, LiteralString

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from fraud_platform.defs.alerts.resources import ALERTS_TABLE, ensure_alerts_table
from fraud_platform.defs.cases.logic import (
    Decision,
    alert_uuid,
    check_analyst_name,
    new_token,
    token_digest,
)

ANALYSTS_TABLE = "analysts"
DECISIONS_TABLE = "alert_decisions"
DECISION_COLUMNS = (
    "decision_id",
    "alert_id",
    "partition_date",
    "account",
    "decision",
    "category",
    "note",
    "analyst",
    "risk_score",
    "decided_at",
)
#: A day's alerts as the queue and the API list them (the current decision, if any, joined).
ALERT_COLUMNS = (
    "alert_id",
    "partition_date",
    "account",
    "risk_score",
    "cluster",
    "reasons",
    "url",
    "decision",
    "category",
    "analyst",
    "decided_at",
)


class AnalystError(ValueError):
    """An analyst cannot be added or revoked as asked (the message says why)."""


def ensure_case_tables(connection: psycopg.Connection, schema: str) -> None:
    """The warehouse tables, the analysts' and decisions' included."""
    ensure_alerts_table(connection, schema)


def case_table(schema: str, name: str) -> sql.Identifier:
    """A case table (or the alerts table) in the warehouse schema, as an SQL identifier."""
    return sql.Identifier(schema, name)


def current_decision_join(schema: str) -> sql.Composed:
    """A LATERAL join giving the alert ``a`` its newest decision as ``d`` (``decision,
    category, analyst, decided_at``; NULLs when undecided), by the decisions' alert index."""
    return sql.SQL(
        "LEFT JOIN LATERAL (SELECT x.decision, x.category, x.analyst, x.decided_at "
        "FROM {} AS x WHERE x.alert_id = a.alert_id "
        "ORDER BY x.decided_at DESC, x.decision_id DESC LIMIT 1) AS d ON true"
    ).format(case_table(schema, DECISIONS_TABLE))


# -- analysts -------------------------------------------------------------------------------------


def add_analyst(connection: psycopg.Connection, schema: str, name: str) -> str:
    """Create analyst ``name`` (or give a revoked one a new token); returns the token, once."""
    check_analyst_name(name)
    ensure_case_tables(connection, schema)
    token = new_token()
    row = connection.execute(
        sql.SQL(
            "INSERT INTO {t} (name, token_hash) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
            "SET token_hash = EXCLUDED.token_hash, created_at = now(), revoked_at = NULL "
            "WHERE {t}.revoked_at IS NOT NULL RETURNING name"
        ).format(t=case_table(schema, ANALYSTS_TABLE)),
        [name, token_digest(token)],
    ).fetchone()
    if row is None:
        raise AnalystError(f"analyst {name!r} already exists (revoke them first for a new token)")
    return token


def revoke_analyst(connection: psycopg.Connection, schema: str, name: str) -> None:
    """Revoke ``name``'s token at once; their past decisions stay, signed with their name."""
    ensure_case_tables(connection, schema)
    changed = connection.execute(
        sql.SQL("UPDATE {} SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL").format(
            case_table(schema, ANALYSTS_TABLE)
        ),
        [name],
    ).rowcount
    if changed == 0:
        raise AnalystError(f"no active analyst named {name!r}")


def list_analysts(connection: psycopg.Connection, schema: str) -> pd.DataFrame:
    ensure_case_tables(connection, schema)
    rows = connection.execute(
        sql.SQL("SELECT name, created_at, revoked_at FROM {} ORDER BY name").format(
            case_table(schema, ANALYSTS_TABLE)
        )
    ).fetchall()
    return pd.DataFrame(rows, columns=["name", "created_at", "revoked_at"])


def analyst_for_token(connection: psycopg.Connection, schema: str, token: str) -> str | None:
    """The active analyst holding ``token``, or None (unknown, revoked, or empty)."""
    if not token:
        return None
    row = connection.execute(
        sql.SQL("SELECT name FROM {} WHERE token_hash = %s AND revoked_at IS NULL").format(
            case_table(schema, ANALYSTS_TABLE)
        ),
        [token_digest(token)],
    ).fetchone()
    return None if row is None else str(row[0])


# -- alerts and decisions -------------------------------------------------------------------------


def record_decision(
    connection: psycopg.Connection,
    schema: str,
    alert_id: str,
    decision: Decision,
    analyst: str,
) -> dict[str, Any] | None:
    """Store ``decision`` on the alert, signed by ``analyst``; the stored row, or None when the
    alert does not exist or the analyst is not active (nothing is stored then)."""
    key = alert_uuid(alert_id)
    if key is None:
        return None
    ensure_case_tables(connection, schema)
    query = sql.SQL(
        "INSERT INTO {decisions} (decision_id, alert_id, partition_date, account, decision, "
        "category, note, analyst, risk_score) "
        "SELECT %s, a.alert_id, a.partition_date, a.account, %s, %s, %s, n.name, a.risk_score "
        "FROM {alerts} AS a JOIN {analysts} AS n ON n.name = %s AND n.revoked_at IS NULL "
        "WHERE a.alert_id = %s RETURNING decision_id::text, alert_id::text, "
        "partition_date::text, account, decision, category, note, analyst, risk_score, decided_at"
    ).format(
        decisions=case_table(schema, DECISIONS_TABLE),
        alerts=case_table(schema, ALERTS_TABLE),
        analysts=case_table(schema, ANALYSTS_TABLE),
    )
    with connection.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(
            query,
            [uuid.uuid4(), decision.decision, decision.category, decision.note, analyst, key],
        ).fetchone()
    return None if row is None else dict(row)


def find_alert(connection: psycopg.Connection, schema: str, alert_id: str) -> dict[str, Any] | None:
    """One alert with its current decision (`ALERT_COLUMNS`), or None."""
    key = alert_uuid(alert_id)
    if key is None:
        return None
    frame = _alerts(connection, schema, sql.SQL("a.alert_id = %s"), [key])
    return None if frame.empty else frame.iloc[0].to_dict()


def alerts_of_day(connection: psycopg.Connection, schema: str, day: str) -> pd.DataFrame:
    """A day's alerts, highest risk first, each with its current decision (`ALERT_COLUMNS`)."""
    return _alerts(connection, schema, sql.SQL("a.partition_date = %s"), [date.fromisoformat(day)])


def _alerts(
    connection: psycopg.Connection, schema: str, where: sql.Composable, params: list[Any]
) -> pd.DataFrame:
    ensure_case_tables(connection, schema)
    query = sql.SQL(
        "SELECT a.alert_id::text, a.partition_date::text, a.account, a.risk_score, a.cluster, "
        "a.reasons, a.url, d.decision, d.category, d.analyst, d.decided_at "
        "FROM {alerts} AS a {current} "
        "WHERE {where} ORDER BY a.partition_date DESC, a.risk_score DESC, a.account"
    ).format(
        alerts=case_table(schema, ALERTS_TABLE), current=current_decision_join(schema), where=where
    )
    return pd.DataFrame(connection.execute(query, params).fetchall(), columns=list(ALERT_COLUMNS))


def decision_history(
    connection: psycopg.Connection,
    schema: str,
    *,
    alert_id: str | None = None,
    account: str | None = None,
) -> pd.DataFrame:
    """Every decision on an alert or on an account, oldest first (`DECISION_COLUMNS`)."""
    ensure_case_tables(connection, schema)
    if alert_id is not None:
        key = alert_uuid(alert_id)
        if key is None:
            return pd.DataFrame(columns=list(DECISION_COLUMNS))
        where, params = sql.SQL("alert_id = %s"), [key]
    elif account is not None:
        where, params = sql.SQL("account = %s"), [account]
    else:
        where, params = sql.SQL("true"), []
    query = sql.SQL(
        "SELECT decision_id::text, alert_id::text, partition_date::text, account, decision, "
        "category, note, analyst, risk_score, decided_at FROM {} WHERE {} "
        "ORDER BY decided_at, decision_id"
    ).format(case_table(schema, DECISIONS_TABLE), where)
    rows = connection.execute(query, params).fetchall()
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def _read_decisions(
    connection: psycopg.Connection, schema: str, query: LiteralString, params: Sequence[object] = ()
) -> list[tuple]:
    """Rows of ``query`` (constant SQL whose ``{}`` is the decisions table, values as ``%s``
    parameters), the case tables ensured first."""
    ensure_case_tables(connection, schema)
    statement = sql.SQL(query).format(case_table(schema, DECISIONS_TABLE))
    return connection.execute(statement, params).fetchall()


def standing_dismissals(connection: psycopg.Connection, schema: str) -> pd.DataFrame:
    """Each account whose newest decision is a dismissal: ``account, partition_date,
    risk_score, decision_id, category`` (the dismissed alert's day and score)."""
    rows = _read_decisions(
        connection,
        schema,
        "SELECT account, partition_date, risk_score, decision_id, category FROM ("
        "SELECT DISTINCT ON (account) account, partition_date::text, risk_score, "
        "decision_id::text, category, decision FROM {} "
        "ORDER BY account, decided_at DESC, decision_id DESC) AS newest "
        "WHERE decision = 'dismissed'",
    )
    return pd.DataFrame(
        rows, columns=["account", "partition_date", "risk_score", "decision_id", "category"]
    )


def confirmed_accounts(connection: psycopg.Connection, schema: str) -> pd.DataFrame:
    """Accounts with an alert whose current decision is "confirmed": ``account, since`` (the
    earliest such alert's day), the watchlist entries analysts' decisions make."""
    rows = _read_decisions(
        connection,
        schema,
        "SELECT account, min(partition_date)::text FROM ("
        "SELECT DISTINCT ON (alert_id) alert_id, account, partition_date, decision FROM {} "
        "ORDER BY alert_id, decided_at DESC, decision_id DESC) AS current "
        "WHERE decision = 'confirmed' GROUP BY account ORDER BY account",
    )
    return pd.DataFrame(rows, columns=["account", "since"])


def current_decisions_of_day(connection: psycopg.Connection, schema: str, day: str) -> pd.DataFrame:
    """The day's current decision per alert: ``alert_id, account, decision, category,
    analyst, decided_at``."""
    rows = _read_decisions(
        connection,
        schema,
        "SELECT DISTINCT ON (alert_id) alert_id::text, account, decision, category, analyst, "
        "decided_at FROM {} WHERE partition_date = %s "
        "ORDER BY alert_id, decided_at DESC, decision_id DESC",
        [date.fromisoformat(day)],
    )
    return pd.DataFrame(
        rows, columns=["alert_id", "account", "decision", "category", "analyst", "decided_at"]
    )


def days_decided_since(
    connection: psycopg.Connection, schema: str, after: datetime | None
) -> tuple[list[str], datetime | None]:
    """The days with a decision made after ``after`` (all days when None), and the newest
    decision time (the next cursor)."""
    rows = _read_decisions(
        connection,
        schema,
        "SELECT partition_date::text, max(decided_at) FROM {} "
        "WHERE decided_at > coalesce(%s, '-infinity'::timestamptz) "
        "GROUP BY partition_date ORDER BY partition_date",
        [after],
    )
    newest = max((row[1] for row in rows), default=after)
    return [row[0] for row in rows], newest
