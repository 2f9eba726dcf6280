"""Alerts on high-risk accounts: which rows to record, how a day's message reads, what a tick keeps.

Exactly-once delivery rests on three rules kept here as pure functions:

* an alert's id is derived from its (day, account), so recording the same alert twice is a no-op
  (the table is also UNIQUE on those two columns);
* a message groups the undelivered alerts of one day that were recorded together (same
  ``created_at``, i.e. the same recording transaction), so its set of alerts never changes and
  its id, the ``Idempotency-Key`` a receiver can drop repeats by, is stable across retries; the
  new high-risk accounts of a re-run day are recorded later and get a message of their own;
* the sensor cursor remembers which channels already accepted a message that is not yet
  delivered everywhere, so a retry goes only to the channels that refused it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
from dagster import PartitionKeyRange, PartitionsDefinition

from fraud_platform.settings import alert_budget
from fraud_platform.storage.redaction import scrub
from fraud_platform.tables import PARTITION_COLUMN

#: The tags Dagster puts on a run (or an event) for its day, or for a range of days run at once
#: (and reads to launch such a range). `dagster` exports no constants for them, so their values
#: are spelled here; ``fraud_platform_tests/test_layering.py`` checks they still match Dagster's.
PARTITION_NAME_TAG = "dagster/partition"
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

ALERT_NAMESPACE = uuid.UUID("1d3c5a0e-8f47-4b7e-9a51-3c2f6e8b0d94")
DEFAULT_TOP_N = 10
#: Run-failure error text is cut to this length: enough to act on, short enough for a chat line.
MAX_ERROR_CHARS = 2_000

#: What an alert says of its account, as read from the day's published dataset.
ALERTED_ACCOUNT_COLUMNS = (
    PARTITION_COLUMN,
    "dataset_id",
    "account",
    "risk_score",
    "cluster",
    "url",
    "reasons",
    "pattern",
)
#: A high-risk account as read for alerting: also its day's count of active accounts (the alert
#: budget is a share of it).
HIGH_RISK_COLUMNS = (*ALERTED_ACCOUNT_COLUMNS, "node_count")
#: Columns of an alert row as the sensor records it (``created_at``/``delivered_at`` are set by
#: the database).
ALERT_COLUMNS = ("alert_id", *ALERTED_ACCOUNT_COLUMNS, "suppressed_by")
#: Columns of a pending alert as read back for delivery: its day's dataset name, the day's
#: high-risk count and the alerts recorded for the day (the difference was held back by the
#: alert budget).
PENDING_COLUMNS = (
    *ALERT_COLUMNS,
    "created_at",
    "dataset_name",
    "high_risk_count",
    "day_alerts",
)


# -- recording ------------------------------------------------------------------------------------


def alert_id_for(partition_date: str, account: str) -> str:
    """A stable UUID per (day, account): recording an alert again can never duplicate it."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"fraud_alert/{partition_date}/{account}"))


def build_alerts(
    high_risk: pd.DataFrame, threshold: float, budget_share: float | None = None
) -> pd.DataFrame:
    """One alert row per (day, account) with ``risk_score >= threshold``, highest risk first.

    ``high_risk`` holds ``partition_date, dataset_id, account, risk_score, cluster, url`` and
    optionally ``reasons``, ``pattern`` and ``node_count`` (the day's active accounts); the
    warehouse query already filters by the threshold, filtering again keeps this function correct
    on its own.
    With ``budget_share`` a day keeps only its `alert_budget` highest-risk accounts: a broken
    score must never become thousands of messages.
    """
    rows = high_risk[high_risk["risk_score"] >= threshold]
    rows = rows.drop_duplicates([PARTITION_COLUMN, "account"])
    rows = rows.sort_values(
        [PARTITION_COLUMN, "risk_score", "account"], ascending=[True, False, True]
    )
    if budget_share is not None and "node_count" in rows.columns and len(rows):
        allowed = rows["node_count"].map(lambda n: alert_budget(int(n), budget_share))
        rank = rows.groupby(PARTITION_COLUMN, sort=False).cumcount()
        rows = rows[rank.to_numpy() < allowed.to_numpy()]
    def text(column: str) -> np.ndarray:
        if column not in rows.columns:
            return np.full(len(rows), "", dtype=object)
        return rows[column].fillna("").astype("str").to_numpy()

    alerts = pd.DataFrame(
        {
            "alert_id": [
                alert_id_for(str(day), str(account))
                for day, account in zip(rows[PARTITION_COLUMN], rows["account"], strict=True)
            ],
            PARTITION_COLUMN: rows[PARTITION_COLUMN].astype("str").to_numpy(),
            "dataset_id": rows["dataset_id"].astype("str").to_numpy(),
            "account": rows["account"].astype("str").to_numpy(),
            "risk_score": rows["risk_score"].astype("float64").to_numpy(),
            "cluster": rows["cluster"].astype("Int64").to_numpy(),
            "url": rows["url"].to_numpy(),
            "reasons": text("reasons"),
            "pattern": text("pattern"),
            "suppressed_by": rows["suppressed_by"].to_numpy()
            if "suppressed_by" in rows.columns
            else np.full(len(rows), None, dtype=object),
        },
        columns=list(ALERT_COLUMNS),
    )
    return alerts.reset_index(drop=True)


