"""From a run's timers and event log to stage self times and their peak RSS.

`pipeline_run.py` records wall-clock intervals around the functions the assets call; the event
log gives the steps' windows and the run's bounds. What no stage accounts for is Dagster's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .memory import RssSampler

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
