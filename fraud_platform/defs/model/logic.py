"""The learned risk score: gradient-boosted trees over an account's evidence, and why they say so.

Rules that look at one day's shape of one account plateau at low precision once legitimate
look-alikes exist (a wholesaler relays, an exchange is paid by many just under 10,000); the
field's answer (IBM AMLworld, NeurIPS 2023: graph-pattern features with gradient boosting, F1 ≈
0.63 on HI-Small; GADBench: tree ensembles with neighbour aggregates beat 29 graph anomaly
models) is a tree ensemble over pattern, timing, history and graph features. LightGBM is used:
a 3.5 MB wheel that scores 2.4M accounts in about a second on two cores, where XGBoost's Linux
wheel brings 300 MB of CUDA libraries to every install. Scoring on a GPU would save about a
second per day, not worth that.

``risk_score`` is the model's probability that the account takes part in laundering. Each
account at or above `REASON_MIN_RISK` carries its top reasons: the features whose SHAP
contributions (LightGBM's ``pred_contrib``, computed by the model itself) pushed its score up
most. TreeSHAP costs about 0.7 ms an account, so it is computed only where an analyst will
look: 2.4M accounts would take half an hour, the few thousand at risk take seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from fraud_platform.defs.features.logic import (
    FEATURE_COLUMNS,
    RELAY_DAY_SHARE,
    RELAY_FEATURE,
    percentile,
)
from fraud_platform.defs.features.temporal import HUB_DEGREE

#: Graph-algorithm evidence, computed by the analytics step's engine.
GRAPH_FEATURE_COLUMNS = ("pagerank_pct", "cluster_relay_share")
#: What the account's counterparties' histories say (`neighbour_history_features`).
NEIGHBOUR_HISTORY_COLUMNS = (
    "neighbour_new_share",
    "neighbour_new_count",
    "neighbour_novel_relay_max",
    "neighbour_novel_relay_share",
)
#: History evidence, as the model reads it (`history_features`).
HISTORY_FEATURE_COLUMNS = (
    "history_days",
    "days_active",
    "days_since_first_seen",
    "days_since_last_seen",
    "relay_days",
    "relay_habit",
    "in_vs_typical",
    "out_vs_typical",
    "counterparties_vs_typical",
    "known_counterparty_share",
    "new_counterparties",
)
MODEL_FEATURES = (
    FEATURE_COLUMNS + HISTORY_FEATURE_COLUMNS + GRAPH_FEATURE_COLUMNS + NEIGHBOUR_HISTORY_COLUMNS
)

#: Accounts at or above this risk get their top reasons (see the module docstring).
REASON_MIN_RISK = 0.2
#: Reasons listed per account.
TOP_REASONS = 3

#: Training parameters, chosen on the training worlds only (``fraud-platform evaluate``): small
#: trees (15 leaves) and many accounts per leaf generalise across worlds better than deep ones,
#: and keep TreeSHAP cheap; one thread and a fixed seed make a model reproducible bit for bit.
MODEL_PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.7,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 2,
    "seed": 17,
    "verbosity": -1,
}
ROUNDS = 300
#: Rows scored per LightGBM call (see `RiskModel.predict`).
PREDICT_ROWS = 1 << 18


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """``Σ (R_n − R_{n−1}) P_n`` over the distinct scores, highest first; NaN without positives.

    Equal scores enter the ranking together (one step of the curve), as in scikit-learn's
    ``average_precision_score``.
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