def days_of_materialization(
    partition_key: str | None,
    tags: Mapping[str, str],
    partitions_def: PartitionsDefinition,
) -> list[str]:
    """The days a ``fraud_dataset`` materialization covers.

    Dagster records one event per day even for a range run (``dagster/partition`` set on each);
    an event without a partition but with the range tags (on the event or, passed in by the
    caller, on its run) covers every day of the range.
    """
    if partition_key:
        return [partition_key]
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return list(partitions_def.get_partition_keys_in_range(PartitionKeyRange(start, end)))
    return []


# -- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRisk:
    account: str
    risk_score: float
    cluster: int | None
    reasons: str = ""


@dataclass(frozen=True)
class AlertMessage:
    """One day's undelivered alerts recorded together, summarised for people."""

    partition_date: str
    dataset_id: str
    dataset_name: str | None
    dataset_url: str | None
    threshold: float
    alert_ids: tuple[str, ...]
    top: tuple[AccountRisk, ...]
    held_back: int = 0  # high-risk accounts of the day not alerted (over the alert budget)

    @property
    def count(self) -> int:
        return len(self.alert_ids)

    @property
    def key(self) -> str:
        """Stable id of the message: the same alerts always make the same key."""
        members = ",".join(sorted(self.alert_ids))
        return str(
            uuid.uuid5(ALERT_NAMESPACE, f"fraud_alert_message/{self.partition_date}/{members}")
        )


@dataclass(frozen=True)
class Notification:
    """What every channel sends: a stable key, a text for people, a JSON payload for machines."""

    key: str
    text: str
    payload: dict[str, Any] = field(hash=False)


def group_messages(pending: pd.DataFrame, *, top_n: int, threshold: float) -> list[AlertMessage]:
    """One message per (day, recording batch) of ``pending`` (`PENDING_COLUMNS`), oldest first.

    The top ``top_n`` accounts are ordered by risk (highest first), then account name.
    """
    if top_n < 1:
        raise ValueError("top_n must be at least 1")
    messages: list[AlertMessage] = []
    if pending.empty:
        return messages
    ordered = pending.sort_values(
        [PARTITION_COLUMN, "created_at", "risk_score", "account"],
        ascending=[True, True, False, True],
    )
    for _, batch in ordered.groupby([PARTITION_COLUMN, "created_at"], sort=False):
        first = batch.iloc[0]
        top = tuple(
            AccountRisk(
                account=str(row.account),
                risk_score=float(row.risk_score),
                cluster=None if pd.isna(row.cluster) else int(row.cluster),
                reasons=_text(getattr(row, "reasons", "")),
            )
            for row in batch.head(top_n).itertuples(index=False)
        )
        high_risk, recorded = first.get("high_risk_count"), first.get("day_alerts")
        known = high_risk is not None and recorded is not None
        held_back = (
            max(0, int(high_risk) - int(recorded))
            if known and not (pd.isna(high_risk) or pd.isna(recorded))
            else 0
        )
        messages.append(
            AlertMessage(
                partition_date=str(first[PARTITION_COLUMN]),
                dataset_id=str(first["dataset_id"]),
                dataset_name=None if pd.isna(first["dataset_name"]) else str(first["dataset_name"]),
                dataset_url=None if pd.isna(first["url"]) else str(first["url"]),
                threshold=threshold,
                alert_ids=tuple(str(a) for a in batch["alert_id"]),
                top=top,
                held_back=held_back,
            )
        )
    return messages


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def alert_text(message: AlertMessage) -> str:
    """The message for people (Slack, the Dagster log): the day, the dataset, the top accounts."""
    plural = "account" if message.count == 1 else "accounts"
    name = message.dataset_name or f"the dataset of {message.partition_date}"
    lines = [
        f"Fraud alert for {message.partition_date}: {message.count} high-risk {plural} "
        f"(risk_score >= {message.threshold:g}) in {name}",
        f"Evidence: {message.dataset_url or 'no dataset URL recorded'}",
    ]
    if message.held_back:
        lines.append(
            f"{message.held_back:,} more accounts reached the threshold but were not alerted: "
            "the day is over its alert budget (see the alert_budget check), which usually means "
            "a broken score rather than that many launderers"
        )
    lines.append(f"Top {len(message.top)} by risk:")
    for rank, item in enumerate(message.top, start=1):
        cluster = "-" if item.cluster is None else str(item.cluster)
        line = f"{rank}. {item.account}  risk {item.risk_score:.3f}  cluster {cluster}"
        lines.append(f"{line}  why: {item.reasons}" if item.reasons else line)
    return "\n".join(lines)


