"""One day's flows as arrays: background, families, laundering, and the planted truth.

What a day needs from earlier days (the card payments a processor settles, the windfalls and
laundering operations still running) is re-derived from those days' own seeds, so a day is a
pure function of (config, day); the re-derived days are cached for runs of consecutive days.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_platform.sample_data import families as fam
from fraud_platform.sample_data import laundering as lau
from fraud_platform.sample_data import lookalikes as look
from fraud_platform.sample_data.population import (
    COMMUNITY_SHARE,
    FAVOURITE_SHARE,
    Population,
    population,
)
from fraud_platform.sample_data.sampling import (
    ROLES,
    Transfers,
    TruthRows,
    money_cents,
    receivers_anywhere,
    rhythm_ms,
)
from fraud_platform.sample_data.worlds import ALL_TYPOLOGIES

# Stream tags keep each day's randomness, and the days re-derived later, independent.
DAY_STREAM = 0x444159
_TAKINGS_STREAM = 0x54414B
_LAUNDERING_STREAM = 0x4C414E
_ONE_OFF_STREAM = 0x4F4E45

_TYPOLOGY_NAMES = np.array(ALL_TYPOLOGIES, dtype=object)
_ROLE_NAMES = np.array(ROLES, dtype=object)

#: (seed, accounts, transactions per day, world): what a population is derived from.
PopulationKey = tuple[int, int, int, str]


@functools.lru_cache(maxsize=8)
def takings(key: PopulationKey, ordinal: int) -> tuple[np.ndarray, np.ndarray]:
    """A day's card payments (settled merchant, cents), from that day's own seed."""
    pop = population(*key)
    assert pop.processors is not None
    rng = np.random.default_rng([*pop.stream(_TAKINGS_STREAM), ordinal])
    return fam.processor_takings(rng, pop.processors, pop.world.amount_scale)


@functools.lru_cache(maxsize=8)
def operations(key: PopulationKey, ordinal: int) -> lau.Operations:
    """The laundering operations that start on a day, from that day's own seed."""
    pop = population(*key)
    return lau.operations_started(
        pop.laundering,
        pop.world,
        dt.date.fromordinal(ordinal),
        pop.stream(_LAUNDERING_STREAM),
        pop.size,
    )


@functools.lru_cache(maxsize=6)
def one_offs(key: PopulationKey, ordinal: int) -> look.OneOffs:
    """The windfalls that arrive on a day, from that day's own seed."""
    pop = population(*key)
    rng = np.random.default_rng([*pop.stream(_ONE_OFF_STREAM), ordinal])
    return look.one_offs_started(
        rng, pop.people, pop.send, pop.receive, pop.one_off_events, pop.world.amount_scale
    )


def clear_caches() -> None:
    """Forget every cached population and re-derived day (tests check a rebuild is the same)."""
    for cached in (population, takings, operations, one_offs):
        cached.cache_clear()


# --------------------------------------------------------------------------------------------
# One day's flows
# --------------------------------------------------------------------------------------------


def background(rng: np.random.Generator, pop: Population, size: int) -> Transfers:
    """Person-to-person transfers: to a favourite contact, within the community, or anywhere."""
    # Senders come out grouped by community and are not shuffled: every other column is drawn
    # independently per row and the day is later ordered by its random times, so the order
    # carries no information, and grouped communities keep the lookups below cache-local.
    communities = pop.communities
    senders = communities.order[pop.send_by_community.draw(rng, size, shuffle=False)]
    mode = rng.random(size)
    receivers = np.empty(size, dtype=np.int64)
    favourite = mode < FAVOURITE_SHARE
    local = (mode >= FAVOURITE_SHARE) & (mode < FAVOURITE_SHARE + COMMUNITY_SHARE)
    anywhere = ~(favourite | local)
    receivers[favourite] = pop.favourite[senders[favourite]]
    receivers[local] = communities.receivers(
        rng, communities.of_account[senders[local]], pop.receive
    )
    receivers[anywhere] = pop.receive.draw(rng, int(anywhere.sum()))
    clash = np.flatnonzero(receivers == senders)
    receivers[clash] = receivers_anywhere(rng, pop.receive, senders[clash])
    cents = money_cents(rng, size, 60.0 * pop.world.amount_scale, 1.1, 0.1)
    return Transfers(senders, receivers, cents, rhythm_ms(rng, size))


