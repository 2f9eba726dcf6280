"""What the analysts' pages read: the alert queue, one case, and the case's surroundings.

Every query but one is an index probe: alerts by ``partition_date``, ``account`` or
``alert_id``, decisions by ``alert_id``. The one is an account's transfer pairs, read from the
single ``dataset_edges`` partition of its day (the filter on ``partition_date`` prunes the
others; partitions have no account index, so this is a scan of one day, tens of milliseconds
for a million pairs). The queue pages by fetching one row more than it shows, so the whole
queue is never counted. The caller ensures the tables (`ensure_case_tables`) once per
connection; these functions only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from fraud_platform.defs.alerts.resources import ALERTS_TABLE
from fraud_platform.defs.cases.logic import alert_uuid
from fraud_platform.defs.cases.resources import (
    DECISIONS_TABLE,
    case_table,
    current_decision_join,
)
from fraud_platform.tables import PARTITION_COLUMN

#: The queue's status filter: ``open`` is an alert nobody has decided on yet and that was sent;
#: ``silenced``, a repeat alert of a dismissed account, recorded but not sent (nobody decided).
STATUSES = ("open", "silenced", "confirmed", "dismissed", "escalated", "all")
#: Transfers listed on a case page's timeline, in time order.
MAX_TIMELINE = 500
QUEUE_PAGE_SIZE = 100
#: Without a day chosen, the queue's pattern filter offers the patterns of this many latest days.
PATTERN_DAYS = 7
#: Counterparties listed per direction on a case page, largest amount first.
SHOWN_COUNTERPARTIES = 100
#: Other days' alerts of an account shown on a case page, newest first.
MAX_OTHER_ALERTS = 200
QUEUE_COLUMNS = (
    "alert_id",
    PARTITION_COLUMN,
    "account",
    "risk_score",
    "pattern",
    "reasons",
    "decision",
    "category",
    "analyst",
    "decided_at",
    "suppressed_by",
)
TIMELINE_COLUMNS = (
    "timestamp",
    "direction",
    "counterparty",
    "amount",
    "transaction_id",
    "alert_id",
)
COUNTERPARTY_COLUMNS = ("counterparty", "amount_total", "tx_count", "alert_id")
OTHER_ALERT_COLUMNS = (
    "alert_id",
    PARTITION_COLUMN,
    "risk_score",
    "pattern",
    "decision",
    "category",
)


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: a day or all, a pattern or any, a status, and which page."""

    day: date | None = None
    pattern: str | None = None
    status: str = "open"
    page: int = 1


@dataclass(frozen=True)
class CounterpartySide:
    """One direction of an account's transfer pairs of a day: the largest (`rows`, with
    `COUNTERPARTY_COLUMNS`; ``alert_id`` is the counterparty's own alert that day, if any), and
    how many pairs and how much money there are in all."""

    rows: pd.DataFrame
    pairs: int
    amount: float


@dataclass(frozen=True)
class Counterparties:
    """Who paid the account (``money_in``) and whom it paid (``money_out``)."""

    money_in: CounterpartySide
    money_out: CounterpartySide


def alert_queue(
    connection: psycopg.Connection,
    schema: str,
    filters: QueueFilter,
    page_size: int = QUEUE_PAGE_SIZE,
) -> tuple[pd.DataFrame, bool]:
    """One page of the queue (`QUEUE_COLUMNS`), newest day first, then by risk descending;
    and whether a next page exists.

    The page is chosen before the current decisions are joined, so that the alerts' day index
    streams in order and stops after the page (an incremental sort per day), whether the queue
    covers one day or all of them: open alerts are those with no decision (an anti-join by the
    decisions' alert index), a decided status matches the newest decision of each alert (one
    pass over the decisions, which are as many as analysts ever made).
    """
    decisions = case_table(schema, DECISIONS_TABLE)
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if filters.day is not None:
        conditions.append(sql.SQL("a.partition_date = %s"))
        params.append(filters.day)
    if filters.pattern:
        conditions.append(sql.SQL("a.pattern = %s"))
        params.append(filters.pattern)
    if filters.status in ("open", "silenced"):
        conditions.append(
            sql.SQL("NOT EXISTS (SELECT 1 FROM {} AS x WHERE x.alert_id = a.alert_id)").format(
                decisions
            )
        )
        conditions.append(
            sql.SQL(
                "a.suppressed_by IS NULL"
                if filters.status == "open"
                else "a.suppressed_by IS NOT NULL"
            )
        )
    elif filters.status != "all":
        conditions.append(
            sql.SQL(
                "a.alert_id IN (SELECT c.alert_id FROM (SELECT DISTINCT ON (alert_id) alert_id, "
                "decision FROM {} ORDER BY alert_id, decided_at DESC, decision_id DESC) AS c "
                "WHERE c.decision = %s)"
            ).format(decisions)
        )
        params.append(filters.status)
    where = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
    order = sql.SQL("a.partition_date DESC, a.risk_score DESC, a.account")
    query = sql.SQL(
        "SELECT a.alert_id::text, a.partition_date::text, a.account, a.risk_score, a.pattern, "
        "a.reasons, d.decision, d.category, d.analyst, d.decided_at, a.suppressed_by::text "
        "FROM (SELECT * FROM {alerts} "
        "AS a WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s) AS a {current} ORDER BY {order}"
    ).format(
        alerts=case_table(schema, ALERTS_TABLE),
        where=where,
        order=order,
        current=current_decision_join(schema),
    )
    offset = (max(filters.page, 1) - 1) * page_size
    rows = connection.execute(query, [*params, page_size + 1, offset]).fetchall()
    frame = pd.DataFrame(rows[:page_size], columns=list(QUEUE_COLUMNS))
    return frame, len(rows) > page_size


