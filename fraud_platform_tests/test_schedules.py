"""The nightly schedule asks for yesterday; the weekly one for last week; the time is configurable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dagster import DefaultScheduleStatus, build_schedule_context

from fraud_platform.definitions import defs
from fraud_platform.schedules import daily_schedule
from fraud_platform.settings import Settings


def run_requests(schedule_name: str, when: datetime) -> list:
    schedule = defs.resolve_schedule_def(schedule_name)
    context = build_schedule_context(scheduled_execution_time=when)
    return list(schedule.evaluate_tick(context).run_requests or [])


def test_nightly_schedule_runs_yesterday_at_two_utc() -> None:
    schedule = defs.resolve_schedule_def("daily_fraud_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    (request,) = run_requests("daily_fraud_schedule", datetime(2024, 10, 8, 2, 0, tzinfo=UTC))
    assert request.partition_key == "2024-10-07"
    assert defs.resolve_job_def("daily_fraud_job").name == schedule.job_name


def test_weekly_schedule_runs_the_week_that_ended() -> None:
    (request,) = run_requests("weekly_trends_schedule", datetime(2024, 10, 14, 6, 0, tzinfo=UTC))
    assert request.partition_key == "2024-10-07"


def test_schedule_time_is_configurable() -> None:
    settings = Settings.from_env({"FRAUD_DAILY_SCHEDULE_TIME": "03:30"})
    schedule = daily_schedule(settings)
    assert (schedule.hour_of_day, schedule.minute_of_hour) == (3, 30)
    with pytest.raises(ValueError, match="HH:MM"):
        daily_schedule(Settings.from_env({"FRAUD_DAILY_SCHEDULE_TIME": "25:00"}))


@pytest.mark.parametrize("name", ["daily_fraud_schedule", "weekly_trends_schedule"])
def test_schedules_run_without_being_switched_on(name: str) -> None:
    assert defs.resolve_schedule_def(name).default_status == DefaultScheduleStatus.RUNNING
