"""The risk score: how much an account behaved like a money mule on one day.

A mule *relays* money: what it receives it sends on the same day, usually collected from many
senders and forwarded to few. Being a hub is not suspicious in itself: a merchant paid by
thousands of customers (large in, nothing out) or an employer paying salaries (one large inflow,
many payments out) is as central as any mule. So every feature is read through the account's
own pass-through, and an account that relays nothing scores 0 unless it is on a watchlist.

Each component is in [0, 1] and measured within the day, where ``pct(v)`` is the share of the
day's other accounts with a strictly smaller ``v`` (``(min rank − 1) / (N − 1)``; ties share the
lower rank, so the many accounts at the floor all get 0):

* ``centrality_score = pct(pagerank)``. Raw PageRank sums to 1 over the day, so it is tiny and
  shrinks as the day grows; its rank is comparable from day to day.
* ``pass_through_score = balance × pct(min(in, out))`` with
  ``balance = min(in, out) / max(in, out)`` (0 when either side is 0): money in close to money
  out, weighted by how much money is relayed compared with the rest of the day.
* ``fan_score = max(0, (in_degree − out_degree) / (in_degree + out_degree))``: the funnel
  shape, many payers feeding few payees. The opposite shape (few in, many out) is payroll and
  scores 0.
* ``cluster_score``: the share of the money received by the *other* members of the account's
  cluster that those members pass on, ``Σ min(in, out) / Σ in`` over the cluster without the
  account. High inside relay rings, near 0 around merchants and employers, and unaffected by
  the account's own flow (already counted in ``pass_through_score``).
* ``watchlist_score``: supplied by the caller (1 = on a watchlist), 0 otherwise.

They combine as ::

    mule = pass_through × (W_PASS_THROUGH + W_CENTRALITY·centrality + W_FAN·fan
                           + W_CLUSTER·cluster)
    risk_score = 1 − (1 − mule) × (1 − W_WATCHLIST·watchlist)

The weights inside the bracket add up to 1, so ``mule ≤ pass_through``: context can only
confirm a relay, never create one. The watchlist enters as an independent piece of evidence
(a noisy OR), so a listed account is high risk whatever its flows. An account is high risk when
``risk_score >= HIGH_RISK_THRESHOLD`` (0.8). With these weights a relay needs both volume and
context to get there: an account forwarding 95% of what 20 payers sent it, with the day's
largest relay volume, scores about 0.83; an employer passing on all of one inflow to 40 staff
scores about 0.6; a merchant scores 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_platform.settings import DEFAULT_HIGH_RISK_THRESHOLD
from fraud_platform.tables import PARTITION_COLUMN

#: Share of the pass-through score an account keeps with no supporting context at all.
W_PASS_THROUGH = 0.45
#: Weight of the account's PageRank percentile.
W_CENTRALITY = 0.15
#: Weight of the funnel shape (many payers, few payees).
W_FAN = 0.30
#: Weight of the relay share of the rest of the account's cluster.
W_CLUSTER = 0.10
#: How far a watchlist score of 1 pushes the risk towards 1 (1.0: all the way).
W_WATCHLIST = 1.0

HIGH_RISK_THRESHOLD = DEFAULT_HIGH_RISK_THRESHOLD

SCORE_COLUMNS = (
    "account",
    "centrality",
    "cluster",
    "risk_score",
    "centrality_score",
    "pass_through_score",
    "fan_score",
    "cluster_score",
    "watchlist_score",
)

_NODE_FEATURES = ("in_degree", "out_degree", "in_amount", "out_amount")


def percentile(values: np.ndarray) -> np.ndarray:
    """Share of the other values strictly below each value: 0 for the minimum, 1 for the maximum."""
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    ranks = pd.Series(values).rank(method="min").to_numpy()
    return (ranks - 1.0) / (n - 1.0)


def _aligned(frame: pd.DataFrame, column: str, accounts: pd.Index, what: str) -> np.ndarray:
    """``frame[column]`` in the order of ``accounts``, refusing missing, extra or repeated ids."""
    for needed in ("account", column):
        if needed not in frame.columns:
            raise ValueError(f"{what} lacks the column {needed!r}")
    if frame["account"].duplicated().any():
        raise ValueError(f"{what} lists an account more than once")
    indexed = frame.set_index("account")[column]
    if len(indexed) != len(accounts) or not accounts.isin(indexed.index).all():
        raise ValueError(f"{what} does not cover exactly the accounts of the day's nodes")
    return indexed.reindex(accounts).to_numpy()


def _watchlist(watchlist_scores: pd.DataFrame | None, accounts: pd.Index) -> np.ndarray:
    if watchlist_scores is None:
        return np.zeros(len(accounts))
    if not {"account", "watchlist_score"} <= set(watchlist_scores.columns):
        raise ValueError("watchlist_scores needs the columns 'account' and 'watchlist_score'")
    values = watchlist_scores["watchlist_score"].to_numpy(dtype=np.float64)
    if not ((values >= 0.0) & (values <= 1.0)).all():
        raise ValueError("watchlist_score values must lie in [0, 1]")
    # Accounts not active today are irrelevant; an account listed twice keeps its highest score.
    best = watchlist_scores.groupby("account", sort=False)["watchlist_score"].max()
    return best.reindex(accounts, fill_value=0.0).to_numpy(dtype=np.float64)


def _others_relay_share(
    cluster: np.ndarray, in_amount: np.ndarray, relayed: np.ndarray
) -> np.ndarray:
    """Σ relayed / Σ in_amount over each account's cluster, the account itself left out."""
    _, dense = np.unique(cluster, return_inverse=True)
    dense = dense.reshape(-1)
    cluster_in = np.bincount(dense, weights=in_amount)
    cluster_relayed = np.bincount(dense, weights=relayed)
    others_in = cluster_in[dense] - in_amount
    others_relayed = cluster_relayed[dense] - relayed
    # Relative guard: subtracting an account from its own total leaves rounding dust.
    meaningful = others_in > 1e-9 * cluster_in[dense]
    share = np.divide(others_relayed, others_in, out=np.zeros(len(cluster)), where=meaningful)
    return np.clip(share, 0.0, 1.0)


