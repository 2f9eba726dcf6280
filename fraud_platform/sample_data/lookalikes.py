"""Legitimate look-alikes of laundering among people: exchanges, bill splits, one-off windfalls.

Exchanges and cash-out points take deposits from many people (some just under 10,000) and pay
out to others; friends splitting bills pay each other small amounts in short cycles; someone who
sells a car or inherits passes a large part on within a day or two. Each is a known false-positive
shape of anti-money-laundering monitoring, labelled as legitimate in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraud_platform.sample_data.sampling import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    Communities,
    Transfers,
    TruthRows,
    Weights,
    freeze,
    log_uniform_ms,
    money_cents,
    receivers_anywhere,
    rhythm_ms,
    split_shares,
    under_threshold_cents,
)
from fraud_platform.sample_data.worlds import ALL_TYPOLOGIES

#: A one-off windfall is passed on within this many days of arriving.
ONE_OFF_SPAN_DAYS = 2
_MAX_GROUP = 5


# --------------------------------------------------------------------------------------------
# Exchanges and cash-out points
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchanges:
    accounts: np.ndarray
    pick: Weights  # exchange popularity
    deposits: int  # a day
    payouts: int  # a day


def build_exchanges(accounts: np.ndarray, daily: int) -> Exchanges:
    deposits = max(1, round(0.6 * daily))
    exchanges = Exchanges(
        accounts,
        Weights.of(1.0 / np.arange(1, len(accounts) + 1) ** 0.6),
        deposits,
        max(1, daily - deposits),
    )
    freeze(exchanges.accounts)
    return exchanges


def exchange_count(daily: int) -> int:
    return max(1, round(daily / 2_000))


def exchange_flows(
    rng: np.random.Generator,
    exchanges: Exchanges,
    depositors: np.ndarray,
    receive: Weights,
    scale: float,
    structuring_share: float,
) -> tuple[Transfers, list[TruthRows]]:
    """Deposits from many people, some just under 10,000; payouts to others of most of it."""
    n = len(exchanges.accounts)
    which = exchanges.pick.draw(rng, len(depositors))
    cents = money_cents(rng, len(depositors), 200.0 * scale, 1.0, 0.3)
    structured = np.flatnonzero(rng.random(len(depositors)) < structuring_share)
    cents[structured] = under_threshold_cents(rng, len(structured))
    taken = np.bincount(which, weights=cents, minlength=n)

    out = exchanges.pick.draw(rng, exchanges.payouts)
    out = out[taken[out] > 0]
    paid = money_cents(rng, len(out), 250.0 * scale, 1.0, 0.2).astype(np.float64)
    drawn = np.bincount(out, weights=paid, minlength=n)
    target = taken * rng.uniform(0.8, 1.0, n)
    factor = np.divide(target, drawn, out=np.zeros(n), where=drawn > 0)
    paid = np.maximum(np.floor(paid * factor[out]), 100).astype(np.int64)
    flows = Transfers.concat(
        [
            Transfers(depositors, exchanges.accounts[which], cents, rhythm_ms(rng, len(which))),
            Transfers(
                exchanges.accounts[out],
                receive.draw(rng, len(out)),
                paid,
                rhythm_ms(rng, len(out)),
            ),
        ]
    )
    seen = exchanges.accounts[np.unique(which)]
    return flows, [TruthRows.of(seen, ALL_TYPOLOGIES.index("exchange"), "hub")]


# --------------------------------------------------------------------------------------------
# Friends splitting bills
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillSplits:
    members: np.ndarray  # (groups, 5) accounts, -1 past a group's size
    size: np.ndarray  # 3-5 per group
    events: int  # a day


def build_bill_splits(
    rng: np.random.Generator,
    people: np.ndarray,
    communities: Communities,
    receive: Weights,
    daily: int,
) -> BillSplits:
    """Groups of 3-5 friends, mostly from one local community."""
    events = max(1, round(daily / 3.6))
    groups = max(4, 8 * events)
    members = np.empty((groups, _MAX_GROUP), dtype=np.int64)
    members[:, 0] = rng.choice(people, size=groups)
    for column in range(1, _MAX_GROUP):
        members[:, column] = communities.receivers(
            rng, communities.of_account[members[:, 0]], receive
        )
        clash = (members[:, column : column + 1] == members[:, :column]).any(axis=1)
        while clash.any():
            members[clash, column] = receive.draw(rng, int(clash.sum()))
            clash = (members[:, column : column + 1] == members[:, :column]).any(axis=1)
    size = rng.integers(3, _MAX_GROUP + 1, groups)
    members[np.arange(_MAX_GROUP)[None, :] >= size[:, None]] = -1
    splits = BillSplits(members, size, events)
    freeze(splits.members, splits.size)
    return splits


def bill_split_flows(
    rng: np.random.Generator, splits: BillSplits, receive: Weights, scale: float
) -> tuple[Transfers, list[TruthRows]]:
    """One payer and the others paying back a share, or a small A→B→C→A settling-up cycle."""
    groups = len(splits.size)
    chosen = rng.choice(groups, size=splits.events, replace=splits.events > groups)
    cycle = rng.random(len(chosen)) < 0.3
    column = np.arange(_MAX_GROUP)[None, :]

    # Splits: the payer pays the bill, each other member pays back a whole-unit share.
    split = chosen[~cycle]
    size = splits.size[split]
    payer_slot = rng.integers(0, size)
    payer = splits.members[split, payer_slot]
    bill = money_cents(rng, len(split), 80.0 * scale, 0.6, 0.0)
    start = rng.integers(11 * MS_PER_HOUR, 20 * MS_PER_HOUR, len(split))
    share = np.ceil(bill / size / 100).astype(np.int64) * 100
    back = (column < size[:, None]) & (column != payer_slot[:, None])
    event, slot = np.nonzero(back)
    room = MS_PER_DAY - 1 - start[event]
    paid_back = Transfers(
        splits.members[split[event], slot],
        payer[event],
        share[event],
        start[event] + (rng.random(len(event)) * 0.95 * room).astype(np.int64) + MS_PER_MINUTE,
    )
    bills = Transfers(payer, receivers_anywhere(rng, receive, payer), bill, start)

    # Cycles: each member pays the next a similar small amount, a few minutes to hours apart.
    ring = chosen[cycle]
    size = splits.size[ring]
    event, slot = np.nonzero(column < size[:, None])
    base = money_cents(rng, len(ring), 40.0 * scale, 0.6, 0.3)
    amount = np.round(base[event] * rng.uniform(0.9, 1.1, len(event))).astype(np.int64)
    gaps = rng.integers(10 * MS_PER_MINUTE, 2 * MS_PER_HOUR, len(event))
    first = np.cumsum(size) - size  # index of each event's first hop in ``event`` order
    elapsed = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first] - gaps[first], size)
    begin = rng.integers(9 * MS_PER_HOUR, 13 * MS_PER_HOUR, len(ring))
    settling = Transfers(
        splits.members[ring[event], slot],
        splits.members[ring[event], (slot + 1) % size[event]],
        np.maximum(amount, 100),
        begin[event] + elapsed,
    )
    flows = Transfers.concat([bills, paid_back, settling])
    involved = np.unique(np.concatenate([payer, paid_back.sender, settling.sender]))
    return flows, [TruthRows.of(involved, ALL_TYPOLOGIES.index("bill_split"), "member")]


# --------------------------------------------------------------------------------------------
# One-off windfalls passed on
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneOffs:
    """The windfalls that arrive on one day, with what they become over the next days."""

    transfers: Transfers  # ms counted from the arrival day's midnight
    recipient: np.ndarray  # per transfer: the account that received the windfall


def one_offs_started(
    rng: np.random.Generator,
    people: np.ndarray,
    send: Weights,
    receive: Weights,
    events: int,
    scale: float,
) -> OneOffs:
    """A car sale or an inheritance arrives; 50-90% of it leaves in 1-3 payments within 2 days."""
    recipient = rng.choice(people, size=events)
    payer = send.draw(rng, events)
    payer = np.where(payer == recipient, receivers_anywhere(rng, receive, recipient), payer)
    amount = money_cents(rng, events, 9_000.0 * scale, 0.7, 0.6)
    start = rhythm_ms(rng, events)

    count = rng.integers(1, 4, events)
    rows = np.repeat(np.arange(events), count)
    passed = amount * rng.uniform(0.5, 0.9, events)
    onward = np.floor(passed[rows] * split_shares(rng, rows, events) / 100).astype(np.int64) * 100
    delay = log_uniform_ms(rng, len(rows), 1 * MS_PER_HOUR, 40 * MS_PER_HOUR)
    transfers = Transfers.concat(
        [
            Transfers(payer, recipient, amount, start),
            Transfers(
                recipient[rows],
                receivers_anywhere(rng, receive, recipient[rows]),
                np.maximum(onward, 100),
                start[rows] + delay,
            ),
        ]
    )
    started = OneOffs(transfers, np.concatenate([recipient, recipient[rows]]))
    freeze(*(getattr(started.transfers, name) for name in ("sender", "receiver", "cents", "ms")))
    freeze(started.recipient)
    return started


def one_off_events(daily: int) -> int:
    return max(1, round(daily / 3))


def one_offs_on(started: list[tuple[int, OneOffs]]) -> tuple[Transfers, list[TruthRows]]:
    """The transfers of windfalls that arrived ``days_ago`` days before, falling on today."""
    kept: list[Transfers] = []
    recipients: list[np.ndarray] = []
    for days_ago, one_offs in started:
        ms = one_offs.transfers.ms - days_ago * MS_PER_DAY
        today = (ms >= 0) & (ms < MS_PER_DAY)
        part = one_offs.transfers.where(today)
        part.ms = ms[today]
        kept.append(part)
        recipients.append(one_offs.recipient[today])
    involved = np.unique(np.concatenate(recipients)) if recipients else np.zeros(0, np.int64)
    return Transfers.concat(kept), [
        TruthRows.of(involved, ALL_TYPOLOGIES.index("one_off"), "recipient")
    ]
