"""Detection figures from labelled score tables: pure functions, frames in, numbers out.

A labelled table has one row per account-day: ``partition_date, account, risk_score, is_fraud,
typology, role`` (``typology`` is the generator's family: a laundering pattern, a legitimate
look-alike such as ``processor``, or ``background``). Definitions, over account-days:

- *precision / recall at the threshold*: of the account-days with ``risk_score >= threshold``
  the share that is laundering, and of the laundering account-days the share reaching it;
- *precision@k*: the laundering share of each day's ``k`` highest scores (ties broken by account
  id), averaged over the days;
- *average precision*: the area under each day's precision-recall curve (scikit-learn's
  definition, tied scores entering together), averaged over the days with laundering;
- *family flagged*: per legitimate family, the share of its account-days at the threshold;
- *alerts per day*: account-days at the threshold divided by days, beside the alert budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fraud_platform.defs.model.logic import average_precision
from fraud_platform.tables import PARTITION_COLUMN

#: Typology of the accounts the generator planted in no family (ordinary people).
BACKGROUND = "background"


def precision_recall_at(labelled: pd.DataFrame, threshold: float) -> tuple[float, float]:
    """Pooled (precision, recall) of ``risk_score >= threshold``; NaN where undefined."""
    flagged = labelled["risk_score"].to_numpy() >= threshold
    fraud = labelled["is_fraud"].to_numpy(dtype=bool)
    precision = fraud[flagged].mean() if flagged.any() else math.nan
    recall = flagged[fraud].mean() if fraud.any() else math.nan
    return float(precision), float(recall)


def precision_at_k(labelled: pd.DataFrame, k: int) -> float:
    """The laundering share of each day's ``k`` highest scores, averaged over the days."""
    if k < 1:
        raise ValueError("k must be at least 1")
    ranked = labelled.sort_values(
        [PARTITION_COLUMN, "risk_score", "account"], ascending=[True, False, True]
    )
    top = ranked.groupby(PARTITION_COLUMN, sort=True).head(k)
    per_day = top.groupby(PARTITION_COLUMN, sort=True)["is_fraud"].mean()
    return float(per_day.mean()) if len(per_day) else math.nan


def mean_average_precision(labelled: pd.DataFrame) -> float:
    """`average_precision` of each day with laundering, averaged over those days."""
    values = [
        average_precision(day["risk_score"].to_numpy(), day["is_fraud"].to_numpy())
        for _, day in labelled.groupby(PARTITION_COLUMN, sort=True)
    ]
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def _flagged_by_typology(accounts: pd.DataFrame, threshold: float, rate: str) -> pd.DataFrame:
    """``typology, accounts, flagged, <rate>``: per typology, how many scored at the threshold."""
    flagged = accounts.assign(flagged=lambda f: f["risk_score"] >= threshold)
    table = flagged.groupby("typology", sort=True)["flagged"].agg(["size", "sum"]).reset_index()
    table = table.rename(columns={"size": "accounts", "sum": "flagged"})
    table["accounts"] = table["accounts"].astype(np.int64)
    table["flagged"] = table["flagged"].astype(np.int64)
    table[rate] = table["flagged"] / table["accounts"]
    return table


def recall_by_typology(labelled: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``typology, accounts, flagged, recall`` at the threshold for each laundering pattern."""
    return _flagged_by_typology(labelled[labelled["is_fraud"]], threshold, "recall")


def family_flag_rates(labelled: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``typology, accounts, flagged, share`` for every legitimate family (background included)."""
    return _flagged_by_typology(labelled[~labelled["is_fraud"]], threshold, "share")


def alerts_per_day(labelled: pd.DataFrame, threshold: float) -> float:
    days = labelled[PARTITION_COLUMN].nunique()
    return float((labelled["risk_score"] >= threshold).sum() / days) if days else 0.0


def figures(
    labelled: pd.DataFrame, threshold: float, ks: Sequence[int] = (100,), budget: float = 0.01
) -> dict[str, float]:
    """The headline figures of one labelled table (see the module docstring)."""
    precision, recall = precision_recall_at(labelled, threshold)
    families = family_flag_rates(labelled, threshold)
    named = families[families["typology"] != BACKGROUND]
    per_day = labelled.groupby(PARTITION_COLUMN).size()
    out = {
        "average_precision": mean_average_precision(labelled),
        "precision": precision,
        "recall": recall,
        "alerts_per_day": alerts_per_day(labelled, threshold),
        "budget_per_day": float((per_day * budget).mean()) if len(per_day) else 0.0,
        "worst_family_flagged": float(named["share"].max()) if len(named) else 0.0,
        "fraud_per_day": float(labelled["is_fraud"].sum() / max(len(per_day), 1)),
    }
    for k in ks:
        out[f"precision_at_{k}"] = precision_at_k(labelled, k)
    return out
