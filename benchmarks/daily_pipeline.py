"""Scale benchmark of the daily pipeline: real Dagster runs, stage by stage, against baselines.

For every day size asked for, a generated day (`fraud_platform.sample_data`) goes through
``daily_fraud_job`` in ONE Dagster run in its own process, with the real resources and IO managers
(Parquet in a fresh storage folder, PostgreSQL in a fresh schema, Dagster's own storage in a fresh
database through the repository's ``dagster.yaml``). `pipeline_run.py` wraps the functions the
assets call and the IO managers' methods with timers; the run's event log gives the step windows.
Stage times are self times (PageRank and Louvain are taken out of scoring, the Parquet write and
the PostgreSQL load out of the dataset's output); what no stage accounts for in the run is Dagster
overhead. The process's RSS is sampled every 50 ms (peak per stage) and its kernel high-water mark
is read at the end. On the 1M day, pandas + networkx and pandas + igraph pipelines
(`baselines.py`) run on the same landing files, and their results are checked against the
platform's: PageRank within 1e-6 (L1), modularity within 2%, same row counts.

    python benchmarks/daily_pipeline.py --sizes 1,3,10          # the table; ~20 min on 2 cores
    python benchmarks/daily_pipeline.py --sizes 3 --files 1,20 --skip-baselines
    python benchmarks/daily_pipeline.py --sizes 1 --profile      # + where the time goes (py-spy)
    python benchmarks/daily_pipeline.py --backfill-days 30       # webserver + daemon backfill
    python benchmarks/daily_pipeline.py --sizes 10 --skip-baselines --compare-with 139783c

``--compare-with REV`` runs each day a second time with the platform's code as of git revision
REV (a temporary worktree first on the run's PYTHONPATH), on the same landing files, and prints
both run times and peak RSS with their ratios: what a change costs, measured in one invocation.

``FRAUD_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names the server;
the benchmark creates its schemas and a Dagster database there and drops them at the end, and
keeps its files in a temporary folder that it deletes (``--keep`` keeps both).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY = "2024-10-01"
MILLION = 1_000_000
GB = 1024**3
SAMPLE_SECONDS = 0.05

#: Stages in report order; pipeline_run.py labels map onto them (`STAGE_OF_LABEL`).
STAGES = (
    "read+validate",
    "graph build",
    "PageRank",
    "layout",
    "Louvain wait",
    "scoring",
    "dataset build",
    "asset metadata",
    "Parquet write",
    "Parquet read",
    "PostgreSQL load",
    "PostgreSQL read",
    "asset checks",
    "in-step other",
    "Dagster overhead",
)
#: Stages timed on worker threads, beside the main thread's stages (not part of their sum).
PARALLEL_STAGES = ("Louvain", "Parquet write (dataset)")
STAGE_OF_LABEL = {"engine graph build": "graph build"}
BASELINE_STAGES = ("read+validate", "graph build", "PageRank", "Louvain", "PostgreSQL load")

# Targets (2 cores, 24 GB, CPU engine).
TARGET_10M_SECONDS = 60.0
TARGET_10M_RSS = 6 * GB
TARGET_1M_COMPUTE_SECONDS = 10.0
TARGET_NETWORKX_RATIO = 20.0
TARGET_IGRAPH_RATIO = 3.0
TARGET_BACKFILL_SECONDS = 8 * 60.0
TARGET_PAGERANK_L1 = 1e-6
TARGET_MODULARITY_SHARE = 0.02
#: Linear cost: seconds (and peak RSS) per million rows at the largest size within this factor
#: of the smallest size's.
TARGET_LINEAR_FACTOR = 1.25

DAILY_ASSET_KEYS = (
    "raw_transactions",
    "rejected_transactions",
    "transaction_graph",
    "account_features",
    "account_history",
    "account_scores",
    "fraud_dataset",
)


def log(message: str) -> None:
    """Progress goes to stderr; the report alone goes to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- memory sampling -------------------------------------------------------------------------------


