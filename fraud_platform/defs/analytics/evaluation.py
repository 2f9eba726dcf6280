"""How well the risk score finds the fraud the sample generator planted: figures from frames.

The pure functions take the day's scores (``partition_date, account, risk_score``) and the
generator's ground truth (``partition_date, account, typology, is_fraud, role``) and return
figures; `score_landing_day` is the pipeline (ingest → graph → scores, no Dagster, no database)
that ``fraud-platform evaluate`` runs per day before handing the frames to them.

Definitions, all over account-days (an account active on three days counts three times):

- *precision / recall at the threshold*: of the accounts with ``risk_score >= threshold`` the
  share that was planted, and of the planted accounts the share reaching the threshold, pooled
  over every day;
- *precision@k*: the planted share of each day's ``k`` highest scores (ties broken by account
  id), averaged over the days; a day with fewer than ``k`` accounts uses all of them;
- *average precision*: the area under the day's precision-recall curve as scikit-learn's
  ``average_precision_score`` computes it (``Σ (R_n − R_{n−1}) P_n`` over the distinct scores,
  tied scores entering together), averaged over the days that have planted accounts;
- *hubs flagged*: the share of the day's merchants and employers (legitimate hubs, the classic
  false positives of centrality) reaching the threshold.

Accounts on the watchlist are left out of every figure (``exclude``): the score flags them by
construction, so counting them would only measure the watchlist.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from upath import UPath

from fraud_platform.defs.analytics.engines import GraphEngine
from fraud_platform.defs.analytics.logic import score_day
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import ingest_day
from fraud_platform.sample_data.generator import (
    FRAUD_TYPOLOGIES,
    GROUND_TRUTH_FILE,
    GROUND_TRUTH_PATH,
    HUB_TYPOLOGIES,
    LANDING_PATH,
)
from fraud_platform.tables import PARTITION_COLUMN

#: The per-day cut-offs of precision@k.
TOP_K = (10, 50, 100)
#: Typology of the accounts the generator did not plant (ordinary people).
BACKGROUND = "background"


@dataclass(frozen=True)
class EvaluationReport:
    """The figures of one evaluated period (see the module docstring for their definitions)."""

    days: int
    threshold: float
    account_days: int
    fraud_account_days: int
    excluded_account_days: int
    alerts: int  # account-days at or above the threshold
    precision: float  # NaN when nothing was flagged
    recall: float  # NaN when nothing was planted
    average_precision: float  # mean over the days with planted accounts; NaN if none
    precision_at_k: dict[int, float]
    typologies: pd.DataFrame  # typology, role, accounts, flagged, recall
    hubs: pd.DataFrame  # typology, accounts, flagged, share

    @property
    def alerts_per_day(self) -> float:
        return self.alerts / self.days if self.days else 0.0


def label_scores(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Each scored account-day with its planted ``typology``, ``role`` and ``is_fraud``.

    Accounts the ground truth does not list are ``background`` (not fraud). Planted accounts
    that the scores lack (no valid transfer that day) are added with ``risk_score`` 0: the
    pipeline missed them, so they count against recall.
    """
    keys = [PARTITION_COLUMN, "account"]
    truth = truth.loc[:, [*keys, "typology", "role", "is_fraud"]].drop_duplicates(keys)
    labelled = scores.loc[:, [*keys, "risk_score"]].merge(truth, on=keys, how="outer")
    labelled["risk_score"] = labelled["risk_score"].fillna(0.0).astype(np.float64)
    labelled["typology"] = labelled["typology"].fillna(BACKGROUND).astype("str")
    labelled["role"] = labelled["role"].fillna(BACKGROUND).astype("str")
    labelled["is_fraud"] = labelled["is_fraud"].fillna(False).astype(bool)
    return labelled.sort_values(keys, ignore_index=True)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """``Σ (R_n − R_{n−1}) P_n`` over the distinct scores, highest first; NaN without positives.

    Equal scores enter the ranking together (one step of the curve), as in scikit-learn.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    if positives == 0:
        return math.nan
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order]
    true_positives = np.cumsum(hits)
    # The last position of every run of equal scores is where the curve takes a step.
    step_ends = np.r_[np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1]
    tp = true_positives[step_ends]
    precision = tp / (step_ends + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_recall_at(labelled: pd.DataFrame, threshold: float) -> tuple[float, float]:
    """Pooled (precision, recall) of ``risk_score >= threshold``; NaN where undefined."""
    flagged = labelled["risk_score"].to_numpy() >= threshold
    fraud = labelled["is_fraud"].to_numpy(dtype=bool)
    precision = fraud[flagged].mean() if flagged.any() else math.nan
    recall = flagged[fraud].mean() if fraud.any() else math.nan
    return float(precision), float(recall)


def precision_at_k(labelled: pd.DataFrame, k: int) -> float:
    """The planted share of each day's ``k`` highest scores, averaged over the days."""
    if k < 1:
        raise ValueError("k must be at least 1")
    ranked = labelled.sort_values(
        [PARTITION_COLUMN, "risk_score", "account"], ascending=[True, False, True]
    )
    top = ranked.groupby(PARTITION_COLUMN, sort=True).head(k)
    per_day = top.groupby(PARTITION_COLUMN, sort=True)["is_fraud"].mean()
    return float(per_day.mean()) if len(per_day) else math.nan


