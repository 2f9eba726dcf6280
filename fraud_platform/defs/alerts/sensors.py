"""The alert sensor (high-risk accounts of every newly published day) and the run-failure sensor.

``fraud_alert_sensor`` keeps its own cursor over ``fraud_dataset`` materialization records:
Dagster's ``asset_sensor`` only sees the latest event between two ticks, and every day must be
alerted, also when several days (or a range run) land between ticks. A tick

1. reads the materializations after the cursor and records the high-risk accounts of their days
   in ``fraud.alerts`` (INSERT ... ON CONFLICT DO NOTHING), then moves the cursor past them;
2. sends every undelivered message (one per day and recording batch) through the log and each
   configured channel, and stamps ``delivered_at`` once all of them accepted it. A refusal
   (HTTP 5xx, timeout, connection refused) leaves the alerts pending for the next tick; the
   cursor remembers which channels already took the message, so they do not get it twice.

A crash between a send and its ``delivered_at`` re-sends that message on the next tick with the
same ``Idempotency-Key``: a webhook receiver drops it; Slack, which has no such key, may show it
twice. That window is one UPDATE wide.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import psycopg
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DagsterLogManager,
    DefaultSensorStatus,
    EventLogRecord,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster import run_failure_sensor as dagster_run_failure_sensor

from fraud_platform.defs.alerts.logic import (
    AlertCursor,
    Notification,
    RunFailure,
    StepFailure,
    alert_notification,
    build_alerts,
    days_of_materialization,
    failure_notification,
    group_messages,
    run_partitions,
)
from fraud_platform.defs.alerts.resources import (
    AlertOptions,
    DeliveryError,
    SlackChannel,
    WebhookChannel,
    ensure_alerts_table,
    mark_delivered,
    read_high_risk,
    read_pending,
    record_alerts,
)
from fraud_platform.defs.datasets.resources import DatasetPublishing
from fraud_platform.partitions import daily_partitions
from fraud_platform.storage.redaction import scrub
from fraud_platform.storage.warehouse import PostgresWarehouse, WarehouseError

FRAUD_DATASET = AssetKey("fraud_dataset")
#: Materialization records read per query, and at most per tick (the rest wait for the next).
RECORDS_PER_PAGE = 100
MAX_RECORDS_PER_TICK = 1_000
LOG_CHANNEL = "dagster_log"


class Channel(Protocol):
    name: str

    def deliver(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class LogChannel:
    """The Dagster log: always configured, always accepts."""

    log: DagsterLogManager
    name: str = LOG_CHANNEL

    def deliver(self, notification: Notification) -> None:
        self.log.warning(notification.text)


def _configured(webhook: WebhookChannel, slack: SlackChannel) -> list[Channel]:
    return [channel for channel in (webhook, slack) if channel.enabled]


def new_materializations(
    instance: DagsterInstance, after_storage_id: int | None
) -> Iterator[EventLogRecord]:
    """``fraud_dataset`` materializations after the cursor, oldest first, a bounded number."""
    seen = 0
    while seen < MAX_RECORDS_PER_TICK:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=FRAUD_DATASET, after_storage_id=after_storage_id),
            limit=min(RECORDS_PER_PAGE, MAX_RECORDS_PER_TICK - seen),
            ascending=True,
        )
        yield from result.records
        seen += len(result.records)
        if not result.has_more or not result.records:
            return
        after_storage_id = result.records[-1].storage_id


def days_of_record(instance: DagsterInstance, record: EventLogRecord) -> list[str]:
    """The days a materialization record covers (its own partition, else its run's range)."""
    materialization = record.asset_materialization
    tags = dict(materialization.tags or {}) if materialization else {}
    days = days_of_materialization(record.partition_key, tags, daily_partitions)
    if days:
        return days
    run = instance.get_run_by_id(record.run_id)
    return days_of_materialization(None, run.tags if run else {}, daily_partitions)


def _rollback_quietly(connection: psycopg.Connection) -> None:
    # A failed rollback means the connection is gone; closing it is all that is left.
    with contextlib.suppress(psycopg.Error):
        connection.rollback()


@dataclass
class DeliveryReport:
    delivered: int = 0
    waiting: int = 0


def deliver_pending(
    log: DagsterLogManager,
    connection: psycopg.Connection,
    schema: str,
    channels: Sequence[Channel],
    cursor: AlertCursor,
    *,
    top_n: int,
    threshold: float,
    max_messages: int,
) -> tuple[AlertCursor, DeliveryReport]:
    """Send every undelivered message, oldest first; stamp those all channels accepted.

    A channel that refuses is not tried again in this tick (one timeout per channel, not one
    per message). Commits after each stamp, so what was delivered stays delivered.
    """
    messages = group_messages(read_pending(connection, schema), top_n=top_n, threshold=threshold)
    connection.commit()
    accepted = {k: v for k, v in cursor.accepted.items() if k in {m.key for m in messages}}
    down: set[str] = set()
    report = DeliveryReport()
    for index, message in enumerate(messages):
        if index >= max_messages:
            report.waiting += len(messages) - index
            break
        notification = alert_notification(message)
        done = set(accepted.get(notification.key, ()))
        for channel in channels:
            if channel.name in done or channel.name in down:
                continue
            try:
                channel.deliver(notification)
            except DeliveryError as error:
                down.add(channel.name)
                log.error(
                    f"alert for {message.partition_date} ({message.count} accounts) not "
                    f"delivered: {error}; retried on the next tick"
                )
            else:
                done.add(channel.name)
        if not {channel.name for channel in channels} <= done:
            accepted[notification.key] = tuple(sorted(done))
            report.waiting += 1
            continue
        try:
            mark_delivered(connection, schema, message.alert_ids)
            connection.commit()
        except psycopg.Error as error:
            # Every channel has it: remember that, so the next tick only stamps it.
            accepted[notification.key] = tuple(sorted(done))
            _rollback_quietly(connection)
            log.error(f"could not stamp delivered alerts: {type(error).__name__}; next tick")
            report.waiting += len(messages) - index
            break
        accepted.pop(notification.key, None)
        report.delivered += 1
    next_cursor = AlertCursor(
        after_storage_id=cursor.after_storage_id, pending=report.waiting > 0, accepted=accepted
    )
    return next_cursor, report


@sensor(
    name="fraud_alert_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Records an alert per high-risk account of every newly published fraud_dataset day and "
        "delivers one message per day (webhook, Slack, Dagster log), exactly once."
    ),
)
def fraud_alert_sensor(
    context: SensorEvaluationContext,
    warehouse: PostgresWarehouse,
    publishing: DatasetPublishing,
    alert_webhook: WebhookChannel,
    alert_slack: SlackChannel,
    alert_options: AlertOptions,
) -> SkipReason:
    """Record the alerts of newly published days, then deliver whatever is undelivered."""
    cursor = AlertCursor.from_json(context.cursor)
    records = list(new_materializations(context.instance, cursor.after_storage_id))
    if not records and not cursor.pending:
        return SkipReason("no new fraud_dataset materializations and no pending alerts")
    # Imported here: the cases area builds on the alerts table (cases.resources imports this
    # package), so a module-level import would be circular.
    from fraud_platform.defs.cases.logic import suppressing_dismissals
    from fraud_platform.defs.cases.resources import standing_dismissals

    days = sorted({day for record in records for day in days_of_record(context.instance, record)})
    threshold = publishing.high_risk_threshold
    schema = warehouse.schema_name
    channels: list[Channel] = [LogChannel(context.log), *_configured(alert_webhook, alert_slack)]
    with warehouse.connect() as connection:
        ensure_alerts_table(connection, schema)
        recorded = silenced = 0
        if days:
            high_risk = read_high_risk(connection, schema, days, threshold)
            # Repeat alerts of accounts an analyst dismissed are recorded (the queue shows them)
            # but not sent, and take no place in the day's budget.
            by = suppressing_dismissals(
                high_risk, standing_dismissals(connection, schema), alert_options.dismiss_margin
            )
            alerts = build_alerts(high_risk[by.isna()], threshold, publishing.alert_budget_share)
            recorded = record_alerts(connection, schema, alerts)
            silenced = record_alerts(
                connection,
                schema,
                build_alerts(high_risk[by.notna()].assign(suppressed_by=by), threshold),
            )
        connection.commit()
        # Recorded: these events are never read again (reading them again would be harmless).
        if records:
            cursor = AlertCursor(
                after_storage_id=records[-1].storage_id, pending=True, accepted=cursor.accepted
            )
        context.update_cursor(cursor.to_json())
        try:
            cursor, report = deliver_pending(
                context.log,
                connection,
                schema,
                channels,
                cursor,
                top_n=alert_options.top_n,
                threshold=threshold,
                max_messages=alert_options.max_messages_per_tick,
            )
        except (psycopg.Error, WarehouseError) as error:
            _rollback_quietly(connection)
            context.log.error(f"could not read pending alerts: {type(error).__name__}; next tick")
            return SkipReason(f"recorded {recorded} new alerts; delivery postponed")
    context.update_cursor(cursor.to_json())
    shown = ", ".join(days) if len(days) <= 7 else f"{len(days)} days, {days[0]} to {days[-1]}"
    summary = (
        f"{len(records)} materializations ({shown or 'no days'}): {recorded} new alerts"
        + (f" ({silenced} more silenced by analysts' dismissals)" if silenced else "")
        + ";"
        f" {report.delivered} messages delivered, {report.waiting} waiting"
    )
    context.log.info(summary)
    return SkipReason(summary)


