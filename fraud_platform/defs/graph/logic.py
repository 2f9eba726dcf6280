"""Turning a day's transfers into a weighted graph: accounts are nodes, transfers are edges.

Parallel transfers between the same ordered pair collapse into one edge (total amount, count,
first and last timestamp). Accounts are coded to integers once per day (``pd.factorize``), the
pair becomes one int64 key, and the node table is counted from the integer edges with
``np.bincount``: no groupby ever runs on text.
"""

import numpy as np
import pandas as pd

from fraud_platform.tables import EDGE_COLUMNS, NODE_COLUMNS, PARTITION_COLUMN, TransactionGraph


def build_transaction_graph(
    transactions: pd.DataFrame, min_amount: float = 0.0
) -> TransactionGraph:
    """The graph of every day in ``transactions`` (one day, or a range: days stay apart).

    ``min_amount`` filters individual transfers before collapsing (0 keeps everything): it keeps
    the high-value network when small payments are noise for the question at hand.
    """
    if min_amount > 0:
        transactions = transactions[transactions["amount"] >= min_amount]
    days = [
        _day_graph(str(day), group)
        for day, group in transactions.groupby(PARTITION_COLUMN, sort=True)
        if len(group)
    ]
    if not days:
        return TransactionGraph(nodes=_empty_nodes(), edges=_empty_edges())
    return TransactionGraph(
        nodes=pd.concat([d.nodes for d in days], ignore_index=True),
        edges=pd.concat([d.edges for d in days], ignore_index=True),
    )


def _day_graph(day: str, transactions: pd.DataFrame) -> TransactionGraph:
    n = len(transactions)
    codes, accounts = pd.factorize(
        pd.concat([transactions["sender"], transactions["receiver"]], ignore_index=True)
    )
    accounts = pd.Index(accounts, dtype="str")
    n_accounts = len(accounts)
    src = codes[:n].astype(np.int64)
    dst = codes[n:].astype(np.int64)
    timestamps = transactions["timestamp"].array.asi8  # int64 microseconds since the epoch
    grouped = (
        pd.DataFrame(
            {
                "pair": src * n_accounts + dst,
                "amount": transactions["amount"].to_numpy(dtype=np.float64),
                "ts": timestamps,
            }
        )
        .groupby("pair", sort=True)
        .agg(
            amount_total=("amount", "sum"),
            tx_count=("amount", "size"),
            first=("ts", "min"),
            last=("ts", "max"),
        )
    )
    pair = grouped.index.to_numpy()
    edge_src, edge_dst = np.divmod(pair, n_accounts)
    amount_total = grouped["amount_total"].to_numpy()
    tx_count = grouped["tx_count"].to_numpy(dtype=np.int64)
    unit = transactions["timestamp"].dtype.unit
    edges = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(day, index=range(len(pair)), dtype="str"),
            "sender": accounts.take(edge_src),
            "receiver": accounts.take(edge_dst),
            "amount_total": amount_total,
            "tx_count": tx_count,
            "first_timestamp": _timestamps(grouped["first"].to_numpy(), unit),
            "last_timestamp": _timestamps(grouped["last"].to_numpy(), unit),
        }
    )
    nodes = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(day, index=range(n_accounts), dtype="str"),
            "account": accounts,
            "in_degree": np.bincount(edge_dst, minlength=n_accounts).astype(np.int64),
            "out_degree": np.bincount(edge_src, minlength=n_accounts).astype(np.int64),
            "in_amount": np.bincount(edge_dst, weights=amount_total, minlength=n_accounts),
            "out_amount": np.bincount(edge_src, weights=amount_total, minlength=n_accounts),
            "tx_count": (
                np.bincount(edge_dst, weights=tx_count, minlength=n_accounts)
                + np.bincount(edge_src, weights=tx_count, minlength=n_accounts)
            ).astype(np.int64),
        }
    )
    nodes = nodes.sort_values("account", ignore_index=True)
    return TransactionGraph(nodes=nodes[list(NODE_COLUMNS)], edges=edges[list(EDGE_COLUMNS)])


def _timestamps(values: np.ndarray, unit: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values.astype(f"datetime64[{unit}]")).tz_localize("UTC")


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
