"""A day's analytics: centrality and clusters from a graph engine, then the risk score.

The graph is built once per day and every algorithm reuses it; days in a range are computed
independently (each day is its own network). A watchlist of known fraudulent accounts, when
there is one, seeds a personalized PageRank on the day's undirected money graph whose result
feeds the risk score's association component.

The watchlist is an optional CSV at ``{FRAUD_STORAGE_URL}/reference/watchlist.csv`` with a
column ``account`` (ids exactly as in the transfers) and optionally ``since`` (ISO date from
which the listing applies; empty or absent: always). Other columns are ignored.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import pandas as pd

from fraud_platform.defs.analytics.engines import GraphEngine
from fraud_platform.defs.analytics.engines.base import edge_vertices
from fraud_platform.defs.analytics.scoring import (
    COMPONENT_COLUMNS,
    HIGH_RISK_THRESHOLD,
    W_ASSOCIATION,
    W_WATCHLIST,
    aligned_values,
    association_scores,
    noisy_or,
    score_accounts,
)
from fraud_platform.defs.graph.logic import days_of
from fraud_platform.defs.model.logic import (
    REASON_MIN_RISK,
    RiskModel,
    explain,
    model_inputs,
)
from fraud_platform.storage.access import read_bytes, store_path
from fraud_platform.tables import PARTITION_COLUMN, TransactionGraph

DAMPING = 0.85
LOUVAIN_RESOLUTION = 1.0
#: Accounts placed by the layout algorithm itself; the others go beside their counterparties
#: (`EngineGraph.layout`). The viewer draws at most 20,000 points of a day, so a layout of the
#: 20,000 best-connected accounts is what it shows: 0.7 s on the 1M-transfer day against 4.0 s
#: for all 243k accounts.
LAYOUT_MAX_NODES = 20_000
#: Where the watchlist lives, relative to the storage root.
WATCHLIST_PATH = "reference/watchlist.csv"


@dataclass(frozen=True)
class DayAnalytics:
    """What the algorithms reported for one day, beside the per-account scores."""

    partition_date: str
    accounts: int
    clusters: int
    modularity: float
    pagerank_iterations: int
    high_risk: int  # accounts with risk_score >= the threshold score_day was given
    watchlisted: int  # listed accounts active on the day (they seed the association)


def watchlist_url(storage_url: str) -> str:
    """The watchlist's URL under a storage root (a folder or ``s3://bucket/prefix``)."""
    return f"{storage_url.rstrip('/')}/{WATCHLIST_PATH}"


def parse_watchlist(frame: pd.DataFrame) -> pd.DataFrame:
    """A raw watchlist table (text columns) as ``account`` (str) and ``since`` (date or NaT).

    Rows with an empty account are dropped; an unparseable ``since`` is refused with its line
    (the header is line 1), since a silently ignored listing would hide a known fraudster.
    """
    if "account" not in frame.columns:
        raise ValueError("the watchlist needs a column 'account'")
    account = frame["account"].astype("str")
    keep = frame["account"].notna() & (account != "")
    since_text = frame["since"] if "since" in frame.columns else pd.Series(pd.NA, index=frame.index)
    since_text = since_text.where(since_text.notna() & (since_text.astype("str") != ""))
    since = pd.to_datetime(since_text, format="ISO8601", errors="coerce", utc=True)
    bad = since.isna() & since_text.notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"watchlist line {first + 2}: 'since' is not an ISO date: {since_text.iloc[first]!r}"
        )
    listed = pd.DataFrame(
        {
            "account": account[keep].to_numpy(),
            "since": since[keep].dt.tz_localize(None).dt.normalize().to_numpy(),
        }
    )
    listed["account"] = listed["account"].astype("str")
    return listed.reset_index(drop=True)


def read_watchlist(url: str) -> pd.DataFrame | None:
    """The watchlist at ``url`` (see `parse_watchlist`), or None when there is no such file.

    Read through `store_path`, so a local path and ``s3://...`` work alike, S3 signs for
    ``AWS_REGION``, and a refused or unreachable store is an `ObjectStoreAccessError`.
    """
    data = read_bytes(store_path(url))
    if data is None:
        return None
    # Text as written: account ids are kept verbatim (leading zeros, any characters).
    frame = pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False, encoding="utf-8-sig")
    return parse_watchlist(frame)


