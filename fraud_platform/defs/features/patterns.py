"""Path patterns over a day's transfers, and the per-account index they are read from.

Laundering moves one sum through several accounts in a short time: A→B→C hops minutes to hours
apart with the amount nearly kept, S→{m1..mk}→T (scatter-gather), many→m→many (gather-scatter),
closed loops back to the origin (temporal cycles), one inflow split into pieces under a threshold.
This module finds those shapes in time order; :mod:`fraud_platform.defs.features.temporal` turns
them into columns and documents each one.

Everything is vectorised over transfers. Work that is local to an account runs over blocks of
accounts (about :data:`BLOCK_TRANSFERS` transfers each) so temporaries stay small and two blocks
run at once. The expansions are bounded so that a hub never pairs its thousands of payers with its
payees:

* a middle account (the ``b`` of ``a→b→c``) must have at most ``hub_degree`` counterparties;
* each inflow is paired with at most :data:`PAIR_SUCCESSORS` outflows (the earliest after it
  within :data:`CHAIN_WINDOW_HOURS`), and each middle account with at most
  :data:`PAIR_CAP_PER_ACCOUNT` pairs (its earliest inflows first);
* cycles run only through non-hub accounts of one strongly connected component of the non-hub
  graph; each partial path follows at most :data:`CYCLE_SUCCESSORS` next hops, and at most
  :data:`CYCLE_STATES_PER_ORIGIN` partial paths per origin and hop count are kept.

So the work grows with the transfers between ordinary accounts, never with the square of a hub's
degree.

Why one module of this length: the index and the pattern finders below share its block layout and
caps; apart, each would need the other to be read.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from fraud_platform.defs.features.transfers import MICROS_PER_HOUR, DayTransfers

#: A hop of a chain, a leg of scatter-gather/gather-scatter and a hop of a cycle follow the
#: previous one within this many hours: laundering hops are minutes to hours apart.
CHAIN_WINDOW_HOURS = 6
#: Windows (hours) of the fan-in/fan-out columns.
FAN_WINDOWS_HOURS = (1, CHAIN_WINDOW_HOURS)
#: Gap (minutes) recorded where a pair has no previous/next transfer, or a longer gap.
NO_GAP = np.iinfo(np.uint16).max
#: The second hop of a chain carries between these fractions of the first hop's amount: a relay
#: keeps the sum minus a fee; a payment that merely follows another in time does not.
CHAIN_AMOUNT_BAND = (0.5, 1.05)
#: Outflows an inflow is paired with (the earliest within the window), and pairs per middle
#: account: bounds the 2-hop expansion of a busy ordinary account.
PAIR_SUCCESSORS = 16
PAIR_CAP_PER_ACCOUNT = 512
#: A piece of a split is between these fractions of the inflow it came from.
SPLIT_PIECE_BAND = (0.1, 0.55)
#: Scatter-gather and gather-scatter need at least this many distinct intermediaries, sources or
#: targets (AMLworld's smallest fan patterns).
MIN_FAN_WIDTH = 3
#: Gather-scatter middle: share of its inflow passed on within the chain window.
GATHER_SCATTER_MIN_RELAY = 0.5
#: Longest temporal cycle searched, next hops followed per partial path, and partial paths kept
#: per origin and hop count.
CYCLE_MAX_HOPS = 6
CYCLE_SUCCESSORS = 8
CYCLE_STATES_PER_ORIGIN = 64
#: Start hops searched at once: bounds the memory of the partial paths.
CYCLE_START_CHUNK = 1 << 19
#: Transfers (in + out) per block of accounts. Measured on 10M transfers: whole-day temporaries
#: (80 MB each) spent more time in first-touch page faults than in arithmetic (27 s in all);
#: blocks of ~0.5M reuse warm memory and let two blocks run on two cores.
BLOCK_TRANSFERS = 1 << 19


def run_both(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run two independent calls at once: numpy releases the GIL in sorts and searches.

    Measured on 10M transfers: two stable argsorts take 2.8 s one after the other, 1.4 s at once.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(second)
        return first(), later.result()


def group_starts(sorted_codes: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a run of equal values begins in ``sorted_codes``."""
    starts = np.empty(len(sorted_codes), dtype=bool)
    if len(sorted_codes):
        starts[0] = True
        np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=starts[1:])
    return starts


