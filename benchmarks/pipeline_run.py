"""One instrumented Dagster run of ``daily_fraud_job`` for one day, as `daily_pipeline.py` runs it.

Run in its own process (its peak RSS is the run's), configured by the environment exactly like a
deployment (``FRAUD_STORAGE_URL``, ``FRAUD_DATABASE_URL``, ``DAGSTER_HOME``, ...). It executes the
job the way ``dagster asset materialize`` does (`execute_job` on the reconstructable job of the
code location, the job's own in-process executor, the instance of ``DAGSTER_HOME``), with the
real resources and IO managers. Nothing in the platform is edited: before the run, the functions
the assets call and the IO managers' methods are wrapped here with timers, which record wall-clock
intervals (``time.time``, the clock of Dagster's event log). The result, with the run's event log
and this process's peak RSS, is written as JSON for the parent to break down into stages.

    python benchmarks/pipeline_run.py --day 2024-10-01 --out run.json [--profile run.prof]
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.time()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import psutil  # noqa: E402
from timers import timed  # noqa: E402  (benchmarks/, this script's folder)

#: Wall-clock intervals recorded by the wrappers: label, start, end (seconds since the epoch) and
#: whether the run's main thread made the call (Louvain and the dataset's Parquet write run on
#: worker threads, beside the main thread's work).
INTERVALS: list[dict[str, Any]] = []

REPO = Path(__file__).resolve().parents[1]
JOB_NAME = "daily_fraud_job"
#: Where the job is loaded from, per executor: the code location, or the same job with one
#: process per step (its steps' timers run in other processes, so only the run's total counts).
LOCATIONS = {
    "in_process": "fraud_platform.definitions",
    "multiprocess": "benchmarks.multiprocess_location",
}


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` recording one interval per call under ``label`` (also when it raises)."""

    def keep(start: float, end: float) -> None:
        main = threading.current_thread() is threading.main_thread()
        INTERVALS.append({"label": label, "start": start, "end": end, "main": main})

    return timed(function, keep, clock=time.time)


def _wrap(owner: Any, name: str, label: str, *, required: bool = True) -> None:
    """Replace ``owner.name`` (a module function or a class method) by its timed version.

    A missing required attribute raises: a renamed core function must not silently drop a
    stage. Optional ones (features that come and go) are skipped when absent.
    """
    if not required and not hasattr(owner, name):
        return
    setattr(owner, name, _timed(label, getattr(owner, name)))


def instrument() -> None:
    """Time what the assets call, at the names they look up at call time.

    Nested intervals are expected (``score_graph`` contains PageRank and the layout; the dataset
    IO manager's write contains a PostgreSQL load); the parent keeps each interval's self time.
    Louvain and the dataset's Parquet write run on worker threads, beside the main thread.
    """
    from fraud_platform.defs.analytics import assets as analytics_assets
    from fraud_platform.defs.analytics.engines.cpu import CpuEngine, CpuGraph
    from fraud_platform.defs.datasets import assets as dataset_assets
    from fraud_platform.defs.datasets import resources as dataset_resources
    from fraud_platform.defs.graph import assets as graph_assets
    from fraud_platform.defs.ingest import assets as ingest_assets
    from fraud_platform.defs.ingest import resources as ingest_resources
    from fraud_platform.storage.object_store import ParquetFilesIOManager
    from fraud_platform.storage.warehouse import PostgresTableIOManager

    _wrap(ingest_resources, "stream_day", "read+validate")
    # The day's valid rows are appended to a Parquet file as each landing file is validated.
    make_writer = ingest_assets.stream_writer

    def timed_writer(*args: Any, **kwargs: Any) -> Any:
        writer = make_writer(*args, **kwargs)
        writer.write_table = _timed("Parquet write", writer.write_table)
        return writer

    ingest_assets.stream_writer = timed_writer
    _wrap(graph_assets, "build_transaction_graph", "graph build")
    _wrap(CpuEngine, "build", "engine graph build")
    _wrap(analytics_assets, "score_graph", "scoring")
    _wrap(CpuGraph, "pagerank", "PageRank")
    _wrap(CpuGraph, "louvain", "Louvain")
    _wrap(CpuGraph, "layout", "layout", required=False)
    _wrap(dataset_assets, "build_fraud_dataset", "dataset build")
    for assets_module in (analytics_assets, dataset_assets):
        _wrap(assets_module, "top_accounts_markdown", "asset metadata", required=False)
    # The checks run inside their assets' steps.
    _wrap(analytics_assets, "account_scores_check", "asset checks")
    _wrap(dataset_assets, "stored_counts", "asset checks")
    _wrap(dataset_assets, "graph_counts", "asset checks")
    # The dataset's Parquet write (worker thread) and PostgreSQL load (main thread) overlap.
    del dataset_resources
    _wrap(ParquetFilesIOManager, "handle_output", "Parquet write")
    _wrap(ParquetFilesIOManager, "load_input", "Parquet read")
    _wrap(PostgresTableIOManager, "handle_output", "PostgreSQL load")
    _wrap(PostgresTableIOManager, "load_input", "PostgreSQL read")


def run_day(day: str, profile: Path | None, executor: str = "in_process") -> dict[str, Any]:
    """Execute the daily job for ``day``; the run's events, intervals and figures as a dict."""
    from dagster import DagsterInstance, execute_job

    # How `dagster asset materialize -m` reconstructs the job; the public API missing is a
    # module-name form of `dagster.reconstructable` (it takes only a module-level job or factory).
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    import fraud_platform.definitions  # noqa: F401  (import cost belongs to start-up)

    instrument()
    imported = time.time()
    recon_job = ReconstructableRepository.for_module(
        LOCATIONS[executor], "defs", working_directory=str(REPO)
    ).get_reconstructable_job(JOB_NAME)
    profiler = cProfile.Profile() if profile else None
    with DagsterInstance.get() as instance:
        if profiler:
            profiler.enable()
        result = execute_job(recon_job, instance=instance, tags={"dagster/partition": day})
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        finished = time.time()
        events = []
        metadata: dict[str, dict[str, Any]] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            events.append(
                {"type": event.event_type_value, "step": entry.step_key, "ts": entry.timestamp}
            )
            if event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.step_materialization_data.materialization
                metadata[materialization.asset_key.to_user_string()] = {
                    key: value.value
                    for key, value in materialization.metadata.items()
                    if isinstance(value.value, int | float | str)
                }
    return {
        "day": day,
        "run_id": result.run_id,
        "success": result.success,
        "process_started": PROCESS_STARTED,
        "imported": imported,
        "finished": finished,
        "events": events,
        "intervals": INTERVALS,
        "metadata": metadata,
        # Linux reports ru_maxrss in KiB: the kernel's high-water mark of this process's RSS.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_at_end_bytes": psutil.Process().memory_info().rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", required=True, help="partition key, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the run here")
    parser.add_argument("--executor", choices=sorted(LOCATIONS), default="in_process")
    args = parser.parse_args()
    outcome = run_day(args.day, args.profile, args.executor)
    args.out.write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