def score_accounts(
    nodes: pd.DataFrame,
    pagerank: pd.DataFrame,
    clusters: pd.DataFrame,
    *,
    watchlist_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account of ``nodes``: its raw centrality, cluster, risk and the components.

    ``nodes`` has the node-table columns (``account, in_degree, out_degree, in_amount,
    out_amount``, optionally ``partition_date``, kept in front); ``pagerank`` is
    ``account, pagerank`` and ``clusters`` ``account, cluster`` for exactly the same accounts;
    ``watchlist_scores`` is ``account, watchlist_score`` in [0, 1] for any accounts. Rows keep
    the order of ``nodes``. See the module docstring for the formula.
    """
    missing = [c for c in ("account", *_NODE_FEATURES) if c not in nodes.columns]
    if missing:
        raise ValueError(f"nodes lacks the column(s) {missing}")
    if nodes["account"].duplicated().any():
        raise ValueError("nodes lists an account more than once")
    features = nodes[list(_NODE_FEATURES)].to_numpy(dtype=np.float64)
    if not np.isfinite(features).all() or (features < 0).any():
        raise ValueError("nodes has a negative, NaN or infinite degree or amount")
    in_degree, out_degree, in_amount, out_amount = features.T

    accounts = pd.Index(nodes["account"])
    centrality = _aligned(pagerank, "pagerank", accounts, "pagerank").astype(np.float64)
    cluster = _aligned(clusters, "cluster", accounts, "clusters").astype(np.int64)
    watchlist = _watchlist(watchlist_scores, accounts)

    # Round away the last-bit noise of the power iteration so structurally equal accounts tie.
    centrality_score = percentile(np.round(centrality * len(accounts), 9))
    relayed = np.minimum(in_amount, out_amount)
    larger = np.maximum(in_amount, out_amount)
    balance = np.divide(relayed, larger, out=np.zeros(len(accounts)), where=larger > 0)
    pass_through_score = balance * percentile(relayed)
    degrees = in_degree + out_degree
    fan = np.divide(in_degree - out_degree, degrees, out=np.zeros(len(accounts)), where=degrees > 0)
    fan_score = np.clip(fan, 0.0, 1.0)
    cluster_score = _others_relay_share(cluster, in_amount, relayed)

    context = (
        W_PASS_THROUGH
        + W_CENTRALITY * centrality_score
        + W_FAN * fan_score
        + W_CLUSTER * cluster_score
    )
    mule = pass_through_score * context
    risk = 1.0 - (1.0 - mule) * (1.0 - W_WATCHLIST * watchlist)

    scored = pd.DataFrame(
        {
            "account": accounts,
            "centrality": centrality,
            "cluster": cluster,
            "risk_score": np.clip(risk, 0.0, 1.0),
            "centrality_score": centrality_score,
            "pass_through_score": pass_through_score,
            "fan_score": fan_score,
            "cluster_score": cluster_score,
            "watchlist_score": watchlist,
        }
    )
    if PARTITION_COLUMN in nodes.columns:
        scored.insert(0, PARTITION_COLUMN, nodes[PARTITION_COLUMN].to_numpy())
    return scored


def is_high_risk(scores: pd.DataFrame, threshold: float = HIGH_RISK_THRESHOLD) -> pd.Series:
    """Which scored accounts reach the high-risk threshold (``risk_score >= threshold``)."""
    return scores["risk_score"] >= threshold
