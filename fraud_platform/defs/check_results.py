"""How every area's asset checks say what they found: the day, the figure, the limit, what next.

A check that finds a list of problems fails at ERROR when the list is not empty and says so the
same way in every area: the problems, "; "-joined, in its metadata (``none`` when it passed), and
a description naming the day, the limit and the next step (usually the command that re-runs it).
Dagster shows a failed check's description in the UI but logs the check's event only at DEBUG;
the assets log the same line at ERROR (or WARNING) with ``log_failed_check``, so a failed day
says why in the run's log without opening the UI or the warehouse.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterLogManager,
    PreviewWarning,
)

from fraud_platform.partitions import daily_partitions


def daily_check_spec(
    name: str, asset: str, description: str, *, blocking: bool = False
) -> AssetCheckSpec:
    """A check of a daily asset whose every result belongs to the day it checked.

    With the asset's partitions on the spec, Dagster records each evaluation against the run's
    day, so the UI shows a check's history per partition. Dagster 1.13 marks ``partitions_def``
    on a check spec as preview (public, but it warns on each load): the warning is silenced here,
    for these specs only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(
            name=name,
            asset=AssetKey(asset),
            description=description,
            blocking=blocking,
            partitions_def=daily_partitions,
        )


#: The module Dagster's CLI loads the definitions from (as in the README's commands).
DEFINITIONS_MODULE = "fraud_platform.definitions"


def days_text(days: Sequence[str]) -> str:
    """``2026-01-05`` or ``2026-01-05 to 2026-01-07``: the days a check covered."""
    ordered = sorted(str(day) for day in days)
    if not ordered:
        return "no day"
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}"


def rerun_command(days: Sequence[str], selection: str) -> str:
    """The ``dagster asset materialize`` command that re-runs ``selection`` for ``days``.

    One ``--partition`` a command: Dagster's ``--partition-range`` refuses assets that are not
    single-run, which the daily ones are not (see the README's backfills).
    """
    ordered = sorted(str(day) for day in days)
    base = f"dagster asset materialize -m {DEFINITIONS_MODULE} --select '{selection}'"
    if not ordered:
        return base
    if len(ordered) == 1:
        return f"{base} --partition {ordered[0]}"
    return f"{base} --partition DAY, for each DAY from {ordered[0]} to {ordered[-1]}"


def day_metadata(days: Sequence[str]) -> dict[str, str]:
    """``{"day": ...}`` for a check's metadata, when it checked any: the day(s), beside the
    partition Dagster records (a range's run checks several days at once)."""
    return {"day": days_text(days)} if days else {}


def failure_line(finding: str, *, days: Sequence[str] | None, limit: str, next_step: str) -> str:
    """``<finding> on <days> (<limit>). <next step>``: one sentence a user can act on.

    ``days`` None: the check is not about a day (a model, say).
    """
    where = f" on {days_text(days)}" if days is not None else ""
    return f"{finding}{where} ({limit}). {next_step}".rstrip()


def log_failed_check(log: DagsterLogManager, result: AssetCheckResult) -> None:
    """Log a failed check's description at ERROR (WARNING for a WARN check), as Dagster does not."""
    if result.passed:
        return
    warn = result.severity == AssetCheckSeverity.WARN
    (log.warning if warn else log.error)(f"{result.check_name}: {result.description}")


def problems_result(
    check_name: str,
    asset: str,
    problems: Sequence[str],
    *,
    on_days: Sequence[str] | None,
    limit: str,
    next_step: str,
    **counts: int,
) -> AssetCheckResult:
    """ERROR unless ``problems`` is empty; ``counts`` (e.g. ``rows=...``) go into the metadata.

    ``on_days`` None: the check is not about a day.
    """
    joined = "; ".join(problems)
    day = {"day": days_text(on_days)} if on_days is not None else {}
    passed = f"{days_text(on_days)}: passed" if on_days is not None else None
    return AssetCheckResult(
        check_name=check_name,
        asset_key=AssetKey(asset),
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={**day, **counts, "problems": joined or "none"},
        description=(
            failure_line(joined, days=on_days, limit=limit, next_step=next_step)
            if problems
            else passed
        ),
    )
