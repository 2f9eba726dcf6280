"""The stable population of a sample world: who exists, who runs which business, who launders.

Derived from (seed, size, daily volume, world) only and cached, so that every day of a world
sees the same accounts, communities, hubs and laundering pools.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fraud_platform.sample_data import families as fam
from fraud_platform.sample_data import laundering as lau
from fraud_platform.sample_data import lookalikes as look
from fraud_platform.sample_data.sampling import (
    Communities,
    Weights,
    freeze,
    receivers_anywhere,
)
from fraud_platform.sample_data.text import account_labels
from fraud_platform.sample_data.worlds import World, get_world

CURRENCIES = ("USD", "EUR", "GBP")

# Background receivers: this share goes to the sender's favourite contact, then this share to its
# community; the rest anywhere in the population.
FAVOURITE_SHARE = 0.2
COMMUNITY_SHARE = 0.6
_COMMUNITY_SIZE = 400
#: A dormant account's activity relative to an ordinary one: a transfer a month or so.
_DORMANT_ACTIVITY = 0.004

# Stream tags keep the population and each flow's randomness independent of each other.
_POPULATION_STREAM = 0x504F50


def world_tag(world: str) -> int:
    """A stable number per world name, so that worlds differ even under the same seed."""
    return zlib.crc32(world.encode())


@dataclass(frozen=True, eq=False)
class Population:
    """Everything about a world's accounts that does not change from day to day."""

    seed: int
    world: World
    transactions_per_day: int
    labels: pa.Array  # account ids in the world's format
    send: Weights  # background sender activity (0 for businesses and fresh accounts)
    send_by_community: Weights  # the same over communities.order
    receive: Weights  # background receiver popularity
    communities: Communities
    favourite: np.ndarray  # each account's regular contact
    currency: np.ndarray  # home currency code per account (index into CURRENCIES)
    people: np.ndarray  # accounts with everyday activity
    merchants: fam.Merchants
    employers: fam.Employers
    processors: fam.Processors | None
    bureaus: fam.Bureaus | None
    wholesalers: fam.Wholesalers | None
    landlords: fam.Landlords | None
    exchanges: look.Exchanges | None
    bill_splits: look.BillSplits | None
    one_off_events: int  # windfalls arriving a day (0: the world has none)
    laundering: lau.Plan

    @property
    def size(self) -> int:
        return len(self.labels)

    def stream(self, tag: int) -> list[int]:
        """Seed words of one named random stream of this population."""
        return [self.seed, world_tag(self.world.name), tag]


