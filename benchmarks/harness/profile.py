"""The py-spy profile of a run (``--profile``), summarized per stage: where the time goes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

#: (function name, file fragment) -> stage, for attributing py-spy stacks; deepest match wins.
PROFILE_FRAMES = (
    ("stream_day", "ingest/stream.py", "read+validate"),
    ("write_table", "pyarrow/parquet", "Parquet write"),
    ("build_transaction_graph", "graph/logic.py", "graph build"),
    ("__init__", "engines/cpu.py", "graph build"),
    ("score_graph", "analytics/logic.py", "scoring"),
    ("pagerank", "engines/cpu.py", "PageRank"),
    ("louvain", "engines/cpu.py", "Louvain"),
    ("layout", "engines/cpu.py", "layout"),
    ("top_accounts_markdown", "fraud_platform/reporting.py", "asset metadata"),
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
