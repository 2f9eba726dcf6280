"""Where alerts go and where they are kept: the channels and the ``alerts`` warehouse table.

Channels: a webhook (JSON POST with an ``Idempotency-Key`` header) and Slack through
dagster-slack's `SlackResource`; both optional, both configured from the environment by
`fraud_platform.defs.alerts.alert_resources`. A channel either accepts a notification or raises
`DeliveryError`, whose message never holds the webhook URL (its path or query may carry a token)
nor the Slack token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import ClassVar

import pandas as pd
import psycopg
import requests
from dagster import ConfigurableResource
from dagster_slack import SlackResource
from psycopg import sql
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from fraud_platform.defs.alerts.logic import (
    ALERT_COLUMNS,
    DEFAULT_TOP_N,
    HIGH_RISK_COLUMNS,
    PENDING_COLUMNS,
    Notification,
    url_origin,
    url_secrets,
)
from fraud_platform.defs.cases.logic import DEFAULT_DISMISS_MARGIN
from fraud_platform.storage.warehouse import ensure_warehouse_schema
from fraud_platform.tables import PARTITION_COLUMN

ALERTS_TABLE = "alerts"
#: ``ON CONFLICT (partition_date, account)`` needs a unique index on exactly these columns; the
#: DDL table (`WAREHOUSE_TABLES`) describes columns only, so the index is ensured here.
ALERTS_UNIQUE_COLUMNS = (PARTITION_COLUMN, "account")
ALERTS_UNIQUE_INDEX = "alerts_partition_date_account_key"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_SLACK_API_URL = WebClient.BASE_URL


class DeliveryError(RuntimeError):
    """A channel did not accept a notification; the message is safe to log."""


# -- channels -------------------------------------------------------------------------------------


class WebhookChannel(ConfigurableResource):
    """HTTP POST of the notification's JSON payload; any 2xx answer is an acceptance.

    Give ``url`` as ``EnvVar("FRAUD_ALERT_WEBHOOK_URL")``: a token in its query then stays out of
    Dagster's config, UI and logs. An empty URL disables the channel.
    """

    url: str = Field(default="", description="Webhook URL; empty disables the channel.")
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0)

    name: ClassVar[str] = "webhook"

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def secrets(self) -> list[str]:
        return url_secrets(self.url)

    def deliver(self, notification: Notification) -> None:
        where = f"webhook at {url_origin(self.url)}"
        try:
            response = requests.post(
                self.url,
                json=notification.payload,
                headers={"Idempotency-Key": notification.key, "User-Agent": "fraud_platform"},
                timeout=self.timeout_seconds,
                # A redirected POST becomes a GET in requests: treat it as a refusal instead.
                allow_redirects=False,
            )
        except requests.Timeout:
            # `from None`: requests' own messages quote the full URL, query token included.
            raise DeliveryError(f"{where}: no answer within {self.timeout_seconds:g} s") from None
        except requests.RequestException as error:
            raise DeliveryError(f"{where}: {type(error).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"{where} answered HTTP {response.status_code}")


class SlackChannel(SlackResource):
    """dagster-slack's `SlackResource` plus the channel to post to and an API base URL.

    An empty token disables the channel. ``base_url`` exists so a test (or a proxy) can stand in
    for ``https://slack.com/api/``.
    """

    channel: str = Field(default="", description="Slack channel id or #name to post alerts to.")
    base_url: str = Field(default=DEFAULT_SLACK_API_URL, description="Slack Web API base URL.")
    timeout_seconds: int = Field(default=int(DEFAULT_TIMEOUT_SECONDS), gt=0)

    name: ClassVar[str] = "slack"

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []

    def get_client(self) -> WebClient:
        return WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout_seconds)

    def deliver(self, notification: Notification) -> None:
        if not self.channel:
            raise DeliveryError("Slack: no channel configured (FRAUD_ALERT_SLACK_CHANNEL)")
        try:
            # Links would unfurl into previews of the viewer: the text already names the day.
            self.get_client().chat_postMessage(
                channel=self.channel, text=notification.text, unfurl_links=False
            )
        except SlackClientError as error:
            detail = getattr(getattr(error, "response", None), "data", None)
            reason = detail.get("error") if isinstance(detail, dict) else type(error).__name__
            raise DeliveryError(f"Slack API at {url_origin(self.base_url)}: {reason}") from None
        except (OSError, ValueError) as error:
            raise DeliveryError(
                f"Slack API at {url_origin(self.base_url)}: {type(error).__name__}"
            ) from None


class AlertOptions(ConfigurableResource):
    """How alerts are summarised and paced."""

    top_n: int = Field(
        default=DEFAULT_TOP_N, ge=1, description="Accounts listed per message, by risk."
    )
    max_messages_per_tick: int = Field(
        default=50, ge=1, description="Messages sent per sensor tick; the rest go on the next."
    )
    dismiss_margin: float = Field(
        default=DEFAULT_DISMISS_MARGIN,
        ge=0.0,
        description="A dismissed account alerts again once its score rises this much over the "
        "dismissed score (FRAUD_DISMISS_MARGIN).",
    )


# -- the alerts table -----------------------------------------------------------------------------


def _lock_key(schema: str) -> int:
    digest = hashlib.blake2b(f"fraud_platform.alerts:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def ensure_alerts_table(connection: psycopg.Connection, schema: str) -> None:
    """The warehouse tables (``alerts`` included) and the alerts' unique (day, account) index.

    Checked in the catalog first so a routine tick takes no DDL lock.
    """
    ensure_warehouse_schema(connection, schema)
    present = connection.execute(
        "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
        [schema, ALERTS_UNIQUE_INDEX],
    ).fetchone()
    if present is None:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema)])
        connection.execute(
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(ALERTS_UNIQUE_INDEX),
                sql.Identifier(schema, ALERTS_TABLE),
                sql.SQL(", ").join(sql.Identifier(c) for c in ALERTS_UNIQUE_COLUMNS),
            )
        )


def read_high_risk(
    connection: psycopg.Connection, schema: str, days: Sequence[str], threshold: float
) -> pd.DataFrame:
    """The accounts of ``days`` with ``risk_score >= threshold`` (`HIGH_RISK_COLUMNS`): with their
    dataset's id/URL, their reasons and the day's count of active accounts (the alert budget)."""
    query = sql.SQL(
        "SELECT n.partition_date::text, n.dataset_id::text, n.account, n.risk_score, n.cluster, "
        "d.url, n.reasons, n.pattern, d.node_count FROM {nodes} AS n "
        "JOIN {datasets} AS d ON d.dataset_id = n.dataset_id "
        "WHERE n.partition_date = ANY(%s) AND n.risk_score >= %s"
    ).format(
        nodes=sql.Identifier(schema, "dataset_nodes"),
        datasets=sql.Identifier(schema, "datasets"),
    )
    rows = connection.execute(query, [[date.fromisoformat(d) for d in days], threshold]).fetchall()
    return pd.DataFrame(rows, columns=list(HIGH_RISK_COLUMNS))


def record_alerts(connection: psycopg.Connection, schema: str, alerts: pd.DataFrame) -> int:
    """INSERT the alert rows, skipping those already recorded; returns how many were new."""
    if alerts.empty:
        return 0
    statement = sql.SQL(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING RETURNING alert_id"
    ).format(
        sql.Identifier(schema, ALERTS_TABLE),
        sql.SQL(", ").join(sql.Identifier(c) for c in ALERT_COLUMNS),
        sql.SQL(", ").join(sql.Placeholder() for _ in ALERT_COLUMNS),
        sql.SQL(", ").join(sql.Identifier(c) for c in ALERTS_UNIQUE_COLUMNS),
    )
    params = [
        [
            row.alert_id,
            date.fromisoformat(row.partition_date),
            row.dataset_id,
            row.account,
            float(row.risk_score),
            None if pd.isna(row.cluster) else int(row.cluster),
            None if pd.isna(row.url) else str(row.url),
            None if pd.isna(row.reasons) else str(row.reasons),
            None if pd.isna(row.pattern) or not row.pattern else str(row.pattern),
            None if pd.isna(row.suppressed_by) else str(row.suppressed_by),
        ]
        for row in alerts.itertuples(index=False)
    ]
    inserted = 0
    with connection.cursor() as cursor:
        cursor.executemany(statement, params, returning=True)
        while True:
            inserted += len(cursor.fetchall())
            if not cursor.nextset():
                break
    return inserted


def read_pending(connection: psycopg.Connection, schema: str) -> pd.DataFrame:
    """Undelivered alerts (`PENDING_COLUMNS`), with the current name of their day's dataset."""
    query = sql.SQL(
        "SELECT a.alert_id::text, a.partition_date::text, a.dataset_id::text, a.account, "
        "a.risk_score, a.cluster, a.url, a.reasons, a.pattern, a.suppressed_by::text, "
        "a.created_at, d.name, "
        "d.high_risk_count, "
        "(SELECT count(*) FROM {alerts} AS o WHERE o.partition_date = a.partition_date) "
        "FROM {alerts} AS a LEFT JOIN {datasets} AS d ON d.partition_date = a.partition_date "
        "WHERE a.delivered_at IS NULL AND a.suppressed_by IS NULL "
        "ORDER BY a.partition_date, a.created_at"
    ).format(
        alerts=sql.Identifier(schema, ALERTS_TABLE), datasets=sql.Identifier(schema, "datasets")
    )
    return pd.DataFrame(connection.execute(query).fetchall(), columns=list(PENDING_COLUMNS))


def mark_delivered(connection: psycopg.Connection, schema: str, alert_ids: Sequence[str]) -> int:
    """Stamp ``delivered_at`` on the alerts every channel accepted; returns the rows changed."""
    statement = sql.SQL(
        "UPDATE {} SET delivered_at = now() WHERE alert_id = ANY(%s::uuid[]) "
        "AND delivered_at IS NULL"
    ).format(sql.Identifier(schema, ALERTS_TABLE))
    return connection.execute(statement, [list(alert_ids)]).rowcount
