"""Cases: ``analyst_labels``, analysts' decisions turned into labels the risk model learns from."""

import pandas as pd
from dagster import AssetExecutionContext, Output, asset

from fraud_platform.defs.cases.logic import LABEL_COLUMNS, day_labels
from fraud_platform.defs.cases.resources import current_decisions_of_day
from fraud_platform.defs.graph.logic import days_of
from fraud_platform.defs.model.logic import model_inputs
from fraud_platform.partitions import daily_step
from fraud_platform.storage.warehouse import PostgresWarehouse
from fraud_platform.tables import PARTITION_COLUMN, AccountFeatures, TransactionGraph


@asset(
    **daily_step("cases", fresh=False, warehouse=True),
)
def analyst_labels(
    context: AssetExecutionContext,
    warehouse: PostgresWarehouse,
    transaction_graph: TransactionGraph,
    account_features: AccountFeatures,
    account_history: pd.DataFrame,
    account_scores: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Per day: each decided alert's account with its model input and its label (confirmed
    fraud 1, dismissed as legitimate 0), from the day's current decisions.

    Materialized by the ``analyst_decisions_sensor`` for the days analysts decided on; the
    ``risk_model`` reads every day of it, so the lineage shows which model learned from which
    decisions.
    """
    parts = []
    with warehouse.connect() as connection:
        decided = {
            day: current_decisions_of_day(connection, warehouse.schema_name, day)
            for day in context.partition_keys
        }
    for day, nodes, edges in days_of(transaction_graph):
        decisions = decided.get(day)
        if decisions is None or decisions.empty:
            continue
        on_day = account_scores[account_scores[PARTITION_COLUMN].astype("str") == day]
        scores = on_day.set_index("account").reindex(nodes["account"])
        inputs = model_inputs(
            nodes,
            edges,
            account_features.accounts[
                account_features.accounts[PARTITION_COLUMN].astype("str") == day
            ].reset_index(drop=True),
            account_history[account_history[PARTITION_COLUMN].astype("str") == day].reset_index(
                drop=True
            ),
            scores["centrality"].to_numpy(dtype="float64"),
            scores["cluster"].to_numpy(dtype="int64"),
        )
        parts.append(day_labels(day, decisions, nodes["account"].to_numpy(), inputs))
    labels = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(LABEL_COLUMNS))
    )
    return Output(
        labels,
        metadata={
            "labels": len(labels),
            "confirmed": int((labels["label"] == 1).sum()),
            "dismissed": int((labels["label"] == 0).sum()),
        },
    )
