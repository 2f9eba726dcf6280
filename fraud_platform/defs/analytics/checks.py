"""Analytics checks: the scores obey their own definitions."""

import numpy as np
import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from fraud_platform.partitions import daily_partitions
from fraud_platform.tables import PARTITION_COLUMN

PAGERANK_TOLERANCE = 1e-6


def score_problems(scores: pd.DataFrame) -> list[str]:
    """What is wrong with a score table: PageRank not summing to 1 per day, risk out of range."""
    problems: list[str] = []
    numeric = scores.select_dtypes("number")
    nan_columns = [c for c in numeric.columns if numeric[c].isna().any()]
    if nan_columns:
        problems.append(f"NaN in {', '.join(nan_columns)}")
    for day, group in scores.groupby(PARTITION_COLUMN):
        total = float(group["centrality"].sum())
        if abs(total - 1.0) > PAGERANK_TOLERANCE:
            problems.append(f"{day}: PageRank sums to {total:.9f}, not 1 (±{PAGERANK_TOLERANCE:g})")
    risk = scores["risk_score"].to_numpy(dtype=np.float64)
    outside = int(((risk < 0) | (risk > 1)).sum())
    if outside:
        problems.append(f"{outside} risk_score value(s) outside [0, 1]")
    return problems


@asset_check(
    partitions_def=daily_partitions,
    asset="account_scores",
    description="PageRank sums to 1 within 1e-6 per day; every risk_score in [0, 1]; no NaN.",
)
def account_scores_are_consistent(account_scores: pd.DataFrame) -> AssetCheckResult:
    problems = score_problems(account_scores)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"accounts": len(account_scores), "problems": "; ".join(problems) or "none"},
    )