def alert_notification(message: AlertMessage) -> Notification:
    """The message as every channel sends it; the payload is what a webhook receives."""
    text = alert_text(message)
    payload = {
        "type": "fraud_alert",
        "message_id": message.key,
        "partition_date": message.partition_date,
        "dataset_id": message.dataset_id,
        "dataset_name": message.dataset_name,
        "dataset_url": message.dataset_url,
        "high_risk_threshold": message.threshold,
        "alert_count": message.count,
        "held_back": message.held_back,
        "top_accounts": [
            {
                "account": a.account,
                "risk_score": a.risk_score,
                "cluster": a.cluster,
                "reasons": a.reasons,
            }
            for a in message.top
        ],
        "text": text,
    }
    return Notification(key=message.key, text=text, payload=payload)


# -- run failures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    error: str


@dataclass(frozen=True)
class RunFailure:
    """What people need to act on a failed run."""

    job_name: str
    run_id: str
    partitions: str | None
    steps: tuple[StepFailure, ...]
    message: str


def run_partitions(tags: Mapping[str, str]) -> str | None:
    """The run's day (``dagster/partition``) or range (``start...end``), if it has one."""
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG]
    start = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    end = tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return None


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be secret: the whole URL, its password and query values."""
    if not url:
        return []
    parts = urlsplit(url)
    secrets = [url]
    if parts.password:
        secrets.append(parts.password)
    secrets += [value for _, value in parse_qsl(parts.query) if len(value) >= 4]
    return secrets


def url_origin(url: str) -> str:
    """``scheme://host:port`` of a URL: what may be logged (paths and queries can hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def failure_notification(failure: RunFailure, secrets: Sequence[str] = ()) -> Notification:
    """The failed run as every channel sends it; error texts are scrubbed of ``secrets``."""
    lines = [
        f"Dagster run failed: job {failure.job_name}, run {failure.run_id}"
        + (f", partition(s) {failure.partitions}" if failure.partitions else "")
    ]
    steps = [
        {"step_key": s.step_key, "error": scrub(s.error, secrets)[:MAX_ERROR_CHARS]}
        for s in failure.steps
    ]
    lines += [f"Step {s['step_key']} failed: {s['error']}" for s in steps]
    message = scrub(failure.message, secrets)[:MAX_ERROR_CHARS]
    if not steps:
        lines.append(message)
    text = "\n".join(lines)
    payload = {
        "type": "run_failure",
        "message_id": str(uuid.uuid5(ALERT_NAMESPACE, f"run_failure/{failure.run_id}")),
        "job_name": failure.job_name,
        "run_id": failure.run_id,
        "partitions": failure.partitions,
        "failed_steps": steps,
        "message": message,
        "text": text,
    }
    return Notification(key=payload["message_id"], text=text, payload=payload)


# -- the sensor cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertCursor:
    """What the alert sensor carries from tick to tick.

    ``after_storage_id``: the last ``fraud_dataset`` materialization whose alerts are recorded;
    ``pending``: undelivered alerts may exist (otherwise an idle tick skips the warehouse);
    ``accepted``: message key -> channels that accepted it, for messages not yet delivered
    everywhere.
    """

    after_storage_id: int | None = None
    pending: bool = False
    accepted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "after_storage_id": self.after_storage_id,
                "pending": self.pending,
                "accepted": {k: list(v) for k, v in sorted(self.accepted.items())},
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> AlertCursor:
        """The cursor of ``text``; an absent or unreadable one starts from the first event
        (recording is idempotent, delivered alerts are never sent again)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            after = data.get("after_storage_id")
            return cls(
                after_storage_id=None if after is None else int(after),
                pending=bool(data.get("pending", False)),
                accepted={
                    str(k): tuple(str(c) for c in v)
                    for k, v in dict(data.get("accepted") or {}).items()
                },
            )
        except (ValueError, TypeError, AttributeError):
            return cls()
