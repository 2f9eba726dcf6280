"""The persisted dataset of a day: accounts with their encodings, edges, a name, an id, a URL.

Visual encoding follows the Graphistry convention the analysts know: color by cluster, size by
centrality. The dataset id is derived from the day (UUID 5), so re-materializing a day replaces
its rows under the same id and a URL sent in an alert keeps pointing at that day's analysis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.tables import (
    DATASET_COLUMNS,
    DATASET_EDGE_COLUMNS,
    DATASET_NODE_COLUMNS,
    HISTORY_COLUMNS,
    PARTITION_COLUMN,
    FraudDataset,
    TransactionGraph,
)

#: Tableau 20: distinct, readable on light and dark backgrounds. Cluster ids are ranked by size
#: (0 = largest), so the largest clusters get the most distinct colors; ids beyond 19 reuse them.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
MIN_POINT_SIZE = 2.0
MAX_POINT_SIZE = 30.0
DATASET_NAMESPACE = uuid.UUID("6f1c1c8e-2a55-4f0e-9d8a-6b7d1f0c2e11")


def dataset_id_for(partition_date: str) -> str:
    """A stable UUID per day: the same day always has the same id (and URL)."""
    return str(uuid.uuid5(DATASET_NAMESPACE, f"fraud_dataset/{partition_date}"))


def dataset_url(viewer_base_url: str, dataset_id: str) -> str:
    return f"{viewer_base_url.rstrip('/')}/datasets/{dataset_id}"


def point_colors(cluster: pd.Series) -> pd.Series:
    """The cluster's palette color, as a categorical (20 strings, one small code per account)."""
    codes = cluster.to_numpy(dtype=np.int64) % len(PALETTE)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(PALETTE)))


def constant_text(value: str, length: int) -> pd.Series:
    """A text column holding one value on every row, as a one-category categorical.

    A day's ``dataset_id`` and ``partition_date`` repeat on millions of rows: as categoricals
    they cost one byte a row in memory, are dictionary-encoded in Parquet as they are, and the
    warehouse encodes the value once.
    """
    return pd.Series(pd.Categorical.from_codes(np.zeros(length, dtype=np.int8), [value]))


def point_sizes(centrality: pd.Series) -> pd.Series:
    """Size by centrality on a log scale: PageRank spans orders of magnitude within a day."""
    values = np.log10(np.clip(centrality.to_numpy(dtype=np.float64), 1e-12, None))
    if len(values) == 0:
        return pd.Series(dtype="float64")
    low, high = values.min(), values.max()
    scaled = np.zeros_like(values) if high <= low else (values - low) / (high - low)
    return pd.Series(MIN_POINT_SIZE + scaled * (MAX_POINT_SIZE - MIN_POINT_SIZE), dtype="float64")


#: Columns copied from the scores frame when it has them (layout position, money in and out),
#: NaN otherwise: the viewer computes what is missing.
OPTIONAL_NODE_COLUMNS = ("x", "y", "in_amount", "out_amount")


def encode_nodes(scores: pd.DataFrame, dataset_id: str) -> pd.DataFrame:
    """One day's accounts with the contract columns of ``dataset_nodes``."""
    scores = scores.reset_index(drop=True)
    optional = {
        column: scores[column].astype("float64")
        if column in scores.columns
        else pd.Series(np.nan, index=scores.index, dtype="float64")
        for column in OPTIONAL_NODE_COLUMNS
    }
    days = scores[PARTITION_COLUMN].unique()
    nodes = pd.DataFrame(
        {
            "dataset_id": constant_text(dataset_id, len(scores)),
            PARTITION_COLUMN: constant_text(str(days[0]), len(scores))
            if len(days) == 1
            else scores[PARTITION_COLUMN].astype("str"),
            "account": scores["account"].astype("str"),
            "centrality": scores["centrality"].astype("float64"),
            "cluster": scores["cluster"].astype("int64"),
            "risk_score": scores["risk_score"].astype("float64"),
            "point_color": point_colors(scores["cluster"]),
            "point_size": point_sizes(scores["centrality"]),
            **optional,
            "reasons": scores["reasons"].astype("str")
            if "reasons" in scores.columns
            else pd.Series("", index=scores.index, dtype="str"),
            "pattern": scores["pattern"].astype("str")
            if "pattern" in scores.columns
            else pd.Series("", index=scores.index, dtype="str"),
        }
    )
    return nodes[list(DATASET_NODE_COLUMNS)]


