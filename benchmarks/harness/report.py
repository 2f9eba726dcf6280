"""The report: the stage table per run, the baselines beside the platform, the targets with their
verdicts, and the notes on the machine."""

from __future__ import annotations

import math
import os
from typing import Any

from .backfill import BackfillRun, backfill_lines
from .baseline_runs import BASELINE_STAGES, BaselineRun
from .common import GB, MILLION
from .platform_run import PlatformRun
from .stages import PARALLEL_STAGES, STAGES

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


def rate(rows: int, seconds: float) -> str:
    """Rows per second, short (k/s or M/s), for the table's narrow columns."""
    if seconds <= 0:
        return "-"
    per_second = rows / seconds
    if per_second >= 1e6:
        return f"{per_second / 1e6:.1f}M/s"
    return f"{per_second / 1e3:.0f}k/s"


def verdict(ok: bool) -> str:
    """A target's verdict as printed."""
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
    """Each target that the measured sizes reach, with its verdict and the figure behind it."""
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
