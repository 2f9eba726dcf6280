"""Legitimate business families: hubs and pass-through businesses that look like laundering.

Merchants and employers are the classic hubs. Processors, payroll bureaus, wholesalers and
landlords move money through themselves the way mules do (many in, few out, within hours or a
day or two, most of it passed on), which is exactly what a score must learn not to flag. Each
family is a stable structure built once per population (``build_*``) and a vectorised day of
flows (``*_flows``) that also says which of its accounts were active, for the ground truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fraud_platform.sample_data.sampling import (
    MS_PER_HOUR,
    MS_PER_MINUTE,
    Transfers,
    TruthRows,
    Weights,
    active,
    freeze,
    group_max,
    money_cents,
    rhythm_ms,
    split_shares,
)
from fraud_platform.sample_data.worlds import ALL_TYPOLOGIES

_PAYMENTS_PER_MERCHANT = 1_000
_EMPLOYEES_PER_EMPLOYER = 400
_PAYMENTS_PER_SETTLED_MERCHANT = 40
_BUREAU_PAY_DAY_SHARE = 0.107  # a client pays weekly or fortnightly: ~0.107 of calendar days
_RETAILER_PAYS_SHARE = 0.5  # a retailer pays its wholesaler on half the business days


def _code(typology: str) -> int:
    return ALL_TYPOLOGIES.index(typology)


def _covering(rng: np.random.Generator, size: int, groups: int, weights: np.ndarray) -> np.ndarray:
    """A group for each of ``size`` items, every group used at least once, the rest by weight."""
    first = np.arange(min(size, groups))
    rest = rng.choice(groups, size=max(0, size - groups), p=weights / weights.sum())
    return np.concatenate([first, rest])


def _pick(rng: np.random.Generator, people: np.ndarray, size: int) -> np.ndarray:
    """``size`` people, distinct while the population allows it."""
    return rng.choice(people, size=size, replace=size > len(people) // 2)


# --------------------------------------------------------------------------------------------
# Merchants: paid by many customers, little money out.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Merchants:
    accounts: np.ndarray
    pick: Weights  # merchant popularity (Zipf)
    suppliers: np.ndarray  # (merchants, 3) accounts each merchant pays out to
    payments: int  # customer payments a day


def merchant_count(daily: int) -> int:
    return max(3, round(daily / _PAYMENTS_PER_MERCHANT))


def build_merchants(
    rng: np.random.Generator, accounts: np.ndarray, people: np.ndarray, daily: int
) -> Merchants:
    n = len(accounts)
    merchants = Merchants(
        accounts,
        Weights.of(1.0 / np.arange(1, n + 1) ** 0.8),
        rng.choice(people, size=(n, 3)),
        daily,
    )
    freeze(merchants.accounts, merchants.suppliers)
    return merchants


def merchant_flows(
    rng: np.random.Generator, merchants: Merchants, customers: np.ndarray, scale: float
) -> tuple[Transfers, TruthRows]:
    """Customers buying (prices often ending in .99), then small supplier payouts."""
    payments = len(customers)
    which = merchants.pick.draw(rng, payments)
    cents = money_cents(rng, payments, 35.0 * scale, 0.9, 0.0)
    priced = rng.random(payments) < 0.3
    cents[priced] = (cents[priced] // 100) * 100 + 99
    n = len(merchants.accounts)
    takings = np.bincount(which, weights=cents, minlength=n)

    # "Little money out": each merchant pays 5-20% of the day's takings to 1-3 suppliers.
    count = rng.integers(1, 4, n)
    count[takings < 300] = 0
    rows = np.repeat(np.arange(n), count)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    share = rng.uniform(0.05, 0.2, n)
    payout = np.floor(takings * share / np.maximum(count, 1)).astype(np.int64)[rows]
    flows = Transfers.concat(
        [
            Transfers(customers, merchants.accounts[which], cents, rhythm_ms(rng, payments)),
            Transfers(
                merchants.accounts[rows],
                merchants.suppliers[rows, slot],
                np.maximum(payout, 100),
                rng.integers(20 * MS_PER_HOUR, 23 * MS_PER_HOUR, len(rows)),
            ),
        ]
    )
    seen = merchants.accounts[np.unique(which)]
    return flows, TruthRows.of(seen, _code("merchant"), "hub")


# --------------------------------------------------------------------------------------------
# Employers: one or two large inflows, then a payroll to many.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Employers:
    accounts: np.ndarray
    employees: np.ndarray
    employee_employer: np.ndarray  # index into accounts
    salary_cents: np.ndarray
    payroll_ms: np.ndarray  # per employer: when its payroll batch runs
    funders: np.ndarray  # (employers, 2) accounts that fund each payroll
    funder_count: np.ndarray  # 1 or 2 per employer


def employer_count(daily: int) -> int:
    return max(2, round(daily / _EMPLOYEES_PER_EMPLOYER))


def build_employers(
    rng: np.random.Generator, accounts: np.ndarray, people: np.ndarray, daily: int, scale: float
) -> Employers:
    n = len(accounts)
    n_employees = max(min(daily, len(people) // 3), n)
    employees = rng.choice(people, size=n_employees, replace=False)
    employee_employer = _covering(rng, n_employees, n, 1.0 / np.arange(1, n + 1))
    # A fixed, round-ish amount per employee (to 10 units), paid out daily as payroll and gig
    # platforms do, so every day has its employer hubs.
    salary = np.round(rng.lognormal(np.log(180.0 * scale), 0.45, n_employees), -1)
    employers = Employers(
        accounts=accounts,
        employees=employees,
        employee_employer=employee_employer,
        salary_cents=np.maximum(salary, 50).astype(np.int64) * 100,
        payroll_ms=rng.integers(8, 11, n) * MS_PER_HOUR,
        funders=rng.choice(people, size=(n, 2)),
        funder_count=rng.integers(1, 3, n),
    )
    freeze(*(v for v in vars(employers).values() if isinstance(v, np.ndarray)))
    return employers


def employer_flows(rng: np.random.Generator, employers: Employers) -> tuple[Transfers, TruthRows]:
    """Each employer is funded by one or two big round inflows, then pays its employees."""
    n = len(employers.accounts)
    payroll = np.bincount(
        employers.employee_employer, weights=employers.salary_cents, minlength=n
    ).astype(np.int64)
    salaries = Transfers(
        employers.accounts[employers.employee_employer],
        employers.employees,
        employers.salary_cents.copy(),
        employers.payroll_ms[employers.employee_employer]
        + rng.integers(0, 30 * MS_PER_MINUTE, len(employers.employees)),
    )
    # Inflows cover the payroll with a small margin, rounded up to a thousand units.
    funding = payroll * rng.uniform(1.0, 1.05, n)
    first_share = np.where(employers.funder_count == 2, rng.uniform(0.55, 0.8, n), 1.0)
    parts = np.stack([funding * first_share, funding * (1 - first_share)], axis=1)
    parts = (np.ceil(parts / 100_000) * 100_000).astype(np.int64)
    used = np.arange(2)[None, :] < employers.funder_count[:, None]
    employer_of_part = np.broadcast_to(np.arange(n)[:, None], (n, 2))[used]
    lead = rng.integers(30 * MS_PER_MINUTE, 120 * MS_PER_MINUTE, int(used.sum()))
    inflows = Transfers(
        employers.funders[used],
        employers.accounts[employer_of_part],
        parts[used],
        employers.payroll_ms[employer_of_part] - lead,
    )
    return Transfers.concat([inflows, salaries]), TruthRows.of(
        employers.accounts, _code("employer"), "hub"
    )


# --------------------------------------------------------------------------------------------
# Processors: card payments collected today, settled to merchants T+1..T+3 minus a fee.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processors:
    accounts: np.ndarray
    merchants: np.ndarray  # the settled merchants
    merchant_processor: np.ndarray  # index into accounts
    pick: Weights  # merchant popularity
    lag: np.ndarray  # days from payment to settlement, per merchant
    fee_bp: np.ndarray  # the processor's fee in basis points, per merchant
    batch_ms: np.ndarray  # per processor: when its settlement batch runs
    suppliers: np.ndarray  # (merchants, 4) whom a settled merchant pays on
    payments: int  # card payments a day


def processor_counts(daily: int) -> tuple[int, int]:
    """(processors, settled merchants) for a day of ``daily`` processor transfers."""
    merchants = max(3, round(0.8 * daily / _PAYMENTS_PER_SETTLED_MERCHANT))
    return max(1, min(merchants // 3, round(merchants / 50))), merchants


def build_processors(
    rng: np.random.Generator,
    accounts: np.ndarray,
    merchants: np.ndarray,
    people: np.ndarray,
    daily: int,
    lags: tuple[int, ...],
) -> Processors:
    n, n_merchants = len(accounts), len(merchants)
    processors = Processors(
        accounts=accounts,
        merchants=merchants,
        merchant_processor=_covering(rng, n_merchants, n, np.ones(n)),
        pick=Weights.of(1.0 / np.arange(1, n_merchants + 1) ** 0.7),
        lag=rng.choice(np.asarray(lags), size=n_merchants),
        fee_bp=rng.integers(150, 301, n_merchants),
        batch_ms=rng.integers(1 * MS_PER_HOUR, 6 * MS_PER_HOUR, n),
        suppliers=rng.choice(people, size=(n_merchants, 4)),
        payments=round(0.8 * daily),
    )
    freeze(*(v for v in vars(processors).values() if isinstance(v, np.ndarray)))
    return processors


def processor_takings(
    rng: np.random.Generator, processors: Processors, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """One day's card payments as (settled merchant index, cents), customers not yet drawn.

    Kept apart from the customers and times so that a later day can re-derive what it settles
    from the day's own seed, cheaply: ``generate_day`` stays a function of (config, day).
    """
    merchant = processors.pick.draw(rng, processors.payments)
    cents = money_cents(rng, processors.payments, 45.0 * scale, 0.9, 0.0)
    priced = rng.random(processors.payments) < 0.3
    cents[priced] = (cents[priced] // 100) * 100 + 99
    freeze(merchant, cents)
    return merchant, cents


def settlements(
    processors: Processors, takings_by_lag: dict[int, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """(settled merchant index, cents) paid today: each lag's takings minus the fee, to the cent."""
    n = len(processors.merchants)
    owed = np.zeros(n, dtype=np.int64)
    for lag, (merchant, cents) in takings_by_lag.items():
        total = np.bincount(merchant, weights=cents, minlength=n).astype(np.int64)
        owed += np.where(processors.lag == lag, total, 0)
    paid = owed * (10_000 - processors.fee_bp) // 10_000
    which = np.flatnonzero(paid > 0)
    return which, paid[which]


