"""The command line of `daily_pipeline.py`: its options, and the order in which the runs, the
baselines, the profile and the backfill are done."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil

from .backfill import run_backfill
from .baseline_runs import BaselineRun, run_baseline
from .common import DEFAULT_DATABASE_URL, GB, MILLION, log
from .platform_run import PlatformRun, compare_executors, compare_note, run_platform
from .profile import profile_summary
from .report import load_note, report
from .revisions import platform_version, revision_worktree
from .workspace import Workspace, generate


def sizes_of(text: str) -> list[int]:
    """``--sizes`` (millions, comma-separated) as row counts."""
    return [round(float(part) * MILLION) for part in text.split(",") if part.strip()]


def counts_of(text: str) -> list[int]:
    """``--files`` (comma-separated) as file counts."""
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None, description: str = "") -> argparse.Namespace:
    """The options `benchmarks/README.md` documents."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", default="1,3,10", help="day sizes in millions of rows")
    parser.add_argument(
        "--files", default="3", help="landing files per day (e.g. 1,20: each size with each count)"
    )
    parser.add_argument("--baseline-size", type=float, default=1.0, help="baseline day (M rows)")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument(
        "--networkx-size",
        type=float,
        help="run networkx on a day of this size (M rows) and extrapolate linearly to "
        "--baseline-size, labelled as such (default: --baseline-size itself)",
    )
    parser.add_argument("--profile", action="store_true", help="one more run under py-spy")
    parser.add_argument(
        "--compare-executors",
        action="store_true",
        help="run the baseline-size day again in-process and with one process per step",
    )
    parser.add_argument("--backfill-days", type=int, default=0)
    parser.add_argument("--backfill-size", type=float, default=1.0, help="M rows per day")
    parser.add_argument("--backfill-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=16.0,
        help="stop a measured process tree above this RSS (the machine is shared)",
    )
    parser.add_argument(
        "--compare-with",
        metavar="REV",
        help="also run each day with the code of this git revision, on the same files",
    )
    parser.add_argument("--database-url", default=os.environ.get("FRAUD_DATABASE_URL"))
    parser.add_argument("--workdir", help="parent of the temporary folder (default: system tmp)")
    parser.add_argument("--keep", action="store_true", help="keep files, schemas and databases")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, description: str = "") -> int:
    """Run what the options ask for and print the report; 0 when every run succeeded."""
    args = parse_args(argv, description)
    limit = int(args.memory_limit_gb * GB)
    load_before = os.getloadavg()[0]
    notes = [
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / GB:.0f} GB; "
        f"python {sys.version.split()[0]}; platform {platform_version()}"
    ]
    with Workspace(args.database_url or DEFAULT_DATABASE_URL, args.keep, args.workdir) as ws:
        if args.backfill_days:
            backfill = run_backfill(
                ws,
                args.backfill_days,
                round(args.backfill_size * MILLION),
                limit,
                args.backfill_timeout,
            )
            notes.append(load_note(load_before))
            print(report([], [], backfill, notes))
            return 0 if not backfill.error else 1

        dagster_url = ws.database("dagster")
        wanted = [(rows, files) for rows in sizes_of(args.sizes) for files in counts_of(args.files)]
        baseline_rows = round(args.baseline_size * MILLION)
        networkx_rows = round((args.networkx_size or args.baseline_size) * MILLION)
        if not args.skip_baselines:
            for rows in {baseline_rows} | ({networkx_rows} - {0}):
                if not any(r == rows for r, _ in wanted):
                    wanted.append((rows, 3))
        wanted.sort()
        runs: list[PlatformRun] = []
        for rows, files in wanted:
            storage = ws.root / f"storage_{rows}_{files}"
            log(f"generating {rows:,} rows in {files} file(s)")
            seconds = generate(storage, rows, files)
            log(f"generated in {seconds:.1f} s")
            runs.append(run_platform(ws, storage, rows, files, dagster_url, limit))
            if not runs[-1].success:
                log(f"run {runs[-1].label} failed: {runs[-1].error}")
            if args.compare_with:
                with revision_worktree(args.compare_with, ws.root / "revision") as code:
                    other = run_platform(ws, storage, rows, files, dagster_url, limit, code=code)
                notes.append(compare_note(runs[-1], other, args.compare_with))

        baselines: list[BaselineRun] = []
        if not args.skip_baselines:

            def platform_at(rows: int) -> PlatformRun:
                return next(r for r in runs if r.rows == rows and r.files == 3)

            if not args.skip_networkx:
                baselines.append(
                    run_baseline(
                        ws,
                        "networkx",
                        platform_at(networkx_rows),
                        limit,
                        scale=baseline_rows / networkx_rows,
                    )
                )
            baselines.append(run_baseline(ws, "igraph", platform_at(baseline_rows), limit))
            for b in baselines:
                if b.scale != 1.0:
                    # The ratio is taken against the platform at the size extrapolated to.
                    b.label = platform_at(baseline_rows).label
        if args.compare_executors:
            notes.append(compare_executors(ws, baseline_rows, dagster_url, limit))
        profile_lines: list[str] = []
        if args.profile:
            rows, files = wanted[-1]
            storage = ws.root / f"storage_{rows}_{files}"
            profiled = run_platform(ws, storage, rows, files, dagster_url, limit, profile=True)
            if profiled.success and Path(profiled.profile).exists():
                profile_lines = [
                    f"profile of the {profiled.label} run (py-spy, 100 Hz; this run took "
                    f"{profiled.run_wall:.1f} s, not in the table):",
                    *profile_summary(Path(profiled.profile)),
                ]
            else:
                profile_lines = [f"profile run failed: {profiled.error}"]
        notes.append(load_note(load_before))
        print(report(runs, baselines, None, notes + profile_lines))
        return 0 if all(r.success for r in runs) else 1