def history_features(history: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
    """`HISTORY_FEATURE_COLUMNS` from the history table and the day's node table (same order).

    Ratios to the account's typical day are NaN (missing, which the trees treat as its own
    branch) when the account has no earlier active day: "no habit" is not "a habit of zero".
    On a day without any stored day before it (a new deployment's first day) every history
    feature is NaN: nobody is "new" when nothing was seen before, and a model that read zeros
    there would take every account for a fresh mule.
    """
    days_active = history["days_active"].to_numpy(dtype=np.float64)
    had = days_active > 0
    known = history["history_days"].to_numpy(dtype=np.float64) > 0

    def versus(today: np.ndarray, typical: np.ndarray) -> np.ndarray:
        ratio = np.log1p(today) - np.log1p(typical)
        return np.where(had, ratio, np.nan)

    counterparties = (nodes["in_degree"] + nodes["out_degree"]).to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "history_days": history["history_days"].to_numpy(dtype=np.float64),
            "days_active": days_active,
            "days_since_first_seen": history["days_since_first_seen"].to_numpy(np.float64),
            "days_since_last_seen": history["days_since_last_seen"].to_numpy(np.float64),
            "relay_days": history["relay_days"].to_numpy(dtype=np.float64),
            "relay_habit": np.where(
                had, history["relay_days"].to_numpy(np.float64) / np.maximum(days_active, 1), np.nan
            ),
            "in_vs_typical": versus(
                nodes["in_amount"].to_numpy(np.float64),
                history["typical_in_amount"].to_numpy(np.float64),
            ),
            "out_vs_typical": versus(
                nodes["out_amount"].to_numpy(np.float64),
                history["typical_out_amount"].to_numpy(np.float64),
            ),
            "counterparties_vs_typical": versus(
                counterparties, history["typical_counterparties"].to_numpy(np.float64)
            ),
            "known_counterparty_share": np.where(
                history["history_days"].to_numpy() > 0,
                history["known_counterparty_share"].to_numpy(np.float64),
                np.nan,
            ),
            "new_counterparties": history["new_counterparties"].to_numpy(dtype=np.float64),
        }
    )
    unknown = [c for c in frame.columns if c != "history_days"]
    frame.loc[~known, unknown] = np.nan
    return frame


def graph_features(
    pagerank: np.ndarray, cluster: np.ndarray, relayed: np.ndarray
) -> pd.DataFrame:
    """`GRAPH_FEATURE_COLUMNS`: the day's PageRank percentile, and the share of the rest of the
    account's Louvain cluster that relayed (rings of relays share a community)."""
    n = len(pagerank)
    relayed = np.asarray(relayed, dtype=np.float64)
    if n:
        _, dense = np.unique(cluster, return_inverse=True)
        dense = dense.reshape(-1)
        others = np.bincount(dense)[dense] - 1
        total = np.bincount(dense, weights=relayed)[dense] - relayed
        share = np.divide(total, others, out=np.zeros(n), where=others > 0)
    else:
        share = np.zeros(0)
    return pd.DataFrame(
        {"pagerank_pct": percentile(np.asarray(pagerank, dtype=np.float64)),
         "cluster_relay_share": np.clip(share, 0.0, 1.0)}
    )


def neighbour_history_features(
    nodes: pd.DataFrame, edges: pd.DataFrame, history: pd.DataFrame, relayed: np.ndarray
) -> pd.DataFrame:
    """`NEIGHBOUR_HISTORY_COLUMNS`: what the account's counterparties were before today.

    Mule networks are recruited: their accounts are new to the platform (or woken from dormancy)
    and relay for the first time, and the accounts they trade with are too; a shop's customers
    and a wholesaler's suppliers have been there for weeks. Per account, over its counterparties
    with fewer than `HUB_DEGREE` counterparties of their own (a processor's thousands of payers
    say nothing about one another):

    - ``neighbour_new_share``/``neighbour_new_count``: counterparties without an active day in
      the history window (NaN before the platform has any history);
    - ``neighbour_novel_relay_max``/``_share``: counterparties relaying today that never relayed
      before ("news", as `history` puts it; NaN too without history).
    """
    n = len(nodes)
    senders = edges["sender_node"].to_numpy(dtype=np.int64)
    receivers = edges["receiver_node"].to_numpy(dtype=np.int64)
    degree = (nodes["in_degree"] + nodes["out_degree"]).to_numpy(dtype=np.int64)
    new = history["days_active"].to_numpy() == 0
    novel = np.asarray(relayed, dtype=bool) & (history["relay_days"].to_numpy() == 0)
    # Each pair seen from both ends: the account, and the counterparty that informs it.
    account = np.concatenate([senders, receivers])
    other = np.concatenate([receivers, senders])
    informs = degree[other] < HUB_DEGREE
    account, other = account[informs], other[informs]
    count = np.bincount(account, minlength=n).astype(np.float64)
    new_count = np.bincount(account, weights=new[other], minlength=n)
    novel_count = np.bincount(account, weights=novel[other], minlength=n)
    novel_max = np.zeros(n)
    np.maximum.at(novel_max, account, novel[other].astype(np.float64))
    had_history = history["history_days"].to_numpy() > 0 if n else np.zeros(0, dtype=bool)
    new_share = np.divide(new_count, count, out=np.zeros(n), where=count > 0)
    return pd.DataFrame(
        {
            "neighbour_new_share": np.where(had_history, new_share, np.nan),
            "neighbour_new_count": np.where(had_history, new_count, np.nan),
            "neighbour_novel_relay_max": np.where(had_history, novel_max, np.nan),
            "neighbour_novel_relay_share": np.where(
                had_history,
                np.divide(novel_count, count, out=np.zeros(n), where=count > 0),
                np.nan,
            ),
        }
    )


