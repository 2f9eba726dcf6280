"""A day's evidence per account, as the risk model reads it: shape of its flows and their timing.

Every feature is scale-free (counts of counterparties, shares, ratios, ranks within the day):
worlds differ in currency, volume and population, and a model must not learn how large a
generator's amounts happen to be. Amounts appear only relative to the account's own flows, to
the day's other accounts (percentile) or to the 10,000 reporting threshold (in `temporal`).

The step reads the day's transfers again (not only the collapsed pairs of the graph), coded to the
rows of the day's node table, because relaying, dwell times, chains and cycles are about the
order of events (`DayTransfers`). Accounts are also given a 64-bit key (a hash of the id), the
same on every day, so that history can join days without carrying account strings: 28 days of a
10M-transfer platform are 67M account-days.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.features.temporal import TEMPORAL_FEATURE_COLUMNS, temporal_features
from fraud_platform.defs.features.transfers import DayTransfers
from fraud_platform.defs.graph.logic import GRAPH_INPUT_COLUMNS
from fraud_platform.tables import (
    ACTIVITY_COLUMNS,
    PAIR_COLUMNS,
    PARTITION_COLUMN,
    AccountFeatures,
)

#: Shape of the account's day in the collapsed graph (see `shape_features`).
SHAPE_FEATURE_COLUMNS = (
    "in_degree",
    "out_degree",
    "sent_count",
    "received_count",
    "in_amount_pct",
    "out_amount_pct",
    "flow_balance",
    "net_flow",
    "reciprocal_share",
    "top_payer_share",
    "top_payee_share",
)
FEATURE_COLUMNS = SHAPE_FEATURE_COLUMNS + TEMPORAL_FEATURE_COLUMNS

#: An account relaying at least this share of its inflow within 24 hours counts as relaying on
#: that day in its history (`ACTIVITY_COLUMNS`).
RELAY_DAY_SHARE = 0.5

_MIX = np.uint64(0x9E3779B97F4A7C15)


def account_keys(accounts: pd.Series | pa.Array) -> np.ndarray:
    """A stable 64-bit key per account id: the same id gets the same key on every day.

    pandas' ``hash_array`` (SipHash with a fixed key) is deterministic across processes; at 2^64
    keys a collision among 10M accounts has a probability of about 3e-6 and would only merge two
    accounts' histories.
    """
    values = accounts.to_numpy() if isinstance(accounts, pd.Series) else accounts.to_numpy(False)
    return pd.util.hash_array(np.asarray(values, dtype=object), categorize=False).astype(np.uint64)


def pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """An undirected key per pair of account keys: (a, b) and (b, a) get the same key."""
    low = np.minimum(first, second).astype(np.uint64)
    high = np.maximum(first, second).astype(np.uint64)
    with np.errstate(over="ignore"):
        return (low * _MIX) ^ (high + (high << np.uint64(7)) + (high >> np.uint64(3)))


def percentile(values: np.ndarray) -> np.ndarray:
    """Share of the other values strictly below each value: 0 for the minimum, 1 for the maximum."""
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    ranks = pd.Series(values).rank(method="min").to_numpy()
    return (ranks - 1.0) / (n - 1.0)


def code_transfers(
    batches: Iterable[pa.RecordBatch | pa.Table], accounts: pd.Series
) -> DayTransfers:
    """The day's transfers coded to rows of the node table (``accounts``, sorted as stored).

    A transfer whose sender or receiver is not a node (the graph left it out, e.g. below its
    minimum amount) is dropped, so the codes always index the node table.
    """
    value_set = pa.array(accounts.to_numpy(dtype=object), type=pa.large_string())
    senders, receivers, amounts, times = [], [], [], []
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        # One lookup for both columns: each call hashes the 2.2M node ids of a 10M day again
        # (0.5 s), so two calls per batch cost three extra builds a day.
        both = pa.chunked_array(
            [*_chunks(batch.column("sender")), *_chunks(batch.column("receiver"))],
            type=pa.large_string(),
        )
        codes = pc.index_in(both, value_set=value_set).combine_chunks()
        sender, receiver = codes.slice(0, n), codes.slice(n)
        known = pc.and_(pc.is_valid(sender), pc.is_valid(receiver))
        micros = pc.cast(batch.column("timestamp"), pa.timestamp("us", tz="UTC"), safe=False)
        senders.append(pc.filter(sender, known).to_numpy(zero_copy_only=False))
        receivers.append(pc.filter(receiver, known).to_numpy(zero_copy_only=False))
        amounts.append(pc.filter(batch.column("amount"), known).to_numpy(zero_copy_only=False))
        times.append(
            pc.filter(pc.cast(micros, pa.int64()), known).to_numpy(zero_copy_only=False)
        )
    if not senders:
        empty = np.zeros(0, dtype=np.int64)
        return DayTransfers(empty, empty, np.zeros(0), empty, len(accounts))
    return DayTransfers.from_arrays(
        np.concatenate(senders),
        np.concatenate(receivers),
        np.concatenate(amounts),
        np.concatenate(times),
        len(accounts),
    )


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return [chunk.cast(pa.large_string()) for chunk in chunks]


def transfers_of_frame(transactions: pd.DataFrame, accounts: pd.Series) -> DayTransfers:
    """`code_transfers` for a frame of one day's valid transfers (tests, evaluation)."""
    columns = list(GRAPH_INPUT_COLUMNS)
    table = pa.Table.from_pandas(transactions.loc[:, columns], preserve_index=False)
    return code_transfers([table], accounts)