def _root_error(error: object) -> str:
    """The innermost cause of a step error (the user's exception, not Dagster's wrapper)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause  # type: ignore[attr-defined]
    message = getattr(error, "message", None)
    return str(message or error).strip()


def describe_run_failure(context: RunFailureSensorContext) -> RunFailure:
    run = context.dagster_run
    steps = tuple(
        StepFailure(
            step_key=str(event.step_key),
            error=_root_error(getattr(event.event_specific_data, "error", None) or event.message),
        )
        for event in context.get_step_failure_events()
    )
    return RunFailure(
        job_name=run.job_name,
        run_id=run.run_id,
        partitions=run_partitions(run.tags),
        steps=steps,
        message=str(context.failure_event.message or "run failed"),
    )


@dagster_run_failure_sensor(
    name="run_failure_sensor",
    default_status=DefaultSensorStatus.RUNNING,
    description="Notifies the alert channels of every failed run: job, run, step, error, days.",
)
def run_failure_sensor(
    context: RunFailureSensorContext, alert_webhook: WebhookChannel, alert_slack: SlackChannel
) -> None:
    """Dagster's run-status cursor moves past a run even when this raises: a channel that refuses
    is reported as the tick's error (visible in the UI), the other channels still get it."""
    secrets = alert_webhook.secrets() + alert_slack.secrets()
    notification = failure_notification(describe_run_failure(context), secrets)
    context.log.error(notification.text)
    errors: list[str] = []
    for channel in _configured(alert_webhook, alert_slack):
        try:
            channel.deliver(notification)
        except DeliveryError as error:
            errors.append(scrub(str(error), secrets))
    if errors:
        raise DeliveryError("run-failure notice not delivered: " + "; ".join(errors))
