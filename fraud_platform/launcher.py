"""The worker pool's run launcher: dagster-celery's `CeleryRunLauncher`, plus the two failures it
leaves to the operator.

* A worker killed mid-run (SIGKILL, a lost machine) never reports back: its celery task stays
  STARTED in the result backend, so the stock launcher tells Dagster's run monitoring the run is
  still running, for ever. This launcher asks the worker that started the task to answer a ping;
  a worker that does not answer twice is reported dead, and run monitoring fails the run (and
  ``run_retries`` in deploy/celery/dagster.yaml launches it again on a live worker).
* An unreachable broker surfaces as kombu's bare "[Errno 111] Connection refused". This launcher
  names the broker (its password masked) and the setting, and says that nothing ran, which is
  the message the daemon stores with the failed run.

Everything else is the stock launcher: one celery task per run, the queue from the run's
``dagster-celery/queue`` tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import DagsterRun, Field, IntSource

# Dagster exports no public API for writing a run launcher: its own integrations (dagster-celery,
# dagster-k8s, dagster-docker) import these from dagster._core.launcher, as this module must.
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from kombu.exceptions import OperationalError
from kombu.utils.url import sanitize_url

#: Pings sent to a worker before it is declared gone; one lost reply is not a dead worker.
PINGS = 2


class BrokerUnreachableError(RuntimeError):
    """The run could not be handed to the celery broker; it did not start and wrote nothing."""


class PoolRunLauncher(CeleryRunLauncher):
    """`CeleryRunLauncher` that notices a dead worker and names an unreachable broker."""

    def __init__(self, *, worker_ping_timeout: int = 5, **kwargs: Any) -> None:
        self.worker_ping_timeout = worker_ping_timeout
        super().__init__(**kwargs)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **super().config_type(),
            "worker_ping_timeout": Field(
                IntSource,
                is_required=False,
                default_value=5,
                description="Seconds a worker has to answer each of two pings before a run it "
                "started is declared lost.",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> PoolRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        try:
            super().launch_run(context)
        except OperationalError as error:
            raise BrokerUnreachableError(
                f"cannot reach the celery broker {sanitize_url(self.broker or '')} "
                f"(FRAUD_CELERY_BROKER): {error}. The run was not started and wrote nothing; "
                "launch it again once the broker answers."
            ) from error

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status != WorkerStatus.RUNNING:
            return health
        worker = self._started_by(run)
        if worker is None or self._answers(worker):
            return health
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"celery worker {worker}, which started this run, did not answer {PINGS} pings of "
            f"{self.worker_ping_timeout} s: it was killed or its machine was lost",
        )

    def _started_by(self, run: DagsterRun) -> str | None:
        """The node name of the worker that started the run's task (celery's STARTED meta)."""
        info = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG]).info
        return info.get("hostname") if isinstance(info, dict) else None

    def _answers(self, worker: str) -> bool:
        for _ in range(PINGS):
            if self.celery.control.ping(destination=[worker], timeout=self.worker_ping_timeout):
                return True
        return False
