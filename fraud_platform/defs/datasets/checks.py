"""Dataset checks: what was persisted matches the graph it was built from.

The check runs inside the ``fraud_dataset`` step, right after the dataset is stored: it counts
the day's rows in the warehouse with one ``COUNT`` per table and compares them with the graph
the step already holds and with the counts the dataset claims, so a lost or duplicated row shows
without loading millions of rows back.
"""

from collections.abc import Mapping, Sequence

import pandas as pd
import psycopg
from dagster import AssetCheckResult

from fraud_platform.defs.check_results import daily_check_spec, problems_result, rerun_command
from fraud_platform.storage.warehouse import stored_row_counts
from fraud_platform.tables import PARTITION_COLUMN, TransactionGraph

DATASET_CHECK = "fraud_dataset_matches_graph"

#: Day -> (nodes, edges).
Counts = Mapping[str, tuple[int, int]]

fraud_dataset_check_spec = daily_check_spec(
    DATASET_CHECK,
    "fraud_dataset",
    (
        "The warehouse holds as many accounts and edges for the day as the day's graph has, "
        "and as the dataset's summary row says."
    ),
)


def graph_counts(graph: TransactionGraph) -> dict[str, tuple[int, int]]:
    """Nodes and edges per day of a graph."""
    nodes = graph.nodes[PARTITION_COLUMN].astype("str").value_counts()
    edges = graph.edges[PARTITION_COLUMN].astype("str").value_counts()
    return {
        str(day): (int(nodes.get(day, 0)), int(edges.get(day, 0)))
        for day in nodes.index.union(edges.index)
    }


def stored_counts(connection: psycopg.Connection, schema: str, days: Sequence[str]) -> Counts:
    """Rows of ``dataset_nodes`` and ``dataset_edges`` per day, counted by the warehouse."""
    nodes = stored_row_counts(connection, schema, "dataset_nodes", days)
    edges = stored_row_counts(connection, schema, "dataset_edges", days)
    return {day: (nodes[day], edges[day]) for day in nodes}


def count_mismatches(summary: pd.DataFrame, expected: Counts, stored: Counts) -> list[str]:
    """Days whose claimed node/edge counts differ from the graph's or from the rows stored."""
    problems: list[str] = []
    for row in summary.itertuples(index=False):
        day = str(getattr(row, PARTITION_COLUMN))
        claims = (int(row.node_count), int(row.edge_count))
        want = tuple(expected.get(day, (0, 0)))
        have = tuple(stored.get(day, (0, 0)))
        if claims != want:
            problems.append(f"{day}: dataset says {claims}, graph has {want}")
        if claims != have:
            problems.append(f"{day}: dataset says {claims}, rows stored {have}")
    return problems


def fraud_dataset_check(
    summary: pd.DataFrame, expected: Counts, stored: Counts
) -> AssetCheckResult:
    """The check's verdict (ERROR on any mismatch)."""
    problems = count_mismatches(summary, expected, stored)
    days = [str(day) for day in summary[PARTITION_COLUMN]]
    return problems_result(
        DATASET_CHECK,
        "fraud_dataset",
        problems,
        on_days=days,
        limit="the stored accounts and edges must match the day's graph and its summary row",
        next_step=(
            "The viewer and the alerts read these rows: re-run the day's dataset, which "
            f"replaces them: {rerun_command(days, 'fraud_dataset')}"
        ),
        days=len(summary),
    )
