"""One instrumented Dagster run of a day in a child process (`pipeline_run.py`), with its RSS
sampled and its time broken down into stages; and the comparisons made of such runs (executors,
another revision's code)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import BENCH_DIR, DAY, GB, MILLION, REPO, log
from .memory import RssSampler
from .stages import breakdown, run_bounds
from .workspace import Workspace, generate, platform_env


@dataclass
class PlatformRun:
    """One Dagster run of one day, broken down into stages."""

    label: str
    rows: int
    files: int
    storage: Path
    schema: str
    success: bool = False
    error: str = ""
    process_wall: float = 0.0
    startup: float = 0.0
    run_wall: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    stage_peak_rss: dict[str, int] = field(default_factory=dict)
    peak_rss: int = 0
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    profile: str = ""

    @property
    def asset_work(self) -> float:
        """The run minus Dagster's share between steps: what the asset and check steps took."""
        return self.run_wall - self.stages.get("Dagster overhead", 0.0)

    def meta(self, asset: str, key: str, default: Any = None) -> Any:
        """An asset's output metadata value from the run (row counts, iterations, ...)."""
        return self.metadata.get(asset, {}).get(key, default)


def py_spy() -> str:
    """py-spy of this venv or the PATH; ``--profile`` cannot run without it."""
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


def run_platform(
    ws: Workspace,
    storage: Path,
    rows: int,
    files: int,
    dagster_url: str,
    limit: int,
    *,
    profile: bool = False,
    executor: str = "in_process",
    code: Path | None = None,
) -> PlatformRun:
    """One instrumented Dagster run of the day in a child process, with its RSS sampled."""
    label = f"{rows / MILLION:g}M" + (f" x{files}f" if files != 3 else "")
    label += " multiprocess" if executor == "multiprocess" else ""
    schema = ws.schema(f"run{len(ws.schemas)}")
    run = PlatformRun(label=label, rows=rows, files=files, storage=storage, schema=schema)
    out = ws.root / f"run_{len(ws.schemas)}.json"
    command = [sys.executable, str(BENCH_DIR / "pipeline_run.py"), "--day", DAY, "--out", str(out)]
    command += ["--executor", executor]
    if profile:
        run.profile = str(ws.root / f"profile_{len(ws.schemas)}.txt")
        # Sampling without pausing the run (--nonblocking) keeps the profiled run's timing close
        # to an unprofiled one; 100 samples a second, aggregated per function, is plenty here.
        # Idle samples count (-i): waiting for PostgreSQL or the disk is time the run spends;
        # per-thread stacks (-t) let the summary keep the main thread only.
        spy = [py_spy(), "record", "-r", "100", "-F", "-i", "-t", "--nonblocking", "-f", "raw"]
        command = [*spy, "-o", run.profile, "--", *command]
    log(f"platform run {label}{' (profiled)' if profile else ''}")
    started = time.time()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=platform_env(ws, storage, schema, dagster_url, code),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with RssSampler(process.pid, limit) as sampler:
        output, _ = process.communicate()
    run.process_wall = time.time() - started
    if sampler.killed_at is not None:
        run.error = f"killed at {sampler.killed_at / GB:.1f} GB (--memory-limit-gb)"
        return run
    if process.returncode != 0 or not out.exists():
        run.error = f"exit {process.returncode}: {output.decode(errors='replace')[-2000:]}"
        return run
    outcome = json.loads(out.read_text())
    run.success = outcome["success"]
    run.metadata = outcome["metadata"]
    run.stages, run.stage_peak_rss, run.run_wall = breakdown(outcome, sampler)
    run.startup = run_bounds(outcome["events"])[0] - started
    run.peak_rss = max(outcome["peak_rss_bytes"], sampler.peak_process())
    if not run.success:
        run.error = "the Dagster run failed"
    return run


def compare_note(current: PlatformRun, other: PlatformRun, revision: str) -> str:
    """This code against ``revision`` on the same day: run time and peak RSS, with ratios."""
    if not (current.success and other.success):
        return f"{current.label} vs {revision}: a run failed ({current.error or other.error})"
    return (
        f"{current.label} day, this code vs {revision} (same files, same machine, one after the "
        f"other): run {current.run_wall:.1f} s vs {other.run_wall:.1f} s = "
        f"{current.run_wall / other.run_wall:.2f}x; peak RSS {current.peak_rss / GB:.2f} GB vs "
        f"{other.peak_rss / GB:.2f} GB = {current.peak_rss / other.peak_rss:.2f}x"
    )


def compare_executors(ws: Workspace, rows: int, dagster_url: str, limit: int) -> str:
    """The same day run with the code location's in-process executor and with Dagster's
    multiprocess executor (one process per step), one after the other: a line of the report."""
    storage = ws.root / f"storage_{rows}_3"
    if not storage.exists():
        generate(storage, rows, 3)
    measured = {
        executor: run_platform(ws, storage, rows, 3, dagster_url, limit, executor=executor)
        for executor in ("in_process", "multiprocess")
    }
    if not all(r.success for r in measured.values()):
        return "executors: " + "; ".join(f"{k} failed: {r.error}" for k, r in measured.items())
    one, many = measured["in_process"], measured["multiprocess"]
    return (
        f"executor ({rows / MILLION:g}M day, run / process wall): in-process "
        f"{one.run_wall:.1f} s / {one.process_wall:.1f} s, multiprocess {many.run_wall:.1f} s / "
        f"{many.process_wall:.1f} s: in-process {many.process_wall / one.process_wall:.2f}x faster"
    )