def recent_patterns(connection: psycopg.Connection, schema: str, day: date | None) -> list[str]:
    """The patterns the queue's filter offers: those of ``day``'s alerts, or of the latest
    `PATTERN_DAYS` days' (any other pattern still works in the URL)."""
    alerts = case_table(schema, ALERTS_TABLE)
    if day is not None:
        where, params = sql.SQL("partition_date = %s"), [day]
    else:
        where = sql.SQL("partition_date > (SELECT max(partition_date) FROM {}) - %s").format(alerts)
        params = [PATTERN_DAYS]
    rows = connection.execute(
        sql.SQL(
            "SELECT DISTINCT pattern FROM {} WHERE pattern IS NOT NULL AND pattern <> '' "
            "AND {} ORDER BY pattern"
        ).format(alerts, where),
        params,
    ).fetchall()
    return [str(pattern) for (pattern,) in rows]


def case_alert(connection: psycopg.Connection, schema: str, alert_id: str) -> dict[str, Any] | None:
    """The alert with its current decision and whether its day's dataset is still there; None
    for an unknown or malformed id."""
    key = alert_uuid(alert_id)
    if key is None:
        return None
    query = sql.SQL(
        "SELECT a.alert_id::text, a.partition_date::text, a.dataset_id::text, a.account, "
        "a.risk_score, a.cluster, a.reasons, a.pattern, a.created_at, a.suppressed_by::text, "
        "d.decision, d.category, "
        "d.analyst, d.decided_at, s.dataset_id IS NOT NULL AS dataset_present "
        "FROM {alerts} AS a {current} "
        "LEFT JOIN {datasets} AS s ON s.dataset_id = a.dataset_id WHERE a.alert_id = %s"
    ).format(
        alerts=case_table(schema, ALERTS_TABLE),
        current=current_decision_join(schema),
        datasets=case_table(schema, "datasets"),
    )
    with connection.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(query, [key]).fetchone()
    return None if row is None else dict(row)


def counterparties(
    connection: psycopg.Connection,
    schema: str,
    day: str,
    account: str,
    shown: int = SHOWN_COUNTERPARTIES,
) -> Counterparties:
    """Who paid ``account`` and whom it paid on ``day``, from that day's partition only: one
    scan, then counted and cut to the ``shown`` largest per side (a top-N sort) in the database,
    so a hub with 50k counterparties sends 2 x ``shown`` rows, whose own alerts are looked up."""
    top = sql.SQL(
        "(SELECT * FROM pairs WHERE side = {} ORDER BY amount_total DESC NULLS LAST, "
        'counterparty COLLATE "C" LIMIT %(shown)s)'
    )
    query = sql.SQL(
        "WITH pairs AS MATERIALIZED (SELECT v.side, v.counterparty, e.amount_total, e.tx_count "
        "FROM {edges} AS e CROSS JOIN LATERAL (VALUES ('in', e.sender, e.receiver), "
        "('out', e.receiver, e.sender)) AS v (side, counterparty, own) "
        "WHERE e.partition_date = %(day)s AND (e.sender = %(account)s OR e.receiver = %(account)s) "
        "AND v.own = %(account)s), "
        "totals AS (SELECT side, count(*) AS pairs, sum(amount_total) AS total FROM pairs "
        "GROUP BY side), shown AS ({top_in} UNION ALL {top_out}) "
        "SELECT s.side, s.counterparty, s.amount_total, s.tx_count, x.alert_id::text, t.pairs, "
        "t.total FROM shown AS s JOIN totals AS t ON t.side = s.side "
        "LEFT JOIN {alerts} AS x ON x.partition_date = %(day)s AND x.account = s.counterparty "
        'ORDER BY s.side, s.amount_total DESC NULLS LAST, s.counterparty COLLATE "C"'
    ).format(
        edges=case_table(schema, "dataset_edges"),
        alerts=case_table(schema, ALERTS_TABLE),
        top_in=top.format(sql.Literal("in")),
        top_out=top.format(sql.Literal("out")),
    )
    params = {"day": date.fromisoformat(day), "account": account, "shown": shown}
    rows = connection.execute(query, params).fetchall()

    def side(name: str) -> CounterpartySide:
        chosen = [row for row in rows if row[0] == name]
        frame = pd.DataFrame([row[1:5] for row in chosen], columns=list(COUNTERPARTY_COLUMNS))
        pairs, total = (int(chosen[0][5]), float(chosen[0][6] or 0.0)) if chosen else (0, 0.0)
        return CounterpartySide(frame, pairs, total)

    return Counterparties(money_in=side("in"), money_out=side("out"))


