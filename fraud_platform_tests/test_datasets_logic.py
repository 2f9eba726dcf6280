"""Dataset assembly: ids, URLs, names, encodings and counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from fraud_platform.defs.datasets.logic import (
    MAX_POINT_SIZE,
    MIN_POINT_SIZE,
    PALETTE,
    build_fraud_dataset,
    dataset_id_for,
    high_risk_transfers,
)
from fraud_platform.tables import DATASET_COLUMNS, DATASET_NODE_COLUMNS, TransactionGraph

DAY = "2024-10-01"


def sample() -> tuple[TransactionGraph, pd.DataFrame]:
    edges = pd.DataFrame(
        {
            "partition_date": [DAY, DAY],
            "sender": ["A", "B"],
            "receiver": ["B", "C"],
            "amount_total": [10.0, 5.0],
            "tx_count": [2, 1],
            "first_timestamp": pd.to_datetime(["2024-10-01T01:00Z"] * 2, utc=True),
            "last_timestamp": pd.to_datetime(["2024-10-01T02:00Z"] * 2, utc=True),
        }
    )
    scores = pd.DataFrame(
        {
            "partition_date": [DAY] * 3,
            "account": ["A", "B", "C"],
            "centrality": [0.1, 0.3, 0.6],
            "cluster": [0, 0, 1],
            "risk_score": [0.1, 0.85, 0.8],
        }
    )
    return TransactionGraph(nodes=pd.DataFrame(), edges=edges), scores


def test_dataset_has_contract_columns_name_id_url_and_counts() -> None:
    graph, scores = sample()
    ds = build_fraud_dataset(
        graph,
        scores,
        days=[DAY],
        viewer_base_url="http://viewer.example/",
        high_risk_threshold=0.8,
        created_at=datetime(2024, 10, 2, tzinfo=UTC),
    )
    assert list(ds.summary.columns) == list(DATASET_COLUMNS)
    row = ds.summary.iloc[0]
    assert row["name"] == "Fraud Analysis 2024-10-01"
    assert row["dataset_id"] == dataset_id_for(DAY)
    assert row["url"] == f"http://viewer.example/datasets/{dataset_id_for(DAY)}"
    assert (row["node_count"], row["edge_count"], row["high_risk_count"]) == (3, 2, 2)
    assert "3 accounts" in row["description"] and "2 Louvain clusters" in row["description"]
    assert list(ds.nodes.columns) == list(DATASET_NODE_COLUMNS)
    assert set(ds.nodes["dataset_id"]) == set(ds.edges["dataset_id"]) == {row["dataset_id"]}


def test_color_by_cluster_and_size_by_centrality() -> None:
    graph, scores = sample()
    ds = build_fraud_dataset(
        graph,
        scores,
        days=[DAY],
        viewer_base_url="http://v",
        high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )
    nodes = ds.nodes.set_index("account")
    assert nodes.loc["A", "point_color"] == nodes.loc["B", "point_color"] == PALETTE[0]
    assert nodes.loc["C", "point_color"] == PALETTE[1]
    assert nodes.loc["A", "point_size"] == MIN_POINT_SIZE
    assert nodes.loc["C", "point_size"] == MAX_POINT_SIZE
    assert MIN_POINT_SIZE < nodes.loc["B", "point_size"] < MAX_POINT_SIZE


def test_ids_are_stable_per_day_and_distinct_between_days() -> None:
    assert dataset_id_for(DAY) == dataset_id_for(DAY)
    assert dataset_id_for(DAY) != dataset_id_for("2024-10-02")


def test_a_day_without_transfers_gets_an_empty_dataset() -> None:
    graph, scores = sample()
    ds = build_fraud_dataset(
        graph,
        scores,
        days=[DAY, "2024-10-02"],
        viewer_base_url="http://v",
        high_risk_threshold=0.8,
        created_at=datetime.now(UTC),
    )
    counts = ds.summary.set_index("partition_date")[["node_count", "edge_count"]]
    assert counts.loc["2024-10-02"].tolist() == [0, 0]
    assert counts.loc[DAY].tolist() == [3, 2]


def test_high_risk_transfers_are_seen_from_each_accounts_side() -> None:
    batch = pa.RecordBatch.from_pydict(
        {
            "transaction_id": ["t1", "t2", "t3", "t4"],
            "timestamp": pa.array(
                [3_600_000_000 * h for h in (3, 1, 2, 4)], type=pa.timestamp("us", tz="UTC")
            ),
            "sender": ["P", "M", "M", "X"],
            "receiver": ["M", "N", "Q", "Y"],
            "amount": [100.0, 40.0, 55.0, 9.0],
        }
    )
    frame = high_risk_transfers([batch], "2024-10-01", ["M", "N"])
    rows = frame[["account", "direction", "counterparty", "transaction_id"]].values.tolist()
    # By account, then time: M paid N at 01:00 and Q at 02:00, P paid M at 03:00.
    assert rows == [
        ["M", "out", "N", "t2"],
        ["M", "out", "Q", "t3"],
        ["M", "in", "P", "t1"],
        ["N", "in", "M", "t2"],
    ]
    assert (frame["partition_date"] == "2024-10-01").all()
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert high_risk_transfers([batch], "2024-10-01", []).empty
