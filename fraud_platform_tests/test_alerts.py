"""Alerts: recorded once per (day, account), one message per day, delivered exactly once.

The sensors run against a real Dagster instance (`instance_for_test`), the live PostgreSQL
warehouse, a webhook receiver and a fake Slack Web API, both real HTTP servers on 127.0.0.1.
Landing files hold money mules by construction: ``M<k>`` receives 100.00 from each of its payers
and forwards 95% of it to one account; a merchant and an employer are central but are no relays.
Which accounts the risk score flags around a mule is the scoring's business (tested with it): the
expected alerts are read from the day's ``dataset_nodes`` (``risk_score >= 0.7``, the test
threshold), and every day must flag its mules and never the merchant.

Why one module of this length: the sensors' cases share its landing-day builders and receivers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    asset,
    build_sensor_context,
    materialize,
)
from http_receiver import Receiver, closed_port
from psycopg import sql

from fraud_platform.definitions import daily_assets
from fraud_platform.defs.alerts import alert_resources, alert_sensors
from fraud_platform.defs.alerts import logic as alert_logic
from fraud_platform.defs.alerts.logic import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    AlertCursor,
    alert_id_for,
    alert_notification,
    build_alerts,
    days_of_materialization,
    scrub,
    url_origin,
    url_secrets,
)
from fraud_platform.defs.alerts.resources import DeliveryError, WebhookChannel
from fraud_platform.defs.alerts.sensors import fraud_alert_sensor, run_failure_sensor
from fraud_platform.defs.datasets.logic import dataset_id_for
from fraud_platform.deployment import deployment_resources
from fraud_platform.partitions import daily_partitions
from fraud_platform.settings import Settings

DAY1, DAY2, DAY3 = "2024-10-01", "2024-10-02", "2024-10-03"
TOKEN = "q-s3cr3t-t0ken"
SLACK_TOKEN = "xoxb-test-s3cr3t"
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"


def mule_day(day: str, mules: dict[str, int]) -> str:
    """A landing CSV: each mule collects 100.00 from ``payers`` accounts and forwards 95% of it
    to ``<mule>-OUT``; plus a merchant paid by 10 customers and an employer paying 8 staff."""
    rows: list[tuple[str, str, float]] = []
    for mule, payers in mules.items():
        rows += [(f"{mule}-P{i:02d}", mule, 100.0) for i in range(payers)]
        rows.append((mule, f"{mule}-OUT", 95.0 * payers))
    rows += [(f"C{i:02d}", "SHOP", 30.0) for i in range(10)]
    rows.append(("CORP", "EMPLOYER", 3000.0))
    rows += [("EMPLOYER", f"S{i:02d}", 350.0) for i in range(8)]
    lines = [
        f"T{n:04d},{day}T{n // 60 % 24:02d}:{n % 60:02d}:00Z,{sender},{receiver},{amount:.2f},EUR\n"
        for n, (sender, receiver, amount) in enumerate(rows)
    ]
    return HEADER + "".join(lines)


def write_landing(storage: Path, day: str, mules: dict[str, int]) -> None:
    folder = storage / "landing" / "transactions" / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-000.csv").write_text(mule_day(day, mules))


# -- local HTTP servers ---------------------------------------------------------------------------


# -- deployment -----------------------------------------------------------------------------------


def run_days(settings: Settings, instance: DagsterInstance, first: str, last: str | None = None):
    """Materialize a day, or a range of days as ONE run (one event per day, range tags)."""
    resources = deployment_resources(settings)
    if last is None:
        result = materialize(
            daily_assets, partition_key=first, resources=resources, instance=instance
        )
    else:
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        result = materialize(daily_assets, tags=tags, resources=resources, instance=instance)
    assert result.success
    return result


@dataclass
class Ticker:
    """Evaluates a sensor the way the daemon does: each tick starts from the saved cursor."""

    settings: Settings
    instance: DagsterInstance
    cursor: str | None = None

    def tick(self, sensor=fraud_alert_sensor) -> str:
        resources = {**deployment_resources(self.settings), **alert_resources(self.settings)}
        with build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=resources
        ) as context:
            data = sensor.evaluate_tick(context)
        self.cursor = data.cursor
        assert not data.run_requests
        return data.skip_message or ""


def alerts(settings: Settings) -> list[tuple]:
    """(day, account, delivered?) of every recorded alert."""
    with psycopg.connect(str(settings.database_url)) as connection:
        return connection.execute(
            sql.SQL(
                "SELECT partition_date::text, account, delivered_at IS NOT NULL FROM {} "
                "ORDER BY partition_date, account"
            ).format(sql.Identifier(settings.database_schema, "alerts"))
        ).fetchall()


def node_scores(settings: Settings, day: str) -> dict[str, tuple[float, int, str]]:
    """Each account's (risk_score, cluster, reasons) as the warehouse has them."""
    with psycopg.connect(str(settings.database_url)) as connection:
        rows = connection.execute(
            sql.SQL(
                "SELECT account, risk_score, cluster, reasons FROM {} WHERE partition_date = %s"
            ).format(sql.Identifier(settings.database_schema, "dataset_nodes")),
            [day],
        ).fetchall()
    return {account: (risk, cluster, reasons) for account, risk, cluster, reasons in rows}


