"""Deployment settings, read from the environment in one place.

Everything that differs between a laptop and production is an environment variable; nothing
secret is ever written to code, logs or metadata (`redact_url` is what may be shown).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fraud_platform.storage.paths import is_remote

DEFAULT_STORAGE_DIR = ".fraud_platform"
DEFAULT_VIEWER_BASE_URL = "http://127.0.0.1:8765"
#: The risk score is the model's probability of laundering: from 0.5 on, an account is more likely
#: laundering than not (on worlds the model never saw, precision stays above 80% there).
DEFAULT_HIGH_RISK_THRESHOLD = 0.5
#: The rules score (``FRAUD_RISK_SCORE=rules``) is a weighted sum of evidence, not a probability;
#: its components were weighted so that 0.8 takes two strong pieces of evidence.
RULES_HIGH_RISK_THRESHOLD = 0.8
#: An analyst team reviews a few alerts per thousand accounts a day; a day with more than this
#: share of its active accounts at high risk has a broken score or an incident, not a workload.
DEFAULT_ALERT_BUDGET_SHARE = 0.01
DEFAULT_DATABASE_SCHEMA = "fraud"
#: ``model``: the newest trained risk model (else the packaged one); ``rules``: the rules score.
RISK_SCORES = ("model", "rules")
#: The previous day is analysed at 02:00 UTC, once late files of the day have landed.
DEFAULT_DAILY_SCHEDULE_TIME = "02:00"
#: A landing CSV file larger than this (bytes, compressed as stored) fails its day before anything
#: is read, with a message naming the day and the file, rather than risking the worker's memory: a
#: CSV file is parsed whole (the day is streamed file by file, a Parquet file by row groups).
DEFAULT_MAX_FILE_BYTES = 4 * 1024**3


def alert_budget(accounts: int, share: float) -> int:
    """The most alerts a day of ``accounts`` active accounts may raise (at least one)."""
    return max(1, int(accounts * share))


def normalize_storage_url(url: str) -> str:
    """Local folders become absolute paths so every Dagster process agrees on them."""
    if is_remote(url):
        return url.rstrip("/")
    for scheme in ("file://", "local://"):
        url = url.removeprefix(scheme)
    return str(Path(url).expanduser().resolve())


def redact_url(url: str) -> str:
    """A URL with any password replaced by ``***``: the only form that may be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[-1]}"))


@dataclass(frozen=True)
class Settings:
    """What a deployment is: where files live, which database, where the viewer is."""

    storage_url: str
    database_url: str | None
    viewer_base_url: str
    high_risk_threshold: float
    alert_budget_share: float = DEFAULT_ALERT_BUDGET_SHARE
    database_schema: str = DEFAULT_DATABASE_SCHEMA
    graph_engine: str = "auto"
    risk_score: str = "model"
    daily_schedule_time: str = DEFAULT_DAILY_SCHEDULE_TIME
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: The dask-cuda cluster of the multigpu engine: a scheduler address or scheduler file.
    dask_scheduler: str | None = None

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            storage_url=normalize_storage_url(env.get("FRAUD_STORAGE_URL") or DEFAULT_STORAGE_DIR),
            database_url=env.get("FRAUD_DATABASE_URL") or None,
            viewer_base_url=(env.get("FRAUD_VIEWER_BASE_URL") or DEFAULT_VIEWER_BASE_URL).rstrip(
                "/"
            ),
            high_risk_threshold=float(
                env.get("FRAUD_HIGH_RISK_THRESHOLD")
                or (
                    RULES_HIGH_RISK_THRESHOLD
                    if env.get("FRAUD_RISK_SCORE") == "rules"
                    else DEFAULT_HIGH_RISK_THRESHOLD
                )
            ),
            alert_budget_share=float(
                env.get("FRAUD_ALERT_BUDGET_SHARE") or DEFAULT_ALERT_BUDGET_SHARE
            ),
            database_schema=env.get("FRAUD_DATABASE_SCHEMA") or DEFAULT_DATABASE_SCHEMA,
            graph_engine=env.get("FRAUD_GRAPH_ENGINE") or "auto",
            risk_score=env.get("FRAUD_RISK_SCORE") or "model",
            daily_schedule_time=env.get("FRAUD_DAILY_SCHEDULE_TIME") or DEFAULT_DAILY_SCHEDULE_TIME,
            max_file_bytes=int(env.get("FRAUD_MAX_FILE_BYTES") or DEFAULT_MAX_FILE_BYTES),
            dask_scheduler=(env.get("FRAUD_DASK_SCHEDULER") or "").strip() or None,
        )

    @property
    def daily_schedule_hour(self) -> int:
        return self._schedule_time()[0]

    @property
    def daily_schedule_minute(self) -> int:
        return self._schedule_time()[1]

    def _schedule_time(self) -> tuple[int, int]:
        hour, _, minute = self.daily_schedule_time.partition(":")
        try:
            parsed = int(hour), int(minute or 0)
        except ValueError:
            parsed = (-1, -1)
        if not (0 <= parsed[0] < 24 and 0 <= parsed[1] < 60):
            raise ValueError(
                f"FRAUD_DAILY_SCHEDULE_TIME must be HH:MM (UTC), not {self.daily_schedule_time!r}"
            )
        return parsed

    @property
    def dagster_home(self) -> Path:
        """The local Dagster instance the demo records its runs in."""
        if is_remote(self.storage_url):
            return Path.home() / DEFAULT_STORAGE_DIR / "dagster_home"
        return Path(self.storage_url) / "dagster_home"

    @property
    def landing_url(self) -> str:
        return f"{self.storage_url}/landing/transactions"

    @property
    def assets_url(self) -> str:
        return f"{self.storage_url}/assets"

    @property
    def embedded_postgres_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its data when no database URL is set."""
        if is_remote(self.storage_url):
            return Path.home() / DEFAULT_STORAGE_DIR / "postgres"
        return Path(self.storage_url) / "postgres"