def mean_average_precision(labelled: pd.DataFrame) -> float:
    """`average_precision` of each day with planted accounts, averaged over those days."""
    values = [
        average_precision(day["risk_score"].to_numpy(), day["is_fraud"].to_numpy())
        for _, day in labelled.groupby(PARTITION_COLUMN, sort=True)
    ]
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def recall_by_typology(labelled: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Recall at the threshold per planted typology and role, plus an ``all`` row per typology."""
    fraud = labelled[labelled["is_fraud"]].assign(flagged=lambda f: f["risk_score"] >= threshold)
    by_role = fraud.groupby(["typology", "role"], sort=True)["flagged"].agg(["size", "sum"])
    by_typology = fraud.groupby("typology", sort=True)["flagged"].agg(["size", "sum"])
    by_typology.index = pd.MultiIndex.from_arrays(
        [by_typology.index, ["all"] * len(by_typology)], names=["typology", "role"]
    )
    table = pd.concat([by_role, by_typology]).rename(columns={"size": "accounts", "sum": "flagged"})
    order = {t: i for i, t in enumerate(FRAUD_TYPOLOGIES)}
    table = table.reset_index()
    table["_t"] = table["typology"].map(order).fillna(len(order))
    table["_r"] = (table["role"] == "all").astype(int)
    table = table.sort_values(["_t", "typology", "_r", "role"]).drop(columns=["_t", "_r"])
    table["accounts"] = table["accounts"].astype(np.int64)
    table["flagged"] = table["flagged"].astype(np.int64)
    table["recall"] = table["flagged"] / table["accounts"]
    return table.reset_index(drop=True)


def hub_flag_rates(labelled: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """For merchants and employers: account-days, how many reached the threshold, the share."""
    rows = []
    for typology in HUB_TYPOLOGIES:
        hubs = labelled[labelled["typology"] == typology]
        flagged = int((hubs["risk_score"] >= threshold).sum())
        share = flagged / len(hubs) if len(hubs) else math.nan
        rows.append(
            {"typology": typology, "accounts": len(hubs), "flagged": flagged, "share": share}
        )
    return pd.DataFrame(rows, columns=["typology", "accounts", "flagged", "share"])


def evaluate_scores(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    threshold: float,
    *,
    exclude: Collection[str] = (),
    ks: Sequence[int] = TOP_K,
) -> EvaluationReport:
    """Every figure of the module docstring for ``scores`` against ``truth``.

    ``exclude`` names accounts (the watchlist) left out of every figure.
    """
    labelled = label_scores(scores, truth)
    excluded = labelled["account"].isin(list(exclude)) if len(exclude) else None
    excluded_count = int(excluded.sum()) if excluded is not None else 0
    if excluded is not None:
        labelled = labelled[~excluded]
    precision, recall = precision_recall_at(labelled, threshold)
    return EvaluationReport(
        days=int(labelled[PARTITION_COLUMN].nunique()),
        threshold=threshold,
        account_days=len(labelled),
        fraud_account_days=int(labelled["is_fraud"].sum()),
        excluded_account_days=excluded_count,
        alerts=int((labelled["risk_score"] >= threshold).sum()),
        precision=precision,
        recall=recall,
        average_precision=mean_average_precision(labelled),
        precision_at_k={k: precision_at_k(labelled, k) for k in ks},
        typologies=recall_by_typology(labelled, threshold),
        hubs=hub_flag_rates(labelled, threshold),
    )


def sample_watchlist(truth: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """A seeded ``share`` of the distinct planted fraud accounts, as a watchlist (``account``).

    It stands for what investigators already know: the score should then find the rest.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be within [0, 1]")
    fraud = np.sort(truth.loc[truth["is_fraud"].astype(bool), "account"].unique().astype(str))
    count = round(share * len(fraud))
    chosen = np.random.default_rng(seed).choice(fraud, size=count, replace=False)
    return pd.DataFrame({"account": pd.Series(np.sort(chosen), dtype="str")})


def format_report(report: EvaluationReport) -> str:
    """The report as the text ``fraud-platform evaluate`` prints."""

    def pct(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{100 * value:.1f}%"

    lines = [
        f"Evaluated {report.days} day(s): {report.account_days:,} account-days, "
        f"{report.fraud_account_days:,} of them planted fraud"
        + (
            f" ({report.excluded_account_days:,} watchlisted account-days left out)"
            if report.excluded_account_days
            else ""
        ),
        "",
        f"High risk (risk_score >= {report.threshold:g}): {report.alerts:,} account-days, "
        f"{report.alerts_per_day:.1f} a day",
        f"  precision {pct(report.precision)}   recall {pct(report.recall)}",
        "  precision@k (per day, averaged): "
        + "   ".join(f"@{k} {pct(v)}" for k, v in report.precision_at_k.items()),
        f"  average precision (per day, averaged): {report.average_precision:.3f}",
        "",
        "Recall at the threshold per planted typology",
    ]
    typologies = report.typologies.assign(recall=report.typologies["recall"].map(pct))
    lines += ["  " + line for line in typologies.to_string(index=False).splitlines()]
    lines += ["", "Legitimate hubs flagged (should be ~0)"]
    hubs = report.hubs.assign(share=report.hubs["share"].map(pct))
    lines += ["  " + line for line in hubs.to_string(index=False).splitlines()]
    return "\n".join(lines)


def sample_period_available(storage_url: str, days: Sequence[str]) -> bool:
    """True when ``storage_url`` holds landing files and ground truth for every day."""
    root = UPath(storage_url)
    for day in days:
        folder = f"date={day}"
        landing = root / LANDING_PATH / folder
        truth = root / GROUND_TRUTH_PATH / folder / GROUND_TRUTH_FILE
        if not (landing.exists() and truth.exists()):
            return False
    return True


def score_landing_day(
    landing_url: str,
    day: str,
    engine: GraphEngine,
    *,
    watchlist: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The day's scores as the assets compute them: ingest → graph → scores, nothing stored."""
    graph = build_transaction_graph(ingest_day(landing_url, day).valid)
    if graph.nodes.empty:
        return pd.DataFrame(
            {
                PARTITION_COLUMN: pd.Series(dtype="str"),
                "account": pd.Series(dtype="str"),
                "risk_score": pd.Series(dtype="float64"),
            }
        )
    scores, _ = score_day(graph.nodes, graph.edges, engine, watchlist=watchlist, layout=False)
    return scores


def score_landing_days(
    landing_url: str,
    days: Sequence[dt.date],
    engine: GraphEngine,
    *,
    watchlist: pd.DataFrame | None = None,
    progress: Callable[[int, str, pd.DataFrame, float], None] | None = None,
) -> pd.DataFrame:
    """`score_landing_day` for each day; ``progress(n, day, scores, seconds)`` hears each one.

    Only ``partition_date, account, risk_score`` are kept, so a long period of large days
    stays small in memory.
    """
    parts = []
    for index, day in enumerate(days, start=1):
        name = day.isoformat()
        started = time.perf_counter()
        scores = score_landing_day(landing_url, name, engine, watchlist=watchlist)
        if progress is not None:
            progress(index, name, scores, time.perf_counter() - started)
        parts.append(scores.loc[:, [PARTITION_COLUMN, "account", "risk_score"]])
    return pd.concat(parts, ignore_index=True)
