"""The alerts area: high-risk accounts and failed runs, told to people exactly once.

See logic.py for the rules, resources.py for the channels and the ``alerts`` table, sensors.py for
the Dagster wiring. The sensors also need the deployment's ``warehouse`` and ``publishing``
resources (`fraud_platform.deployment.deployment_resources`).

Environment (every channel optional; the Dagster log always gets the alerts):

- ``FRAUD_ALERT_WEBHOOK_URL``: JSON POST target, sent with an ``Idempotency-Key`` header;
- ``SLACK_BOT_TOKEN`` and ``FRAUD_ALERT_SLACK_CHANNEL``: post to Slack (both or neither);
  ``FRAUD_ALERT_SLACK_API_URL`` replaces ``https://slack.com/api/`` (a proxy, a test server);
- ``FRAUD_ALERT_TOP_N``: accounts listed per day's message (default 10);
- ``FRAUD_DISMISS_MARGIN``: how much a dismissed account's score must rise over the dismissed
  score before it alerts again (default 0.1).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar, SensorDefinition

from fraud_platform.defs.alerts.logic import DEFAULT_TOP_N
from fraud_platform.defs.alerts.resources import (
    DEFAULT_SLACK_API_URL,
    AlertOptions,
    SlackChannel,
    WebhookChannel,
)
from fraud_platform.defs.alerts.sensors import fraud_alert_sensor, run_failure_sensor
from fraud_platform.defs.cases.logic import DEFAULT_DISMISS_MARGIN
from fraud_platform.settings import Settings

WEBHOOK_URL_ENV = "FRAUD_ALERT_WEBHOOK_URL"
SLACK_TOKEN_ENV = "SLACK_BOT_TOKEN"
SLACK_CHANNEL_ENV = "FRAUD_ALERT_SLACK_CHANNEL"
SLACK_API_URL_ENV = "FRAUD_ALERT_SLACK_API_URL"
TOP_N_ENV = "FRAUD_ALERT_TOP_N"
DISMISS_MARGIN_ENV = "FRAUD_DISMISS_MARGIN"

alert_sensors: list[SensorDefinition] = [fraud_alert_sensor, run_failure_sensor]


def alert_resources(settings: Settings) -> dict[str, Any]:
    """The alert resources (keys ``alert_webhook``, ``alert_slack``, ``alert_options``).

    The channels are read from the environment, not from ``settings``: the warehouse and the
    threshold reach the sensors through `deployment_resources(settings)`. Secrets are passed as
    `EnvVar`, so Dagster resolves them when a sensor runs and never shows their values.
    """
    env = os.environ
    token_set = bool(env.get(SLACK_TOKEN_ENV))
    channel = env.get(SLACK_CHANNEL_ENV) or ""
    if token_set and not channel:
        raise ValueError(f"{SLACK_TOKEN_ENV} is set but {SLACK_CHANNEL_ENV} is not")
    try:
        top_n = int(env.get(TOP_N_ENV) or DEFAULT_TOP_N)
    except ValueError:
        raise ValueError(f"{TOP_N_ENV} must be a whole number of accounts") from None
    try:
        dismiss_margin = float(env.get(DISMISS_MARGIN_ENV) or DEFAULT_DISMISS_MARGIN)
    except ValueError:
        raise ValueError(f"{DISMISS_MARGIN_ENV} must be a number (a risk score margin)") from None
    return {
        "alert_webhook": WebhookChannel(
            url=EnvVar(WEBHOOK_URL_ENV) if env.get(WEBHOOK_URL_ENV) else ""
        ),
        "alert_slack": SlackChannel(
            token=EnvVar(SLACK_TOKEN_ENV) if token_set else "",
            channel=channel,
            base_url=env.get(SLACK_API_URL_ENV) or DEFAULT_SLACK_API_URL,
        ),
        "alert_options": AlertOptions(top_n=top_n, dismiss_margin=dismiss_margin),
    }


__all__ = ["alert_resources", "alert_sensors", "fraud_alert_sensor", "run_failure_sensor"]
