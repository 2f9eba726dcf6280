"""The backfill through dagster-webserver + dagster-daemon (``--backfill-days``): generated days,
the services started as operators start them, the job backfill launched as the UI launches it,
timed until it completes, with the whole process tree's memory."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from services import (
    backfill_ended,
    dagster_services,
    graphql,
    launch_job_backfill,
    wait_for_backfill,
)

from .common import DAY, GB, REPO, days_from, log
from .memory import SAMPLE_SECONDS, RssSampler
from .workspace import Workspace, generate, platform_env, psycopg_module

STEPS = """
query Steps($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { stepStats { stepKey status startTime endTime } }
  }
}
"""


@dataclass
class BackfillRun:
    """What the backfill took: generation, services' start, launch to the end, runs, memory."""

    days: int
    rows_per_day: int
    generate_seconds: float = 0.0
    services_ready_seconds: float = 0.0
    wall: float = 0.0
    status: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    datasets: int = 0
    peak_tree_rss: int = 0
    peak_process_rss: int = 0
    launch_time: float = 0.0
    error: str = ""


def run_backfill(
    ws: Workspace, days: int, rows_per_day: int, limit: int, timeout: float
) -> BackfillRun:
    """Generate ``days`` days, start dagster-webserver + dagster-daemon, launch the job backfill
    the way the UI does (GraphQL ``launchPartitionBackfill`` on ``daily_fraud_job``'s partition
    set: exactly those days, one run each) and time it until it completes."""
    result = BackfillRun(days=days, rows_per_day=rows_per_day)
    storage = ws.root / "backfill_storage"
    log(f"generating {days} days of {rows_per_day:,} rows")
    result.generate_seconds = generate(storage, rows_per_day, 3, days=days)
    schema = ws.schema("backfill")
    env = platform_env(ws, storage, schema, ws.database("backfill_dagster"))
    samplers: list[RssSampler] = []

    def ended(status: dict[str, Any]) -> bool:
        if backfill_ended(status):
            return True
        if any(s.killed_at for s in samplers):
            raise RuntimeError("stopped above the memory limit (--memory-limit-gb)")
        return False

    started = time.time()
    try:
        with dagster_services(env, ws.root, cwd=REPO) as services, ExitStack() as sampling:
            result.services_ready_seconds = time.time() - started
            samplers += [
                sampling.enter_context(RssSampler(p.pid, limit)) for p in services.processes
            ]
            log(f"launching the backfill of {days} days")
            result.launch_time = time.time()
            launched = launch_job_backfill(services.url, days_from(DAY, days))
            if launched["__typename"] != "LaunchBackfillSuccess":
                raise RuntimeError(f"backfill not launched: {launched}")
            status = wait_for_backfill(
                services.url, launched["backfillId"], timeout, every=1, until=ended
            )
            result.wall = time.time() - result.launch_time
            result.status = str(status.get("status"))
            result.runs = status.get("runs") or []
            for run in result.runs:
                stats = graphql(services.url, STEPS, {"id": run["runId"]})["runOrError"]
                run["steps"] = stats.get("stepStats") or []
        result.datasets = datasets_in(ws, schema)
    except (RuntimeError, OSError, psycopg_error()) as exc:
        result.error = str(exc)
    totals: dict[float, int] = defaultdict(int)
    for t, rss, _ in sorted(t for s in samplers for t in s.samples):
        totals[round(t / SAMPLE_SECONDS)] += rss  # the trees, sampled at nearly the same instants
    result.peak_tree_rss = max(totals.values(), default=0)
    result.peak_process_rss = max((s.peak_process() for s in samplers), default=0)
    return result


def datasets_in(ws: Workspace, schema: str) -> int:
    """Days the backfill published: rows of the warehouse's ``datasets`` table."""
    psycopg = psycopg_module()
    from psycopg import sql

    with psycopg.connect(ws.database_url) as connection:
        (count,) = connection.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "datasets"))
        ).fetchone()
    return count


def psycopg_error() -> type[Exception]:
    """psycopg's error class, without importing psycopg at module level."""
    return psycopg_module().Error


def backfill_lines(b: BackfillRun) -> list[str]:
    """The backfill's part of the report."""
    lines = [
        f"backfill: {b.days} days x {b.rows_per_day:,} rows, daily_fraud_job's partition set "
        "launched with GraphQL launchPartitionBackfill, run by dagster-daemon",
        f"  generate {b.generate_seconds:.0f} s; webserver up {b.services_ready_seconds:.0f} s; "
        f"launch to {b.status}: {b.wall:.0f} s ({b.wall / max(b.days, 1):.1f} s per day); "
        f"{b.datasets} datasets in the warehouse",
        f"  peak RSS: largest process {b.peak_process_rss / GB:.2f} GB, webserver + daemon + "
        f"runs together {b.peak_tree_rss / GB:.2f} GB",
    ]
    timed = [r for r in b.runs if r.get("startTime") and r.get("endTime")]
    statuses: dict[str, int] = defaultdict(int)
    for run in b.runs:
        statuses[run["status"]] += 1
    lines.append(
        f"  {len(b.runs)} runs: "
        + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    )
    if timed:
        took = sorted(r["endTime"] - r["startTime"] for r in timed)
        first = min(r["startTime"] for r in timed) - b.launch_time
        last = max(r["endTime"] for r in timed) - b.launch_time
        lines.append(
            f"  a run took {took[0]:.1f} / {took[len(took) // 2]:.1f} / {took[-1]:.1f} s "
            f"(min / median / max, its process start-up included); the first started {first:.0f} s "
            f"after the launch, the last ended {last:.0f} s after it"
        )
        per_step: dict[str, list[float]] = defaultdict(list)
        for run in timed:
            for step in run.get("steps", []):
                if step.get("startTime") and step.get("endTime"):
                    per_step[step["stepKey"]].append(step["endTime"] - step["startTime"])
        for key, values in per_step.items():
            lines.append(f"    {key:<46} {sum(values) / len(values):7.1f} s a day (mean)")
    return lines