def high_risk(settings: Settings, day: str) -> dict[str, tuple[float, int, str]]:
    """The day's accounts at or above the threshold, as the warehouse has them; sanity-checked."""
    scores = {
        a: v for a, v in node_scores(settings, day).items() if v[0] >= settings.high_risk_threshold
    }
    assert "M1" in scores and "SHOP" not in scores
    return scores


def ranked(scores: dict[str, tuple[float, int, str]]) -> list[str]:
    """Accounts by risk (highest first), then name: the order of a message's top accounts."""
    return sorted(scores, key=lambda account: (-scores[account][0], account))


def headline(day: str, count: int) -> str:
    plural = "account" if count == 1 else "accounts"
    return (
        f"Fraud alert for {day}: {count} high-risk {plural} (risk_score >= 0.7) in "
        f"Fraud Analysis {day}\nEvidence: http://viewer.test/datasets/{dataset_id_for(day)}\n"
    )


# -- pure logic -----------------------------------------------------------------------------------


def high_risk_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["partition_date", "dataset_id", "account", "risk_score", "cluster", "url"]
    )


def test_build_alerts_keeps_accounts_at_or_above_the_threshold_once() -> None:
    frame = high_risk_frame(
        [
            (DAY1, "d1", "B", 0.8, 1, "u1"),
            (DAY1, "d1", "A", 0.95, 0, "u1"),
            (DAY1, "d1", "A", 0.95, 0, "u1"),  # repeated row: one alert
            (DAY1, "d1", "C", 0.79, 2, "u1"),  # below
            (DAY2, "d2", "A", 0.9, 0, "u2"),  # same account, other day: its own alert
        ]
    )
    built = build_alerts(frame, 0.8)
    assert list(zip(built["partition_date"], built["account"], strict=True)) == [
        (DAY1, "A"),
        (DAY1, "B"),
        (DAY2, "A"),
    ]
    assert built["alert_id"].tolist() == [
        alert_id_for(DAY1, "A"),
        alert_id_for(DAY1, "B"),
        alert_id_for(DAY2, "A"),
    ]
    assert alert_id_for(DAY1, "A") == alert_id_for(DAY1, "A") != alert_id_for(DAY2, "A")