def describe_day(
    partition_date: str, nodes: pd.DataFrame, edges: pd.DataFrame, high_risk_threshold: float
) -> tuple[str, str, int]:
    """The dataset's name, a one-paragraph description, and its high-risk count."""
    high_risk = int((nodes["risk_score"] >= high_risk_threshold).sum())
    clusters = int(nodes["cluster"].nunique())
    transfers = int(edges["tx_count"].sum())
    name = f"Fraud Analysis {partition_date}"
    description = (
        f"Money-transfer network of {partition_date} (UTC): {len(nodes):,} accounts, "
        f"{len(edges):,} sender-receiver pairs from {transfers:,} transfers, {clusters:,} "
        f"Louvain clusters. {high_risk:,} accounts have risk_score >= {high_risk_threshold:g}. "
        "Points are colored by cluster and sized by PageRank centrality."
    )
    return name, description, high_risk


def build_fraud_dataset(
    graph: TransactionGraph,
    scores: pd.DataFrame,
    *,
    days: list[str],
    viewer_base_url: str,
    high_risk_threshold: float,
    created_at: datetime,
) -> FraudDataset:
    """Assemble one dataset per day in ``days``; a day without transfers gets an empty dataset."""
    summaries, node_parts, edge_parts = [], [], []
    for day in days:
        dataset_id = dataset_id_for(day)
        day_scores = _of_day(scores, day)
        day_edges = _of_day(graph.edges, day).reset_index(drop=True)
        nodes = encode_nodes(day_scores, dataset_id)
        edges = day_edges.assign(
            dataset_id=constant_text(dataset_id, len(day_edges)),
            **{PARTITION_COLUMN: constant_text(day, len(day_edges))},
        )[list(DATASET_EDGE_COLUMNS)]
        name, description, high_risk = describe_day(day, nodes, edges, high_risk_threshold)
        summaries.append(
            {
                "dataset_id": dataset_id,
                PARTITION_COLUMN: day,
                "name": name,
                "description": description,
                "url": dataset_url(viewer_base_url, dataset_id),
                "node_count": len(nodes),
                "edge_count": len(edges),
                "high_risk_count": high_risk,
                "created_at": pd.Timestamp(created_at).tz_convert("UTC"),
            }
        )
        node_parts.append(nodes)
        edge_parts.append(edges)
    datasets = pd.DataFrame(summaries, columns=list(DATASET_COLUMNS))
    datasets = datasets.astype(
        {"node_count": "int64", "edge_count": "int64", "high_risk_count": "int64"}
    )
    empty_nodes = encode_nodes(
        pd.DataFrame(columns=[PARTITION_COLUMN, "account", "centrality", "cluster", "risk_score"]),
        "",
    )
    return FraudDataset(
        summary=datasets,
        nodes=_concat(node_parts) if node_parts else empty_nodes,
        edges=_concat(edge_parts)
        if edge_parts
        else graph.edges.assign(dataset_id="")[list(DATASET_EDGE_COLUMNS)],
    )


