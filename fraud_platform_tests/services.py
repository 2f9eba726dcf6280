"""Starting and stopping Dagster's services as operators run them: one launcher for the tests and
the benchmarks.

`dagster-webserver`, `dagster-daemon run` and `dagster-celery` workers each run in a process (and
session) of their own with their output in a log file, and are stopped by process group, TERM
then KILL. Backfills are launched with the GraphQL mutation the UI sends and followed with the
query the UI polls. Only the standard library and ``requests`` are imported at module level, so
that the benchmarks (which may run without the test extra) import this module as it is; the
tests import it directly (``fraud_platform_tests`` is on pytest's path) and the benchmarks put
this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO / "workspace.yaml"
WORKER_YAML = REPO / "deploy" / "celery" / "worker.yaml"
#: What a job backfill of the daily job names: its partition set in the code location.
PARTITION_SET = "daily_fraud_job_partition_set"
REPOSITORY = "__repository__"
LOCATION = "fraud_platform"
#: A backfill still working: any other status is final.
BACKFILL_WORKING = ("REQUESTED", "CANCELING", "FAILING")

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      runs { runId status startTime endTime tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""
RUNS = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def dagster_command(name: str = "dagster") -> str:
    """A console script of the running venv (dagster-webserver, dagster-daemon, ...): the
    services run the code of the interpreter that starts them, whatever the PATH says."""
    return str(Path(sys.executable).with_name(name))


def clean_env() -> dict[str, str]:
    """The environment without any FRAUD_ or DAGSTER_ setting of the machine running this, so
    that only what the caller sets configures the services."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FRAUD_", "DAGSTER_"))}


def make_dagster_home(home: Path, instance_yaml: Path) -> Path:
    """A new ``DAGSTER_HOME`` holding a copy of ``instance_yaml`` (edits stay in the copy)."""
    home.mkdir(parents=True)
    shutil.copy(instance_yaml, home / "dagster.yaml")
    return home


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen:
    """``command`` in a process and session of its own (so that its whole group can be stopped,
    and Ctrl-C reaches only the caller), its output in ``log``; working folder ``cwd`` or the
    log's folder."""
    with log.open("w") as handle:
        return subprocess.Popen(
            list(command),
            cwd=cwd or log.parent,
            env=dict(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def stop(processes: Sequence[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM each process's group, then SIGKILL the groups still there after ``grace`` s
    (the webserver and daemon stop their own children on TERM; KILL leaves none behind)."""
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def webserver_ready(port: int, timeout: float, every: float = 0.5) -> bool:
    """Whether a `dagster-webserver` on loopback ``port`` answers within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return True
        time.sleep(every)
    return False


def wait_until_serving(port: int, log: Path, timeout: float = 120) -> None:
    """Wait for a `dagster-webserver` on loopback ``port`` to answer; fail the test with its
    ``log``."""
    if not webserver_ready(port, timeout):
        import pytest  # only tests call this; the benchmarks run without pytest

        pytest.fail("webserver did not start: " + log.read_text()[-3000:])


def graphql(url: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data`` of a GraphQL answer; an answer with ``errors`` raises, naming them."""
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body}")
    return body["data"]


def launch_job_backfill(
    url: str, days: Sequence[str], tags: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The UI's "Launch backfill" of ``daily_fraud_job`` on ``days``: one run per day, exactly
    those days (an asset backfill would also take the days account_history's window reads).
    The mutation's answer, for the caller to check (``__typename``, ``backfillId``)."""
    params = {
        "selector": {
            "partitionSetName": PARTITION_SET,
            "repositorySelector": {
                "repositoryName": REPOSITORY,
                "repositoryLocationName": LOCATION,
            },
        },
        "partitionNames": list(days),
        "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
    }
    return graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]


def backfill_ended(status: Mapping[str, Any]) -> bool:
    """Whether a backfill's status is final (its runs may still be finishing)."""
    return status.get("status") not in BACKFILL_WORKING


def wait_for_backfill(
    url: str,
    backfill_id: str,
    timeout: float,
    every: float = 3,
    until: Callable[[dict[str, Any]], bool] = backfill_ended,
) -> dict[str, Any]:
    """The backfill's last status (``status`` and ``runs``) once ``until`` holds for it, or when
    ``timeout`` s have passed (the caller judges it)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if until(status):
            break
        time.sleep(every)
    return status


def runs_tagged(url: str, tags: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Every run carrying ``tags`` (``[{"key": ..., "value": ...}]``), newest first."""
    return graphql(url, RUNS, {"tags": list(tags)})["runsOrError"]["results"]


def worker_command(queue: str, name: str) -> list[str]:
    """`dagster-celery worker start` on ``queue``, one run at a time (so that days spread)."""
    return [
        dagster_command("dagster-celery"),
        *("worker", "start", "-A", "dagster_celery.app", "-y", str(WORKER_YAML)),
        *("-q", queue, "-n", name, "--", "--concurrency=1"),
    ]


@dataclass
class Services:
    """Running services: the webserver's port and GraphQL URL, each worker's process and
    folder, and every process started (workers, daemon, webserver)."""

    port: int
    workers: dict[str, subprocess.Popen]
    folders: dict[str, Path]
    processes: list[subprocess.Popen]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"


@contextlib.contextmanager
def dagster_services(
    env: Mapping[str, str],
    folder: Path,
    *,
    workers: Sequence[str] = (),
    queue: str = "",
    prefixes: Mapping[str, Sequence[str]] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> Iterator[Services]:
    """``dagster-webserver`` and ``dagster-daemon run`` on the repository's workspace, and a
    celery worker on ``queue`` per name in ``workers``, until the block ends.

    The services log to ``folder`` and run in ``cwd`` (default ``folder``); worker ``name``
    logs to ``folder/name/worker.log``, runs there, is the celery node ``{queue}-{name}`` and is
    started behind ``prefixes[name]`` (a network namespace, say). Raises RuntimeError, with the
    webserver's log, when it does not answer within ``timeout`` s.
    """
    port = free_port()
    folders = {name: folder / name for name in workers}
    started: dict[str, subprocess.Popen] = {}
    processes: list[subprocess.Popen] = []
    try:
        for name in workers:
            folders[name].mkdir(parents=True, exist_ok=True)
            command = [*(prefixes or {}).get(name, ()), *worker_command(queue, f"{queue}-{name}")]
            started[name] = start(command, env, folders[name] / "worker.log")
            processes.append(started[name])
        workspace = ("-w", str(WORKSPACE))
        webserver = [dagster_command("dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
        for command, log in (
            ([dagster_command("dagster-daemon"), "run", *workspace], "daemon.log"),
            ([*webserver, *workspace], "webserver.log"),
        ):
            processes.append(start(command, env, folder / log, cwd=cwd or folder))
        if not webserver_ready(port, timeout):
            tail = (folder / "webserver.log").read_text()[-3000:]
            raise RuntimeError(f"dagster-webserver did not start within {timeout:g} s: {tail}")
        yield Services(port, started, folders, processes)
    finally:
        stop(processes)