def model_inputs(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    features: pd.DataFrame,
    history: pd.DataFrame,
    centrality: np.ndarray,
    cluster: np.ndarray,
) -> pd.DataFrame:
    """The model's input for one day from what the day's assets computed (node-table order)."""
    relayed = features[RELAY_FEATURE].to_numpy(dtype=np.float64) >= RELAY_DAY_SHARE
    graph = pd.concat(
        [
            graph_features(centrality, cluster, relayed),
            neighbour_history_features(nodes, edges, history, relayed),
        ],
        axis=1,
    )
    return model_frame(features, history, nodes, graph)


def model_frame(
    features: pd.DataFrame, history: pd.DataFrame, nodes: pd.DataFrame, graph: pd.DataFrame
) -> pd.DataFrame:
    """The model's input (`MODEL_FEATURES`, float64) for one day, rows in node-table order."""
    for name, frame in (("features", features), ("history", history), ("graph", graph)):
        if len(frame) != len(nodes):
            raise ValueError(f"{name} has {len(frame)} rows for {len(nodes)} accounts")
    if len(nodes) and not (
        np.array_equal(features["account"].to_numpy(), nodes["account"].to_numpy())
        and np.array_equal(history["account"].to_numpy(), nodes["account"].to_numpy())
    ):
        raise ValueError("features, history and nodes must list the same accounts in order")
    frame = pd.concat(
        [
            features.loc[:, list(FEATURE_COLUMNS)].reset_index(drop=True),
            history_features(history, nodes).reset_index(drop=True),
            graph.loc[:, list(GRAPH_FEATURE_COLUMNS + NEIGHBOUR_HISTORY_COLUMNS)].reset_index(
                drop=True
            ),
        ],
        axis=1,
    )
    return frame.astype(np.float64)


@dataclass
class RiskModel:
    """A trained model with what it was trained on; saved as LightGBM text plus JSON."""

    booster: lgb.Booster
    features: tuple[str, ...]
    training: dict[str, object] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """A content hash: the same trees and features are the same version, wherever trained."""
        digest = hashlib.sha256(self.booster.model_to_string().encode())
        digest.update("\n".join(self.features).encode())
        return digest.hexdigest()[:12]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(f"the model needs the feature(s) {missing}")
        return frame.loc[:, list(self.features)].to_numpy(dtype=np.float64)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of laundering per row, in [0, 1].

        Rows go to LightGBM `PREDICT_ROWS` at a time: the float matrix it reads is a copy, and
        a whole 10M-transfer day's (2.2M accounts) would add 1.3 GB at the run's peak.
        """
        out = np.zeros(len(frame))
        for start in range(0, len(frame), PREDICT_ROWS):
            part = frame.iloc[start : start + PREDICT_ROWS]
            out[start : start + len(part)] = self.booster.predict(self.matrix(part))
        return np.clip(out, 0.0, 1.0)

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """SHAP contributions (rows × features, in log-odds), without the bias column."""
        if len(frame) == 0:
            return np.zeros((0, len(self.features)))
        return self.booster.predict(self.matrix(frame), pred_contrib=True)[:, :-1]

    def importances(self) -> pd.DataFrame:
        """Total gain per feature, as a share of all gain, largest first."""
        gain = self.booster.feature_importance(importance_type="gain")
        share = gain / gain.sum() if gain.sum() > 0 else gain
        frame = pd.DataFrame({"feature": list(self.features), "gain_share": share})
        return frame.sort_values("gain_share", ascending=False, ignore_index=True)

    def to_json(self) -> str:
        return json.dumps(
            {"version": self.version, "features": list(self.features), "training": self.training},
            indent=2,
            sort_keys=True,
            default=str,
        )

    def to_text(self) -> str:
        return self.booster.model_to_string()

    @staticmethod
    def from_text(model_text: str, meta_json: str) -> RiskModel:
        meta = json.loads(meta_json)
        booster = lgb.Booster(model_str=model_text)
        model = RiskModel(booster, tuple(meta["features"]), dict(meta.get("training", {})))
        if meta.get("version") and meta["version"] != model.version:
            raise ValueError(
                f"the model's trees do not match its description (version {meta['version']} "
                f"recorded, {model.version} found)"
            )
        return model


def train_model(
    frame: pd.DataFrame,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    params: Mapping[str, object] | None = None,
    rounds: int = ROUNDS,
    training: Mapping[str, object] | None = None,
) -> RiskModel:
    """Trees over ``frame`` (`MODEL_FEATURES`) against ``labels`` (True: laundering)."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("training needs both laundering and legitimate accounts")
    features = tuple(c for c in MODEL_FEATURES if c in frame.columns)
    chosen = dict(MODEL_PARAMS | dict(params or {}))
    dataset = lgb.Dataset(
        frame.loc[:, list(features)].to_numpy(dtype=np.float64),
        label=labels.astype(np.float64),
        weight=None if weights is None else np.asarray(weights, dtype=np.float64),
        feature_name=list(features),
        free_raw_data=True,
    )
    booster = lgb.train(chosen, dataset, num_boost_round=rounds)
    summary = {
        "rows": len(labels),
        "laundering_rows": int(labels.sum()),
        "rounds": rounds,
        "params": {k: v for k, v in chosen.items() if k != "verbosity"},
    }
    return RiskModel(booster, features, {**summary, **dict(training or {})})