def test_one_message_per_day_and_batch_with_the_top_accounts() -> None:
    first = pd.Timestamp("2024-10-02T06:00:00Z")
    later = pd.Timestamp("2024-10-02T09:00:00Z")
    pending = pd.DataFrame(
        [
            ("a1", DAY1, "d1", "A", 0.81, 0, "u1", first, "Fraud Analysis 2024-10-01"),
            ("a2", DAY1, "d1", "B", 0.97, 3, "u1", first, "Fraud Analysis 2024-10-01"),
            ("a3", DAY1, "d1", "C", 0.90, None, "u1", first, "Fraud Analysis 2024-10-01"),
            ("a4", DAY1, "d1", "D", 0.99, 1, "u1", later, "Fraud Analysis 2024-10-01"),
            ("a5", DAY2, "d2", "A", 0.85, 2, "u2", first, None),
        ],
        columns=[
            "alert_id",
            "partition_date",
            "dataset_id",
            "account",
            "risk_score",
            "cluster",
            "url",
            "created_at",
            "dataset_name",
        ],
    )
    messages = alert_logic.group_messages(pending, top_n=2, threshold=0.8)
    assert [(m.partition_date, m.count) for m in messages] == [(DAY1, 3), (DAY1, 1), (DAY2, 1)]
    first_message = messages[0]
    assert [(a.account, a.risk_score, a.cluster) for a in first_message.top] == [
        ("B", 0.97, 3),
        ("C", 0.90, None),
    ]
    assert sorted(first_message.alert_ids) == ["a1", "a2", "a3"]
    # The key depends on the alerts only: same set, same key; another set, another key.
    assert (
        first_message.key
        == alert_logic.group_messages(pending.iloc[::-1], top_n=5, threshold=0.8)[0].key
    )
    assert len({m.key for m in messages}) == 3
    text = alert_notification(first_message).text
    assert text.splitlines() == [
        "Fraud alert for 2024-10-01: 3 high-risk accounts (risk_score >= 0.8) in "
        "Fraud Analysis 2024-10-01",
        "Evidence: u1",
        "Top 2 by risk:",
        "1. B  risk 0.970  cluster 3",
        "2. C  risk 0.900  cluster -",
    ]
    assert "the dataset of 2024-10-02" in alert_notification(messages[2]).text
    with pytest.raises(ValueError):
        alert_logic.group_messages(pending, top_n=0, threshold=0.8)


def test_days_of_a_materialization_single_or_range() -> None:
    assert days_of_materialization(DAY2, {}, daily_partitions) == [DAY2]
    assert days_of_materialization(None, {"dagster/partition": DAY3}, daily_partitions) == [DAY3]
    range_tags = {ASSET_PARTITION_RANGE_START_TAG: DAY1, ASSET_PARTITION_RANGE_END_TAG: DAY3}
    assert days_of_materialization(None, range_tags, daily_partitions) == [DAY1, DAY2, DAY3]
    assert days_of_materialization(None, {}, daily_partitions) == []
    assert alert_logic.run_partitions(range_tags) == f"{DAY1}...{DAY3}"
    assert alert_logic.run_partitions({"dagster/partition": DAY1}) == DAY1
    assert alert_logic.run_partitions({}) is None


def test_cursor_round_trip_and_unreadable_cursor() -> None:
    cursor = AlertCursor(after_storage_id=42, pending=True, accepted={"k": ("webhook",)})
    assert AlertCursor.from_json(cursor.to_json()) == cursor
    assert AlertCursor.from_json(None) == AlertCursor()
    assert AlertCursor.from_json("not json") == AlertCursor()
    assert AlertCursor.from_json('{"after_storage_id": "x"}') == AlertCursor()


def test_secrets_are_scrubbed_and_urls_reduced_to_their_origin() -> None:
    url = f"https://user:pw-1234@hooks.example.com:8443/services/T1/B2?token={TOKEN}&v=1"
    assert url_origin(url) == "https://hooks.example.com:8443"
    secrets = url_secrets(url)
    assert {url, "pw-1234", TOKEN} <= set(secrets)
    assert scrub(f"POST {url} failed; token {TOKEN}", secrets) == "POST *** failed; token ***"
    notice = alert_logic.failure_notification(
        alert_logic.RunFailure(
            job_name="daily_fraud_job",
            run_id="r1",
            partitions=DAY1,
            steps=(alert_logic.StepFailure("fraud_dataset", f"ValueError: bad {TOKEN}"),),
            message="Execution of run for daily_fraud_job failed.",
        ),
        secrets,
    )
    assert notice.payload["failed_steps"] == [
        {"step_key": "fraud_dataset", "error": "ValueError: bad ***"}
    ]
    assert TOKEN not in notice.text


