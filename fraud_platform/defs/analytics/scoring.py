"""The risk score: how strongly an account's day looks like money laundering, in [0, 1].

Centrality alone cannot flag fraud: the most central accounts of a payment network are merchants
paid by thousands and employers paying salaries. Laundering shows in how money *moves*: a mule
passes on what it receives, in rings of relays that share payers and payees, often in amounts
kept just under a reporting threshold, and its counterparties are other rings' members. The
score therefore collects several independent lines of evidence, each a component in [0, 1]
measured within the day. ``pct(v)`` is the share of the day's other accounts with a strictly
smaller ``v`` (ties share the lower rank, so the many accounts at the floor all get 0).

* ``pass_through_score = min(1, balance / RELAY_BALANCE) × pct(min(in, out))`` with
  ``balance = min(in, out) / max(in, out)``: money in close to money out (an account passing on
  at least 90% of it counts fully, as mules keep a cut), weighted by how much money is relayed
  compared with the rest of the day. Merchants (large in, little out) and ordinary people
  (small amounts) stay low.
* ``fan_score = max(0, (in_degree − out_degree) / (in_degree + out_degree))``: the funnel shape
  of a collection account, many payers feeding few payees. The opposite shape (one or two
  inflows paid out to hundreds) is payroll and scores 0.
* ``cluster_score = min(1, r / CLUSTER_RING_RELAY)`` with ``r`` the mean ``pass_through_score``
  of the *other* members of the account's Louvain cluster (the account's own flow left out).
  Relays of one ring (a cycle, or parallel mules between one source and one collector) land in
  one cluster and confirm each other; as the ring shares its cluster with a few ordinary
  contacts of its source and collector, 70% relaying already counts as a full ring. The
  employees around an employer, or a community of friends, are not relays.
* ``centrality_score = pct(pagerank)`` (amount-weighted PageRank): a relay at a central spot of
  the day's money flow is a little more suspicious.
* ``mule_score = pass_through × (W_RELAY + (1 − W_RELAY) × context)`` with
  ``context = 1 − (1 − W_FAN·fan)(1 − W_CLUSTER·cluster)(1 − W_CENTRALITY·centrality)``: a relay
  needs supporting context (a funnel, a ring of relays) to score high, and context alone, without
  a relay, scores nothing.
* ``counterparty_score``: the mean ``mule_score`` of the account's counterparties, weighted by
  the money exchanged with each (both directions). It finds the sources that feed mules and
  the collectors they pay, which relay nothing themselves. Counterparties with more than
  ``HUB_DEGREE`` counterparties pass nothing on: a processor's customers are not its accomplices.
* ``structuring_score = min(1, n / STRUCTURING_TRANSFERS)`` where ``n`` counts the transfers the
  account SENT (splitting is what a sender does; an exchange paid by many is not structuring) of
  at least ``(1 − STRUCTURING_MARGIN) × REPORTING_THRESHOLD`` but
  under the threshold (10,000 in any currency: the common cash and wire reporting limit). The
  graph keeps one row per account pair, so a pair's transfers count when their *mean* amount
  lies in the band (exact for a single transfer).
* ``association_score``: guilt by association with a watchlist of known fraudulent accounts
  (0 without one). A personalized PageRank on the undirected money graph, seeded by the listed
  accounts in proportion to the money they move, gives ``x``; ``g = s_listed × x / s`` (``s`` an
  account's money in plus out) is then the discounted share of time that a random trail of
  money from the account spends at listed accounts (exact for undirected walks), and
  ``association = min(1, g × (1 + d) / d)`` (``d`` the damping) rescales it so that 1 means all
  of the account's money is exchanged with listed accounts that trade only with it.
* ``watchlist_score``: 1 for a listed account (or the caller's own value in [0, 1]).

The components combine as independent evidence (a noisy OR: one strong line suffices, weak ones
add up)::

    risk_score = 1 − (1 − mule)(1 − W_COUNTERPARTY·counterparty)(1 − W_STRUCTURING·structuring)
                   × (1 − W_ASSOCIATION·association)(1 − W_WATCHLIST·watchlist)

This is the platform's *rules score*: ``account_scores`` uses it as ``risk_score`` only when no
risk model exists (see ``defs/model``), and always stores it beside the model's score as
``rules_score``. Its weights were calibrated on the platform's first sample generator, whose
mules relayed almost everything within the hour; on worlds with legitimate look-alikes
(wholesalers relaying revenue, processors settling, exchanges paid just under 10,000) it
flags far more legitimate accounts, which is why the learned model replaced it
(``fraud-platform evaluate`` prints both side by side).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.analytics.engines.base import edge_vertices
from fraud_platform.defs.features.logic import percentile
from fraud_platform.settings import RULES_HIGH_RISK_THRESHOLD
from fraud_platform.tables import PARTITION_COLUMN

#: Passing on this share of the money received (or more) counts as relaying all of it.
RELAY_BALANCE = 0.9
#: Share of the mule score a relay keeps without any supporting context.
W_RELAY = 0.2
#: Weight of the funnel shape (many payers, few payees) in a relay's context.
W_FAN = 1.0
#: Weight of the relay share of the rest of the account's cluster in a relay's context.
W_CLUSTER = 1.0
#: Mean pass-through of the rest of a cluster from which it counts as a full relay ring.
CLUSTER_RING_RELAY = 0.7
#: Weight of the PageRank percentile in a relay's context (measured: more lowers precision).
W_CENTRALITY = 0.1
#: Weight of trading with likely mules.
W_COUNTERPARTY = 1.0
#: Weight of transfers just under the reporting threshold.
W_STRUCTURING = 0.9
#: Weight of the association with the watchlist.
W_ASSOCIATION = 1.0
#: How far a watchlist score of 1 pushes the risk towards 1 (1.0: all the way).
W_WATCHLIST = 1.0

#: Counterparties with more distinct counterparties than this pass no evidence on (hubs).
HUB_DEGREE = 50

#: Amounts at or above this must be reported; structuring keeps transfers just under it.
REPORTING_THRESHOLD = 10_000.0
#: How far under the threshold a transfer still counts as "just under" (10%: 9,000 to 9,999.99).
STRUCTURING_MARGIN = 0.1
#: Transfers just under the threshold in one day that make the structuring score 1.
STRUCTURING_TRANSFERS = 3

HIGH_RISK_THRESHOLD = RULES_HIGH_RISK_THRESHOLD

SCORE_COLUMNS = (
    "account",
    "centrality",
    "cluster",
    "risk_score",
    "pass_through_score",
    "fan_score",
    "cluster_score",
    "centrality_score",
    "mule_score",
    "counterparty_score",
    "structuring_score",
    "association_score",
    "watchlist_score",
)
#: The component columns, every one in [0, 1].
COMPONENT_COLUMNS = tuple(c for c in SCORE_COLUMNS if c.endswith("_score"))

_NODE_FEATURES = ("in_degree", "out_degree", "in_amount", "out_amount")


def noisy_or(*evidence: np.ndarray) -> np.ndarray:
    """``1 − Π(1 − e)``: the probability that at least one independent piece of evidence holds."""
    remaining = np.ones_like(np.asarray(evidence[0], dtype=np.float64))
    for e in evidence:
        remaining = remaining * (1.0 - e)
    return 1.0 - remaining


def same_accounts(values: pd.Series | pd.Index, accounts: pd.Index) -> bool:
    """Whether ``values`` lists exactly ``accounts`` in the same order.

    Engine results for a graph built on the node table come in its order; one vectorized
    comparison (Arrow's, for pandas' Arrow-backed strings) then replaces a hash lookup per
    account.
    """
    if len(values) != len(accounts):
        return False
    left, right = pd.Index(values), accounts
    try:
        equal = pc.equal(pa.array(left, from_pandas=True), pa.array(right, from_pandas=True))
        return bool(pc.all(equal, skip_nulls=False).as_py())
    except (TypeError, ValueError, NotImplementedError):  # pyarrow cannot type the values
        return bool(left.equals(right))


def aligned_values(frame: pd.DataFrame, column: str, accounts: pd.Index, what: str) -> np.ndarray:
    """``frame[column]`` in the order of ``accounts``, refusing missing, extra or repeated ids."""
    for needed in ("account", column):
        if needed not in frame.columns:
            raise ValueError(f"{what} lacks the column {needed!r}")
    if same_accounts(frame["account"], accounts):
        if accounts.has_duplicates:
            raise ValueError(f"{what} lists an account more than once")
        return frame[column].to_numpy()
    if frame["account"].duplicated().any():
        raise ValueError(f"{what} lists an account more than once")
    # get_indexer, not isin: pandas' isin on Arrow strings loops in Python (3 s at 250k ids).
    positions = pd.Index(frame["account"]).get_indexer(accounts)
    if len(frame) != len(accounts) or (positions < 0).any():
        raise ValueError(f"{what} does not cover exactly the accounts of the day's nodes")
    return frame[column].to_numpy()[positions]


def _per_account(
    frame: pd.DataFrame | None, column: str, accounts: pd.Index, what: str
) -> np.ndarray:
    """Optional ``account, column`` values in [0, 1]; absent accounts 0, repeats keep the max."""
    if frame is None:
        return np.zeros(len(accounts))
    if not {"account", column} <= set(frame.columns):
        raise ValueError(f"{what} needs the columns 'account' and {column!r}")
    values = frame[column].to_numpy(dtype=np.float64)
    if not ((values >= 0.0) & (values <= 1.0)).all():
        raise ValueError(f"{column} values must lie in [0, 1]")
    if same_accounts(frame["account"], accounts):
        return values
    # Accounts not active today are irrelevant; an account listed twice keeps its highest score.
    best = frame.groupby("account", sort=False)[column].max()
    return best.reindex(accounts, fill_value=0.0).to_numpy(dtype=np.float64)


def _edge_positions(edges: pd.DataFrame, accounts: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("sender", "receiver", "amount_total", "tx_count") if c not in edges]
    if missing:
        raise ValueError(f"edges lacks the column(s) {missing}")
    _, senders, receivers = edge_vertices(edges, accounts)
    return senders, receivers


def pass_through_scores(in_amount: np.ndarray, out_amount: np.ndarray) -> np.ndarray:
    """``min(1, balance / RELAY_BALANCE) × pct(min(in, out))`` (see the module docstring)."""
    relayed = np.minimum(in_amount, out_amount)
    larger = np.maximum(in_amount, out_amount)
    balance = np.divide(relayed, larger, out=np.zeros(len(relayed)), where=larger > 0)
    return np.minimum(1.0, balance / RELAY_BALANCE) * percentile(relayed)


def fan_scores(in_degree: np.ndarray, out_degree: np.ndarray) -> np.ndarray:
    """The funnel shape ``(in − out) / (in + out)``, floored at 0."""
    degrees = in_degree + out_degree
    fan = np.divide(in_degree - out_degree, degrees, out=np.zeros(len(degrees)), where=degrees > 0)
    return np.clip(fan, 0.0, 1.0)


def cluster_relay_scores(cluster: np.ndarray, pass_through: np.ndarray) -> np.ndarray:
    """``min(1, mean pass_through of the cluster's other members / CLUSTER_RING_RELAY)``.

    An account alone in its cluster scores 0.
    """
    if len(cluster) == 0:
        return np.zeros(0)
    _, dense = np.unique(cluster, return_inverse=True)
    dense = dense.reshape(-1)
    total = np.bincount(dense, weights=pass_through)[dense] - pass_through
    others = np.bincount(dense)[dense] - 1
    share = np.divide(total, others, out=np.zeros(len(cluster)), where=others > 0)
    # The clip also keeps the rounding dust of the subtraction inside [0, 1].
    return np.clip(share / CLUSTER_RING_RELAY, 0.0, 1.0)


def counterparty_scores(
    senders: np.ndarray,
    receivers: np.ndarray,
    amounts: np.ndarray,
    mule: np.ndarray,
    degree: np.ndarray | None = None,
) -> np.ndarray:
    """Money-weighted mean ``mule`` score of each account's counterparties, both directions.

    A counterparty with more than `HUB_DEGREE` counterparties of its own passes no evidence
    (``degree``: each account's distinct counterparties): a payment processor's thousands of
    payers are its customers, not its accomplices.
    """
    n = len(mule)
    if degree is not None:
        mule = np.where(np.asarray(degree) > HUB_DEGREE, 0.0, mule)
    money = np.bincount(senders, weights=amounts, minlength=n) + np.bincount(
        receivers, weights=amounts, minlength=n
    )
    with_mules = np.bincount(senders, weights=amounts * mule[receivers], minlength=n)
    with_mules += np.bincount(receivers, weights=amounts * mule[senders], minlength=n)
    share = np.divide(with_mules, money, out=np.zeros(n), where=money > 0)
    return np.clip(share, 0.0, 1.0)


def structuring_scores(
    senders: np.ndarray,
    receivers: np.ndarray,
    amounts: np.ndarray,
    counts: np.ndarray,
    n: int,
) -> np.ndarray:
    """``min(1, transfers SENT just under the reporting threshold / STRUCTURING_TRANSFERS)``.

    Structuring is what a sender does (splitting an amount to stay under the threshold); an
    exchange or a cash-out point that many people pay just under 10,000 is not structuring.
    ``receivers`` is accepted for symmetry with the other components and not used.
    """
    mean = np.divide(amounts, counts, out=np.zeros(len(amounts)), where=counts > 0)
    floor = (1.0 - STRUCTURING_MARGIN) * REPORTING_THRESHOLD
    just_under = np.where((mean >= floor) & (mean < REPORTING_THRESHOLD), counts, 0)
    transfers = np.bincount(senders, weights=just_under, minlength=n)
    return np.minimum(1.0, transfers / STRUCTURING_TRANSFERS)


def association_scores(
    money: np.ndarray, pagerank: np.ndarray, listed: np.ndarray, damping: float
) -> np.ndarray:
    """Watchlist association from a personalized PageRank on the undirected money graph.

    ``money`` is each account's money in plus out (its weighted undirected degree),
    ``pagerank`` the PageRank seeded by the ``listed`` accounts in proportion to their money,
    ``damping`` the PageRank damping. Returns ``min(1, s_listed·x/s · (1 + d)/d)`` (see the
    module docstring); 0 everywhere without listed accounts.
    """
    n = len(money)
    listed = np.asarray(listed, dtype=bool)
    listed_money = float(money[listed].sum())
    if n == 0 or listed_money <= 0.0:
        return np.zeros(n)
    share = np.divide(listed_money * pagerank, money, out=np.zeros(n), where=money > 0)
    return np.clip(share * (1.0 + damping) / damping, 0.0, 1.0)


def score_accounts(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    pagerank: pd.DataFrame,
    clusters: pd.DataFrame,
    *,
    association: pd.DataFrame | None = None,
    watchlist_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account of ``nodes``: its raw centrality, cluster, risk and the components.

    ``nodes`` has the node-table columns (``account, in_degree, out_degree, in_amount,
    out_amount``, optionally ``partition_date``, kept in front) and ``edges`` the day's
    ``sender, receiver, amount_total, tx_count`` between those accounts; ``pagerank`` is
    ``account, pagerank`` and ``clusters`` ``account, cluster`` for exactly the same accounts;
    ``association`` (``account, association_score``) and ``watchlist_scores`` (``account,
    watchlist_score``) hold values in [0, 1] for any accounts, absent ones count 0. Rows keep
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
    n = len(accounts)
    centrality = aligned_values(pagerank, "pagerank", accounts, "pagerank").astype(np.float64)
    cluster = aligned_values(clusters, "cluster", accounts, "clusters").astype(np.int64)
    senders, receivers = _edge_positions(edges, accounts)
    amounts = edges["amount_total"].to_numpy(dtype=np.float64)
    counts = edges["tx_count"].to_numpy(dtype=np.float64)
    if not (np.isfinite(amounts).all() and (amounts >= 0).all() and (counts >= 0).all()):
        raise ValueError("edges has a negative, NaN or infinite amount or count")

    # Round away the last-bit noise of the power iteration so structurally equal accounts tie.
    centrality_score = percentile(np.round(centrality * n, 9))
    pass_through = pass_through_scores(in_amount, out_amount)
    fan = fan_scores(in_degree, out_degree)
    cluster_score = cluster_relay_scores(cluster, pass_through)
    context = noisy_or(W_FAN * fan, W_CLUSTER * cluster_score, W_CENTRALITY * centrality_score)
    mule = pass_through * (W_RELAY + (1.0 - W_RELAY) * context)
    counterparty = counterparty_scores(
        senders, receivers, amounts, mule, degree=in_degree + out_degree
    )
    structuring = structuring_scores(senders, receivers, amounts, counts, n)
    associated = _per_account(association, "association_score", accounts, "association")
    watchlist = _per_account(watchlist_scores, "watchlist_score", accounts, "watchlist_scores")
    risk = noisy_or(
        mule,
        W_COUNTERPARTY * counterparty,
        W_STRUCTURING * structuring,
        W_ASSOCIATION * associated,
        W_WATCHLIST * watchlist,
    )

    scored = pd.DataFrame(
        {
            "account": accounts,
            "centrality": centrality,
            "cluster": cluster,
            "risk_score": np.clip(risk, 0.0, 1.0),
            "pass_through_score": pass_through,
            "fan_score": fan,
            "cluster_score": cluster_score,
            "centrality_score": centrality_score,
            "mule_score": mule,
            "counterparty_score": counterparty,
            "structuring_score": structuring,
            "association_score": associated,
            "watchlist_score": watchlist,
        }
    )
    if PARTITION_COLUMN in nodes.columns:
        scored.insert(0, PARTITION_COLUMN, nodes[PARTITION_COLUMN].to_numpy())
    return scored


def is_high_risk(scores: pd.DataFrame, threshold: float = HIGH_RISK_THRESHOLD) -> pd.Series:
    """Which scored accounts reach the high-risk threshold (``risk_score >= threshold``)."""
    return scores["risk_score"] >= threshold
