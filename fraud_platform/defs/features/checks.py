"""Feature checks: every account of the day has finite features, and history stays in its window.

Both run inside their steps on the frames just computed (reading them back would cost more).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from dagster import AssetCheckResult

from fraud_platform.defs.check_results import daily_check_spec, problems_result, rerun_command
from fraud_platform.defs.features.logic import FEATURE_COLUMNS

FEATURES_CHECK = "account_features_are_complete"
HISTORY_CHECK = "account_history_within_window"

account_features_check_spec = daily_check_spec(
    FEATURES_CHECK,
    "account_features",
    "One row per account of the day's graph; every feature finite (no NaN, no inf).",
)
account_history_check_spec = daily_check_spec(
    HISTORY_CHECK,
    "account_history",
    (
        "One row per account of the day's graph; days active, first and last seen within the "
        "window; shares within [0, 1]."
    ),
)


def feature_problems(accounts: pd.DataFrame, node_count: int) -> list[str]:
    """What is wrong with a day's feature table."""
    problems: list[str] = []
    if len(accounts) != node_count:
        problems.append(f"{len(accounts):,} feature rows for {node_count:,} accounts")
    missing = [c for c in FEATURE_COLUMNS if c not in accounts.columns]
    if missing:
        problems.append(f"missing feature column(s) {missing}")
    present = [c for c in FEATURE_COLUMNS if c in accounts.columns]
    values = accounts[present].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        columns = [present[j] for j in np.flatnonzero(bad.any(axis=0))]
        problems.append(f"NaN or infinite values in {', '.join(columns)}")
    return problems


def history_problems(history: pd.DataFrame, node_count: int, window: int) -> list[str]:
    """What is wrong with a day's history table."""
    problems: list[str] = []
    if len(history) != node_count:
        problems.append(f"{len(history):,} history rows for {node_count:,} accounts")
    if len(history):
        if int(history["history_days"].max()) > window:
            problems.append(f"more than {window} days of history")
        if (history["days_active"] > history["history_days"]).any():
            problems.append("an account active on more days than the history holds")
        for column in ("days_since_first_seen", "days_since_last_seen"):
            values = history[column]
            if ((values < 1) | (values > window + 1)).any():
                problems.append(f"{column} outside 1..{window + 1}")
        share = history["known_counterparty_share"]
        if ((share < 0) | (share > 1)).any():
            problems.append("known_counterparty_share outside [0, 1]")
    return problems


def _result(
    check: str, asset: str, problems: list[str], rows: int, days: Sequence[str], limit: str
) -> AssetCheckResult:
    return problems_result(
        check,
        asset,
        problems,
        on_days=days,
        limit=limit,
        next_step=(
            "The day's risk scores are computed from these rows: fix the cause, then re-run "
            f"{asset} and what follows it: {rerun_command(days, f'{asset}*')}"
        ),
        rows=rows,
    )


def account_features_check(
    accounts: pd.DataFrame, node_count: int, days: Sequence[str] = ()
) -> AssetCheckResult:
    """The check's verdict on a day's feature table (ERROR when anything is wrong)."""
    return _result(
        FEATURES_CHECK,
        "account_features",
        feature_problems(accounts, node_count),
        len(accounts),
        days,
        "expected one row per account of the graph, every feature finite",
    )


def account_history_check(
    history: pd.DataFrame, node_count: int, window: int, days: Sequence[str] = ()
) -> AssetCheckResult:
    """The check's verdict on a day's history table (ERROR when anything is wrong)."""
    return _result(
        HISTORY_CHECK,
        "account_history",
        history_problems(history, node_count, window),
        len(history),
        days,
        f"expected one row per account of the graph, within the {window}-day window",
    )
