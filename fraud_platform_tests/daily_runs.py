"""One day through every daily asset in this process (`dagster.materialize`), as the tests run it."""

from __future__ import annotations

from typing import Any

from dagster import ExecuteInProcessResult, materialize

from fraud_platform.definitions import daily_assets
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings


def materialize_day(
    settings: Settings, day: str, *, resources: dict[str, Any] | None = None, **kwargs: Any
) -> ExecuteInProcessResult:
    """``day`` through every daily asset with the deployment ``settings`` describe (or
    ``resources``); ``kwargs`` go to `materialize` (``instance``, ``raise_on_error``, ...)."""
    return materialize(
        daily_assets,
        partition_key=day,
        resources=resources or deployment_resources(settings),
        **kwargs,
    )