def processor_flows(
    rng: np.random.Generator,
    processors: Processors,
    takings: tuple[np.ndarray, np.ndarray],
    takings_by_lag: dict[int, tuple[np.ndarray, np.ndarray]],
    customers: np.ndarray,
) -> tuple[Transfers, list[TruthRows]]:
    """Today's card payments in, settlements of earlier days out, and the merchants' payouts."""
    merchant, cents = takings
    hub = processors.accounts[processors.merchant_processor]
    payments = Transfers(customers, hub[merchant], cents.copy(), rhythm_ms(rng, len(merchant)))

    which, paid = settlements(processors, takings_by_lag)
    settle_ms = processors.batch_ms[processors.merchant_processor[which]]
    settle_ms = settle_ms + rng.integers(0, 45 * MS_PER_MINUTE, len(which))
    settled = Transfers(hub[which], processors.merchants[which], paid, settle_ms)

    # A settled merchant then pays suppliers and staff 40-90% of it within hours.
    count = rng.integers(1, 5, len(which))
    rows = np.repeat(np.arange(len(which)), count)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    total = paid * rng.uniform(0.4, 0.9, len(which))
    amount = np.floor(total[rows] * split_shares(rng, rows, len(which))).astype(np.int64)
    onward = Transfers(
        processors.merchants[which][rows],
        processors.suppliers[which[rows], slot],
        np.maximum(amount, 100),
        settle_ms[rows] + rng.integers(1 * MS_PER_HOUR, 8 * MS_PER_HOUR, len(rows)),
    )
    flows = Transfers.concat([payments, settled, onward])
    busy = active(processors.accounts, payments.receiver, settled.sender)
    truth = [
        TruthRows.of(busy, _code("processor"), "hub"),
        TruthRows.of(processors.merchants[which], _code("processor"), "settled_merchant"),
    ]
    return flows, truth


