"""Planted laundering operations after IBM AMLworld's typologies, spanning one or several days.

An operation is a layered flow: sources put money in, mules pass it on (keeping 0-15% per hop,
splitting and merging), collectors are where it ends. Amounts come from the same distributions
as ordinary payments of the world (a share of them structured just under 10,000 where the world
has that), hops are minutes to more than a day apart, and the accounts are a mix of fresh ones,
long-dormant ones and ordinary ones that also make everyday payments.

Operations starting on day ``s`` are drawn from a generator seeded by ``s`` alone; a day keeps
the transfers of the operations started on it and on the ``MAX_SPAN_DAYS`` days before that fall
on it. ``generate_day`` thereby stays a pure function of (config, day).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np

from fraud_platform.sample_data.sampling import (
    MS_PER_DAY,
    MS_PER_HOUR,
    MS_PER_MINUTE,
    ROLES,
    Transfers,
    TruthRows,
    freeze,
    group_max,
    log_uniform_ms,
    money_cents,
    rhythm_ms,
    split_shares,
    under_threshold_cents,
)
from fraud_platform.sample_data.worlds import ALL_TYPOLOGIES, World

#: An operation's transfers fall on its start day and on up to this many days after it.
MAX_SPAN_DAYS = 3
#: Operations of one start day are numbered below this: ring_id = start ordinal * this + number.
_RING_ID_STRIDE = 100_000
#: Median of a first-leg amount (in the world's units): inside the range of ordinary payments.
_LAUNDER_MEDIAN = 120.0
#: Fresh accounts are set aside in blocks, one block per start day in rotation, so that an
#: account is never used twice within this many days.
_FRESH_DAYS = 28
_SOURCE, _MULE, _COLLECTOR = (ROLES.index(r) for r in ("source", "mule", "collector"))

Links = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Plan:
    """How much laundering a population carries and which accounts it may use."""

    typologies: tuple[str, ...]
    weights: np.ndarray  # relative frequency per typology
    operations_per_day: int
    width: tuple[int, int]  # how many sources/mules a wide operation spans
    fresh: np.ndarray  # never active outside laundering, in blocks of ``fresh_block``
    fresh_block: int
    dormant: np.ndarray  # rarely active otherwise
    camouflage: np.ndarray  # ordinary accounts that also launder
    fallback: np.ndarray  # more ordinary accounts, when the pools run short

    @property
    def fresh_blocks(self) -> int:
        return max(1, len(self.fresh) // max(1, self.fresh_block))


@dataclass(frozen=True)
class PlanSizes:
    operations_per_day: int
    width: tuple[int, int]
    fresh: int
    fresh_block: int
    dormant: int
    camouflage: int


def width_range(transactions_per_day: int) -> tuple[int, int]:
    """How wide an operation gets: grows slowly with the day's volume (3-10 at 20,000)."""
    growth = max(0.5, (transactions_per_day / 20_000) ** 0.3)
    low = max(3, round(3 * growth))
    return low, max(low + 2, round(10 * growth))


def plan_sizes(world: World, transactions_per_day: int, accounts: int) -> PlanSizes:
    """Operations a day and pool sizes for the world's fraud share of active accounts."""
    width = width_range(transactions_per_day)
    typologies = world.present_typologies
    weights = np.array([dict(world.laundering)[t] for t in typologies])
    probe = np.random.default_rng(0)
    sizes = [
        _slots(_shape(probe, typologies[int(i)], width)[0], typologies[int(i)] == "cycle")
        for i in probe.choice(len(typologies), size=400, p=weights / weights.sum())
    ]
    # Multi-day operations list some accounts on two days: count account-days, not accounts.
    per_operation = float(np.mean(sizes)) * (1.0 + 0.6 * world.multi_day_share)
    # About a fifth of the accounts are businesses, fresh or dormant: not active on a given day.
    expected_active = 0.8 * accounts * (1 - np.exp(-2 * transactions_per_day / accounts))
    target = world.fraud_share * expected_active
    operations = max(daily_minimum(len(typologies)), round(target / per_operation))
    if operations >= _RING_ID_STRIDE:
        raise ValueError("too many laundering operations a day for unique ring ids")
    slots = operations * float(np.mean(sizes)) * 1.3
    fresh_need = max(1, int(np.ceil(slots * world.fresh_share)))
    fresh = min(int(0.12 * accounts), fresh_need * _FRESH_DAYS)
    fresh_block = min(fresh_need, max(1, fresh))
    dormant = min(int(0.08 * accounts), int(np.ceil(slots * world.dormant_share * 30)))
    camouflage = max(int(np.ceil(3 * slots)), 20)
    return PlanSizes(operations, width, fresh, fresh_block, dormant, camouflage)


