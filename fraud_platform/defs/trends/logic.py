"""A week of daily datasets read together: who stays high risk, which clusters persist.

Cluster ids are per day (0 = the day's largest cluster), so a cluster "persists" when a day's
cluster and the next day's share most of their high-risk accounts: the Jaccard overlap of their
high-risk members is at least ``PERSISTENCE_OVERLAP``.
"""

from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from fraud_platform.tables import PARTITION_COLUMN, FraudDataset

PERSISTENCE_OVERLAP = 0.5
BAR_WIDTH = 40


@dataclass(frozen=True)
class WeeklyTrends:
    """The week's figures: per day, per repeat account, per persistent cluster."""

    per_day: pd.DataFrame  # partition_date, accounts, high_risk
    repeat_accounts: pd.DataFrame  # account, days_high_risk, max_risk, days
    persistent_clusters: pd.DataFrame  # from_day, from_cluster, to_day, to_cluster, overlap, shared


def weekly_trends(dataset: FraudDataset, days: list[str], threshold: float) -> WeeklyTrends:
    """Trends over ``days`` (the week) from the daily datasets present in ``dataset``."""
    nodes = dataset.nodes
    accounts = nodes.groupby(PARTITION_COLUMN).size()
    return trends_of_high_risk(
        nodes[nodes["risk_score"] >= threshold],
        {str(day): int(n) for day, n in accounts.items()},
        days,
    )


def trends_of_high_risk(
    high: pd.DataFrame, accounts_per_day: dict[str, int], days: list[str]
) -> WeeklyTrends:
    """Trends over ``days`` from the week's high-risk accounts (``partition_date, account,
    cluster, risk_score``) and each day's count of accounts."""
    per_day = (
        pd.DataFrame({PARTITION_COLUMN: days})
        .assign(accounts=lambda f: f[PARTITION_COLUMN].map(accounts_per_day))
        .merge(high.groupby(PARTITION_COLUMN).size().rename("high_risk").reset_index(), "left")
        .fillna(0)
        .astype({"accounts": "int64", "high_risk": "int64"})
    )
    repeat = (
        high.groupby("account")
        .agg(
            days_high_risk=(PARTITION_COLUMN, "nunique"),
            max_risk=("risk_score", "max"),
            days=(PARTITION_COLUMN, lambda d: ", ".join(sorted(set(d)))),
        )
        .reset_index()
    )
    repeat = repeat[repeat["days_high_risk"] >= 2].sort_values(
        ["days_high_risk", "max_risk", "account"], ascending=[False, False, True], ignore_index=True
    )
    return WeeklyTrends(per_day, repeat, persistent_clusters(high, days))


def persistent_clusters(high: pd.DataFrame, days: list[str]) -> pd.DataFrame:
    """Pairs of clusters on consecutive days whose high-risk members mostly coincide."""
    by_day: dict[str, dict[int, set[str]]] = {day: {} for day in days}
    for (day, cluster), group in high.groupby([PARTITION_COLUMN, "cluster"]):
        by_day.setdefault(str(day), {})[int(cluster)] = set(group["account"])
    rows = []
    for today, tomorrow in pairwise(days):
        for cluster_a, accounts_a in by_day[today].items():
            for cluster_b, accounts_b in by_day[tomorrow].items():
                shared = accounts_a & accounts_b
                overlap = len(shared) / len(accounts_a | accounts_b)
                if overlap >= PERSISTENCE_OVERLAP:
                    rows.append((today, cluster_a, tomorrow, cluster_b, overlap, len(shared)))
    return pd.DataFrame(
        rows, columns=["from_day", "from_cluster", "to_day", "to_cluster", "overlap", "shared"]
    )


def bar_chart(per_day: pd.DataFrame) -> str:
    """High-risk accounts per day as a text bar chart (renders anywhere Markdown does)."""
    peak = max(int(per_day["high_risk"].max()), 1) if len(per_day) else 1
    lines = [
        f"{row[PARTITION_COLUMN]}  {'█' * round(BAR_WIDTH * row['high_risk'] / peak):<{BAR_WIDTH}}"
        f"  {row['high_risk']}"
        for _, row in per_day.iterrows()
    ]
    return "```\n" + "\n".join(lines) + "\n```"


def markdown_summary(trends: WeeklyTrends, week: str, threshold: float) -> str:
    total = int(trends.per_day["high_risk"].sum())
    parts = [
        f"### Week of {week}",
        f"{total} high-risk account-days (risk_score >= {threshold:g}); "
        f"{len(trends.repeat_accounts)} accounts high risk on two or more days; "
        f"{len(trends.persistent_clusters)} clusters persisting from one day to the next.",
        "",
        bar_chart(trends.per_day),
    ]
    if len(trends.repeat_accounts):
        parts += ["", "Accounts high risk on several days:", ""]
        parts.append(trends.repeat_accounts.head(20).to_markdown(index=False, floatfmt=".3f"))
    return "\n".join(parts)