def rank_in_group(starts: np.ndarray) -> np.ndarray:
    """Position of each element within its run (runs marked by ``starts``)."""
    pos = np.arange(len(starts))
    return pos - np.maximum.accumulate(np.where(starts, pos, 0))


def expand_ranges(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``[lo, lo+count)``: the owning row of each element, and the element."""
    row = np.repeat(np.arange(len(count)), count)
    offset = np.cumsum(count) - count
    return row, lo[row] + (np.arange(len(row)) - offset[row])


def stable_order(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable argsort of codes in ``0..size-1`` (int32) and its CSR pointers: a counting sort.

    scipy's COO→CSR conversion is a counting sort in C; with each element's position as its
    column, ties keep their input order (and the columns are already canonical). Measured on
    10M transfers: 0.2-0.4 s, against 1.3-1.4 s for ``np.argsort(kind="stable")``.
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(size + 1, dtype=np.int64)
    csr = sp.coo_array(
        (np.ones(n, dtype=np.int8), (codes.astype(np.int32), np.arange(n, dtype=np.int32))),
        shape=(size, n),
    ).tocsr()
    return csr.indices.astype(np.int32, copy=False), csr.indptr.astype(np.int64)


@dataclass(frozen=True)
class TransferIndex:
    """A day's transfers (self-transfers dropped) sorted per receiver and per sender.

    Times are ticks since the first transfer (a microsecond, or coarser where an
    ``account * span`` key would overflow); ``hour`` is ticks per hour. In *in-order* (by
    receiver, then time) ``key_in`` is ``receiver * span + tick``, ``in_peer`` the sender and
    ``in_amount`` the amount; *out-order* (by sender, then time) likewise. Both key arrays are
    sorted, so one sorted search answers "inflows of this account before that time" for many
    outflows at once, and an account's transfers are one slice (``in_ptr``/``out_ptr``).
    """

    accounts: int
    hour: int
    span: int
    sender: np.ndarray
    receiver: np.ndarray
    in_order: np.ndarray
    out_order: np.ndarray
    in_ptr: np.ndarray
    out_ptr: np.ndarray
    key_in: np.ndarray
    key_out: np.ndarray
    in_peer: np.ndarray
    out_peer: np.ndarray
    in_amount: np.ndarray
    out_amount: np.ndarray

    @property
    def n(self) -> int:
        return len(self.sender)


@dataclass(frozen=True)
class PairIndex:
    """Who deals with whom: pairs (sender, receiver) and distinct counterparties.

    ``pid_in``/``pid_out`` give each transfer's pair in in-order / out-order; ``gaps_in``/
    ``gaps_out`` the whole minutes (rounded up, capped at :data:`NO_GAP`) since the previous and
    until the next transfer of the same pair (uint16: 2 bytes instead of 8 per transfer and
    direction). ``nbr_a < nbr_b`` are the distinct undirected counterparty pairs, sorted by
    ``nbr_a``; ``degree`` counts them.
    """

    pid_in: np.ndarray
    pid_out: np.ndarray
    pair_sender: np.ndarray
    pair_receiver: np.ndarray
    gaps_in: tuple[np.ndarray, np.ndarray]
    gaps_out: tuple[np.ndarray, np.ndarray]
    degree: np.ndarray
    nbr_a: np.ndarray
    nbr_b: np.ndarray


def build_index(transfers: DayTransfers) -> TransferIndex:
    """Sort the day per receiver and per sender (two counting sorts at once)."""
    accounts = transfers.accounts
    sender, receiver = transfers.sender, transfers.receiver
    amount, time = transfers.amount, transfers.time
    loops = sender == receiver
    if loops.any():
        keep = ~loops
        sender, receiver, amount, time = sender[keep], receiver[keep], amount[keep], time[keep]
    n = len(sender)
    tick = time - time[0] if n else np.zeros(0, dtype=np.int64)
    unit = 1
    span_us = int(tick[-1]) + 1 if n else 1
    # Keys are account * span + tick, with windows up to two days added: keep them in int64.
    while max(accounts, 1) * ((span_us + 2 * 24 * MICROS_PER_HOUR) // unit + 2) >= 2**62:
        unit *= 1000
    if unit > 1:
        tick //= unit
    hour = MICROS_PER_HOUR // unit
    span = int(tick[-1]) + 1 if n else 1

    def side(codes: np.ndarray, peers: np.ndarray) -> tuple[np.ndarray, ...]:
        order, ptr = stable_order(codes, accounts)
        key = codes[order]
        key *= span
        key += tick[order]
        return order, key, peers[order].astype(np.int32), amount[order], ptr

    (in_order, key_in, in_peer, in_amount, in_ptr), out = run_both(
        lambda: side(receiver, sender), lambda: side(sender, receiver)
    )
    out_order, key_out, out_peer, out_amount, out_ptr = out
    return TransferIndex(
        accounts=accounts,
        hour=hour,
        span=span,
        sender=sender,
        receiver=receiver,
        in_order=in_order,
        out_order=out_order,
        in_ptr=in_ptr,
        out_ptr=out_ptr,
        key_in=key_in,
        key_out=key_out,
        in_peer=in_peer,
        out_peer=out_peer,
        in_amount=in_amount,
        out_amount=out_amount,
    )


def build_pairs(ix: TransferIndex) -> PairIndex:
    """Pairs, the gaps between a pair's transfers, and distinct counterparties."""
    n, accounts, span = ix.n, ix.accounts, ix.span
    minute = max(ix.hour // 60, 1)
    # (sender, receiver, time) order: in-order positions sorted stably by sender.
    pos, _ = stable_order(ix.in_peer, accounts)
    ps = ix.in_peer[pos]
    key = ix.key_in[pos]
    pr = key // span
    key -= pr * span  # now the tick
    new = group_starts(ps)
    new[1:] |= pr[1:] != pr[:-1]
    pid_sorted = (np.cumsum(new) - 1).astype(np.int32)
    pair_sender, pair_receiver = ps[new], pr[new].astype(np.int32)
    del ps, pr
    pid_in = np.empty(n, dtype=np.int32)
    pid_in[pos] = pid_sorted
    del pid_sorted
    by_tid = np.empty(n, dtype=np.int32)
    by_tid[ix.in_order] = pid_in
    pid_out = by_tid[ix.out_order]
    del by_tid
    before = np.full(n, NO_GAP, dtype=np.uint16)
    if n > 1:
        gap = -((key[:-1] - key[1:]) // minute)  # whole minutes, rounded up
        np.minimum(gap, NO_GAP, out=gap)
        before[1:] = np.where(new[1:], NO_GAP, gap)
        del gap
    del key, new
    after = np.empty(n, dtype=np.uint16)
    if n:
        after[:-1] = before[1:]
        after[-1] = NO_GAP
    gaps_in, gaps_out = [], []
    by_tid = np.empty(n, dtype=np.uint16)
    for gap in (before, after):
        in_order_gap = np.empty(n, dtype=np.uint16)
        in_order_gap[pos] = gap
        by_tid[ix.in_order] = in_order_gap
        gaps_in.append(in_order_gap)
        gaps_out.append(by_tid[ix.out_order])
    del pos, before, after, by_tid

    # Distinct counterparties in either direction: COO→CSR sums duplicate (low, high) pairs.
    low = np.minimum(pair_sender, pair_receiver)
    high = np.maximum(pair_sender, pair_receiver)
    undirected = sp.coo_array(
        (np.ones(len(low), dtype=bool), (low, high)), shape=(accounts, accounts)
    ).tocsr()
    del low, high
    undirected.sum_duplicates()
    nbr_b = undirected.indices.astype(np.int32, copy=False)
    row_size = np.diff(undirected.indptr)
    nbr_a = np.repeat(np.arange(accounts, dtype=np.int32), row_size)
    del undirected
    degree = row_size + np.bincount(nbr_b, minlength=accounts)
    return PairIndex(
        pid_in=pid_in,
        pid_out=pid_out,
        pair_sender=pair_sender,
        pair_receiver=pair_receiver,
        gaps_in=(gaps_in[0], gaps_in[1]),
        gaps_out=(gaps_out[0], gaps_out[1]),
        degree=degree.astype(np.int64),
        nbr_a=nbr_a,
        nbr_b=nbr_b,
    )


@dataclass(frozen=True)
class Block:
    """Accounts ``first..last-1`` with their inflows and outflows, each in time order.

    ``in_loc``/``out_loc`` are account codes minus ``first``; ``in_pos``/``out_pos`` the slices
    of the index's in-order / out-order (the other arrays are those slices); ``in_ptr``/
    ``out_ptr`` local CSR pointers.
    """

    first: int
    last: int
    in_pos: slice
    out_pos: slice
    in_loc: np.ndarray
    out_loc: np.ndarray
    in_key: np.ndarray
    out_key: np.ndarray
    in_tick: np.ndarray
    out_tick: np.ndarray
    in_amount: np.ndarray
    out_amount: np.ndarray
    in_peer: np.ndarray
    out_peer: np.ndarray
    in_ptr: np.ndarray
    out_ptr: np.ndarray

    @property
    def size(self) -> int:
        return self.last - self.first

    @property
    def empty(self) -> bool:
        return len(self.in_key) + len(self.out_key) == 0


def account_blocks(ix: TransferIndex, transfers: int = BLOCK_TRANSFERS) -> list[tuple[int, int]]:
    """Consecutive account ranges with about ``transfers`` inflows + outflows each."""
    if ix.accounts == 0:
        return []
    load = ix.in_ptr[1:] + ix.out_ptr[1:]
    cuts = np.searchsorted(load, np.arange(transfers, int(load[-1]), transfers), side="left")
    bounds = np.unique(np.concatenate([[0], cuts + 1, [ix.accounts]]))
    bounds = bounds[bounds <= ix.accounts]
    return [(int(a), int(b)) for a, b in pairwise(bounds)]


def make_block(ix: TransferIndex, first: int, last: int) -> Block:
    in_pos = slice(int(ix.in_ptr[first]), int(ix.in_ptr[last]))
    out_pos = slice(int(ix.out_ptr[first]), int(ix.out_ptr[last]))
    in_ptr = ix.in_ptr[first : last + 1] - ix.in_ptr[first]
    out_ptr = ix.out_ptr[first : last + 1] - ix.out_ptr[first]
    local = np.arange(last - first)
    in_loc = np.repeat(local, np.diff(in_ptr))
    out_loc = np.repeat(local, np.diff(out_ptr))
    in_key, out_key = ix.key_in[in_pos], ix.key_out[out_pos]
    return Block(
        first=first,
        last=last,
        in_pos=in_pos,
        out_pos=out_pos,
        in_loc=in_loc,
        out_loc=out_loc,
        in_key=in_key,
        out_key=out_key,
        in_tick=in_key - (in_loc + first) * ix.span,
        out_tick=out_key - (out_loc + first) * ix.span,
        in_amount=ix.in_amount[in_pos],
        out_amount=ix.out_amount[out_pos],
        in_peer=ix.in_peer[in_pos],
        out_peer=ix.out_peer[out_pos],
        in_ptr=in_ptr,
        out_ptr=out_ptr,
    )


def _distinct(pair_ids: np.ndarray, owner: np.ndarray, claim: np.ndarray, size: int) -> np.ndarray:
    """Distinct pair ids per owner (the owner is a function of the pair), without a sort.

    Whichever occurrence of an id writes ``claim`` last, exactly that one reads its own
    position back. ``claim`` is scratch over all pairs; blocks running at once touch disjoint
    pairs (those with their receiver, or their sender, in the block).
    """
    order = np.arange(len(pair_ids))
    claim[pair_ids] = order
    first = claim[pair_ids] == order
    return np.bincount(owner[first], minlength=size)


@dataclass
class ChainParts:
    """Per-block chain evidence that lands on accounts outside the block."""

    source: np.ndarray  # a of each chain
    middle: np.ndarray  # b of each chain (global code)
    sink: np.ndarray  # c of each chain
    gs_source: np.ndarray  # a of each pair through a gather-scatter middle
    gs_target: np.ndarray
    gs_width: np.ndarray


def chain_block(
    ix: TransferIndex,
    px: PairIndex,
    blk: Block,
    hub: np.ndarray,
    relay_window: np.ndarray,
    claims: tuple[np.ndarray, np.ndarray],
    cols: dict[str, np.ndarray],
) -> ChainParts:
    """2-hop chains, splits and gather-scatter middles for the block's middle accounts.

    A *pair* is an inflow ``a→b`` at ``t1`` and an outflow ``b→c`` at ``t1 < t2 <= t1 +
    CHAIN_WINDOW_HOURS`` with ``c != a`` and ``b`` not a hub; a *chain* is a pair whose second
    amount is within :data:`CHAIN_AMOUNT_BAND` of the first. ``relay_window`` is the block's
    share of inflow passed on within the window. Writes the block's slice of ``cols``.
    """
    m, first = blk.size, blk.first
    rows = slice(first, blk.last)
    window = CHAIN_WINDOW_HOURS * ix.hour
    middle_ok = ~hub[rows] & (np.diff(blk.out_ptr) > 0)
    sel = np.flatnonzero(middle_ok[blk.in_loc])  # inflows to possible middles
    b_sel = blk.in_loc[sel]
    t_sel = blk.in_tick[sel]
    lo = np.searchsorted(blk.out_key, blk.in_key[sel], side="right")
    reach = (b_sel + first) * ix.span + np.minimum(t_sel + window, ix.span - 1)
    hi = np.searchsorted(blk.out_key, reach, side="right")
    count = np.minimum(hi - lo, PAIR_SUCCESSORS)
    # At most PAIR_CAP_PER_ACCOUNT pairs per middle account, its earliest inflows first.
    before = np.cumsum(count) - count
    before -= np.maximum.accumulate(np.where(group_starts(b_sel), before, 0))
    count = np.clip(np.minimum(count, PAIR_CAP_PER_ACCOUNT - before), 0, None)
    row, j = expand_ranges(lo, count)  # row: inflow (index into sel); j: outflow in block
    pid_sel = px.pid_in[blk.in_pos][sel]
    pid_out = px.pid_out[blk.out_pos]
    a = blk.in_peer[sel][row]
    b = b_sel[row]
    c = blk.out_peer[j]
    amount_sel = blk.in_amount[sel]
    amount_out = blk.out_amount[j]
    ratio = amount_out / amount_sel[row]
    ends_differ = c != a
    chain = ends_differ & (ratio >= CHAIN_AMOUNT_BAND[0]) & (ratio <= CHAIN_AMOUNT_BAND[1])
    claim_in, claim_out = claims

    cols["chain_middle_count"][rows] = np.bincount(b[chain], minlength=m)
    starts = np.zeros(len(sel), dtype=bool)
    starts[row[chain]] = True
    in_count = np.diff(blk.in_ptr)
    starting = np.bincount(b_sel[starts], minlength=m)
    cols["chain_middle_share"][rows] = np.divide(
        starting, in_count, out=np.zeros(m), where=in_count > 0
    )
    cols["chain_distinct_sources"][rows] = _distinct(pid_sel[starts], b_sel[starts], claim_in, m)
    cols["chain_distinct_sinks"][rows] = _distinct(pid_out[j[chain]], b[chain], claim_out, m)

    # Split: pieces of one inflow, each a fraction of it, together most of it.
    piece = ends_differ & (ratio >= SPLIT_PIECE_BAND[0]) & (ratio <= SPLIT_PIECE_BAND[1])
    pieces = np.bincount(row[piece], minlength=len(sel))
    piece_sum = np.bincount(row[piece], weights=amount_out[piece], minlength=len(sel))
    split = (pieces >= 2) & (piece_sum >= 0.5 * amount_sel) & (piece_sum <= 1.05 * amount_sel)
    best = np.zeros(m, dtype=np.int64)
    np.maximum.at(best, b_sel[split], pieces[split])
    cols["split_pieces"][rows] = best

    # Gather-scatter middle: >= 3 distinct sources and targets among its pairs, and passes on
    # most of what it received within the window.
    paired = row[ends_differ]  # non-decreasing: rows expand in order
    paired = paired[group_starts(paired)]
    sources = _distinct(pid_sel[paired], b_sel[paired], claim_in, m)
    targets = _distinct(pid_out[j[ends_differ]], b[ends_differ], claim_out, m)
    width = np.minimum(sources, targets)
    gs = np.where((width >= MIN_FAN_WIDTH) & (relay_window >= GATHER_SCATTER_MIN_RELAY), width, 0)
    cols["gather_scatter_middle"][rows] = gs
    via = ends_differ & (gs[b] > 0)
    return ChainParts(
        source=a[chain],
        middle=b[chain] + first,
        sink=c[chain],
        gs_source=a[via],
        gs_target=c[via],
        gs_width=gs[b[via]],
    )


def scatter_gather(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, accounts: int, cols: dict[str, np.ndarray]
) -> None:
    """S→{m1..mk}→T: chains grouped by (source, sink) with k >= 3 distinct middles."""
    if len(a) < MIN_FAN_WIDTH:
        return
    ends = a * np.int64(accounts) + c
    order = np.argsort(ends, kind="stable")
    ends_sorted = ends[order]
    first = group_starts(ends_sorted)
    size = np.diff(np.append(np.flatnonzero(first), len(ends_sorted)))
    big = np.repeat(size >= MIN_FAN_WIDTH, size)  # chains in groups that could be wide enough
    if not big.any():
        return
    order = order[big]
    group = np.cumsum(first)[big] - 1
    # Distinct middles per group: sort the (few) remaining chains by (group, middle).
    key = np.sort(group * np.int64(accounts) + b[order])
    distinct_groups = key[group_starts(key)] // accounts
    width = np.bincount(distinct_groups, minlength=int(group.max()) + 1)[group]
    wide = width >= MIN_FAN_WIDTH
    rows, w = order[wide], width[wide]
    np.maximum.at(cols["scatter_gather_source"], a[rows], w)
    np.maximum.at(cols["scatter_gather_middle"], b[rows], w)
    np.maximum.at(cols["scatter_gather_target"], c[rows], w)


def temporal_cycles(
    ix: TransferIndex, px: PairIndex, hub: np.ndarray, cols: dict[str, np.ndarray]
) -> None:
    """Temporal cycles of 2..CYCLE_MAX_HOPS hops through non-hub accounts, per account.

    A cycle is ``v0→v1→…→v0`` through distinct accounts, each hop strictly later than the
    previous and at most :data:`CHAIN_WINDOW_HOURS` after it (so within the day). The search
    starts from every eligible transfer and extends partial paths hop by hop, earliest next hops
    first; partial paths stay grouped by origin, so the per-origin cap is a rank, not a sort.
    Writes the shortest cycle found through each account, how many, and the best amount
    conservation (smallest over largest hop amount) among them.
    """
    if ix.n == 0:
        return
    n_acc, span = ix.accounts, ix.span
    length, found = cols["cycle_min_length"], cols["cycle_count"]
    conservation = cols["cycle_conservation"]
    # Non-hub accounts in a strongly connected component (of >1 account) of the non-hub graph.
    ok = ~hub
    keep = ok[px.pair_sender] & ok[px.pair_receiver]
    graph = sp.csr_array(
        (np.ones(int(keep.sum()), dtype=np.int8), (px.pair_sender[keep], px.pair_receiver[keep])),
        shape=(n_acc, n_acc),
    )
    del keep
    _, label = connected_components(graph, directed=True, connection="strong")
    del graph
    component = np.where(ok & (np.bincount(label)[label] > 1), label, -1).astype(np.int32)
    from_c = component[ix.sender]
    candidate = (from_c >= 0) & (from_c == component[ix.receiver])
    del from_c
    c_out = np.flatnonzero(candidate[ix.out_order])  # out-order positions: hops per sender
    c_in = np.flatnonzero(candidate[ix.in_order])  # in-order positions: arrivals per receiver
    if len(c_out) == 0:
        return
    window = CHAIN_WINDOW_HOURS * ix.hour
    hop_key = ix.key_out[c_out]
    arrival = ix.key_in[c_in]
    arrival_tick = arrival % span
    # Next hops of an arrival: candidate outflows of its receiver in (t, t + window].
    lo_in = np.searchsorted(hop_key, arrival, side="right")
    hi_in = np.searchsorted(
        hop_key, arrival + np.minimum(window, span - 1 - arrival_tick), side="right"
    )
    last_in = np.full(n_acc, -1, dtype=np.int64)
    np.maximum.at(last_in, arrival // span, arrival_tick)
    del arrival, arrival_tick
    # Re-index the ranges by hop: each hop is also an arrival (same transfer, other order).
    pos_in = np.empty(ix.n, dtype=np.int32)
    pos_in[ix.in_order[c_in]] = np.arange(len(c_in), dtype=np.int32)
    as_in = pos_in[ix.out_order[c_out]]
    del pos_in
    lo, hi = lo_in[as_in], hi_in[as_in]
    del lo_in, hi_in, as_in
    hop_to = ix.out_peer[c_out]
    hop_amount = ix.out_amount[c_out]
    origin_all = hop_key // span
    hop_tick = hop_key - origin_all * span
    origin_all = origin_all.astype(np.int32)
    del hop_key, c_out, c_in

    succ_lo = lo.astype(np.int32)
    succ_count = np.minimum(hi - lo, CYCLE_SUCCESSORS).astype(np.int32)
    del lo, hi
    shortest = np.full(n_acc, CYCLE_MAX_HOPS + 1, dtype=np.int8)
    # Start from every candidate hop whose origin still receives something later, a chunk of
    # origins at a time (chunks end where an origin ends, so the per-origin cap is unchanged).
    starts = np.flatnonzero(last_in[origin_all] > hop_tick)
    origin_first = np.flatnonzero(group_starts(origin_all[starts]))
    cuts = np.unique(
        origin_first[
            np.searchsorted(origin_first, np.arange(0, len(starts), CYCLE_START_CHUNK)).clip(
                max=len(origin_first) - 1
            )
        ]
    )
    for lo_cut, hi_cut in pairwise([*cuts.tolist(), len(starts)]):
        state = starts[lo_cut:hi_cut]
        origin = origin_all[state]
        path = [hop_to[state]]
        low = high = hop_amount[state]
        for hops in range(1, CYCLE_MAX_HOPS):
            row, nxt = expand_ranges(succ_lo[state], succ_count[state])
            to = hop_to[nxt]
            org = origin[row]
            closes = to == org
            if closes.any():
                r, amt = row[closes], hop_amount[nxt[closes]]
                cons = np.minimum(low[r], amt) / np.maximum(high[r], amt)
                for members in [origin, *path]:
                    m = members[r]
                    np.add.at(found, m, 1)
                    np.maximum.at(conservation, m, cons)
                    np.minimum.at(shortest, m, hops + 1)
            if hops == CYCLE_MAX_HOPS - 1:
                break
            go = ~closes & (last_in[org] > hop_tick[nxt])
            for members in path:
                go &= to != members[row]
            row, nxt, org = row[go], nxt[go], org[go]
            # At most CYCLE_STATES_PER_ORIGIN partial paths per origin (rows stay grouped by
            # origin).
            keep = rank_in_group(group_starts(org)) < CYCLE_STATES_PER_ORIGIN
            row, nxt, org = row[keep], nxt[keep], org[keep]
            if len(nxt) == 0:
                break
            amt = hop_amount[nxt]
            low, high = np.minimum(low[row], amt), np.maximum(high[row], amt)
            path = [members[row] for members in path] + [hop_to[nxt]]
            origin, state = org, nxt
    length[:] = np.where(shortest > CYCLE_MAX_HOPS, 0, shortest)
