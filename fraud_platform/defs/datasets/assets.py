"""Datasets: the day's scored accounts and edges, named, described and persisted with an id/URL."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    Output,
    asset,
)

from fraud_platform.defs.check_results import log_failed_check
from fraud_platform.defs.datasets.checks import (
    fraud_dataset_check,
    fraud_dataset_check_spec,
    graph_counts,
    stored_counts,
)
from fraud_platform.defs.datasets.logic import (
    build_fraud_dataset,
    day_summary_lines,
    high_risk_rows,
)
from fraud_platform.defs.datasets.logic import high_risk_transfers as transfers_of
from fraud_platform.defs.datasets.resources import DatasetPublishing
from fraud_platform.partitions import daily_step
from fraud_platform.reporting import preview_markdown, top_accounts_markdown
from fraud_platform.storage.object_store import TransactionBatches
from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.tables import PARTITION_COLUMN, FraudDataset, TransactionGraph

#: What the case timeline reads of the day's stored transfers.
TRANSFER_VIEW_READ = ("transaction_id", "timestamp", "sender", "receiver", "amount")


@asset(
    **daily_step("datasets"),
    io_manager_key="dataset_io_manager",
    # Published only once the day's rejected rows are stored, so a published day is complete
    # (and `--select '*fraud_dataset'` runs the whole day, rejected rows included).
    deps=[AssetKey("rejected_transactions")],
    metadata={"partition_expr": PARTITION_COLUMN, "table": "datasets"},
    check_specs=[fraud_dataset_check_spec],
)
def fraud_dataset(
    context: AssetExecutionContext,
    publishing: DatasetPublishing,
    warehouse: PostgresWarehouse,
    transaction_graph: TransactionGraph,
    account_scores: pd.DataFrame,
) -> Iterator[Output[FraudDataset] | AssetCheckResult]:
    """The persisted dataset: encoded accounts, weighted edges, name, description, id and URL.

    Stored as Parquet in the object store and in the warehouse (``fraud.datasets``,
    ``fraud.dataset_nodes``, ``fraud.dataset_edges``); a day's old rows are replaced in the same
    transaction that writes the new ones. Once stored, the day's rows are counted in the
    warehouse against the graph (the ``fraud_dataset_matches_graph`` check).
    """
    dataset = build_fraud_dataset(
        transaction_graph,
        account_scores,
        days=list(context.partition_keys),
        viewer_base_url=publishing.viewer_base_url,
        high_risk_threshold=publishing.high_risk_threshold,
        created_at=datetime.now(UTC),
    )
    summary = dataset.summary
    metadata: dict[str, object] = {
        "node_count": int(summary["node_count"].sum()),
        "edge_count": int(summary["edge_count"].sum()),
        "high_risk_count": int(summary["high_risk_count"].sum()),
    }
    if len(summary) == 1:
        row = summary.iloc[0]
        metadata |= {
            "dataset_id": str(row["dataset_id"]),
            "name": str(row["name"]),
            "url": MetadataValue.url(str(row["url"])),
            "description": str(row["description"]),
            "top_accounts": MetadataValue.md(top_accounts_markdown(dataset.nodes)),
            # The thumbnail is embedded, so it shows whether the viewer runs or not.
            "preview": MetadataValue.md(
                preview_markdown(
                    str(row["url"]),
                    dataset.nodes,
                    dataset.edges,
                    high_risk_threshold=publishing.high_risk_threshold,
                )
            ),
        }
    else:
        metadata["datasets"] = MetadataValue.md(
            summary[
                [PARTITION_COLUMN, "dataset_id", "node_count", "high_risk_count", "url"]
            ].to_markdown(index=False)
        )
    yield Output(dataset, metadata=metadata)
    days = [str(day) for day in summary[PARTITION_COLUMN]]
    with warehouse.connect() as connection:
        stored = stored_counts(connection, warehouse.schema_name, days)
    check = fraud_dataset_check(summary, graph_counts(transaction_graph), stored)
    log_failed_check(context.log, check)
    yield check
    for line in day_summary_lines(summary, _ingested(context)):
        context.log.info(line)


def _ingested(context: AssetExecutionContext) -> dict[str, tuple[int, int]]:
    """The day's (valid, rejected) row counts from raw_transactions' latest materialization.

    Only for a one-day run: a range's materializations all carry the range's totals.
    """
    if len(context.partition_keys) != 1:
        return {}
    day = context.partition_key
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("raw_transactions"), asset_partitions=[day]),
        limit=1,
    ).records
    materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return {}
    metadata = materialization.metadata
    if "rows_valid" not in metadata or "rows_rejected" not in metadata:
        return {}
    return {day: (int(metadata["rows_valid"].value), int(metadata["rows_rejected"].value))}


@asset(
    **daily_step("datasets", fresh=False, warehouse=True),
)
def high_risk_transfers(
    context: AssetExecutionContext,
    publishing: DatasetPublishing,
    raw_transactions: TransactionBatches,
    account_scores: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Every transfer of the day's high-risk accounts (``risk_score`` at or above the
    threshold), from their side: the timeline an analyst reviews on the account's case page."""
    threshold = publishing.high_risk_threshold
    high = account_scores[account_scores["risk_score"] >= threshold]
    stored = raw_transactions.by_day()
    parts = [
        transfers_of(
            stored[day].batches(TRANSFER_VIEW_READ),
            day,
            high.loc[high[PARTITION_COLUMN].astype("str") == day, "account"].astype("str"),
        )
        for day in context.partition_keys
        if day in stored
    ]
    transfers = (
        pd.concat(parts, ignore_index=True)
        if parts
        else transfers_of([], context.partition_keys[0], [])
    )
    return Output(
        transfers,
        metadata={
            "accounts": int(transfers["account"].nunique()),
            "transfers": len(transfers),
            "high_risk_threshold": threshold,
        },
    )


@asset(
    **daily_step("datasets", fresh=False, warehouse=True),
)
def high_risk_history(
    publishing: DatasetPublishing,
    account_history: pd.DataFrame,
    account_scores: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """The trailing 28 days of the day's high-risk accounts (days active, first and last seen,
    relay days, typical amounts and counterparties, known and new counterparties): what an
    analyst compares the day with on the account's case page."""
    history = high_risk_rows(account_history, account_scores, publishing.high_risk_threshold)
    return Output(history, metadata={"accounts": len(history)})