#: How reasons read: each feature's plain-language name.
REASON_LABELS: dict[str, str] = {
    "days_since_first_seen": "first seen {value:.0f} day(s) ago",
    "history_days": "{value:.0f} day(s) of history",
    "days_active": "active on {value:.0f} earlier day(s)",
    "known_counterparty_share": "{pct:.0f}% of counterparties known from before",
    "new_counterparties": "{value:.0f} new counterparties",
    "relay_habit": "relayed on {pct:.0f}% of earlier active days",
    "in_vs_typical": "money in {ratio} its usual",
    "out_vs_typical": "money out {ratio} its usual",
    "flow_balance": "passed on {pct:.0f}% of the money it received",
    "in_degree": "{value:.0f} payers",
    "out_degree": "{value:.0f} payees",
    "pagerank_pct": "centrality percentile {pct:.0f}",
    "days_since_last_seen": "last seen {value:.0f} day(s) before",
    "neighbour_new_share": "{pct:.0f}% of its counterparties are new",
    "neighbour_new_count": "{value:.0f} counterparties new to the platform",
    "neighbour_novel_relay_max": "a counterparty relays money for the first time",
    "neighbour_novel_relay_share": "{pct:.0f}% of counterparties relay for the first time",
    "neighbour_chain_max": "a counterparty passes on {pct:.0f}% of its inflows in chains",
    "neighbour_relay_max": "a counterparty relays {pct:.0f}% of its inflow within 6 h",
    "relay_share_1h": "passed on {pct:.0f}% of its inflow within 1 h",
    "relay_share_6h": "passed on {pct:.0f}% of its inflow within 6 h",
    "relay_share_day": "passed on {pct:.0f}% of its inflow the same day",
    "scatter_gather_source": "sent money that was gathered again ({value:.0f} intermediaries)",
    "scatter_gather_middle": "intermediary of a scatter-gather ({value:.0f} wide)",
    "scatter_gather_target": "gathered money scattered by one source ({value:.0f} intermediaries)",
    "gather_scatter_middle": "gathered from many and scattered to many ({value:.0f} wide)",
    "cycle_min_length": "on a cycle of {value:.0f} hops in time order",
    "fan_out_1h": "paid {value:.0f} accounts within 1 h",
    "fan_in_1h": "paid by {value:.0f} accounts within 1 h",
    "structuring_sent_count": "{value:.0f} payments just under 10,000",
    "cluster_relay_share": "{pct:.0f}% of its cluster relays money",
}


#: Labels that say a pattern is there: at 0 they would misread, so the raw value is shown.
_PRESENCE_LABELS = frozenset(
    {
        "neighbour_novel_relay_max",
        "scatter_gather_source",
        "scatter_gather_middle",
        "scatter_gather_target",
        "gather_scatter_middle",
        "cycle_min_length",
    }
)


