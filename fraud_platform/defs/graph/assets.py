"""Graph: the day's transfers as accounts (nodes) and weighted sender-receiver edges."""

from dagster import AssetExecutionContext, Config, asset
from pydantic import Field

from fraud_platform.defs.graph.logic import build_transaction_graph
from fraud_platform.partitions import daily_step
from fraud_platform.storage.object_store import TransactionBatches
from fraud_platform.tables import TransactionGraph


class TransactionGraphConfig(Config):
    min_amount: float = Field(
        default=0.0,
        ge=0.0,
        description="Keep only transfers of at least this amount (0 keeps all).",
    )


@asset(
    **daily_step("graph"),
)
def transaction_graph(
    context: AssetExecutionContext,
    config: TransactionGraphConfig,
    raw_transactions: TransactionBatches,
) -> TransactionGraph:
    """Accounts with degrees and flows, and parallel transfers collapsed into weighted edges.

    The day's transfers are read a row group at a time: the step holds the day's edges, not
    its transfers.
    """
    graph = build_transaction_graph(raw_transactions, min_amount=config.min_amount)
    context.add_output_metadata(
        {
            "node_count": len(graph.nodes),
            "edge_count": len(graph.edges),
            "transfers": int(graph.edges["tx_count"].sum()),
            "min_amount": config.min_amount,
        }
    )
    return graph
