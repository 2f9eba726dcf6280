"""Turning a day's transfers into a weighted graph: accounts are nodes, transfers are edges.

Parallel transfers between the same ordered pair collapse into one edge (total amount, count,
first and last timestamp). Accounts are coded to integers once per day — their rank in account
order, so the node table is sorted by account and a code is the account's row in it — and every
later step works on those codes: each edge carries ``sender_node`` and ``receiver_node``, the rows
of its two accounts in the day's node table, so the engines and the risk score never match
account strings again.

The day's transfers arrive in batches (the row groups of the stored ``raw_transactions``, or one
frame): each batch is dictionary-encoded to integer codes (48 bytes a transfer, its text
dropped), and once `COLLAPSE_ROWS` transfers are pending, or the day ends, the pending batches'
account dictionaries are merged and their transfers collapsed into edges, so the step holds the
day's edges and at most `COLLAPSE_ROWS` coded transfers, never the day's rows. Collapsing is one
sort of an int64 pair key and ``reduceat`` (0.14 s at 1M transfers against 0.45 s for a pandas or
Arrow group-by), which also leaves edges ordered by sender and receiver; the node table is
counted from the integer edges with ``np.bincount``: no group-by ever runs on text. A day below
`COLLAPSE_ROWS` is collapsed once: collapsing each batch first would sort most transfers twice
(the pairs of a day repeat little across its batches).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.storage.object_store import TransactionBatches
from fraud_platform.tables import (
    EDGE_COLUMNS,
    EDGE_SCHEMA,
    NODE_COLUMNS,
    NODE_SCHEMA,
    PARTITION_COLUMN,
    TransactionGraph,
    empty_frame,
)

#: The transfer columns the graph is built from.
GRAPH_INPUT_COLUMNS = ("sender", "receiver", "amount", "timestamp")
#: Transfers read and encoded at a time. Each batch's accounts are hashed again when the batches
#: are merged, so batches are large: at 4M transfers a batch holds about 200 MB.
BATCH_ROWS = 1 << 22
#: Coded transfers pending before they are collapsed (about 800 MB at 48 bytes each).
COLLAPSE_ROWS = 1 << 24


def build_transaction_graph(
    transactions: pd.DataFrame | TransactionBatches, min_amount: float = 0.0
) -> TransactionGraph:
    """The graph of every day in ``transactions`` (one day, or a range: days stay apart).

    ``transactions`` is a frame of transfers or the stored files of ``raw_transactions`` (one
    per day), read a row group at a time. ``min_amount`` filters individual transfers before
    collapsing (0 keeps everything): it keeps the high-value network when small payments are
    noise for the question at hand.
    """
    parts = [_day_graph(day, batches, min_amount) for day, batches in _days(transactions)]
    parts = [part for part in parts if part is not None]
    if not parts:
        return TransactionGraph(nodes=empty_frame(NODE_SCHEMA), edges=empty_frame(EDGE_SCHEMA))
    if len(parts) == 1:
        return parts[0]
    return TransactionGraph(
        nodes=pd.concat([d.nodes for d in parts], ignore_index=True),
        edges=pd.concat([d.edges for d in parts], ignore_index=True),
    )


def _days(
    transactions: pd.DataFrame | TransactionBatches,
) -> list[tuple[str | None, Iterable[pa.RecordBatch]]]:
    """(day, its transfers in batches) per day; a stored file's day is read from its rows."""
    if isinstance(transactions, TransactionBatches):
        columns = [PARTITION_COLUMN, *GRAPH_INPUT_COLUMNS]
        return [(None, day.batches(columns, BATCH_ROWS)) for day in transactions.per_file()]
    if not len(transactions):
        return []
    days = transactions[PARTITION_COLUMN].unique()
    groups = (
        [(str(days[0]), transactions)]
        if len(days) == 1  # the usual case: no split, no copy
        else [(str(day), group) for day, group in transactions.groupby(PARTITION_COLUMN, sort=True)]
    )
    return [(day, _frame_batches(frame)) for day, frame in groups]


def _frame_batches(frame: pd.DataFrame) -> Iterable[pa.RecordBatch]:
    table = pa.Table.from_pandas(frame[list(GRAPH_INPUT_COLUMNS)], preserve_index=False)
    return table.to_batches(max_chunksize=BATCH_ROWS)


@dataclass
class _Pairs:
    """Transfers collapsed per ordered pair of account codes (into ``accounts``)."""

    accounts: pa.Array  # the codes' account ids
    senders: np.ndarray
    receivers: np.ndarray
    amount_total: np.ndarray
    tx_count: np.ndarray
    first: np.ndarray  # int64 timestamps
    last: np.ndarray


def _encode(batch: pa.Table | pa.RecordBatch, min_amount: float) -> _Pairs | None:
    """One batch's transfers, not collapsed, as pairs of codes into the batch's own account
    dictionary."""
    if min_amount > 0:
        batch = batch.filter(pc.greater_equal(batch.column("amount"), min_amount))
    n = batch.num_rows
    if n == 0:
        return None
    both = pa.chunked_array(
        [*_chunks(batch.column("sender")), *_chunks(batch.column("receiver"))],
        type=pa.large_string(),
    )
    encoded = both.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    amounts = np.asarray(batch.column("amount"), dtype=np.float64)
    # Microseconds since the epoch, the unit the platform stores timestamps in.
    micros = pc.cast(batch.column("timestamp"), pa.timestamp("us", tz="UTC"), safe=False)
    timestamps = np.asarray(pc.cast(micros, pa.int64()), dtype=np.int64)
    return _Pairs(
        accounts=encoded.dictionary,
        senders=codes[:n],
        receivers=codes[n:],
        amount_total=amounts,
        tx_count=np.ones(n, dtype=np.int64),
        first=timestamps,
        last=timestamps,
    )