# --------------------------------------------------------------------------------------------
# Payroll bureaus: employers fund the bureau, which pays their staff within hours.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bureaus:
    accounts: np.ndarray
    clients: np.ndarray  # the employers that use a bureau
    client_bureau: np.ndarray  # index into accounts
    weekday: np.ndarray  # per client: the weekday it pays on (Mon=0 .. Fri=4)
    fortnightly: np.ndarray  # per client: pays every other week
    parity: np.ndarray  # per client: which weeks, when fortnightly
    fund_ms: np.ndarray  # per client: when it funds the bureau
    fee_bp: np.ndarray  # per client: the bureau's fee on top, in basis points
    employees: np.ndarray
    employee_client: np.ndarray  # index into clients
    salary_cents: np.ndarray


def bureau_counts(daily: int, accounts: int) -> tuple[int, int, int]:
    """(bureaus, client employers, employees) for ``daily`` bureau transfers a day.

    Staff are paid weekly or fortnightly, so a day's salaries need ten times as many employees;
    a quarter of the population at most.
    """
    employees = max(4, min(round(daily / _BUREAU_PAY_DAY_SHARE), accounts // 4))
    clients = max(4, round(employees / 40))
    return max(1, round(clients / 12)), clients, max(employees, clients)


def build_bureaus(
    rng: np.random.Generator,
    accounts: np.ndarray,
    clients: np.ndarray,
    people: np.ndarray,
    n_employees: int,
    scale: float,
) -> Bureaus:
    n, n_clients = len(accounts), len(clients)
    salary = np.round(rng.lognormal(np.log(500.0 * scale), 0.45, n_employees), -1)
    bureaus = Bureaus(
        accounts=accounts,
        clients=clients,
        client_bureau=_covering(rng, n_clients, n, np.ones(n)),
        weekday=rng.integers(0, 5, n_clients),
        fortnightly=rng.random(n_clients) < 0.5,
        parity=rng.integers(0, 2, n_clients),
        fund_ms=rng.integers(6 * MS_PER_HOUR, 10 * MS_PER_HOUR, n_clients),
        fee_bp=rng.integers(20, 101, n_clients),
        employees=rng.choice(people, size=n_employees, replace=False),
        employee_client=_covering(
            rng, n_employees, n_clients, 1.0 / np.arange(1, n_clients + 1) ** 0.7
        ),
        salary_cents=np.maximum(salary, 50).astype(np.int64) * 100,
    )
    freeze(*(v for v in vars(bureaus).values() if isinstance(v, np.ndarray)))
    return bureaus


def bureau_flows(
    rng: np.random.Generator, bureaus: Bureaus, day: dt.date
) -> tuple[Transfers, list[TruthRows]]:
    """Pay day for the clients whose weekly or fortnightly schedule falls on ``day``."""
    week_parity = (day.toordinal() // 7) % 2
    paying = (bureaus.weekday == day.weekday()) & (
        ~bureaus.fortnightly | (bureaus.parity == week_parity)
    )
    staff = np.flatnonzero(paying[bureaus.employee_client])
    clients = np.flatnonzero(paying)
    if len(staff) == 0:
        return Transfers.empty(), []
    client_of = bureaus.employee_client[staff]
    payroll = np.bincount(
        client_of, weights=bureaus.salary_cents[staff], minlength=len(bureaus.clients)
    ).astype(np.int64)
    hub = bureaus.accounts[bureaus.client_bureau]
    funded = payroll[clients] * (10_000 + bureaus.fee_bp[clients]) // 10_000
    funding = Transfers(
        bureaus.clients[clients], hub[clients], funded, bureaus.fund_ms[clients].copy()
    )
    lead = rng.integers(1 * MS_PER_HOUR, 4 * MS_PER_HOUR, len(bureaus.clients))
    salaries = Transfers(
        hub[client_of],
        bureaus.employees[staff],
        bureaus.salary_cents[staff].copy(),
        bureaus.fund_ms[client_of]
        + lead[client_of]
        + rng.integers(0, 20 * MS_PER_MINUTE, len(staff)),
    )
    truth = [
        TruthRows.of(np.unique(hub[clients]), _code("payroll_bureau"), "hub"),
        TruthRows.of(bureaus.clients[clients], _code("payroll_bureau"), "client"),
    ]
    return Transfers.concat([funding, salaries]), truth


# --------------------------------------------------------------------------------------------
# Wholesalers: revenue from many retailers, most of it on to a few suppliers the same day.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wholesalers:
    accounts: np.ndarray
    retailers: np.ndarray
    retailer_wholesaler: np.ndarray  # index into accounts
    suppliers: np.ndarray  # (wholesalers, 5)
    supplier_count: np.ndarray  # 2-5 per wholesaler


def _retailer_count(daily: int) -> int:
    return max(10, round(daily / (_RETAILER_PAYS_SHARE + 0.05)))


def wholesaler_count(daily: int) -> int:
    return max(1, round(_retailer_count(daily) / 30))


def build_wholesalers(
    rng: np.random.Generator, accounts: np.ndarray, people: np.ndarray, daily: int
) -> Wholesalers:
    n_retailers = _retailer_count(daily)
    n = len(accounts)
    wholesalers = Wholesalers(
        accounts=accounts,
        retailers=_pick(rng, people, n_retailers),
        retailer_wholesaler=_covering(rng, n_retailers, n, 1.0 / np.arange(1, n + 1) ** 0.5),
        suppliers=rng.choice(people, size=(n, 5)),
        supplier_count=rng.integers(2, 6, n),
    )
    freeze(*(v for v in vars(wholesalers).values() if isinstance(v, np.ndarray)))
    return wholesalers


def wholesale_flows(
    rng: np.random.Generator, wholesalers: Wholesalers, day: dt.date, scale: float
) -> tuple[Transfers, list[TruthRows]]:
    """A business day: retailers pay in the morning, suppliers get 60-95% within hours."""
    if day.weekday() >= 5:
        return Transfers.empty(), []
    n = len(wholesalers.accounts)
    paying = np.flatnonzero(rng.random(len(wholesalers.retailers)) < _RETAILER_PAYS_SHARE)
    to = wholesalers.retailer_wholesaler[paying]
    cents = money_cents(rng, len(paying), 450.0 * scale, 0.8, 0.3)
    times = rng.integers(7 * MS_PER_HOUR, 15 * MS_PER_HOUR, len(paying))
    revenue = np.bincount(to, weights=cents, minlength=n)
    last = group_max(to, times, n)

    busy = np.flatnonzero(revenue > 0)
    count = wholesalers.supplier_count[busy]
    rows = np.repeat(np.arange(len(busy)), count)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    passed = revenue[busy] * rng.uniform(0.6, 0.95, len(busy))
    amount = np.floor(passed[rows] * split_shares(rng, rows, len(busy))).astype(np.int64)
    payouts = Transfers(
        wholesalers.accounts[busy][rows],
        wholesalers.suppliers[busy[rows], slot],
        np.maximum(amount, 100),
        last[busy][rows] + rng.integers(30 * MS_PER_MINUTE, 4 * MS_PER_HOUR, len(rows)),
    )
    revenue_in = Transfers(wholesalers.retailers[paying], wholesalers.accounts[to], cents, times)
    truth = [TruthRows.of(wholesalers.accounts[busy], _code("wholesale"), "hub")]
    return Transfers.concat([revenue_in, payouts]), truth


# --------------------------------------------------------------------------------------------
# Landlords: rent from several tenants around a due day, then one mortgage payment.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landlords:
    accounts: np.ndarray  # ordinary people who also let property
    tenants: np.ndarray
    tenant_landlord: np.ndarray  # index into accounts
    rent_cents: np.ndarray
    pay_day: np.ndarray  # per tenant: day of the month the rent leaves
    lenders: np.ndarray  # the banks mortgages are paid to
    landlord_lender: np.ndarray  # index into lenders
    mortgage_cents: np.ndarray
    mortgage_day: np.ndarray  # per landlord: day of the month


def tenant_count(daily: int, accounts: int) -> int:
    """Tenants pay once a month, and landlords one mortgage per seven tenants or so; a quarter
    of the population rents at most."""
    return max(6, min(round(daily * 30 * 7 / 8), accounts // 4))


def lender_count(tenants: int) -> int:
    return max(1, min(8, round(tenants / 7) // 20))


def build_landlords(
    rng: np.random.Generator,
    lenders: np.ndarray,
    candidates: np.ndarray,
    people: np.ndarray,
    n_tenants: int,
    scale: float,
) -> Landlords:
    n = max(2, min(round(n_tenants / 7), len(candidates)))
    accounts = np.sort(candidates[:n])
    tenant_landlord = _covering(rng, n_tenants, n, np.ones(n))
    tenants = _pick(rng, people, n_tenants)
    clash = tenants == accounts[tenant_landlord]
    tenants[clash] = rng.choice(people, size=int(clash.sum()))  # rarely still a clash: see flows
    rent = np.round(rng.lognormal(np.log(900.0 * scale), 0.35, n_tenants) / 5) * 5
    # Most rents fall due on the 1st, the others on their own day of the month; tenants pay on
    # the day or up to three days late.
    due = np.where(rng.random(n) < 0.6, 1, rng.integers(1, 29, n))
    late = rng.choice(4, size=n_tenants, p=[0.5, 0.25, 0.15, 0.1])
    pay_day = np.minimum(due[tenant_landlord] + late, 28)
    total_rent = np.bincount(tenant_landlord, weights=rent, minlength=n)
    n_lenders = len(lenders)
    landlords = Landlords(
        accounts=accounts,
        tenants=tenants,
        tenant_landlord=tenant_landlord,
        rent_cents=np.maximum(rent, 50).astype(np.int64) * 100,
        pay_day=pay_day,
        lenders=lenders,
        landlord_lender=rng.integers(0, n_lenders, n),
        mortgage_cents=np.round(total_rent * rng.uniform(0.55, 0.9, n)).astype(np.int64) * 100,
        mortgage_day=np.minimum(due + rng.integers(2, 6, n), 28),
    )
    freeze(*(v for v in vars(landlords).values() if isinstance(v, np.ndarray)))
    return landlords


def landlord_flows(
    rng: np.random.Generator, landlords: Landlords, day: dt.date
) -> tuple[Transfers, list[TruthRows]]:
    """Rents due today come in; mortgages due today go out to the lenders."""
    paying = np.flatnonzero(landlords.pay_day == day.day)
    to = landlords.accounts[landlords.tenant_landlord[paying]]
    own = landlords.tenants[paying] == to  # a landlord drawn as its own tenant pays nobody
    paying, to = paying[~own], to[~own]
    rents = Transfers(
        landlords.tenants[paying],
        to,
        landlords.rent_cents[paying].copy(),
        rhythm_ms(rng, len(paying)),
    )
    owing = np.flatnonzero(landlords.mortgage_day == day.day)
    mortgages = Transfers(
        landlords.accounts[owing],
        landlords.lenders[landlords.landlord_lender[owing]],
        landlords.mortgage_cents[owing].copy(),
        rng.integers(5 * MS_PER_HOUR, 10 * MS_PER_HOUR, len(owing)),
    )
    truth = [
        TruthRows.of(np.unique(np.concatenate([to, mortgages.sender])), _code("landlord"), "hub"),
        TruthRows.of(np.unique(mortgages.receiver), _code("landlord"), "lender"),
    ]
    return Transfers.concat([rents, mortgages]), truth