def describe(feature: str, value: float) -> str:
    """One reason as text: a plain-language label where there is one, else ``feature=value``."""
    if math.isnan(value):
        return f"{feature} unknown"
    template = REASON_LABELS.get(feature)
    if template is None or (value == 0 and feature in _PRESENCE_LABELS):
        return f"{feature}={value:.3g}"
    ratio = f"{math.expm1(abs(value)) + 1:.1f}x {'above' if value >= 0 else 'below'}"
    return template.format(value=value, pct=100 * value, ratio=ratio)


#: The kind of evidence a feature is, by name prefix (longest first wins): an alert's
#: ``pattern`` is its top reason's, which the analysts' queue filters on.
PATTERN_PREFIXES: dict[str, str] = {
    "relay": "relay",
    "relayed_out": "relay",
    "flow_": "relay",
    "out_before_in": "relay",
    "chain_": "chain",
    "split_pieces": "chain",
    "cycle_": "cycle",
    "scatter_gather": "scatter-gather",
    "gather_scatter": "gather-scatter",
    "fan_out": "fan-out",
    "out_degree": "fan-out",
    "sent_count": "fan-out",
    "top_payee": "fan-out",
    "fan_in": "fan-in",
    "in_degree": "fan-in",
    "received_count": "fan-in",
    "top_payer": "fan-in",
    "burst": "burst",
    "structuring": "structuring",
    "round_": "amounts",
    "sent_amount": "amounts",
    "received_amount": "amounts",
    "median_sent": "amounts",
    "in_amount": "amounts",
    "out_amount": "amounts",
    "net_flow": "amounts",
    "reciprocal": "amounts",
    "neighbour_": "neighbourhood",
    "degree_vs_hub": "neighbourhood",
    "cluster_": "network position",
    "pagerank": "network position",
    "history_days": "new or dormant account",
    "days_": "new or dormant account",
    "relay_days": "change in behaviour",
    "relay_habit": "change in behaviour",
    "in_vs_typical": "change in behaviour",
    "out_vs_typical": "change in behaviour",
    "counterparties_vs": "change in behaviour",
    "known_counterparty": "change in behaviour",
    "new_counterparties": "change in behaviour",
}


def pattern_of(feature: str) -> str:
    """The kind of evidence ``feature`` is (`PATTERN_PREFIXES`), else ``"other"``."""
    best = max((p for p in PATTERN_PREFIXES if feature.startswith(p)), key=len, default=None)
    return "other" if best is None else PATTERN_PREFIXES[best]


def explain(
    model: RiskModel, frame: pd.DataFrame, risk: np.ndarray, *, top: int = TOP_REASONS
) -> tuple[np.ndarray, np.ndarray]:
    """Reasons and pattern of each row at or above `REASON_MIN_RISK` (``""`` for the others).

    Reasons are ``"reason; reason; reason"``: the features with the largest positive
    contributions, largest first; the pattern is the first reason's kind (`pattern_of`).
    """
    reasons = np.full(len(frame), "", dtype=object)
    patterns = np.full(len(frame), "", dtype=object)
    rows = np.flatnonzero(np.asarray(risk) >= REASON_MIN_RISK)
    if len(rows) == 0:
        return reasons, patterns
    subset = frame.iloc[rows]
    contributions = model.contributions(subset)
    values = model.matrix(subset)
    order = np.argsort(-contributions, axis=1)[:, :top]
    for i, row in enumerate(rows):
        kept = [j for j in order[i] if contributions[i, j] > 0]
        reasons[row] = "; ".join(describe(model.features[j], float(values[i, j])) for j in kept)
        patterns[row] = pattern_of(model.features[kept[0]]) if kept else ""
    return reasons, patterns


def top_reasons(
    model: RiskModel, frame: pd.DataFrame, risk: np.ndarray, *, top: int = TOP_REASONS
) -> np.ndarray:
    """The reasons of `explain`."""
    return explain(model, frame, risk, top=top)[0]


def reason_features(model: RiskModel, frame: pd.DataFrame, rows: Sequence[int]) -> list[list[str]]:
    """The names of the top contributing features of ``rows`` (for tests and evaluation)."""
    if len(rows) == 0:
        return []
    contributions = model.contributions(frame.iloc[list(rows)])
    order = np.argsort(-contributions, axis=1)[:, :TOP_REASONS]
    return [[model.features[j] for j in line] for line in order]