def _group(rows: _Pairs) -> _Pairs:
    """Rows with the same (sender, receiver) codes merged: sums, counts, min and max times."""
    size = max(len(rows.accounts), 1)
    pair = rows.senders * size + rows.receivers
    order = np.argsort(pair)
    sorted_pairs = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pairs[1:] != sorted_pairs[:-1]])
    merged_senders, merged_receivers = np.divmod(sorted_pairs[starts], size)
    first_sorted = rows.first[order]
    # Transfers not yet collapsed have one time: first and last are the same array.
    last_sorted = first_sorted if rows.last is rows.first else rows.last[order]
    return _Pairs(
        accounts=rows.accounts,
        senders=merged_senders,
        receivers=merged_receivers,
        amount_total=np.add.reduceat(rows.amount_total[order], starts),
        tx_count=np.add.reduceat(rows.tx_count[order], starts),
        first=np.minimum.reduceat(first_sorted, starts),
        last=np.maximum.reduceat(last_sorted, starts),
    )


def _merge(parts: list[_Pairs]) -> _Pairs:
    """Pairs of several batches (collapsed or not) as one: one dictionary in account order, each
    pair once.

    Code ``i`` of the result is row ``i`` of the node table (accounts sorted), so edges come out
    ordered by sender and receiver.
    """
    if len(parts) == 1:
        dictionary = parts[0].accounts
        local = [np.arange(len(dictionary), dtype=np.int64)]
    else:
        merged = pa.chunked_array([p.accounts for p in parts]).combine_chunks().dictionary_encode()
        dictionary = merged.dictionary
        indices = merged.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        bounds = np.cumsum([0, *(len(p.accounts) for p in parts)])
        local = [indices[bounds[i] : bounds[i + 1]] for i in range(len(parts))]
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    codes = [rank[at] for at in local]
    first = np.concatenate([p.first for p in parts])
    # Batches not collapsed yet have one time per transfer: first and last stay one array.
    same = all(p.last is p.first for p in parts)
    last = first if same else np.concatenate([p.last for p in parts])
    return _group(
        _Pairs(
            accounts=dictionary.take(pa.array(order)),
            senders=np.concatenate([c[p.senders] for c, p in zip(codes, parts, strict=True)]),
            receivers=np.concatenate([c[p.receivers] for c, p in zip(codes, parts, strict=True)]),
            amount_total=np.concatenate([p.amount_total for p in parts]),
            tx_count=np.concatenate([p.tx_count for p in parts]),
            first=first,
            last=last,
        )
    )


def _day_graph(
    day: str | None, batches: Iterable[pa.RecordBatch], min_amount: float
) -> TransactionGraph | None:
    """One day's graph from its transfers in batches, or None when it has none.

    ``day`` None: the day is read from the first batch's ``partition_date``.
    """
    parts: list[_Pairs] = []
    pending = 0  # transfers in ``parts`` not collapsed yet
    for batch in batches:
        if day is None and batch.num_rows:
            day = str(batch.column(PARTITION_COLUMN)[0])
        encoded = _encode(batch, min_amount)
        if encoded is None:
            continue
        parts.append(encoded)
        pending += len(encoded.senders)
        if pending > COLLAPSE_ROWS:
            parts, pending = [_merge(parts)], 0
    if not parts or day is None:
        return None
    pairs = _merge(parts)
    accounts = pairs.accounts
    n_accounts = len(accounts)
    edge_src, edge_dst = pairs.senders, pairs.receivers
    amount_total, tx_count = pairs.amount_total, pairs.tx_count
    edges = pd.DataFrame(
        {
            PARTITION_COLUMN: pd.Series(day, index=range(len(edge_src)), dtype="str"),
            "sender": _strings(accounts.take(pa.array(edge_src))),
            "receiver": _strings(accounts.take(pa.array(edge_dst))),
            "amount_total": amount_total,
            "tx_count": tx_count,
            "first_timestamp": _timestamps(pairs.first),
            "last_timestamp": _timestamps(pairs.last),
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


def _chunks(values: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def _strings(values: pa.Array) -> pd.Series:
    """Arrow text as pandas' ``str`` dtype (Arrow-backed: no per-value Python objects)."""
    return pd.Series(values.cast(pa.large_string()), dtype="str")


def _timestamps(values: np.ndarray) -> pd.DatetimeIndex:
    """Microseconds since the epoch (the unit the platform stores) as UTC timestamps."""
    return pd.DatetimeIndex(values.astype("datetime64[us]")).tz_localize("UTC")


def days_of(graph: TransactionGraph) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(day, nodes, edges) per day of a graph, in day order; one day is passed through uncopied."""
    days = graph.nodes[PARTITION_COLUMN].unique() if len(graph.nodes) else []
    if len(days) == 1:
        return [(str(days[0]), graph.nodes, graph.edges)]
    edges_by_day = dict(tuple(graph.edges.groupby(PARTITION_COLUMN, sort=True)))
    return [
        (str(day), nodes.reset_index(drop=True), edges_by_day[day].reset_index(drop=True))
        for day, nodes in graph.nodes.groupby(PARTITION_COLUMN, sort=True)
    ]