def _top_share(accounts: np.ndarray, amounts: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The largest single counterparty's share of each account's ``total`` (0 without money)."""
    n = len(total)
    top = np.zeros(n)
    # An unbuffered maximum per account: linear, where sorting 9M pairs took seconds (10M day).
    np.maximum.at(top, accounts, amounts)
    return np.divide(top, total, out=np.zeros(n), where=total > 0)


def reverse_exists(senders: np.ndarray, receivers: np.ndarray, n: int) -> np.ndarray:
    """For each distinct directed pair ``s→r``, whether ``r→s`` is a pair too (``s→s`` is).

    One sort and a binary search, about twice as fast as ``np.isin`` on the 9M pairs of a 10M
    day (benchmarks/daily_pipeline.py).
    """
    forward = senders * max(n, 1) + receivers
    backward = np.sort(receivers * max(n, 1) + senders)
    if len(backward) == 0:
        return np.zeros(0, dtype=bool)
    at = np.minimum(np.searchsorted(backward, forward), len(backward) - 1)
    return backward[at] == forward


def shape_features(
    nodes: pd.DataFrame, edges: pd.DataFrame, both_ways: np.ndarray | None = None
) -> pd.DataFrame:
    """`SHAPE_FEATURE_COLUMNS` per account of ``nodes``, from the collapsed graph.

    - ``in_degree``/``out_degree``: distinct payers and payees; ``sent_count``/``received_count``:
      transfers sent and received;
    - ``in_amount_pct``/``out_amount_pct``: the day's percentile of money in and out;
    - ``flow_balance``: min(in, out) / max(in, out), 1 for an account passing on all it got;
    - ``net_flow``: (in − out) / (in + out), +1 for a pure collector, −1 for a pure payer;
    - ``reciprocal_share``: share of counterparties the account both paid and was paid by
      (friends and businesses trade both ways; a relay's payers are not its payees);
    - ``top_payer_share``/``top_payee_share``: the largest single payer's share of the money in
      (and payee's of the money out): a mule fed by one source against a shop paid by many.

    ``both_ways`` is `reverse_exists` of the edges, when the caller has it already.
    """
    n = len(nodes)
    senders = edges["sender_node"].to_numpy(dtype=np.int64)
    receivers = edges["receiver_node"].to_numpy(dtype=np.int64)
    amounts = edges["amount_total"].to_numpy(dtype=np.float64)
    counts = edges["tx_count"].to_numpy(dtype=np.float64)
    in_amount = nodes["in_amount"].to_numpy(dtype=np.float64)
    out_amount = nodes["out_amount"].to_numpy(dtype=np.float64)
    in_degree = nodes["in_degree"].to_numpy(dtype=np.float64)
    out_degree = nodes["out_degree"].to_numpy(dtype=np.float64)

    larger = np.maximum(in_amount, out_amount)
    total = in_amount + out_amount
    if both_ways is None:
        both_ways = reverse_exists(senders, receivers, n)
    reciprocal = np.bincount(senders[both_ways], minlength=n)
    counterparties = in_degree + out_degree - reciprocal
    return pd.DataFrame(
        {
            "in_degree": in_degree,
            "out_degree": out_degree,
            "sent_count": np.bincount(senders, weights=counts, minlength=n),
            "received_count": np.bincount(receivers, weights=counts, minlength=n),
            "in_amount_pct": percentile(in_amount),
            "out_amount_pct": percentile(out_amount),
            "flow_balance": np.divide(
                np.minimum(in_amount, out_amount), larger, out=np.zeros(n), where=larger > 0
            ),
            "net_flow": np.divide(
                in_amount - out_amount, total, out=np.zeros(n), where=total > 0
            ),
            "reciprocal_share": np.divide(
                reciprocal, counterparties, out=np.zeros(n), where=counterparties > 0
            ),
            "top_payer_share": _top_share(receivers, amounts, in_amount),
            "top_payee_share": _top_share(senders, amounts, out_amount),
        }
    )


def day_features(
    nodes: pd.DataFrame, edges: pd.DataFrame, transfers: DayTransfers
) -> AccountFeatures:
    """The day's `AccountFeatures`: every feature per account, its activity and its pairs."""
    day = str(nodes[PARTITION_COLUMN].iloc[0]) if len(nodes) else ""
    keys = account_keys(nodes["account"])
    senders = edges["sender_node"].to_numpy(dtype=np.int64)
    receivers = edges["receiver_node"].to_numpy(dtype=np.int64)
    both_ways = reverse_exists(senders, receivers, len(nodes))
    shape = shape_features(nodes, edges, both_ways)
    timing = temporal_features(transfers)
    accounts = pd.concat(
        [
            pd.DataFrame(
                {
                    PARTITION_COLUMN: pd.Series(day, index=range(len(nodes)), dtype="str"),
                    "account": nodes["account"].to_numpy(),
                    "account_key": keys,
                }
            ),
            shape.reset_index(drop=True),
            timing.reset_index(drop=True),
        ],
        axis=1,
    )
    activity = pd.DataFrame(
        {
            PARTITION_COLUMN: accounts[PARTITION_COLUMN],
            "account_key": keys,
            "in_amount": nodes["in_amount"].to_numpy(dtype=np.float64),
            "out_amount": nodes["out_amount"].to_numpy(dtype=np.float64),
            "counterparties": (shape["in_degree"] + shape["out_degree"]).to_numpy(np.int64),
            "relayed": timing[RELAY_FEATURE].to_numpy() >= RELAY_DAY_SHARE,
        }
    )
    # Edges are distinct directed pairs: an undirected pair appears twice only when money went
    # both ways, so keeping one direction of those makes the pairs distinct without sorting them.
    once = ~both_ways | (senders <= receivers)
    pairs = pair_keys(keys[senders[once]], keys[receivers[once]])
    return AccountFeatures(
        accounts=accounts,
        activity=activity[list(ACTIVITY_COLUMNS)],
        pairs=pd.DataFrame(
            {
                PARTITION_COLUMN: pd.Series(day, index=range(len(pairs)), dtype="str"),
                "pair_key": pairs,
            }
        )[list(PAIR_COLUMNS)],
    )


#: The temporal feature that says how much of the day's inflow left again within 24 hours.
RELAY_FEATURE = "relay_share_day"
