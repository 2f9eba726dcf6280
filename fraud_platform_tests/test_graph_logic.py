"""Graph building: nodes from edges, parallel transfers collapsed, optional amount filter, a
stored day read in batches."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraud_platform.defs.graph import logic as graph_logic
from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.defs.ingest.logic import ingest_day
from fraud_platform.sample_data.generator import SampleConfig, generate_days
from fraud_platform.storage.object_store import TransactionBatches
from fraud_platform.tables import EDGE_COLUMNS, NODE_COLUMNS


def transfers(rows: list[tuple[str, str, float, str]], day: str = "2024-10-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": pd.Series([day] * len(rows), dtype="str"),
            "transaction_id": pd.Series([f"T{i}" for i in range(len(rows))], dtype="str"),
            "timestamp": pd.to_datetime([f"{day}T{r[3]}Z" for r in rows], utc=True).astype(
                "datetime64[us, UTC]"
            ),
            "sender": pd.Series([r[0] for r in rows], dtype="str"),
            "receiver": pd.Series([r[1] for r in rows], dtype="str"),
            "amount": [r[2] for r in rows],
        }
    )


def test_parallel_transfers_collapse_into_weighted_edges() -> None:
    graph = build_transaction_graph(
        transfers(
            [
                ("A", "B", 10.0, "01:00"),
                ("A", "B", 5.0, "03:00"),
                ("A", "B", 1.0, "02:00"),
                ("B", "A", 2.0, "04:00"),
                ("B", "C", 7.0, "05:00"),
            ]
        )
    )
    assert list(graph.edges.columns) == list(EDGE_COLUMNS)
    edges = graph.edges.set_index(["sender", "receiver"])
    assert edges.loc[("A", "B"), "amount_total"] == 16.0
    assert edges.loc[("A", "B"), "tx_count"] == 3
    assert edges.loc[("A", "B"), "first_timestamp"] == pd.Timestamp("2024-10-01T01:00Z")
    assert edges.loc[("A", "B"), "last_timestamp"] == pd.Timestamp("2024-10-01T03:00Z")
    assert len(edges) == 3


def test_nodes_carry_degrees_amounts_and_counts() -> None:
    graph = build_transaction_graph(
        transfers(
            [
                ("A", "B", 10.0, "01:00"),
                ("A", "B", 5.0, "03:00"),
                ("B", "C", 7.0, "05:00"),
                ("C", "A", 1.0, "06:00"),
                ("D", "C", 2.0, "07:00"),
            ]
        )
    )
    assert list(graph.nodes.columns) == list(NODE_COLUMNS)
    nodes = graph.nodes.set_index("account")
    assert nodes.loc["A"].to_dict() | {"partition_date": None} == {
        "partition_date": None,
        "in_degree": 1,
        "out_degree": 1,
        "in_amount": 1.0,
        "out_amount": 15.0,
        "tx_count": 3,
    }
    assert nodes.loc["C", "in_degree"] == 2 and nodes.loc["C", "in_amount"] == 9.0
    assert nodes.loc["D", "in_degree"] == 0 and nodes.loc["D", "out_amount"] == 2.0
    # every transfer is counted once as sent and once as received
    assert nodes["tx_count"].sum() == 2 * 5


def test_min_amount_keeps_high_value_transfers_only() -> None:
    graph = build_transaction_graph(
        transfers([("A", "B", 10.0, "01:00"), ("B", "C", 9999.0, "02:00")]), min_amount=1000
    )
    assert graph.edges[["sender", "receiver"]].values.tolist() == [["B", "C"]]
    assert sorted(graph.nodes["account"]) == ["B", "C"]


def test_days_stay_apart_in_a_range() -> None:
    both = pd.concat(
        [
            transfers([("A", "B", 1.0, "01:00")], "2024-10-01"),
            transfers([("A", "B", 2.0, "01:00")], "2024-10-02"),
        ],
        ignore_index=True,
    )
    graph = build_transaction_graph(both)
    assert graph.edges[["partition_date", "amount_total"]].values.tolist() == [
        ["2024-10-01", 1.0],
        ["2024-10-02", 2.0],
    ]
    assert len(graph.nodes) == 4


def test_empty_day_gives_empty_typed_frames() -> None:
    graph = build_transaction_graph(transfers([]))
    assert graph.nodes.empty and graph.edges.empty
    assert list(graph.nodes.columns) == list(NODE_COLUMNS)
    assert graph.edges["amount_total"].dtype == "float64"
    # Typed as a day with transfers, so that days concatenate without a dtype changing.
    filled = build_transaction_graph(transfers([("A", "B", 1.0, "01:00")]))
    assert graph.nodes.dtypes.equals(filled.nodes.dtypes)
    assert graph.edges.dtypes.equals(filled.edges.dtypes)


@pytest.mark.parametrize("collapse_rows", [1_500, 1 << 24])
def test_a_stored_day_read_in_batches_gives_the_graph_of_the_whole_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collapse_rows: int
) -> None:
    """The day read back in batches of 700 transfers, collapsed as they come (every ~1,500) or
    once at the end, is the graph built from the frame in one piece."""
    generate_days(str(tmp_path), dt.date(2024, 10, 1), 1, SampleConfig(transactions_per_day=5_000))
    day = ingest_day(f"{tmp_path}/landing/transactions", "2024-10-01").valid
    expected = build_transaction_graph(day)
    path = tmp_path / "raw_transactions.parquet"
    pq.write_table(pa.Table.from_pandas(day, preserve_index=False), path, row_group_size=1_000)
    monkeypatch.setattr(graph_logic, "BATCH_ROWS", 700)
    monkeypatch.setattr(graph_logic, "COLLAPSE_ROWS", collapse_rows)

    graph = build_transaction_graph(TransactionBatches((str(path),)))

    assert len(graph.edges) > 3_000  # most pairs appear once, some repeat across batches
    assert (expected.edges["tx_count"] > 1).any()
    pd.testing.assert_frame_equal(graph.nodes, expected.nodes)
    pd.testing.assert_frame_equal(graph.edges, expected.edges)