def planted(
    day: dt.date, key: PopulationKey, pop: Population, rng: np.random.Generator
) -> tuple[list[Transfers], list[TruthRows]]:
    """Every flow of the day except the background: legitimate families, then laundering."""
    (
        merchant_rng,
        employer_rng,
        processor_rng,
        bureau_rng,
        wholesale_rng,
        landlord_rng,
        exchange_rng,
        split_rng,
        customer_rng,
    ) = rng.spawn(9)
    ordinal, scale = day.toordinal(), pop.world.amount_scale
    batches: list[Transfers] = []
    truth: list[TruthRows] = []

    # The customers of merchants, processors and exchanges, drawn in one pass over everyone.
    card_payments = pop.processors.payments if pop.processors else 0
    deposits = pop.exchanges.deposits if pop.exchanges else 0
    customers = pop.send.draw(customer_rng, pop.merchants.payments + card_payments + deposits)
    bounds = np.cumsum([pop.merchants.payments, card_payments])

    merchant, merchant_truth = fam.merchant_flows(
        merchant_rng, pop.merchants, customers[: bounds[0]], scale
    )
    employer, employer_truth = fam.employer_flows(employer_rng, pop.employers)
    batches += [merchant, employer]
    truth += [merchant_truth, employer_truth]
    # The families this world has, each drawn from its own stream, in a fixed order.
    present: list[tuple[Transfers, list[TruthRows]]] = []
    if pop.processors is not None:
        lags = {lag: takings(key, ordinal - lag) for lag in sorted(set(pop.world.settlement_lags))}
        present.append(
            fam.processor_flows(
                processor_rng,
                pop.processors,
                takings(key, ordinal),
                lags,
                customers[bounds[0] : bounds[1]],
            )
        )
    if pop.bureaus is not None:
        present.append(fam.bureau_flows(bureau_rng, pop.bureaus, day))
    if pop.wholesalers is not None:
        present.append(fam.wholesale_flows(wholesale_rng, pop.wholesalers, day, scale))
    if pop.landlords is not None:
        present.append(fam.landlord_flows(landlord_rng, pop.landlords, day))
    if pop.exchanges is not None:
        present.append(
            look.exchange_flows(
                exchange_rng,
                pop.exchanges,
                customers[bounds[1] :],
                pop.receive,
                scale,
                pop.world.exchange_structuring_share,
            )
        )
    if pop.bill_splits is not None:
        present.append(look.bill_split_flows(split_rng, pop.bill_splits, pop.receive, scale))
    if pop.one_off_events:
        started = [(k, one_offs(key, ordinal - k)) for k in range(look.ONE_OFF_SPAN_DAYS + 1)]
        present.append(look.one_offs_on(started))
    for made, rows in present:
        batches.append(made)
        truth += rows

    running = [operations(key, ordinal - k) for k in range(lau.MAX_SPAN_DAYS + 1)]
    made, fraud = lau.laundering_on(day, running, pop.size)
    batches.append(made)
    truth.append(fraud)
    return batches, truth


def ground_truth(pop: Population, parts: list[TruthRows]) -> pd.DataFrame:
    """One row per account: where an account is in several families, its laundering row wins."""
    rows = TruthRows.concat(parts)
    position = np.arange(len(rows.account))
    order = np.lexsort((position, rows.ring_id < 0))
    _, first = np.unique(rows.account[order], return_index=True)
    keep = np.sort(order[first])
    ring_ids = rows.ring_id[keep].astype(np.int64)
    return pd.DataFrame(
        {
            "account": pop.labels.take(pa.array(rows.account[keep])).to_pandas().astype("str"),
            "typology": pd.array(_TYPOLOGY_NAMES[rows.typology[keep]], dtype="str"),
            "is_fraud": ring_ids >= 0,
            "ring_id": ring_ids,
            "role": pd.array(_ROLE_NAMES[rows.role[keep]], dtype="str"),
        }
    )