def other_alerts(
    connection: psycopg.Connection, schema: str, account: str, alert_id: str
) -> pd.DataFrame:
    """The account's alerts of other days, newest first, with their current decision."""
    query = sql.SQL(
        "SELECT a.alert_id::text, a.partition_date::text, a.risk_score, a.pattern, d.decision, "
        "d.category FROM {alerts} AS a {current} WHERE a.account = %s AND a.alert_id <> %s "
        "ORDER BY a.partition_date DESC LIMIT %s"
    ).format(alerts=case_table(schema, ALERTS_TABLE), current=current_decision_join(schema))
    rows = connection.execute(query, [account, alert_uuid(alert_id), MAX_OTHER_ALERTS]).fetchall()
    return pd.DataFrame(rows, columns=list(OTHER_ALERT_COLUMNS))


def timeline(
    connection: psycopg.Connection,
    schema: str,
    day: str,
    account: str,
    shown: int = MAX_TIMELINE,
) -> tuple[pd.DataFrame, int]:
    """The account's transfers of ``day`` in time order (`TIMELINE_COLUMNS`: ``alert_id`` is
    the counterparty's own alert that day, if any), the first ``shown``, and how many there are.

    Read from ``high_risk_transfers`` by its (day, account) indexes: the day's dataset holds only
    the collapsed pairs.
    """
    # The first ``shown`` are chosen before the counterparties' alerts are joined, and counted
    # apart: a hub's 50,000 transfers are counted, never joined or sorted whole.
    transfers = case_table(schema, "high_risk_transfers")
    where = sql.SQL("partition_date = %(day)s AND account = %(account)s")
    query = sql.SQL(
        "SELECT t.timestamp, t.direction, t.counterparty, t.amount, t.transaction_id, "
        "x.alert_id::text FROM (SELECT * FROM {transfers} WHERE {where} "
        "ORDER BY timestamp, direction, transaction_id LIMIT %(shown)s) AS t "
        "LEFT JOIN {alerts} AS x ON x.partition_date = t.partition_date "
        "AND x.account = t.counterparty ORDER BY t.timestamp, t.direction, t.transaction_id"
    ).format(transfers=transfers, where=where, alerts=case_table(schema, ALERTS_TABLE))
    params = {"day": date.fromisoformat(day), "account": account, "shown": shown}
    rows = connection.execute(query, params).fetchall()
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS))
    if len(rows) < shown:
        return frame, len(rows)
    counted = connection.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(transfers, where), params
    ).fetchone()
    return frame, int(counted[0]) if counted else len(rows)


def trailing_behaviour(
    connection: psycopg.Connection, schema: str, day: str, account: str
) -> dict[str, Any] | None:
    """The account's 28 days before ``day`` (``high_risk_history``: days active, first and last
    seen, relay days, typical amounts and counterparties, known and new counterparties), with
    its money in and out that day (``high_risk_transfers``); None when the day stored none."""
    query = sql.SQL(
        "SELECT h.*, (SELECT sum(amount) FROM {transfers} AS t WHERE t.partition_date = "
        "h.partition_date AND t.account = h.account AND t.direction = 'in') AS in_amount, "
        "(SELECT sum(amount) FROM {transfers} AS t WHERE t.partition_date = h.partition_date "
        "AND t.account = h.account AND t.direction = 'out') AS out_amount FROM {history} AS h "
        "WHERE h.partition_date = %(day)s AND h.account = %(account)s"
    ).format(
        history=case_table(schema, "high_risk_history"),
        transfers=case_table(schema, "high_risk_transfers"),
    )
    with connection.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(query, {"day": date.fromisoformat(day), "account": account}).fetchone()
    return None if row is None else dict(row)