@functools.lru_cache(maxsize=4)
def population(seed: int, accounts: int, transactions_per_day: int, world_name: str) -> Population:
    world = get_world(world_name)
    rng = np.random.default_rng([seed, world_tag(world_name), _POPULATION_STREAM])
    n = accounts
    labels = account_labels(rng, n, world.id_format)

    def daily(family: str) -> int:
        return round(world.share(family) * transactions_per_day)

    # Businesses first (accounts of their own, no everyday activity), then the laundering pools,
    # then everyone else: the people.
    alloc = _Allocator(rng.permutation(n))
    business = {
        "merchant": alloc.take(fam.merchant_count(daily("merchant"))),
        "employer": alloc.take(fam.employer_count(daily("employer"))),
    }
    if daily("exchange"):
        business["exchange"] = alloc.take(look.exchange_count(daily("exchange")))
    if daily("processor"):
        processors, settled = fam.processor_counts(daily("processor"))
        business["processor"] = alloc.take(processors)
        business["settled_merchant"] = alloc.take(settled)
    if daily("payroll_bureau"):
        bureaus, clients, employees = fam.bureau_counts(daily("payroll_bureau"), n)
        business["payroll_bureau"] = alloc.take(bureaus)
        business["client"] = alloc.take(clients)
    if daily("wholesale"):
        business["wholesale"] = alloc.take(fam.wholesaler_count(daily("wholesale")))
    if daily("landlord"):
        tenants = fam.tenant_count(daily("landlord"), n)
        business["lender"] = alloc.take(fam.lender_count(tenants))
    sizes = lau.plan_sizes(world, transactions_per_day, n)
    fresh = alloc.take(sizes.fresh)
    dormant = alloc.take(sizes.dormant)
    people = alloc.rest()
    if len(people) < max(100, n // 2):
        raise ValueError(
            f"{n} accounts are too few for {transactions_per_day} transactions a day in world "
            f"{world_name}: raise SampleConfig.accounts"
        )

    # Background activity: Pareto-tailed (a few accounts make many transfers), capped so no
    # single account dominates a small population. Dormant accounts barely ever act.
    send_weight = np.zeros(n)
    recv_weight = np.zeros(n)
    send_weight[people] = np.minimum(rng.pareto(1.4, len(people)) + 1.0, 100.0)
    recv_weight[people] = np.minimum(rng.pareto(1.4, len(people)) + 1.0, 100.0)
    send_weight[dormant] = _DORMANT_ACTIVITY * (rng.pareto(1.4, len(dormant)) + 1.0)
    recv_weight[dormant] = _DORMANT_ACTIVITY * (rng.pareto(1.4, len(dormant)) + 1.0)
    send = Weights.of(send_weight)
    receive = Weights.of(recv_weight)

    communities = Communities.of(rng.integers(0, max(2, n // _COMMUNITY_SIZE), n), recv_weight)
    # Favourite contacts are drawn like local receivers (in community order, which keeps the
    # lookups cache-local), then kept for every day.
    favourite = np.empty(n, dtype=np.int64)
    favourite[communities.order] = communities.receivers(
        rng, communities.of_account[communities.order], receive
    )
    clash = np.flatnonzero(favourite == np.arange(n))
    favourite[clash] = receivers_anywhere(rng, receive, clash)

    scale = world.amount_scale
    merchants = fam.build_merchants(rng, business["merchant"], people, daily("merchant"))
    employers = fam.build_employers(rng, business["employer"], people, daily("employer"), scale)
    processors = bureaus = wholesalers = landlords = None
    if daily("processor"):
        firms, settled = business["processor"], business["settled_merchant"]
        lags = world.settlement_lags
        processors = fam.build_processors(rng, firms, settled, people, daily("processor"), lags)
    if daily("payroll_bureau"):
        firms, clients = business["payroll_bureau"], business["client"]
        bureaus = fam.build_bureaus(rng, firms, clients, people, employees, scale)
    if daily("wholesale"):
        wholesalers = fam.build_wholesalers(rng, business["wholesale"], people, daily("wholesale"))
    if daily("landlord"):
        # Landlords are people who also let property; never the laundering camouflage pool.
        letting = people[sizes.camouflage :]
        landlords = fam.build_landlords(rng, business["lender"], letting, people, tenants, scale)

    found = Population(
        seed=seed,
        world=world,
        transactions_per_day=transactions_per_day,
        labels=labels,
        send=send,
        send_by_community=Weights.of(send_weight[communities.order]),
        receive=receive,
        communities=communities,
        favourite=favourite,
        currency=rng.choice(len(CURRENCIES), size=n, p=world.currency_shares).astype(np.int8),
        people=people,
        merchants=merchants,
        employers=employers,
        processors=processors,
        bureaus=bureaus,
        wholesalers=wholesalers,
        landlords=landlords,
        exchanges=(
            look.build_exchanges(business["exchange"], daily("exchange"))
            if "exchange" in business
            else None
        ),
        bill_splits=(
            look.build_bill_splits(rng, people, communities, receive, daily("bill_split"))
            if daily("bill_split")
            else None
        ),
        one_off_events=look.one_off_events(daily("one_off")) if daily("one_off") else 0,
        laundering=lau.make_plan(world, sizes, fresh, dormant, people),
    )
    freeze(found.favourite, found.currency, found.people)
    return found


class _Allocator:
    """Hands out distinct accounts from a shuffled population, each to one purpose."""

    def __init__(self, order: np.ndarray) -> None:
        self.order = order
        self.cursor = 0

    def take(self, count: int) -> np.ndarray:
        taken = self.order[self.cursor : self.cursor + count]
        if len(taken) < count:
            raise ValueError("too few accounts for the families: raise SampleConfig.accounts")
        self.cursor += count
        return np.sort(taken)

    def rest(self) -> np.ndarray:
        return self.order[self.cursor :]
