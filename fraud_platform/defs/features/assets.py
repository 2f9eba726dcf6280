"""Features: the day's evidence per account, and its trailing behaviour over the days before."""

import warnings
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    BetaWarning,
    Output,
    TimeWindowPartitionMapping,
    asset,
)

from fraud_platform.defs.check_results import log_failed_check
from fraud_platform.defs.features.checks import (
    account_features_check,
    account_features_check_spec,
    account_history_check,
    account_history_check_spec,
)
from fraud_platform.defs.features.history import HISTORY_DAYS
from fraud_platform.defs.features.history import account_history as history_of
from fraud_platform.defs.features.logic import (
    code_transfers,
    day_features,
)
from fraud_platform.defs.graph.logic import BATCH_ROWS, GRAPH_INPUT_COLUMNS, days_of
from fraud_platform.partitions import daily_step
from fraud_platform.storage.object_store import TransactionBatches
from fraud_platform.tables import AccountActivity, AccountFeatures, TransactionGraph

with warnings.catch_warnings():
    # A beta parameter used on purpose; its notice would print on every load of the code.
    warnings.simplefilter("ignore", BetaWarning)
    #: The `HISTORY_DAYS` days before a day; days before the first partition simply are not there.
    days_before = TimeWindowPartitionMapping(
        start_offset=-HISTORY_DAYS, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )


@asset(
    **daily_step("features"),
    check_specs=[account_features_check_spec],
)
def account_features(
    context: AssetExecutionContext,
    raw_transactions: TransactionBatches,
    transaction_graph: TransactionGraph,
) -> Iterator[Output[AccountFeatures] | AssetCheckResult]:
    """Per account: the shape of its flows and their timing (relays, chains, cycles, windows).

    Read from the day's individual transfers (a row group at a time, coded to the node table),
    because the collapsed graph has lost the order of events.
    """
    stored = raw_transactions.by_day()
    parts, transfers = [], 0
    for day, nodes, edges in days_of(transaction_graph):
        day_transfers = code_transfers(
            # The transfers the graph was built from, read as the graph reads them.
            stored[day].batches(GRAPH_INPUT_COLUMNS, BATCH_ROWS),
            nodes["account"],
        )
        transfers += len(day_transfers)
        parts.append(day_features(nodes, edges, day_transfers))
    features = AccountFeatures.concat(parts) if parts else day_features(
        transaction_graph.nodes, transaction_graph.edges, code_transfers([], pd.Series([]))
    )
    yield Output(
        features,
        metadata={
            "accounts": len(features.accounts),
            "transfers": transfers,
            "pairs": len(features.pairs),
            "relaying_accounts": int(features.activity["relayed"].sum()),
        },
    )
    check = account_features_check(
        features.accounts, len(transaction_graph.nodes), context.partition_keys
    )
    log_failed_check(context.log, check)
    yield check


@asset(
    **daily_step("features"),
    ins={
        "account_features": AssetIn(
            partition_mapping=days_before,
            # Days not analysed (yet) are left out: history is what the platform has seen.
            metadata={"allow_missing_partitions": True},
        )
    },
    check_specs=[account_history_check_spec],
)
def account_history(
    context: AssetExecutionContext,
    transaction_graph: TransactionGraph,
    account_features: AccountActivity,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    """Per account of the day: its behaviour over the 28 days before (habits, first seen, ...).

    Reads only the ``activity`` and ``pairs`` of the earlier days' ``account_features``.
    """
    days = [(day, nodes, edges) for day, nodes, edges in days_of(transaction_graph)]
    parts = [history_of(day, nodes, edges, account_features) for day, nodes, edges in days]
    history = (
        pd.concat(parts, ignore_index=True)
        if parts
        else history_of(
            context.partition_key_range.start,
            transaction_graph.nodes,
            transaction_graph.edges,
            account_features,
        )
    )
    history_days = int(history["history_days"].min()) if len(history) else 0
    yield Output(
        history,
        metadata={
            "accounts": len(history),
            "history_days": history_days,
            "window_days": HISTORY_DAYS,
            "seen_before": int((history["days_active"] > 0).sum()),
        },
    )
    check = account_history_check(
        history, len(transaction_graph.nodes), HISTORY_DAYS, context.partition_keys
    )
    log_failed_check(context.log, check)
    yield check