def daily_minimum(typologies: int) -> int:
    """Operations started every day however small the day: three in four typologies, so each
    typology is there on most days without tiny days being mostly laundering."""
    return max(1, int(np.ceil(0.75 * typologies)))


def make_plan(
    world: World, sizes: PlanSizes, fresh: np.ndarray, dormant: np.ndarray, people: np.ndarray
) -> Plan:
    typologies = world.present_typologies
    plan = Plan(
        typologies=typologies,
        weights=np.array([dict(world.laundering)[t] for t in typologies]),
        operations_per_day=sizes.operations_per_day,
        width=sizes.width,
        fresh=fresh,
        fresh_block=sizes.fresh_block,
        dormant=dormant,
        camouflage=people[: sizes.camouflage],
        fallback=people[sizes.camouflage :],
    )
    freeze(plan.weights)
    return plan


# --------------------------------------------------------------------------------------------
# Shapes: layers of account slots and the links between consecutive layers.
# --------------------------------------------------------------------------------------------


def _dense(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(a), b), np.tile(np.arange(b), a)


def _assign(rng: np.random.Generator, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``a`` to one of ``b``, every one of ``b`` reached while a >= b."""
    to = np.concatenate([rng.permutation(b)[: min(a, b)], rng.integers(0, b, max(0, a - b))])
    return np.arange(a), rng.permutation(to)


def _cover(rng: np.random.Generator, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """A random bipartite layer: everyone on both sides linked, some more than once."""
    to_side = _assign(rng, b, a)  # each of b gets one sender
    from_side = _assign(rng, a, b)  # each of a sends at least once
    extra = rng.integers(0, b, a)
    pairs = np.unique(
        np.stack(
            [
                np.concatenate([to_side[1], from_side[0], np.arange(a)]),
                np.concatenate([to_side[0], from_side[1], extra]),
            ]
        ),
        axis=1,
    )
    return pairs[0], pairs[1]


def _shape(
    rng: np.random.Generator, typology: str, width: tuple[int, int]
) -> tuple[list[int], Links]:
    """Layer widths and links of one operation; a cycle's last layer is its first account."""
    w = int(rng.integers(width[0], width[1] + 1))
    few = int(rng.integers(1, 4))
    if typology == "fan_out":
        return [1, w, few], [_dense(1, w), _assign(rng, w, few)]
    if typology == "fan_in":
        collectors = int(rng.integers(1, 3))
        return [w, 1, collectors], [_dense(w, 1), _dense(1, collectors)]
    if typology == "cycle":
        hops = int(rng.integers(3, 8))
        return [1] * (hops + 1), [_dense(1, 1)] * hops
    if typology == "bipartite":
        sources = int(rng.integers(2, max(3, w // 2) + 1))
        return [sources, w], [_cover(rng, sources, w)]
    if typology == "stack":
        sources, first, second = int(rng.integers(2, 5)), max(2, w // 2), max(2, w - w // 2)
        return [sources, first, second, few], [
            _cover(rng, sources, first),
            _cover(rng, first, second),
            _assign(rng, second, few),
        ]
    if typology == "random_chain":
        inner = [2 if rng.random() < 0.3 else 1 for _ in range(int(rng.integers(2, 7)))]
        widths = [1, *inner, 1]
        return widths, [_dense(a, b) for a, b in itertools.pairwise(widths)]
    if typology == "scatter_gather":
        return [1, w, 1], [_dense(1, w), _dense(w, 1)]
    if typology == "gather_scatter":
        collectors = int(rng.integers(2, max(3, w // 2) + 1))
        return [w, 1, collectors], [_dense(w, 1), _dense(1, collectors)]
    raise ValueError(f"unknown laundering typology {typology!r}")


def _slots(widths: list[int], cycle: bool) -> int:
    """Distinct accounts of a shape: a cycle ends on the account it started from."""
    return sum(widths) - (1 if cycle else 0)


def _roles(widths: list[int], cycle: bool) -> np.ndarray:
    """Role per slot: first layer sources, last layer collectors, mules between."""
    roles = [np.full(widths[0], _SOURCE)]
    roles += [np.full(w, _MULE) for w in widths[1:-1]]
    if not cycle:
        roles.append(np.full(widths[-1], _COLLECTOR))
    return np.concatenate(roles).astype(np.int8)


# --------------------------------------------------------------------------------------------
# Money along a shape
# --------------------------------------------------------------------------------------------


def _flow(
    rng: np.random.Generator,
    world: World,
    widths: list[int],
    links: Links,
    *,
    start: int,
    multi_day: bool,
    structured: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(from node, to node, cents, ms) of one operation; nodes number the layers' slots."""
    offset = np.concatenate([[0], np.cumsum(widths)])
    scale = world.amount_scale
    if multi_day:
        window, hop = rng.uniform(6, 40) * MS_PER_HOUR, (6 * MS_PER_HOUR, 30 * MS_PER_HOUR)
    else:
        window = rng.uniform(0.2, 3) * MS_PER_HOUR
        hop = (world.hop_minutes[0] * MS_PER_MINUTE, world.hop_minutes[1] * MS_PER_MINUTE)

    frm, to = links[0]
    cents = money_cents(rng, len(frm), _LAUNDER_MEDIAN * scale, 1.0, 0.15)
    if structured:  # most, not all, first legs just under the threshold
        under = np.flatnonzero(rng.random(len(frm)) < 0.6)
        cents[under] = under_threshold_cents(rng, len(under))
    ms = start + (rng.random(len(frm)) * window).astype(np.int64)
    ms[np.argmin(ms)] = start  # the first leg leaves at the start: on the start day
    parts = [(offset[0] + frm, offset[1] + to, cents, ms)]
    for layer in range(1, len(widths) - 1):
        inflow = np.bincount(to, weights=cents, minlength=widths[layer])
        last_in = group_max(to, ms, widths[layer])
        frm, to = links[layer]
        passed = inflow * (1 - rng.uniform(0, world.keep_max, widths[layer]))
        cents = np.floor(passed[frm] * split_shares(rng, frm, widths[layer])).astype(np.int64)
        # Now and then a mule sends a round figure and keeps the change.
        rounded = (rng.random(len(frm)) < 0.35) & (cents >= 50_000)
        cents[rounded] = cents[rounded] // 1_000 * 1_000
        ms = last_in[frm] + log_uniform_ms(rng, len(frm), *hop)
        parts.append((offset[layer] + frm, offset[layer + 1] + to, cents, ms))
    frm_all, to_all, cents_all, ms_all = (np.concatenate(p) for p in zip(*parts, strict=True))
    limit = (MAX_SPAN_DAYS + 1) * MS_PER_DAY - 1
    latest = int(ms_all.max())
    if latest > limit:  # squeeze a long operation into its span, keeping its order
        ms_all = start + ((ms_all - start) * ((limit - start) / (latest - start))).astype(np.int64)
    keep = cents_all >= 100
    return frm_all[keep], to_all[keep], cents_all[keep], ms_all[keep]


# --------------------------------------------------------------------------------------------
# Operations of a start day
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operations:
    """Every operation started on one day; ``ms`` counts from that day's midnight."""

    ordinal: int  # the start day
    transfers: Transfers
    operation: np.ndarray  # per transfer
    member_key: np.ndarray  # sorted operation * accounts + account
    member_role: np.ndarray  # role code per member_key
    typology: np.ndarray  # code per operation
    ring_id: np.ndarray  # per operation


def _draw_accounts(
    rng: np.random.Generator, plan: Plan, world: World, ordinal: int, slots: int
) -> np.ndarray:
    """Distinct accounts for the day's slots: fresh, dormant or ordinary by the world's shares."""
    kind = rng.random(slots)
    fresh_wanted = np.flatnonzero(kind < world.fresh_share)
    dormant_wanted = np.flatnonzero(
        (kind >= world.fresh_share) & (kind < world.fresh_share + world.dormant_share)
    )
    accounts = np.full(slots, -1, dtype=np.int64)
    block = ordinal % plan.fresh_blocks
    fresh = rng.permutation(plan.fresh[block * plan.fresh_block : (block + 1) * plan.fresh_block])
    got = min(len(fresh_wanted), len(fresh))
    accounts[fresh_wanted[:got]] = fresh[:got]
    dormant = rng.permutation(plan.dormant)
    got = min(len(dormant_wanted), len(dormant))
    accounts[dormant_wanted[:got]] = dormant[:got]
    # The rest, and whatever the fresh and dormant pools could not cover, are ordinary accounts.
    open_slots = np.flatnonzero(accounts < 0)
    ordinary = rng.permutation(plan.camouflage)
    if len(open_slots) > len(ordinary):
        extra = len(open_slots) - len(ordinary)
        ordinary = np.concatenate([ordinary, rng.choice(plan.fallback, extra, replace=False)])
    accounts[open_slots] = ordinary[: len(open_slots)]
    return accounts


def operations_started(
    plan: Plan, world: World, day: dt.date, seed_words: list[int], accounts: int
) -> Operations:
    """Every operation that starts on ``day``, drawn from ``day``'s own generator."""
    ordinal = day.toordinal()
    rng = np.random.default_rng([*seed_words, ordinal])
    floor = daily_minimum(len(plan.typologies))
    count = max(floor, round(plan.operations_per_day * rng.uniform(0.8, 1.2)))
    # Most typologies every day (a different random subset each day), the rest by the weights.
    kinds = np.concatenate(
        [
            rng.permutation(len(plan.typologies))[:floor],
            rng.choice(
                len(plan.typologies), size=count - floor, p=plan.weights / plan.weights.sum()
            ),
        ]
    )
    shapes = [_shape(rng, plan.typologies[k], plan.width) for k in kinds]
    cycle = [plan.typologies[k] == "cycle" for k in kinds]
    slots = [_slots(widths, c) for (widths, _), c in zip(shapes, cycle, strict=True)]
    chosen = _draw_accounts(rng, plan, world, ordinal, sum(slots))
    first_slot = np.concatenate([[0], np.cumsum(slots)])

    multi_day = rng.random(count) < world.multi_day_share
    structured = rng.random(count) < world.structuring_share
    starts = rhythm_ms(rng, count)
    senders, receivers, cents, times, owner = [], [], [], [], []
    keys, roles = [], []
    for i, ((widths, links), is_cycle) in enumerate(zip(shapes, cycle, strict=True)):
        members = chosen[first_slot[i] : first_slot[i + 1]]
        node_account = members if not is_cycle else np.concatenate([members, members[:1]])
        frm, to, amount, ms = _flow(
            rng,
            world,
            widths,
            links,
            start=int(starts[i]),
            multi_day=bool(multi_day[i]),
            structured=bool(structured[i]),
        )
        senders.append(node_account[frm])
        receivers.append(node_account[to])
        cents.append(amount)
        times.append(ms)
        owner.append(np.full(len(frm), i, dtype=np.int64))
        keys.append(i * accounts + members)
        roles.append(_roles(widths, is_cycle))
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")
    operations = Operations(
        ordinal=ordinal,
        transfers=Transfers.concat(
            [
                Transfers(s, r, c, t)
                for s, r, c, t in zip(senders, receivers, cents, times, strict=True)
            ]
        ),
        operation=np.concatenate(owner),
        member_key=key[order],
        member_role=np.concatenate(roles)[order],
        typology=np.array(
            [ALL_TYPOLOGIES.index(plan.typologies[k]) for k in kinds], dtype=np.int16
        ),
        ring_id=ordinal * _RING_ID_STRIDE + np.arange(count, dtype=np.int64),
    )
    freeze(operations.operation, operations.member_key, operations.member_role)
    freeze(operations.typology, operations.ring_id)
    return operations


def laundering_on(
    day: dt.date, started: list[Operations], accounts: int
) -> tuple[Transfers, TruthRows]:
    """The transfers of ``started`` operations that fall on ``day``, and who took part in them."""
    kept: list[Transfers] = []
    truth: list[TruthRows] = []
    for operations in started:
        ms = operations.transfers.ms - (day.toordinal() - operations.ordinal) * MS_PER_DAY
        today = (ms >= 0) & (ms < MS_PER_DAY)
        part = operations.transfers.where(today)
        part.ms = ms[today]
        kept.append(part)
        owner = operations.operation[today]
        key = np.unique(
            np.concatenate([owner * accounts + part.sender, owner * accounts + part.receiver])
        )
        found = np.searchsorted(operations.member_key, key)
        which = key // accounts
        truth.append(
            TruthRows(
                key % accounts,
                operations.typology[which],
                operations.member_role[found],
                operations.ring_id[which],
            )
        )
    return Transfers.concat(kept), TruthRows.concat(truth)
