"""Turning a day's transfers into a weighted graph: accounts are nodes, transfers are edges.

Parallel transfers between the same ordered pair collapse into one edge (total amount, count,
first and last timestamp). Accounts are coded to integers once per day — their rank in account
order, so the node table is sorted by account and a code is the account's row in it — and every
later step works on those codes: each edge carries ``sender_node`` and ``receiver_node``, the rows
of its two accounts in the day's node table, so the engines and the risk score never match
account strings again. The pair of codes becomes one int64 key; edges are collapsed by one sort of
that key (numpy's sort and ``reduceat``: 0.14 s at 1M transfers against 0.45 s for a pandas or
Arrow group-by), which also leaves them ordered by sender and receiver, and the node table is
counted from the integer edges with ``np.bincount``: no group-by ever runs on text.
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    days = transactions[PARTITION_COLUMN].unique() if len(transactions) else []
    if len(days) == 1:  # the usual case: no split, no copy
        parts = [_day_graph(str(days[0]), transactions)]
    else:
        parts = [
            _day_graph(str(day), group)
            for day, group in transactions.groupby(PARTITION_COLUMN, sort=True)
            if len(group)
        ]
    if not parts:
        return TransactionGraph(nodes=_empty_nodes(), edges=_empty_edges())
    if len(parts) == 1:
        return parts[0]
    return TransactionGraph(
        nodes=pd.concat([d.nodes for d in parts], ignore_index=True),
        edges=pd.concat([d.edges for d in parts], ignore_index=True),
    )


def account_codes(senders: pd.Series, receivers: pd.Series) -> tuple[pa.Array, np.ndarray]:
    """The day's accounts in account order, and each sender's then each receiver's code in it.

    One dictionary encoding of both columns (Arrow's hash table), then the small dictionary is
    sorted and the codes are remapped to ranks, so code ``i`` is row ``i`` of the sorted node
    table.
    """
    both = pa.chunked_array(
        [*_arrow_text(senders).chunks, *_arrow_text(receivers).chunks], type=pa.large_string()
    )
    encoded = both.combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    return dictionary.take(pa.array(order)), codes


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """A text column as Arrow ``large_string`` (zero-copy for pandas' Arrow-backed strings)."""
    array = pa.array(values, from_pandas=True)
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    return pa.chunked_array(chunks, type=array.type).cast(pa.large_string())


def _day_graph(day: str, transactions: pd.DataFrame) -> TransactionGraph:
    n = len(transactions)
    accounts, codes = account_codes(transactions["sender"], transactions["receiver"])
    n_accounts = len(accounts)
    pair = codes[:n] * n_accounts + codes[n:]
    amounts = transactions["amount"].to_numpy(dtype=np.float64)
    timestamps = transactions["timestamp"].array.asi8  # int64 microseconds since the epoch
    order = np.argsort(pair)
    sorted_pairs = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pairs[1:] != sorted_pairs[:-1]])
    amount_total = np.add.reduceat(amounts[order], starts)
    tx_count = np.diff(np.r_[starts, n]).astype(np.int64)
    in_order = timestamps[order]
    first = np.minimum.reduceat(in_order, starts)
    last = np.maximum.reduceat(in_order, starts)
    edge_src, edge_dst = np.divmod(sorted_pairs[starts], n_accounts)
    unit = transactions["timestamp"].dtype.unit
    edges = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(day, index=range(len(starts)), dtype="str"),
            "sender": _strings(accounts.take(pa.array(edge_src))),
            "receiver": _strings(accounts.take(pa.array(edge_dst))),
            "amount_total": amount_total,
            "tx_count": tx_count,
            "first_timestamp": _timestamps(first, unit),
            "last_timestamp": _timestamps(last, unit),
            "sender_node": edge_src.astype(np.int32),
            "receiver_node": edge_dst.astype(np.int32),
        }
    )
    nodes = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(day, index=range(n_accounts), dtype="str"),
            "account": _strings(accounts),
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
    return TransactionGraph(nodes=nodes[list(NODE_COLUMNS)], edges=edges[list(EDGE_COLUMNS)])


def _strings(values: pa.Array) -> pd.Series:
    """Arrow text as pandas' ``str`` dtype (Arrow-backed: no per-value Python objects)."""
    return pd.Series(values.cast(pa.large_string()), dtype="str")


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
            "sender_node": pd.Series(dtype="int32"),
            "receiver_node": pd.Series(dtype="int32"),
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