def merge_watchlists(listed: pd.DataFrame | None, confirmed: pd.DataFrame) -> pd.DataFrame | None:
    """The watchlist file's entries and analysts' confirmations (``account, since`` text), as
    one `parse_watchlist` table; None when both are empty."""
    if confirmed.empty:
        return listed
    extra = parse_watchlist(confirmed.loc[:, ["account", "since"]].astype("str"))
    if listed is None or listed.empty:
        return extra
    return pd.concat([listed, extra], ignore_index=True)


def listed_on(watchlist: pd.DataFrame | None, day: str) -> pd.Index:
    """The accounts listed on ``day``: no ``since``, or a ``since`` on or before the day."""
    if watchlist is None or watchlist.empty:
        return pd.Index([], dtype="str", name="account")
    applies = pd.Series(True, index=watchlist.index)
    if "since" in watchlist.columns:
        since = pd.to_datetime(watchlist["since"])
        applies = since.isna() | (since <= pd.Timestamp(day))
    return pd.Index(watchlist.loc[applies, "account"].astype("str").unique(), name="account")


def watchlist_association(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    engine: GraphEngine,
    listed: pd.Index,
    *,
    damping: float = DAMPING,
    components: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``account, association_score`` of the day's accounts with the ``listed`` ones.

    Personalized PageRank on the undirected money graph (each pair's transfers in both
    directions added up, so association runs upstream and downstream alike), restarting at the
    listed accounts in proportion to the money they move; `association_scores` turns it into
    the [0, 1] component. It runs on the weakly connected components that hold a listed account
    (``components``: ``account, component`` of the day's graph, computed when not given), so
    accounts with no money path to the watchlist get exactly 0 rather than iteration dust.
    """
    accounts = pd.Index(nodes["account"])
    money = (nodes["in_amount"] + nodes["out_amount"]).to_numpy(dtype=np.float64)
    seeds = accounts.isin(listed)
    scores = np.zeros(len(accounts))
    if seeds.any() and money[seeds].sum() > 0:
        _, senders, _ = edge_vertices(edges, accounts)
        if components is None:
            components = engine.build(edges, accounts).weakly_connected_components()
        component = aligned_values(components, "component", accounts, "components")
        reached = np.isin(component, component[seeds])
        inside = edges[reached[senders]]
        reverse = inside.rename(columns=_REVERSED)
        undirected = engine.build(pd.concat([inside, reverse], ignore_index=True), accounts)
        personalization = pd.Series(np.where(seeds & reached, money, 0.0), index=accounts)
        result = undirected.pagerank(alpha=damping, personalization=personalization)
        pagerank = aligned_values(result.scores, "pagerank", accounts, "pagerank")
        scores = association_scores(
            money, np.where(reached, pagerank.astype(np.float64), 0.0), seeds, damping
        )
    return pd.DataFrame({"account": accounts, "association_score": scores})


#: An edge read the other way round (both ends' ids and node rows swap).
_REVERSED = {
    "sender": "receiver",
    "receiver": "sender",
    "sender_node": "receiver_node",
    "receiver_node": "sender_node",
}


def score_day(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    engine: GraphEngine,
    *,
    damping: float = DAMPING,
    resolution: float = LOUVAIN_RESOLUTION,
    seed: int = 42,
    watchlist: pd.DataFrame | None = None,
    threshold: float = HIGH_RISK_THRESHOLD,
    layout: bool = True,
    features: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    model: RiskModel | None = None,
) -> tuple[pd.DataFrame, DayAnalytics]:
    """PageRank (directed, amount-weighted), Louvain (undirected), watchlist association, risk.

    ``watchlist`` is a table with ``account`` (and optionally ``since``), as `read_watchlist`
    returns; only the entries that apply on the day count. With ``layout`` the scores also carry
    the account's position in the day's graph view (``x``, ``y``, from the same engine graph)
    and its money in and out, which the dataset stores for the viewer. With a ``model`` and
    the day's ``features`` (``account_features``' accounts) and ``history``, ``risk_score`` is
    the model's (`with_model_score`); otherwise it is the rules score.
    """
    day = str(nodes[PARTITION_COLUMN].iloc[0])
    accounts = pd.Index(nodes["account"])
    # Results come back in node-table order: nothing below matches account strings.
    graph = engine.build(edges, accounts)
    listed = listed_on(watchlist, day)
    active_listed = listed[accounts.get_indexer(listed) >= 0]
    # Louvain is the longest algorithm and runs on its own thread (networkit and cuGraph release
    # the GIL), while this one computes PageRank, the components and the layout: on two cores the
    # day's analytics take about as long as Louvain alone.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="louvain") as pool:
        louvain = pool.submit(graph.louvain, resolution=resolution, seed=seed)
        pagerank = graph.pagerank(alpha=damping)
        components = graph.weakly_connected_components() if len(active_listed) else None
        positions = graph.layout(seed=seed, max_nodes=LAYOUT_MAX_NODES) if layout else None
        communities = louvain.result()
    association = None
    watchlist_scores = None
    if len(active_listed):
        association = watchlist_association(
            nodes,
            edges,
            engine,
            active_listed,
            damping=damping,
            components=components,
        )
        watchlist_scores = pd.DataFrame({"account": active_listed, "watchlist_score": 1.0})
    scores = score_accounts(
        nodes,
        edges,
        pagerank.scores,
        communities.clusters,
        association=association,
        watchlist_scores=watchlist_scores,
    )
    scores = with_model_score(scores, nodes, edges, features, history, model)
    if positions is not None:
        scores = with_view_columns(scores, nodes, positions)
    return scores, DayAnalytics(
        partition_date=day,
        accounts=len(scores),
        clusters=communities.count,
        modularity=communities.modularity,
        pagerank_iterations=pagerank.iterations,
        high_risk=int((scores["risk_score"] >= threshold).sum()),
        watchlisted=len(active_listed),
    )


#: The pattern of an account scored high because it is (or pays) a listed account.
WATCHLIST_PATTERN = "watchlist"


def with_model_score(
    scores: pd.DataFrame,
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    features: pd.DataFrame | None,
    history: pd.DataFrame | None,
    model: RiskModel | None,
) -> pd.DataFrame:
    """Scores with ``rules_score``, ``reasons`` and the model's ``risk_score`` where it applies.

    ``rules_score`` keeps the rules' risk. With a model, ``risk_score`` is its probability,
    raised by the watchlist evidence as the rules raise theirs (a noisy OR with the
    association and the listing: a listed account stays at 1), and ``reasons`` are its top
    contributions; without one, ``risk_score`` is the rules score and ``reasons`` name its
    strongest components.
    """
    rules = scores["risk_score"].to_numpy(dtype=np.float64)
    scores = scores.assign(rules_score=rules)
    if model is None or features is None or history is None:
        reasons, patterns = rule_reasons(scores)
        return scores.assign(reasons=reasons, pattern=patterns)
    frame = model_inputs(
        nodes,
        edges,
        features,
        history,
        scores["centrality"].to_numpy(dtype=np.float64),
        scores["cluster"].to_numpy(dtype=np.int64),
    )
    learned = model.predict(frame)
    risk = noisy_or(
        learned,
        W_ASSOCIATION * scores["association_score"].to_numpy(dtype=np.float64),
        W_WATCHLIST * scores["watchlist_score"].to_numpy(dtype=np.float64),
    )
    reasons, patterns = explain(model, frame, risk)
    listed = scores["watchlist_score"].to_numpy() >= 1.0
    reasons[listed] = "on the watchlist"
    patterns[listed] = WATCHLIST_PATTERN
    return scores.assign(risk_score=np.clip(risk, 0.0, 1.0), reasons=reasons, pattern=patterns)


#: The kind of evidence each rules component is (the ``pattern`` of a rules-scored account).
RULE_PATTERNS = {
    "pass_through_score": "relay",
    "mule_score": "relay",
    "fan_score": "fan-out",
    "structuring_score": "structuring",
    "counterparty_score": "neighbourhood",
    "cluster_score": "network position",
    "association_score": WATCHLIST_PATTERN,
    "watchlist_score": WATCHLIST_PATTERN,
}


def rule_reasons(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rules' strongest components (``mule_score 0.93; ...``) for accounts at some risk,
    and the first one's kind (`RULE_PATTERNS`)."""
    reasons = np.full(len(scores), "", dtype=object)
    patterns = np.full(len(scores), "", dtype=object)
    at_risk = np.flatnonzero(scores["risk_score"].to_numpy() >= REASON_MIN_RISK)
    if len(at_risk) == 0:
        return reasons, patterns
    names = [c for c in COMPONENT_COLUMNS if c not in ("centrality_score", "risk_score")]
    values = scores.iloc[at_risk][names].to_numpy(dtype=np.float64)
    order = np.argsort(-values, axis=1)[:, :3]
    for i, row in enumerate(at_risk):
        kept = [j for j in order[i] if values[i, j] > 0]
        reasons[row] = "; ".join(f"{names[j]} {values[i, j]:.2f}" for j in kept)
        patterns[row] = RULE_PATTERNS.get(names[kept[0]], "other") if kept else ""
    return reasons, patterns


def with_view_columns(
    scores: pd.DataFrame, nodes: pd.DataFrame, positions: pd.DataFrame
) -> pd.DataFrame:
    """Scores with the viewer's columns: position (``x``, ``y``) and money in and out."""
    accounts = pd.Index(scores["account"])
    return scores.assign(
        x=aligned_values(positions, "x", accounts, "positions"),
        y=aligned_values(positions, "y", accounts, "positions"),
        in_amount=aligned_values(nodes, "in_amount", accounts, "nodes"),
        out_amount=aligned_values(nodes, "out_amount", accounts, "nodes"),
    )


class DayOptions(TypedDict, total=False):
    """`score_day`'s options that hold for every day of a range (see `score_day` for each)."""

    damping: float
    resolution: float
    seed: int
    watchlist: pd.DataFrame | None
    threshold: float
    layout: bool
    model: RiskModel | None


def score_graph(
    graph: TransactionGraph,
    engine: GraphEngine,
    *,
    features: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    **options: Unpack[DayOptions],
) -> tuple[pd.DataFrame, list[DayAnalytics]]:
    """Scores for every day in ``graph`` (one day, or a range), and what each day reported.

    ``features`` and ``history`` cover the same days (split here by ``partition_date``); the
    other options are `score_day`'s, the same for every day.
    """
    parts: list[pd.DataFrame] = []
    reports: list[DayAnalytics] = []
    multi = len(graph.nodes) and graph.nodes[PARTITION_COLUMN].nunique() > 1
    for day, nodes, edges in days_of(graph):
        scores, report = score_day(
            nodes,
            edges,
            engine,
            features=_day_rows(features, day) if multi else features,
            history=_day_rows(history, day) if multi else history,
            **options,
        )
        parts.append(scores)
        reports.append(report)
    if not parts:
        return empty_scores(graph.nodes), reports
    if len(parts) == 1:
        return parts[0], reports
    return pd.concat(parts, ignore_index=True), reports


def _day_rows(frame: pd.DataFrame | None, day: str) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame[frame[PARTITION_COLUMN].astype("str") == day].reset_index(drop=True)


def empty_scores(nodes: pd.DataFrame) -> pd.DataFrame:
    """The score table of a day without transfers: the right columns, no rows."""
    scores = score_accounts(
        nodes.iloc[0:0],
        pd.DataFrame(
            {
                "sender": pd.Series(dtype="str"),
                "receiver": pd.Series(dtype="str"),
                "amount_total": pd.Series(dtype="float64"),
                "tx_count": pd.Series(dtype="int64"),
            }
        ),
        pd.DataFrame({"account": pd.Series(dtype="str"), "pagerank": pd.Series(dtype="float64")}),
        pd.DataFrame({"account": pd.Series(dtype="str"), "cluster": pd.Series(dtype="int64")}),
    )
    return scores.assign(
        rules_score=pd.Series(dtype="float64"), reasons=pd.Series(dtype="str")
    )
