"""Dataset checks: what was persisted matches the graph it was built from."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, asset_check

from fraud_platform.partitions import daily_partitions
from fraud_platform.tables import PARTITION_COLUMN, FraudDataset, TransactionGraph


def count_mismatches(dataset: FraudDataset, graph: TransactionGraph) -> list[str]:
    """Days whose persisted node/edge counts differ from the graph's (or from their own rows)."""
    expected = pd.DataFrame(
        {
            "nodes": graph.nodes.groupby(PARTITION_COLUMN).size(),
            "edges": graph.edges.groupby(PARTITION_COLUMN).size(),
        }
    )
    stored_rows = pd.DataFrame(
        {
            "nodes": dataset.nodes.groupby(PARTITION_COLUMN).size(),
            "edges": dataset.edges.groupby(PARTITION_COLUMN).size(),
        }
    )
    problems: list[str] = []
    for row in dataset.summary.itertuples(index=False):
        day = str(getattr(row, PARTITION_COLUMN))
        want = expected.reindex([day]).fillna(0).iloc[0]
        have = stored_rows.reindex([day]).fillna(0).iloc[0]
        claims = (int(row.node_count), int(row.edge_count))
        if claims != (int(want["nodes"]), int(want["edges"])):
            problems.append(f"{day}: dataset says {claims}, graph has {tuple(want.astype(int))}")
        if claims != (int(have["nodes"]), int(have["edges"])):
            problems.append(f"{day}: dataset says {claims}, rows stored {tuple(have.astype(int))}")
    return problems


@asset_check(
    partitions_def=daily_partitions,
    asset="fraud_dataset",
    additional_ins={"transaction_graph": AssetIn("transaction_graph")},
    description="The persisted dataset has as many accounts and edges as the day's graph.",
)
def fraud_dataset_matches_graph(
    fraud_dataset: FraudDataset, transaction_graph: TransactionGraph
) -> AssetCheckResult:
    problems = count_mismatches(fraud_dataset, transaction_graph)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "days": len(fraud_dataset.summary),
            "problems": "; ".join(problems) or "none",
        },
    )