def test_webhook_errors_never_quote_the_url(receiver: Receiver) -> None:
    notice = alert_logic.failure_notification(
        alert_logic.RunFailure("job", "r1", None, (), "failed")
    )
    dead = WebhookChannel(url=f"http://127.0.0.1:{closed_port()}/hook?token={TOKEN}")
    with pytest.raises(DeliveryError) as refused:
        dead.deliver(notice)
    assert str(refused.value) == f"webhook at {url_origin(dead.url)}: ConnectionError"
    assert refused.value.__cause__ is None
    receiver.answers.append((503, {}))
    with pytest.raises(DeliveryError, match="answered HTTP 503") as unavailable:
        WebhookChannel(url=f"{receiver.url}/hook?token={TOKEN}").deliver(notice)
    assert TOKEN not in str(unavailable.value)


def test_alert_resources_come_from_the_environment(alert_settings: Settings, monkeypatch) -> None:
    resources = alert_resources(alert_settings)
    assert not resources["alert_webhook"].enabled and not resources["alert_slack"].enabled
    assert resources["alert_options"].top_n == 10
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    with pytest.raises(ValueError, match="FRAUD_ALERT_SLACK_CHANNEL"):
        alert_resources(alert_settings)
    monkeypatch.setenv("FRAUD_ALERT_SLACK_CHANNEL", "#fraud")
    monkeypatch.setenv("FRAUD_ALERT_TOP_N", "3")
    resources = alert_resources(alert_settings)
    assert resources["alert_options"].top_n == 3
    assert resources["alert_slack"].channel == "#fraud"
    assert [s.name for s in alert_sensors] == ["fraud_alert_sensor", "run_failure_sensor"]


# -- the alert sensor, for real -------------------------------------------------------------------


