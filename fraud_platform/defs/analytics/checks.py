"""Analytics checks: the scores obey their own definitions.

The check runs inside the ``account_scores`` step, on the frame it has just computed and stored:
reading a day's scores back from the object store only to check them would cost more than
computing the check (seconds at millions of accounts).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey

from fraud_platform.defs.check_results import (
    daily_check_spec,
    day_metadata,
    failure_line,
    problems_result,
    rerun_command,
)
from fraud_platform.settings import alert_budget
from fraud_platform.tables import PARTITION_COLUMN

PAGERANK_TOLERANCE = 1e-6
SCORES_CHECK = "account_scores_are_consistent"

account_scores_check_spec = daily_check_spec(
    SCORES_CHECK,
    "account_scores",
    "PageRank sums to 1 within 1e-6 per day; every risk_score in [0, 1]; no NaN.",
)


def score_problems(scores: pd.DataFrame) -> list[str]:
    """What is wrong with a score table: PageRank not summing to 1 per day, risk out of range."""
    problems: list[str] = []
    numeric = scores.select_dtypes("number")
    nan_columns = [c for c in numeric.columns if numeric[c].isna().any()]
    if nan_columns:
        problems.append(f"NaN in {', '.join(nan_columns)}")
    days = scores[PARTITION_COLUMN].unique() if len(scores) else []
    totals = (
        {str(days[0]): float(scores["centrality"].sum())}
        if len(days) == 1
        else scores.groupby(PARTITION_COLUMN)["centrality"].sum().to_dict()
    )
    for day, total in totals.items():
        if abs(total - 1.0) > PAGERANK_TOLERANCE:
            problems.append(f"{day}: PageRank sums to {total:.9f}, not 1 (±{PAGERANK_TOLERANCE:g})")
    risk = scores["risk_score"].to_numpy(dtype=np.float64)
    outside = int(((risk < 0) | (risk > 1)).sum())
    if outside:
        problems.append(f"{outside} risk_score value(s) outside [0, 1]")
    return problems


def account_scores_check(scores: pd.DataFrame, days: Sequence[str] = ()) -> AssetCheckResult:
    """The check's verdict on a score table (ERROR when anything is wrong)."""
    problems = score_problems(scores)
    return problems_result(
        SCORES_CHECK,
        "account_scores",
        problems,
        on_days=days,
        limit=f"PageRank must sum to 1 within {PAGERANK_TOLERANCE:g}, every risk_score within "
        "[0, 1], no NaN",
        next_step=(
            "The day's alerts rank by these scores: look at the graph engine's log lines "
            "(FRAUD_GRAPH_ENGINE), then re-run the scores and what follows them: "
            f"{rerun_command(days, 'account_scores*')}"
        ),
        accounts=len(scores),
    )


ALERT_BUDGET_CHECK = "alert_budget"

alert_budget_check_spec = daily_check_spec(
    ALERT_BUDGET_CHECK,
    "account_scores",
    (
        "At most the alert budget (FRAUD_ALERT_BUDGET_SHARE, 1% by default) of the day's active "
        "accounts reach the high-risk threshold; above it the score is suspect and only the "
        "budget's highest-risk accounts are alerted."
    ),
)


def alert_budget_check(
    scores: pd.DataFrame, threshold: float, budget: float, days: Sequence[str] = ()
) -> AssetCheckResult:
    """Fails (ERROR, not blocking) when more than ``budget`` of the accounts are high risk.

    The description says how many, the budget, and the reasons most of them share, which is
    where a broken score shows (one feature flagging a whole family of accounts).
    """
    accounts = len(scores)
    high = scores["risk_score"].to_numpy(dtype=np.float64) >= threshold
    flagged = int(high.sum())
    allowed = alert_budget(accounts, budget)
    share = flagged / accounts if accounts else 0.0
    metadata: dict[str, object] = {
        **day_metadata(days),
        "accounts": accounts,
        "high_risk": flagged,
        "high_risk_share": round(share, 6),
        "budget_share": budget,
        "budget_accounts": allowed,
    }
    if flagged <= allowed:
        return AssetCheckResult(
            check_name=ALERT_BUDGET_CHECK,
            asset_key=AssetKey("account_scores"),
            passed=True,
            metadata=metadata,
        )
    common = ""
    if "reasons" in scores.columns:
        first = (
            scores.loc[high, "reasons"].astype("str").str.split(";").str[0].str.strip()
        )
        top = first[first != ""].value_counts().head(3)
        if len(top):
            common = "; most common first reasons: " + ", ".join(
                f"{reason} ({count:,})" for reason, count in top.items()
            )
            metadata["common_reasons"] = common.removeprefix("; most common first reasons: ")
    return AssetCheckResult(
        check_name=ALERT_BUDGET_CHECK,
        asset_key=AssetKey("account_scores"),
        passed=False,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=failure_line(
            f"{flagged:,} of {accounts:,} accounts ({share:.2%}) reach risk {threshold:g}",
            days=days,
            limit=f"over the alert budget of {budget:.2%} ({allowed:,}), FRAUD_ALERT_BUDGET_SHARE",
            next_step=(
                f"Only the {allowed:,} highest are alerted{common}. A reason shared by most "
                "accounts points at a broken feature or input; raise FRAUD_ALERT_BUDGET_SHARE "
                "only if the day is really this risky."
            ),
        ),
    )

