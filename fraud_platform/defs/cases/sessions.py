"""Analysts' logins to the viewer's pages: server-side sessions in ``analyst_sessions``.

A session id is 32 random bytes that live only in the browser's cookie; the table keeps its
SHA-256 (a leaked table opens no session), the analyst, the CSRF token the session's forms carry,
and when it ends (`SESSION_LIFETIME`). A session counts only while its analyst is active: a
revoked analyst's sessions stop at once, and so do those opened before a revoked name was given
a new token (`add_analyst` resets ``created_at`` then). Identifiers go through ``psycopg.sql``,
values as parameters. `start_session` creates the table when missing; the readers expect the
caller to have ensured it (`ensure_case_tables`), once per request rather than once per query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from fraud_platform.defs.cases.resources import ANALYSTS_TABLE, case_table, ensure_case_tables

SESSIONS_TABLE = "analyst_sessions"
SESSION_LIFETIME = timedelta(hours=12)
#: An id longer than this is not one of ours: refused before it is hashed or looked up.
_MAX_SESSION_ID_CHARS = 128


@dataclass(frozen=True)
class AnalystSession:
    """A live session: whose it is, the token its forms must send back, and when it ends."""

    analyst: str
    csrf_token: str
    expires_at: datetime


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(
    connection: psycopg.Connection,
    schema: str,
    analyst: str,
    lifetime: timedelta = SESSION_LIFETIME,
) -> tuple[str, AnalystSession]:
    """A new session for ``analyst``: its id (for the cookie, never stored) and the session.

    Sessions past their end are deleted on the way: logins are rare, so the table stays small
    without a scheduled clean-up.
    """
    ensure_case_tables(connection, schema)
    table = case_table(schema, SESSIONS_TABLE)
    connection.execute(sql.SQL("DELETE FROM {} WHERE expires_at <= now()").format(table))
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    row = connection.execute(
        sql.SQL(
            "INSERT INTO {} (session_hash, analyst, csrf_token, expires_at) "
            "VALUES (%s, %s, %s, now() + %s) RETURNING expires_at"
        ).format(table),
        [session_digest(session_id), analyst, csrf_token, lifetime],
    ).fetchone()
    assert row is not None
    return session_id, AnalystSession(analyst, csrf_token, row[0])


def find_session(
    connection: psycopg.Connection, schema: str, session_id: str
) -> AnalystSession | None:
    """The live session of ``session_id``, or None: unknown, ended, expired, or its analyst
    revoked (or given a new token since the session began)."""
    if not session_id or len(session_id) > _MAX_SESSION_ID_CHARS:
        return None
    row = connection.execute(
        sql.SQL(
            "SELECT s.analyst, s.csrf_token, s.expires_at FROM {sessions} AS s "
            "JOIN {analysts} AS a ON a.name = s.analyst AND a.revoked_at IS NULL "
            "AND a.created_at <= s.created_at "
            "WHERE s.session_hash = %s AND s.expires_at > now()"
        ).format(
            sessions=case_table(schema, SESSIONS_TABLE), analysts=case_table(schema, ANALYSTS_TABLE)
        ),
        [session_digest(session_id)],
    ).fetchone()
    return None if row is None else AnalystSession(str(row[0]), str(row[1]), row[2])


def end_session(connection: psycopg.Connection, schema: str, session_id: str) -> bool:
    """Delete the session; True if there was one."""
    if not session_id or len(session_id) > _MAX_SESSION_ID_CHARS:
        return False
    deleted = connection.execute(
        sql.SQL("DELETE FROM {} WHERE session_hash = %s").format(
            case_table(schema, SESSIONS_TABLE)
        ),
        [session_digest(session_id)],
    ).rowcount
    return deleted > 0