@pytest.mark.slow
def test_every_day_between_two_ticks_gets_one_message_and_only_once(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
    receiver: Receiver,
    monkeypatch,
) -> None:
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/hook?token={TOKEN}")
    monkeypatch.setenv("FRAUD_ALERT_TOP_N", "2")
    write_landing(storage_dir, DAY1, {"M1": 20})
    write_landing(storage_dir, DAY2, {"M1": 20, "M2": 12})
    write_landing(storage_dir, DAY3, {"M1": 20, "M2": 15, "M3": 10})
    ticker = Ticker(alert_settings, instance)
    assert "no new fraud_dataset materializations" in ticker.tick()

    run_days(alert_settings, instance, DAY1)
    run_days(alert_settings, instance, DAY2, DAY3)  # one run, a range of two days
    events = instance.fetch_materializations(AssetKey("fraud_dataset"), limit=10).records
    assert sorted(e.partition_key for e in events) == [DAY1, DAY2, DAY3]
    expected = {day: high_risk(alert_settings, day) for day in (DAY1, DAY2, DAY3)}
    assert {"M2", "M3"} <= set(expected[DAY3])
    total = sum(len(accounts) for accounts in expected.values())

    summary = ticker.tick()
    assert summary == (
        f"3 materializations ({DAY1}, {DAY2}, {DAY3}): {total} new alerts; "
        "3 messages delivered, 0 waiting"
    )
    assert alerts(alert_settings) == [
        (day, account, True) for day in expected for account in sorted(expected[day])
    ]
    requests = receiver.requests
    assert [(r["path"], r["status"]) for r in requests] == [(f"/hook?token={TOKEN}", 200)] * 3
    bodies = receiver.bodies()
    assert [(b["partition_date"], b["alert_count"]) for b in bodies] == [
        (day, len(expected[day])) for day in expected
    ]
    assert [r["headers"]["idempotency-key"] for r in requests] == [b["message_id"] for b in bodies]

    day3 = bodies[2]
    scores = expected[DAY3]
    top = ranked(scores)[:2]
    dataset_id = dataset_id_for(DAY3)
    assert {k: v for k, v in day3.items() if k != "text"} == {
        "type": "fraud_alert",
        "message_id": day3["message_id"],
        "partition_date": DAY3,
        "dataset_id": dataset_id,
        "dataset_name": f"Fraud Analysis {DAY3}",
        "dataset_url": f"http://viewer.test/datasets/{dataset_id}",
        "high_risk_threshold": alert_settings.high_risk_threshold,
        "alert_count": len(scores),
        "held_back": 0,
        "top_accounts": [
            {
                "account": a,
                "risk_score": scores[a][0],
                "cluster": scores[a][1],
                "reasons": scores[a][2],
            }
            for a in top
        ],
    }
    # Every alerted account says why it is high risk, and what kind of evidence that is.
    assert all(scores[a][2] for a in top)
    with psycopg.connect(str(alert_settings.database_url)) as connection:
        kinds = connection.execute(
            sql.SQL(
                "SELECT a.pattern, n.pattern FROM {} AS a JOIN {} AS n ON n.partition_date = "
                "a.partition_date AND n.account = a.account WHERE a.partition_date = %s"
            ).format(
                sql.Identifier(alert_settings.database_schema, "alerts"),
                sql.Identifier(alert_settings.database_schema, "dataset_nodes"),
            ),
            [DAY3],
        ).fetchall()
    assert len(kinds) == len(scores)
    assert all(alerted and alerted == stored for alerted, stored in kinds), kinds
    assert day3["text"] == headline(DAY3, len(scores)) + "Top 2 by risk:\n" + "\n".join(
        f"{rank}. {a}  risk {scores[a][0]:.3f}  cluster {scores[a][1]}  why: {scores[a][2]}"
        for rank, a in enumerate(top, start=1)
    )

    # A second tick, and a tick of a restarted daemon (same saved cursor): nothing new.
    assert ticker.tick() == "no new fraud_dataset materializations and no pending alerts"
    assert "no new" in Ticker(alert_settings, instance, cursor=ticker.cursor).tick()
    # Even a lost cursor (every event read again) sends nothing twice.
    assert "0 new alerts; 0 messages delivered" in Ticker(alert_settings, instance).tick()
    assert len(receiver.requests) == 3


@pytest.mark.slow
def test_a_refused_delivery_is_retried_until_the_webhook_recovers(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
    receiver: Receiver,
    monkeypatch,
    capfd,
) -> None:
    write_landing(storage_dir, DAY1, {"M1": 20})
    run_days(alert_settings, instance, DAY1)
    accounts = sorted(high_risk(alert_settings, DAY1))
    ticker = Ticker(alert_settings, instance)

    # Connection refused: recorded, not delivered.
    dead = f"http://127.0.0.1:{closed_port()}/h?token={TOKEN}"
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", dead)
    assert f"{len(accounts)} new alerts; 0 messages delivered, 1 waiting" in ticker.tick()
    assert alerts(alert_settings) == [(DAY1, a, False) for a in accounts]

    # The webhook answers 500, then 200.
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/h?token={TOKEN}")
    receiver.answers.append((500, {"error": "try later"}))
    assert "0 new alerts; 0 messages delivered, 1 waiting" in ticker.tick()
    assert alerts(alert_settings) == [(DAY1, a, False) for a in accounts]
    assert "0 new alerts; 1 messages delivered, 0 waiting" in ticker.tick()
    assert alerts(alert_settings) == [(DAY1, a, True) for a in accounts]
    assert "no pending alerts" in ticker.tick()

    assert [r["status"] for r in receiver.requests] == [500, 200]  # exactly one success
    assert len({r["headers"]["idempotency-key"] for r in receiver.requests}) == 1
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    logged = capfd.readouterr().err  # Dagster's log handler writes to stderr
    assert "not delivered: webhook at http://127.0.0.1" in logged
    assert "answered HTTP 500" in logged
    assert TOKEN not in logged


