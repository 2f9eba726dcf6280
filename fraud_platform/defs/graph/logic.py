"""Turning a day's transfers into a weighted graph: accounts are nodes, transfers are edges.

Parallel transfers between the same ordered pair collapse into one edge (total amount, count,
first and last timestamp). Accounts are coded to integers once (``pd.factorize``) so the groupby
runs on two int64 keys instead of two text columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_platform.tables import EDGE_COLUMNS, NODE_COLUMNS, PARTITION_COLUMN, TransactionGraph


def collapse_edges(transactions: pd.DataFrame, min_amount: float = 0.0) -> pd.DataFrame:
    """One row per (partition_date, sender, receiver); transfers below ``min_amount`` are dropped.

    ``min_amount`` filters individual transfers before collapsing (0 keeps everything): it keeps
    the high-value network when small payments are noise for the question at hand.
    """
    if min_amount > 0:
        transactions = transactions[transactions["amount"] >= min_amount]
    if transactions.empty:
        return _empty_edges()
    day_codes, days = pd.factorize(transactions[PARTITION_COLUMN], sort=True)
    accounts = pd.concat([transactions["sender"], transactions["receiver"]], ignore_index=True)
    codes, uniques = pd.factorize(accounts)
    n = len(transactions)
    keyed = pd.DataFrame(
        {
            "day": day_codes.astype(np.int64),
            "src": codes[:n].astype(np.int64),
            "dst": codes[n:].astype(np.int64),
            "amount": transactions["amount"].to_numpy(dtype=np.float64),
            "timestamp": transactions["timestamp"].reset_index(drop=True),
        }
    )
    grouped = keyed.groupby(["day", "src", "dst"], sort=True).agg(
        amount_total=("amount", "sum"),
        tx_count=("amount", "size"),
        first_timestamp=("timestamp", "min"),
        last_timestamp=("timestamp", "max"),
    )
    day_idx = grouped.index.get_level_values("day").to_numpy()
    src = grouped.index.get_level_values("src").to_numpy()
    dst = grouped.index.get_level_values("dst").to_numpy()
    uniques = pd.Index(uniques, dtype="str")
    edges = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Index(days, dtype="str").take(day_idx),
            "sender": uniques.take(src),
            "receiver": uniques.take(dst),
            "amount_total": grouped["amount_total"].to_numpy(),
            "tx_count": grouped["tx_count"].to_numpy(dtype=np.int64),
            "first_timestamp": grouped["first_timestamp"].array,
            "last_timestamp": grouped["last_timestamp"].array,
        }
    )
    return edges


def account_nodes(edges: pd.DataFrame) -> pd.DataFrame:
    """Every account seen as sender or receiver, with its degrees, amounts and transfer count."""
    if edges.empty:
        return _empty_nodes()
    out = edges.groupby([PARTITION_COLUMN, "sender"], sort=False).agg(
        out_degree=("receiver", "size"),
        out_amount=("amount_total", "sum"),
        out_tx=("tx_count", "sum"),
    )
    inc = edges.groupby([PARTITION_COLUMN, "receiver"], sort=False).agg(
        in_degree=("sender", "size"),
        in_amount=("amount_total", "sum"),
        in_tx=("tx_count", "sum"),
    )
    out.index = out.index.set_names([PARTITION_COLUMN, "account"])
    inc.index = inc.index.set_names([PARTITION_COLUMN, "account"])
    nodes = out.join(inc, how="outer").fillna(0)
    nodes = nodes.reset_index()
    nodes["tx_count"] = (nodes["out_tx"] + nodes["in_tx"]).astype(np.int64)
    for column in ("in_degree", "out_degree"):
        nodes[column] = nodes[column].astype(np.int64)
    for column in ("in_amount", "out_amount"):
        nodes[column] = nodes[column].astype(np.float64)
    nodes[PARTITION_COLUMN] = nodes[PARTITION_COLUMN].astype("str")
    nodes["account"] = nodes["account"].astype("str")
    return nodes.sort_values([PARTITION_COLUMN, "account"], ignore_index=True)[list(NODE_COLUMNS)]


def build_transaction_graph(
    transactions: pd.DataFrame, min_amount: float = 0.0
) -> TransactionGraph:
    """The day's (or days') graph: nodes derived from the collapsed edges."""
    edges = collapse_edges(transactions, min_amount=min_amount)
    return TransactionGraph(nodes=account_nodes(edges), edges=edges)


def _empty_edges() -> pd.DataFrame:
    return pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(dtype="str"),
            "sender": pd.Series(dtype="str"),
            "receiver": pd.Series(dtype="str"),
            "amount_total": pd.Series(dtype="float64"),
            "tx_count": pd.Series(dtype="int64"),
            "first_timestamp": pd.Series(dtype="datetime64[us, UTC]"),
            "last_timestamp": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )[list(EDGE_COLUMNS)]


def _empty_nodes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(dtype="str"),
            "account": pd.Series(dtype="str"),
            "in_degree": pd.Series(dtype="int64"),
            "out_degree": pd.Series(dtype="int64"),
            "in_amount": pd.Series(dtype="float64"),
            "out_amount": pd.Series(dtype="float64"),
            "tx_count": pd.Series(dtype="int64"),
        }
    )[list(NODE_COLUMNS)]