def _of_day(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    """The rows of ``day`` (a frame holding only that day is passed through uncopied)."""
    of_day = (frame[PARTITION_COLUMN].astype("str") == day).to_numpy(dtype=bool)
    return frame if of_day.all() else frame[of_day]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Days' frames as one; their one-category columns become text when the days differ."""
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat(parts, ignore_index=True)
    for column in ("dataset_id", PARTITION_COLUMN, "point_color"):
        if column in frame.columns and isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype("str")
    return frame


#: Columns of `high_risk_transfers`: each transfer of a high-risk account, from its side.
TRANSFER_VIEW_COLUMNS = (
    PARTITION_COLUMN,
    "account",
    "direction",
    "counterparty",
    "amount",
    "timestamp",
    "transaction_id",
)


def high_risk_transfers(
    batches: Iterable[pa.RecordBatch], day: str, accounts: Iterable[str]
) -> pd.DataFrame:
    """Every transfer of the day that ``accounts`` sent or received, seen from their side
    (`TRANSFER_VIEW_COLUMNS`): ``direction`` ``out`` (the account paid ``counterparty``) or
    ``in``. A transfer between two of them appears once for each.

    What an analyst's case page shows as the account's timeline: the dataset keeps only the
    collapsed pairs, which have lost the order of events.
    """
    wanted = pa.array(sorted(set(accounts)), type=pa.large_string())
    parts: list[pd.DataFrame] = []
    if len(wanted):
        for batch in batches:
            sender = batch.column("sender").cast(pa.large_string())
            receiver = batch.column("receiver").cast(pa.large_string())
            for direction, own, other in (("out", sender, receiver), ("in", receiver, sender)):
                keep = pc.is_in(own, value_set=wanted)
                if not pc.any(keep).as_py():
                    continue
                kept = batch.filter(keep)
                parts.append(
                    pd.DataFrame(
                        {
                            "account": pc.filter(own, keep).to_pandas(),
                            "direction": direction,
                            "counterparty": pc.filter(other, keep).to_pandas(),
                            "amount": kept.column("amount").to_numpy(),
                            "timestamp": kept.column("timestamp").to_pandas(),
                            "transaction_id": kept.column("transaction_id").to_pandas(),
                        }
                    )
                )
    if not parts:
        return pd.DataFrame(
            {
                PARTITION_COLUMN: pd.Series(dtype="str"),
                "account": pd.Series(dtype="str"),
                "direction": pd.Series(dtype="str"),
                "counterparty": pd.Series(dtype="str"),
                "amount": pd.Series(dtype="float64"),
                "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
                "transaction_id": pd.Series(dtype="str"),
            }
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, PARTITION_COLUMN, day)
    frame = frame.sort_values(["account", "timestamp", "direction"], ignore_index=True)
    return frame.astype(
        {
            PARTITION_COLUMN: "str",
            "account": "str",
            "direction": "str",
            "counterparty": "str",
            "transaction_id": "str",
        }
    )[list(TRANSFER_VIEW_COLUMNS)]


def high_risk_rows(history: pd.DataFrame, scores: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The rows of ``history`` (`HISTORY_COLUMNS`) of the accounts whose score that day is at or
    above ``threshold``; numbers as float64 (the warehouse keeps them as double precision)."""
    high = scores.loc[scores["risk_score"] >= threshold, [PARTITION_COLUMN, "account"]]
    keys = pd.MultiIndex.from_frame(high.astype("str"))
    own = pd.MultiIndex.from_frame(history[[PARTITION_COLUMN, "account"]].astype("str"))
    rows = history.loc[own.isin(keys), list(HISTORY_COLUMNS)].reset_index(drop=True)
    numbers = {column: "float64" for column in HISTORY_COLUMNS[2:]}
    return rows.astype({PARTITION_COLUMN: "str", "account": "str", **numbers})


def day_summary_lines(summary: pd.DataFrame, ingested: Mapping[str, tuple[int, int]]) -> list[str]:
    """One line per day of ``summary`` (`DATASET_COLUMNS`): the day, its URL, rows valid and
    rejected, accounts and high-risk accounts; what a user reads at the end of a run instead of
    querying the warehouse. ``ingested`` maps a day to its (valid, rejected) row counts; a day
    without them says ``?`` (its ingest was not recorded)."""
    lines = []
    for row in summary.sort_values(PARTITION_COLUMN).itertuples(index=False):
        day = str(getattr(row, PARTITION_COLUMN))
        valid, rejected = (f"{n:,}" for n in ingested[day]) if day in ingested else ("?", "?")
        lines.append(
            f"Day {day}: {row.url} | rows {valid} valid, {rejected} rejected | "
            f"{int(row.node_count):,} accounts, {int(row.high_risk_count):,} high-risk"
        )
    return lines