@pytest.mark.slow
def test_a_rematerialized_day_sends_only_its_new_high_risk_accounts(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
    receiver: Receiver,
    monkeypatch,
) -> None:
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/hook")
    write_landing(storage_dir, DAY2, {"M1": 20, "M2": 12})
    run_days(alert_settings, instance, DAY2)
    before = set(high_risk(alert_settings, DAY2))
    ticker = Ticker(alert_settings, instance)
    ticker.tick()
    assert [b["alert_count"] for b in receiver.bodies()] == [len(before)]

    run_days(alert_settings, instance, DAY2)  # the same files again
    assert "0 new alerts; 0 messages delivered" in ticker.tick()
    assert len(receiver.requests) == 1

    write_landing(storage_dir, DAY2, {"M1": 20, "M2": 15, "M3": 10})  # a new mule appears
    run_days(alert_settings, instance, DAY2)
    scores = high_risk(alert_settings, DAY2)
    new = {a: scores[a] for a in set(scores) - before}
    assert "M3" in new
    assert f"{len(new)} new alerts; 1 messages delivered" in ticker.tick()
    message = receiver.bodies()[1]
    assert (message["partition_date"], message["alert_count"]) == (DAY2, len(new))
    assert [a["account"] for a in message["top_accounts"]] == ranked(new)[:10]
    assert message["message_id"] != receiver.bodies()[0]["message_id"]
    assert alerts(alert_settings) == [(DAY2, a, True) for a in sorted(before | set(scores))]