class RssSampler:
    """Samples the RSS of a process tree every 50 ms, and kills the tree above ``limit``.

    The limit protects a shared machine: a run that would exhaust it is stopped and reported,
    not left to the kernel's OOM killer (which may pick another process).
    """

    def __init__(self, pid: int, limit: int) -> None:
        self.pid = pid
        self.limit = limit
        self.samples: list[tuple[float, int, int]] = []  # time, tree RSS, largest process RSS
        self.killed_at: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.pid)
        return [root, *root.children(recursive=True)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sizes = []
                for process in self._tree():
                    with contextlib.suppress(psutil.Error):
                        sizes.append(process.memory_info().rss)
            except psutil.Error:
                return
            total = sum(sizes)
            self.samples.append((time.time(), total, max(sizes, default=0)))
            if total > self.limit and self.killed_at is None:
                self.killed_at = total
                kill_tree(self.pid)
            self._stop.wait(SAMPLE_SECONDS)

    def peak(self, start: float = -math.inf, end: float = math.inf) -> int:
        """Largest tree RSS sampled within [start, end], widened by one sampling period so that
        an interval shorter than the period still sees the samples around it."""
        start, end = start - SAMPLE_SECONDS, end + SAMPLE_SECONDS
        return max((rss for t, rss, _ in self.samples if start <= t <= end), default=0)

    def peak_process(self) -> int:
        return max((largest for _, _, largest in self.samples), default=0)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (children first, so none is re-parented)."""
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


# -- the workspace: temporary files, schemas and a Dagster database --------------------------------


def _psycopg() -> Any:
    import psycopg

    return psycopg


class Workspace:
    """Everything the benchmark creates, removed on exit unless ``keep``."""

    def __init__(self, database_url: str, keep: bool, workdir: str | None) -> None:
        self.database_url = database_url
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="fraud_bench_", dir=workdir))
        self.tag = uuid.uuid4().hex[:10]
        self.schemas: list[str] = []
        self.databases: list[str] = []

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            log(f"kept {self.root}, schemas {self.schemas}, databases {self.databases}")
            return
        psycopg = _psycopg()
        from psycopg import sql

        with psycopg.connect(self.database_url, autocommit=True) as connection:
            for schema in self.schemas:
                connection.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
            for database in self.databases:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
        shutil.rmtree(self.root, ignore_errors=True)

    def schema(self, name: str) -> str:
        schema = f"bench_{self.tag}_{name}"
        self.schemas.append(schema)
        return schema

    def database(self, name: str) -> str:
        """A new empty database on the server; its libpq URL."""
        psycopg = _psycopg()
        from psycopg import sql

        database = f"bench_{self.tag}_{name}"
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        self.databases.append(database)
        info = psycopg.conninfo.conninfo_to_dict(self.database_url) | {"dbname": database}
        return url_of(info)

    def dagster_home(self) -> Path:
        home = self.root / "dagster_home"
        if not home.exists():
            home.mkdir()
            shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        return home


def url_of(info: dict[str, Any]) -> str:
    """A ``postgresql://`` URL from libpq parameters (Dagster's storage wants the URL form)."""
    from urllib.parse import quote

    user = quote(str(info.get("user") or "postgres"))
    password = f":{quote(str(info['password']))}" if info.get("password") else ""
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or 5432
    if str(host).startswith("/"):
        return f"postgresql://{user}{password}@/{info['dbname']}?host={host}&port={port}"
    return f"postgresql://{user}{password}@{host}:{port}/{info['dbname']}"


# -- generated days --------------------------------------------------------------------------------


def _generate(storage: str, first_day: str, days: int, transactions: int, files: int) -> None:
    """Write ``days`` landing days (runs in a child process: a 10M day takes about 3 GB)."""
    from fraud_platform.sample_data.generator import SampleConfig, generate_days

    config = SampleConfig(transactions_per_day=transactions, files_per_day=files)
    generate_days(storage, date.fromisoformat(first_day), days, config, keep_transactions=False)


def generate(storage: Path, transactions: int, files: int, days: int = 1) -> float:
    """Generate landing files under ``storage`` in a child process; seconds taken."""
    start = time.perf_counter()
    process = multiprocessing.get_context("spawn").Process(
        target=_generate, args=(str(storage), DAY, days, transactions, files)
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"generating {transactions:,} rows failed (exit {process.exitcode})")
    return time.perf_counter() - start


# -- one platform run ------------------------------------------------------------------------------


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
        return self.metadata.get(asset, {}).get(key, default)


def self_times(intervals: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each interval with its self time (its duration minus the intervals nested in it).

    Intervals of one thread are either nested or disjoint; each thread is taken on its own.
    """
    out: list[dict[str, Any]] = []
    for main in (True, False):
        ordered = sorted(
            (i for i in intervals if i.get("main", True) is main),
            key=lambda i: (i["start"], -i["end"]),
        )
        stack: list[dict[str, Any]] = []
        for interval in ordered:
            while stack and interval["start"] >= stack[-1]["end"]:
                stack.pop()
            node = dict(interval, self=interval["end"] - interval["start"])
            if stack:
                stack[-1]["self"] -= node["self"]
            stack.append(node)
            out.append(node)
    return out


def louvain_waits(intervals: Sequence[dict[str, Any]]) -> float:
    """Seconds the main thread waited for Louvain: from the end of its last own algorithm
    (PageRank, layout) in the day's scoring to the end of Louvain on its worker thread."""
    waited = 0.0
    for louvain in (i for i in intervals if i["label"] == "Louvain" and not i.get("main", True)):
        own = [
            i["end"]
            for i in intervals
            if i.get("main", True)
            and i["label"] in ("PageRank", "layout")
            and louvain["start"] - 1.0 <= i["start"] <= louvain["end"]
        ]
        waited += max(0.0, louvain["end"] - max(own, default=louvain["start"]))
    return waited


def step_windows(events: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float, bool]]:
    """Step key -> (start, end, is an asset-check step) from the run's event log."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    kinds: dict[str, set[str]] = defaultdict(set)
    for event in events:
        step = event["step"]
        if not step:
            continue
        kinds[step].add(event["type"])
        if event["type"] == "STEP_START":
            starts[step] = event["ts"]
        elif event["type"] in ("STEP_SUCCESS", "STEP_FAILURE"):
            ends[step] = event["ts"]
    return {
        step: (
            starts[step],
            ends.get(step, starts[step]),
            "ASSET_CHECK_EVALUATION" in kinds[step] and "ASSET_MATERIALIZATION" not in kinds[step],
        )
        for step in starts
    }


def run_bounds(events: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """Start and end of the run (RUN_START and RUN_SUCCESS/FAILURE, 'PIPELINE_' in the log)."""
    start = next(e["ts"] for e in events if e["type"] in ("PIPELINE_START", "RUN_START"))
    end = max(e["ts"] for e in events)
    return start, end


def breakdown(
    outcome: dict[str, Any], sampler: RssSampler
) -> tuple[dict[str, float], dict[str, int], float]:
    """Seconds and peak RSS per stage, and the run's wall time, from a pipeline_run.py result."""
    start, end = run_bounds(outcome["events"])
    windows = step_windows(outcome["events"]).values()
    checks = [(s, e) for s, e, is_check in windows if is_check]
    assets = [(s, e) for s, e, is_check in windows if not is_check]
    seconds: dict[str, float] = dict.fromkeys((*STAGES, *PARALLEL_STAGES), 0.0)
    peaks: dict[str, int] = dict.fromkeys((*STAGES, *PARALLEL_STAGES), 0)
    check_steps = sum(e - s for s, e in checks)  # checks in steps of their own, if any
    seconds["asset checks"] = check_steps
    for s, e in checks:
        peaks["asset checks"] = max(peaks["asset checks"], sampler.peak(s, e))
    for interval in self_times(outcome["intervals"]):
        if any(s <= interval["start"] <= e for s, e in checks):
            continue
        stage = STAGE_OF_LABEL.get(interval["label"], interval["label"])
        if not interval.get("main", True):
            stage = stage if stage in PARALLEL_STAGES else f"{stage} (dataset)"
        seconds[stage] += interval["self"]
        peaks[stage] = max(peaks[stage], sampler.peak(interval["start"], interval["end"]))
    # The main thread's wait for Louvain is inside scoring's self time: it is Louvain's share
    # of the run's path.
    waited = min(louvain_waits(outcome["intervals"]), seconds["scoring"])
    seconds["scoring"] -= waited
    seconds["Louvain wait"] = waited
    peaks["Louvain wait"] = peaks["Louvain"]
    wall = end - start
    # Inside the asset steps, what no timer covers: Dagster's per-step work (events, output
    # metadata) and asset code not wrapped by pipeline_run.py. Outside them: the run's own.
    in_steps = sum(e - s for s, e in assets)
    on_path = sum(seconds[s] for s in STAGES)
    seconds["in-step other"] = in_steps - (on_path - check_steps)
    peaks["in-step other"] = max((sampler.peak(s, e) for s, e in assets), default=0)
    seconds["Dagster overhead"] = wall - sum(seconds[s] for s in STAGES)
    peaks["Dagster overhead"] = sampler.peak(start, end)
    return seconds, peaks, wall


def platform_env(
    ws: Workspace, storage: Path, schema: str, dagster_url: str, code: Path | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRAUD_", "DAGSTER_"))}
    if code is not None:  # another revision's fraud_platform, ahead of the installed one
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env | {
        "FRAUD_STORAGE_URL": str(storage),
        "FRAUD_DATABASE_URL": ws.database_url,
        "FRAUD_DATABASE_SCHEMA": schema,
        "FRAUD_GRAPH_ENGINE": "cpu",
        "DAGSTER_HOME": str(ws.dagster_home()),
        "DAGSTER_PG_URL": dagster_url,
    }


def py_spy() -> str:
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


@contextlib.contextmanager
def revision_worktree(revision: str, path: Path) -> Iterator[Path]:
    """A detached git worktree of ``revision`` at ``path``, removed afterwards."""
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--force", str(path), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
        )


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


# -- profile summary -------------------------------------------------------------------------------

#: (function name, file fragment) -> stage, for attributing py-spy stacks; deepest match wins.
PROFILE_FRAMES = (
    ("stream_day", "ingest/logic.py", "read+validate"),
    ("write_table", "pyarrow/parquet", "Parquet write"),
    ("build_transaction_graph", "graph/logic.py", "graph build"),
    ("__init__", "engines/cpu.py", "graph build"),
    ("score_graph", "analytics/logic.py", "scoring"),
    ("pagerank", "engines/cpu.py", "PageRank"),
    ("louvain", "engines/cpu.py", "Louvain"),
    ("layout", "engines/cpu.py", "layout"),
    ("top_accounts_markdown", "viewer/preview.py", "asset metadata"),
    ("build_fraud_dataset", "datasets/logic.py", "dataset build"),
    ("handle_output", "storage/object_store.py", "Parquet write"),
    ("load_input", "storage/object_store.py", "Parquet read"),
    ("handle_output", "db_io_manager.py", "PostgreSQL load"),
    ("load_input", "db_io_manager.py", "PostgreSQL read"),
)
CHECK_FUNCTIONS = ("account_scores_are_consistent", "fraud_dataset_matches_graph")


def _frame(text: str) -> tuple[str, str]:
    """``name (file:line)`` -> (name, file)."""
    name, _, rest = text.partition(" (")
    return name, rest.rsplit(":", 1)[0]


def profile_summary(path: Path, top: int = 4) -> list[str]:
    """Per stage: share of the run's samples, and the leaf functions (self time) and platform
    functions (deepest ``fraud_platform`` frame) that dominate it.

    Stacks outside ``execute_job`` (imports, instance start, teardown) are counted apart.
    """
    samples: dict[str, int] = defaultdict(int)
    leaves: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ours: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, _, stack = stack.partition(";")
        if not thread.endswith("MainThread") or not stack:
            continue  # Dagster's and the drivers' helper threads
        frames = [_frame(f) for f in stack.split(";")]
        # py-spy names methods Class.method on Python 3.11+.
        names = [name.rsplit(".", 1)[-1] for name, _ in frames]
        stage = "Dagster (in run)" if "execute_job" in names else "start-up / teardown"
        deepest_ours = ""
        for short, (name, file) in zip(names, frames, strict=True):
            if short in CHECK_FUNCTIONS:
                stage = "asset checks"
                break
            for function, fragment, mapped in PROFILE_FRAMES:
                if short == function and fragment in file:
                    stage = mapped
            if "fraud_platform/" in file:
                deepest_ours = f"{name} ({file.split('fraud_platform/')[-1]})"
        samples[stage] += count
        leaf_name, leaf_file = frames[-1]
        leaves[stage][f"{leaf_name} ({'/'.join(leaf_file.split('/')[-2:])})"] += count
        if deepest_ours:
            ours[stage][deepest_ours] += count
    total = sum(samples.values()) or 1
    lines = []
    for stage, count in sorted(samples.items(), key=lambda item: -item[1]):
        if count / total < 0.01:
            continue

        def shares(table: dict[str, int], count: int = count) -> str:
            best = sorted(table.items(), key=lambda item: -item[1])[:top]
            return ", ".join(f"{name} {n / count:.0%}" for name, n in best)

        lines.append(f"  {stage:<20} {count / total:5.1%} of samples")
        lines.append(f"      self time in: {shares(leaves[stage])}")
        if ours[stage]:
            lines.append(f"      platform code: {shares(ours[stage])}")
    return lines


# -- baselines -------------------------------------------------------------------------------------


@dataclass
class BaselineRun:
    kind: str
    label: str  # the platform run it is compared with
    stages: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    pagerank_l1: float = math.nan
    modularity: float = math.nan
    platform_modularity: float = math.nan
    counts_agree: bool = False
    scale: float = 1.0  # > 1 when measured on a smaller day and extrapolated linearly
    error: str = ""

    @property
    def total(self) -> float:
        return sum(self.stages.values()) * self.scale


def run_baseline(
    ws: Workspace, kind: str, platform: PlatformRun, limit: int, scale: float = 1.0
) -> BaselineRun:
    """A reference pipeline on the platform run's landing files, in a child process."""
    sys.path.insert(0, str(BENCH_DIR))
    import baselines

    result = BaselineRun(kind=kind, label=platform.label, scale=scale)
    landing = platform.storage / "landing" / "transactions" / f"date={DAY}"
    schema = ws.schema(f"{kind}{len(ws.schemas)}")
    out = ws.root / f"baseline_{kind}_{len(ws.schemas)}"
    out.mkdir()
    log(f"baseline {kind} on the {platform.label} day")
    process = multiprocessing.get_context("spawn").Process(
        target=baselines.run_to_file,
        args=(kind, str(landing), DAY, ws.database_url, schema, str(out)),
    )
    process.start()
    with RssSampler(process.pid, limit) as sampler:
        process.join()
    result.peak_rss = sampler.peak_process()
    if sampler.killed_at is not None:
        result.error = f"killed at {sampler.killed_at / GB:.1f} GB"
        return result
    if process.exitcode != 0:
        result.error = f"exit {process.exitcode}"
        return result
    outcome = json.loads((out / f"{kind}_result.json").read_text())
    result.stages = outcome["stages"]
    result.counts = {
        k: outcome[k] for k in ("rows_valid", "rows_rejected", "nodes", "edges", "rows_written")
    }
    compare(result, platform, Path(outcome["results_path"]))
    return result


def compare(result: BaselineRun, platform: PlatformRun, scores_path: Path) -> None:
    """PageRank L1 distance, modularity of both partitions (same function, same graph), counts."""
    import numpy as np
    import pandas as pd

    from fraud_platform.defs.analytics.engines.base import edge_vertices, modularity

    assets = platform.storage / "assets"
    ours = pd.read_parquet(
        assets / "account_scores" / f"{DAY}.parquet", columns=["account", "centrality", "cluster"]
    ).set_index("account")
    theirs = pd.read_parquet(scores_path).set_index("account")
    edges = pd.read_parquet(
        assets / "transaction_graph" / DAY / "edges.parquet",
        columns=["sender", "receiver", "amount_total"],
    )
    accounts, senders, receivers = edge_vertices(edges)
    weights = edges["amount_total"].to_numpy(np.float64)
    pagerank = theirs["pagerank"].reindex(accounts).to_numpy()
    result.pagerank_l1 = float(
        np.abs(ours["centrality"].reindex(accounts).to_numpy() - pagerank).sum()
    )
    for attribute, labels in (
        ("platform_modularity", ours["cluster"]),
        ("modularity", theirs["cluster"]),
    ):
        dense = pd.factorize(labels.reindex(accounts))[0]
        setattr(result, attribute, modularity(senders, receivers, weights, dense))
    expected = {
        "rows_valid": platform.meta("raw_transactions", "rows_valid"),
        "rows_rejected": platform.meta("raw_transactions", "rows_rejected"),
        "nodes": platform.meta("transaction_graph", "node_count"),
        "edges": platform.meta("transaction_graph", "edge_count"),
        "rows_written": sum(
            platform.meta(asset, key, 0)
            for asset, key in (
                ("rejected_transactions", "rejected_transactions_rows"),
                ("fraud_dataset", "datasets_rows"),
                ("fraud_dataset", "dataset_nodes_rows"),
                ("fraud_dataset", "dataset_edges_rows"),
            )
        ),
    }
    result.counts_agree = (
        all(result.counts[k] == v for k, v in expected.items())
        and not np.isnan(pagerank).any()
        and len(theirs) == len(accounts)
    )
    if not result.counts_agree:
        result.error = f"counts differ: baseline {result.counts}, platform {expected}"


# -- the 30-day backfill through webserver + daemon ------------------------------------------------

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
STEPS = """
query Steps($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { stepStats { stepKey status startTime endTime } }
  }
}
"""
STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs { runId status startTime endTime } }
    ... on PythonError { message }
  }
}
"""


@dataclass
class BackfillRun:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    import requests

    response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def run_backfill(
    ws: Workspace, days: int, rows_per_day: int, limit: int, timeout: float
) -> BackfillRun:
    """Generate ``days`` days, start dagster-webserver + dagster-daemon, launch the backfill the
    way the UI does (GraphQL ``launchPartitionBackfill``) and time it until it completes."""
    import requests

    result = BackfillRun(days=days, rows_per_day=rows_per_day)
    storage = ws.root / "backfill_storage"
    log(f"generating {days} days of {rows_per_day:,} rows")
    result.generate_seconds = generate(storage, rows_per_day, 3, days=days)
    schema = ws.schema("backfill")
    env = platform_env(ws, storage, schema, ws.database("backfill_dagster"))
    port = free_port()
    bin_dir = Path(sys.executable).parent
    logs = [(ws.root / f"{name}.log").open("w") for name in ("webserver", "daemon")]
    commands = [
        [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)],
        [str(bin_dir / "dagster-daemon"), "run"],
    ]
    started = time.time()
    processes = [
        subprocess.Popen(
            [*command, "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for command, handle in zip(commands, logs, strict=True)
    ]
    url = f"http://127.0.0.1:{port}/graphql"
    samplers = [RssSampler(p.pid, limit) for p in processes]
    try:
        for sampler in samplers:
            sampler.__enter__()
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("dagster-webserver did not start within 180 s")
            time.sleep(0.5)
        result.services_ready_seconds = time.time() - started
        partitions = [
            (date.fromisoformat(DAY) + timedelta(days=offset)).isoformat() for offset in range(days)
        ]
        log(f"launching the backfill of {days} days")
        launch_time = time.time()
        launched = graphql(
            url,
            LAUNCH,
            {
                "params": {
                    "partitionNames": partitions,
                    "assetSelection": [{"path": [key]} for key in DAILY_ASSET_KEYS],
                }
            },
        )["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {launched}")
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = graphql(url, STATUS, {"id": launched["backfillId"]})[
                "partitionBackfillOrError"
            ]
            if status.get("status") not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            if any(s.killed_at for s in samplers):
                raise RuntimeError("stopped above the memory limit (--memory-limit-gb)")
            time.sleep(1)
        result.wall = time.time() - launch_time
        result.status = str(status.get("status"))
        result.runs = status.get("runs") or []
        result.launch_time = launch_time
        for run in result.runs:
            stats = graphql(url, STEPS, {"id": run["runId"]})["runOrError"]
            run["steps"] = stats.get("stepStats") or []
        psycopg = _psycopg()
        from psycopg import sql

        with psycopg.connect(ws.database_url) as connection:
            (result.datasets,) = connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "datasets"))
            ).fetchone()
    except (RuntimeError, OSError, psycopg_error()) as exc:
        result.error = str(exc)
    finally:
        for sampler in samplers:
            sampler.__exit__()
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)
        for handle in logs:
            handle.close()
    samples = sorted(t for s in samplers for t in s.samples)
    totals: dict[float, int] = defaultdict(int)
    for t, rss, _ in samples:  # both trees, sampled at nearly the same instants
        totals[round(t / SAMPLE_SECONDS)] += rss
    result.peak_tree_rss = max(totals.values(), default=0)
    result.peak_process_rss = max((s.peak_process() for s in samplers), default=0)
    return result


def psycopg_error() -> type[Exception]:
    return _psycopg().Error


# -- the report ------------------------------------------------------------------------------------


def rate(rows: int, seconds: float) -> str:
    if seconds <= 0:
        return "-"
    per_second = rows / seconds
    if per_second >= 1e6:
        return f"{per_second / 1e6:.1f}M/s"
    return f"{per_second / 1e3:.0f}k/s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(
    runs: list[PlatformRun],
    baselines: list[BaselineRun],
    backfill: BackfillRun | None,
    notes: list[str],
) -> str:
    """The one table: stages per run, run figures, baselines, targets."""
    lines: list[str] = []
    ok = [r for r in runs if r.success]
    width = 31
    if runs:
        header = f"{'stage':<18}|" + "|".join(f"{r.label:^{width}}" for r in runs)
        sub = f"{'':<18}|" + "|".join(
            f"{'s':>7} {'rows/s':>8} {'share':>6} {'GB':>6} " for _ in runs
        )
        rule = "-" * len(header)
        lines += [rule, header, sub, rule]
        used = [s for s in STAGES if any(r.stages.get(s, 0) > 0.0005 for r in ok)]
        beside = [s for s in PARALLEL_STAGES if any(r.stages.get(s, 0) > 0.0005 for r in ok)]
        for stage in [*used, *(f"∥ {s}" for s in beside)]:
            cells = []
            for r in runs:
                if not r.success:
                    cells.append(f"{'-':>{width - 1}} ")
                    continue
                name = stage.removeprefix("∥ ")
                seconds = r.stages.get(name, 0.0)
                peak = r.stage_peak_rss.get(name, 0) / GB
                cells.append(
                    f"{seconds:7.2f} {rate(r.rows, seconds):>8} "
                    f"{seconds / r.run_wall:6.1%} {peak:6.2f} "
                )
            lines.append(f"{stage:<18}|" + "|".join(cells))
        lines.append(rule)

        def row(name: str, values: list[str]) -> None:
            lines.append(f"{name:<18}|" + "|".join(f"{v:>{width - 1}} " for v in values))

        def each(fmt: Any) -> list[str]:
            return [fmt(r) if r.success else (r.error[: width - 2] or "failed") for r in runs]

        row("run (s)", each(lambda r: f"{r.run_wall:.2f} s  {rate(r.rows, r.run_wall)}"))
        row("asset work (s)", each(lambda r: f"{r.asset_work:.2f} s (run - overhead)"))
        row("Dagster start-up", each(lambda r: f"{r.startup:.2f} s (not in run)"))
        row("process wall", each(lambda r: f"{r.process_wall:.2f} s"))
        row("peak RSS", each(lambda r: f"{r.peak_rss / GB:.2f} GB"))
        row(
            "per 1M rows",
            each(
                lambda r: (
                    f"{r.asset_work / (r.rows / MILLION):.2f} s, "
                    f"{r.peak_rss / GB / (r.rows / MILLION):.2f} GB"
                )
            ),
        )
        row(
            "accounts / edges",
            each(
                lambda r: (
                    f"{r.meta('transaction_graph', 'node_count', 0):,} / "
                    f"{r.meta('transaction_graph', 'edge_count', 0):,}"
                )
            ),
        )
        row("valid / rejected", each(
            lambda r: f"{r.meta('raw_transactions', 'rows_valid', 0):,} / "
            f"{r.meta('raw_transactions', 'rows_rejected', 0):,}"
        ))  # fmt: skip
        row("PageRank / Louvain", each(
            lambda r: f"{r.meta('account_scores', 'pagerank_iterations', 0)} it, "
            f"Q={r.meta('account_scores', 'modularity', 0):.4f}"
        ))  # fmt: skip
        lines.append(rule)
        lines.append(
            "s = self time (nested stages taken out); rows/s = the day's rows / s; share = of the "
            "run; GB = peak RSS sampled during the stage;\n∥ = on a worker thread beside the "
            "stages above, not in their sum: Louvain beside PageRank and the layout (Louvain wait "
            "= the main\nthread waiting for it), the dataset's Parquet write beside its "
            "PostgreSQL load (whose commit waits for it);\nin-step other = inside asset steps, "
            "untimed (Dagster's step events and output metadata, unwrapped asset code); Dagster "
            "overhead = the run\noutside its steps; asset work = run - Dagster overhead; start-up "
            "(process start to RUN_START) is not in the run."
        )

    if baselines:
        lines.append("")
        lines += baseline_table(runs, baselines)

    lines.append("")
    lines.append("targets (2 cores, 24 GB, CPU engine)")
    lines += targets(runs, baselines, backfill) or ["  (none applies to the sizes measured)"]
    if backfill is not None:
        lines.append("")
        lines += backfill_lines(backfill)
    if notes:
        lines.append("")
        lines += notes
    return "\n".join(lines)


def baseline_table(runs: list[PlatformRun], baselines: list[BaselineRun]) -> list[str]:
    """Baselines stage by stage beside the platform run on the same day."""
    header = (
        f"{'pipeline':<26}{'read+val':>9}{'graph':>8}{'PageRank':>9}{'Louvain':>9}"
        f"{'PG load':>9}{'total':>9}{'RSS GB':>8}{'speed-up':>10}{'PR L1':>9}{'Q':>8}"
    )
    lines = [header, "-" * len(header)]

    def cells(stages: dict[str, float], scale: float, total: float) -> str:
        widths = (9, 8, 9, 9, 9)
        return (
            "".join(
                f"{stages.get(n, 0.0) * scale:{w}.2f}"
                for n, w in zip(BASELINE_STAGES, widths, strict=True)
            )
            + f"{total:9.2f}"
        )

    shown: set[str] = set()
    for b in baselines:
        platform = next(r for r in runs if r.label == b.label)
        if platform.label not in shown and platform.success:
            shown.add(platform.label)
            lines.append(
                f"{'platform (' + platform.label + ')':<26}"
                f"{cells(platform.stages, 1.0, platform.run_wall)}"
                f"{platform.peak_rss / GB:8.2f}{'1.0x':>10}{'-':>9}"
                f"{b.platform_modularity:8.4f}"
            )
        name = f"pandas + {b.kind}" + (f" (x{b.scale:g})*" if b.scale != 1.0 else "")
        if b.error and not b.stages:
            lines.append(f"{name:<26}{b.error}")
            continue
        speedup = b.total / platform.run_wall if platform.success else math.nan
        lines.append(
            f"{name:<26}{cells(b.stages, b.scale, b.total)}{b.peak_rss / GB:8.2f}"
            f"{speedup:9.1f}x{b.pagerank_l1:9.0e}{b.modularity:8.4f}"
        )
    if any(b.scale != 1.0 for b in baselines):
        lines.append(
            "* measured on a smaller day and EXTRAPOLATED linearly to the platform's day size "
            "(Louvain grows faster than linearly: the real figure is higher)"
        )
    lines.append(
        "platform total = the whole Dagster run (its other stages are in the table above); "
        "speed-up = baseline total / that,\nboth without process start-up and imports; "
        "PR L1 = PageRank L1 distance to the platform's; Q = modularity of each partition\n"
        "(one function, one graph)."
    )
    return lines


def targets(
    runs: list[PlatformRun], baselines: list[BaselineRun], backfill: BackfillRun | None
) -> list[str]:
    lines = []
    by_rows = {r.rows: r for r in runs if r.files == 3} or {r.rows: r for r in runs}
    ten = by_rows.get(10 * MILLION)
    if ten is not None:
        good = ten.success and ten.process_wall <= TARGET_10M_SECONDS
        lines.append(
            f"  {verdict(good)}  10M day, whole Dagster run incl. start-up <= 60 s: "
            f"{ten.process_wall:.1f} s (run {ten.run_wall:.1f} s)"
        )
        good = ten.success and ten.peak_rss <= TARGET_10M_RSS
        lines.append(f"  {verdict(good)}  10M day, peak RSS <= 6 GB: {ten.peak_rss / GB:.2f} GB")
    one = by_rows.get(MILLION)
    if one is not None:
        good = one.success and one.asset_work <= TARGET_1M_COMPUTE_SECONDS
        lines.append(
            f"  {verdict(good)}  1M day, asset compute <= 10 s: {one.asset_work:.2f} s "
            f"(run {one.run_wall:.2f} s, start-up {one.startup:.2f} s separate)"
        )
    sized = sorted((r for r in by_rows.values() if r.success), key=lambda r: r.rows)
    if len(sized) >= 2:
        small, large = sized[0], sized[-1]
        per = [(r.asset_work / (r.rows / MILLION), r.peak_rss / (r.rows / MILLION)) for r in sized]
        time_ratio = per[-1][0] / per[0][0]
        memory_ratio = per[-1][1] / per[0][1]
        good = time_ratio <= TARGET_LINEAR_FACTOR and memory_ratio <= TARGET_LINEAR_FACTOR
        shown = ", ".join(
            f"{r.label} {t:.2f} s/M {m / GB:.2f} GB/M" for r, (t, m) in zip(sized, per, strict=True)
        )
        lines.append(
            f"  {verdict(good)}  linear cost ({large.label} per million within "
            f"{TARGET_LINEAR_FACTOR}x of {small.label}): {shown}"
        )
    for kind, target in (("networkx", TARGET_NETWORKX_RATIO), ("igraph", TARGET_IGRAPH_RATIO)):
        for b in (b for b in baselines if b.kind == kind):
            platform = next(r for r in runs if r.label == b.label)
            if b.error and not b.stages:
                lines.append(f"  FAIL  >= {target:g}x faster than pandas + {kind}: {b.error}")
                continue
            ratio = b.total / platform.run_wall
            extrapolated = " (EXTRAPOLATED)" if b.scale != 1.0 else ""
            lines.append(
                f"  {verdict(ratio >= target)}  >= {target:g}x faster than pandas + {kind} "
                f"({b.label}): {ratio:.1f}x{extrapolated}"
            )
            agree = (
                b.counts_agree
                and b.pagerank_l1 <= TARGET_PAGERANK_L1
                and abs(b.modularity - b.platform_modularity)
                <= TARGET_MODULARITY_SHARE * abs(b.platform_modularity)
            )
            lines.append(
                f"  {verdict(agree)}  {kind} agrees: same rows/edges/accounts/rows written "
                f"{'yes' if b.counts_agree else 'NO'}, PageRank L1 {b.pagerank_l1:.1e} <= 1e-6, "
                f"modularity {b.modularity:.4f} within 2% of {b.platform_modularity:.4f}"
            )
    if backfill is not None:
        good = (
            not backfill.error
            and backfill.status.startswith("COMPLETED")
            and (backfill.wall <= TARGET_BACKFILL_SECONDS)
        )
        lines.append(
            f"  {verdict(good)}  {backfill.days}-day backfill of "
            f"{backfill.rows_per_day / MILLION:g}M days through the daemon <= 8 min: "
            f"{backfill.wall:.0f} s ({backfill.status}"
            f"{', ' + backfill.error if backfill.error else ''})"
        )
    return lines


def backfill_lines(b: BackfillRun) -> list[str]:
    lines = [
        f"backfill: {b.days} days x {b.rows_per_day:,} rows, launched with GraphQL "
        "launchPartitionBackfill, run by dagster-daemon",
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


# -- main ------------------------------------------------------------------------------------------


def platform_version() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git calls)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "fraud_platform"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "(no git)"
    return f"commit {commit or '?'}" + (" + uncommitted changes" if dirty else "")


def load_note(load_before: float) -> str:
    """The 1-minute load average before and after: above the core count, other work competed
    with the measured processes and the times are inflated."""
    load_after = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    warning = (
        " (busy machine: other processes competed, times inflated)"
        if max(load_before, load_after) > cores + 0.5
        else ""
    )
    return f"load average (1 min) at start {load_before:.1f}, at end {load_after:.1f}{warning}"


def sizes_of(text: str) -> list[int]:
    return [round(float(part) * MILLION) for part in text.split(",") if part.strip()]


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


def counts_of(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