@pytest.mark.slow
def test_slack_gets_one_post_per_day_and_no_channel_gets_a_repeat(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
    receiver: Receiver,
    monkeypatch,
) -> None:
    """Slack and the webhook both configured; Slack refuses once. The retry goes to Slack only."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("FRAUD_ALERT_SLACK_CHANNEL", "#fraud-alerts")
    monkeypatch.setenv("FRAUD_ALERT_SLACK_API_URL", f"{receiver.url}/api/")
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/hook")
    write_landing(storage_dir, DAY1, {"M1": 20})
    run_days(alert_settings, instance, DAY1)
    scores = high_risk(alert_settings, DAY1)
    ticker = Ticker(alert_settings, instance)

    # Webhook first (accepts), then Slack: an API error answer (HTTP 200, ok false).
    receiver.answers += [(200, {}), (200, {"ok": False, "error": "ratelimited"})]
    assert "0 messages delivered, 1 waiting" in ticker.tick()
    assert "1 messages delivered" in ticker.tick()
    assert [r["path"] for r in receiver.requests] == [
        "/hook",
        "/api/chat.postMessage",
        "/api/chat.postMessage",
    ]
    post = receiver.requests[2]
    assert post["headers"]["authorization"] == f"Bearer {SLACK_TOKEN}"
    assert post["body"]["channel"] == "#fraud-alerts"
    first = ranked(scores)[0]
    assert post["body"]["text"].startswith(
        headline(DAY1, len(scores))
        + f"Top {min(10, len(scores))} by risk:\n1. {first}  risk {scores[first][0]:.3f}  "
    )
    assert post["body"]["text"] == receiver.requests[0]["body"]["text"]
    assert alerts(alert_settings) == [(DAY1, a, True) for a in sorted(scores)]


# -- the run-failure sensor -----------------------------------------------------------------------


@asset(partitions_def=daily_partitions)
def exploding_asset() -> None:
    raise ValueError(f"the landing folder is unreadable (token {TOKEN})")


def test_a_failed_run_is_told_with_job_run_step_error_and_day(
    alert_settings: Settings, instance: DagsterInstance, receiver: Receiver, monkeypatch
) -> None:
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/hook?token={TOKEN}")
    ticker = Ticker(alert_settings, instance)
    assert "Initiating" in ticker.tick(run_failure_sensor)  # Dagster's cursor starts now

    result = materialize(
        [exploding_asset], partition_key=DAY1, instance=instance, raise_on_error=False
    )
    assert not result.success
    ticker.tick(run_failure_sensor)
    (body,) = receiver.bodies()
    assert body["type"] == "run_failure"
    assert body["job_name"] == result.dagster_run.job_name
    assert body["run_id"] == result.run_id
    assert body["partitions"] == DAY1
    assert body["failed_steps"] == [
        {
            "step_key": "exploding_asset",
            "error": "ValueError: the landing folder is unreadable (token ***)",
        }
    ]
    assert receiver.requests[0]["headers"]["idempotency-key"] == body["message_id"]
    assert body["text"].splitlines()[0] == (
        f"Dagster run failed: job {result.dagster_run.job_name}, run {result.run_id}, "
        f"partition(s) {DAY1}"
    )
    # The failure was told once: the next tick finds nothing new.
    ticker.tick(run_failure_sensor)
    assert len(receiver.requests) == 1


def test_an_idle_tick_does_not_touch_the_warehouse(
    alert_settings: Settings, instance: DagsterInstance, monkeypatch
) -> None:
    monkeypatch.setenv("FRAUD_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{closed_port()}/x")
    message = Ticker(alert_settings, instance).tick()
    assert message == "no new fraud_dataset materializations and no pending alerts"


def test_build_alerts_keeps_each_day_within_its_budget_highest_risk_first() -> None:
    frame = high_risk_frame(
        [(DAY1, "d1", f"A{i}", 0.9 + i / 100, 0, "u1") for i in range(5)]
        + [(DAY2, "d2", "B", 0.95, 0, "u2")]
    ).assign(node_count=[300] * 5 + [300])
    built = build_alerts(frame, 0.8, budget_share=0.01)  # 3 alerts a day at 300 accounts
    assert list(zip(built["partition_date"], built["account"], strict=True)) == [
        (DAY1, "A4"),
        (DAY1, "A3"),
        (DAY1, "A2"),
        (DAY2, "B"),
    ]
    assert len(build_alerts(frame, 0.8)) == 6  # no budget given: every account


@pytest.mark.slow
def test_a_day_over_its_alert_budget_fails_its_check_and_alerts_only_the_budget(
    alert_settings: Settings,
    storage_dir: Path,
    instance: DagsterInstance,
    receiver: Receiver,
    monkeypatch,
) -> None:
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", f"{receiver.url}/hook")
    tight = dataclasses.replace(alert_settings, alert_budget_share=0.02)
    write_landing(storage_dir, DAY1, {"M1": 20, "M2": 15, "M3": 10})
    result = run_days(tight, instance, DAY1)
    scores = high_risk(tight, DAY1)
    accounts = len(node_scores(tight, DAY1))
    budget = max(1, int(accounts * 0.02))
    assert len(scores) > budget  # the day is over its budget...
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "alert_budget"]
    assert not check.passed  # ...which its check says, with the cause
    assert f"{len(scores)} of {accounts}" in check.description

    summary = Ticker(tight, instance).tick()
    assert f"{budget} new alerts; 1 messages delivered" in summary
    (body,) = receiver.bodies()
    assert body["alert_count"] == budget
    assert body["held_back"] == len(scores) - budget
    assert [a["account"] for a in body["top_accounts"]] == ranked(scores)[:budget]
    assert f"{len(scores) - budget} more accounts reached the threshold" in body["text"]
    assert [a for _, a, _ in alerts(tight)] == sorted(ranked(scores)[:budget])
