"""Named sample-data worlds: payment networks that differ in who pays whom, how and how fast.

A model trained on one generator learns that generator. Evaluation therefore trains on some
worlds and reports on others: each world changes the mix of legitimate families (including the
look-alikes of laundering that real networks have), the amount scale, how fast and over how many
days laundering moves, which laundering typologies are present, and the shape of account ids.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Laundering typologies, after IBM's AMLworld list.
FRAUD_TYPOLOGIES = (
    "fan_out",
    "fan_in",
    "cycle",
    "bipartite",
    "stack",
    "random_chain",
    "scatter_gather",
    "gather_scatter",
)
#: The legitimate hubs every world has, kept apart for the evaluation's hub report.
HUB_TYPOLOGIES = ("merchant", "employer")
#: Every legitimate family the ground truth can name: hubs and the look-alikes of laundering.
LEGITIMATE_TYPOLOGIES = (
    "merchant",
    "employer",
    "processor",
    "payroll_bureau",
    "wholesale",
    "landlord",
    "exchange",
    "bill_split",
    "one_off",
)
#: Every typology name, in the order the ground truth codes them.
ALL_TYPOLOGIES = FRAUD_TYPOLOGIES + LEGITIMATE_TYPOLOGIES

#: Background transfers must keep at least half of a day: the families share the rest.
_MAX_FAMILY_SHARE = 0.45


@dataclass(frozen=True)
class World:
    """One payment network's make-up; every share is of the day's transfers or accounts."""

    name: str
    summary: str
    id_format: str  # see text.ID_FORMATS
    families: tuple[tuple[str, float], ...]  # legitimate family -> share of the day's transfers
    laundering: tuple[tuple[str, float], ...]  # typology present -> relative weight
    amount_scale: float = 1.0  # every amount, as in another currency
    fraud_share: float = 0.012  # laundering accounts aimed at, as a share of active accounts
    hop_minutes: tuple[float, float] = (10.0, 480.0)  # delay between laundering hops
    multi_day_share: float = 0.25  # operations spread over several days
    fresh_share: float = 0.2  # laundering accounts not active in the weeks before
    dormant_share: float = 0.15  # laundering accounts that are rarely active otherwise
    structuring_share: float = 0.1  # operations whose first legs stay just under 10,000
    exchange_structuring_share: float = 0.02  # exchange deposits just under 10,000
    keep_max: float = 0.15  # the most a laundering hop keeps of what it passes on
    settlement_lags: tuple[int, ...] = (1, 1, 2)  # days from card payment to merchant payout
    currency_shares: tuple[float, float, float] = (0.72, 0.24, 0.04)  # USD, EUR, GBP

    def __post_init__(self) -> None:
        names = [name for name, _ in self.families]
        unknown = sorted(set(names) - set(LEGITIMATE_TYPOLOGIES))
        if unknown:
            raise ValueError(f"world {self.name}: unknown families {unknown}")
        if not set(HUB_TYPOLOGIES) <= set(names):
            raise ValueError(f"world {self.name}: every world has merchants and employers")
        if sum(share for _, share in self.families) > _MAX_FAMILY_SHARE:
            raise ValueError(f"world {self.name}: families take over {_MAX_FAMILY_SHARE:.0%}")
        typologies = [name for name, _ in self.laundering]
        if not typologies or not set(typologies) <= set(FRAUD_TYPOLOGIES):
            raise ValueError(f"world {self.name}: laundering must name known typologies")
        if not 0.0 < self.fraud_share <= 0.05:
            raise ValueError(f"world {self.name}: fraud_share must be within (0, 0.05]")
        if self.fresh_share + self.dormant_share > 1.0:
            raise ValueError(f"world {self.name}: fresh and dormant shares exceed 1")
        if not self.settlement_lags or not set(self.settlement_lags) <= {1, 2, 3}:
            raise ValueError(f"world {self.name}: settlement lags must be 1-3 days")

    def share(self, family: str) -> float:
        """The share of the day's transfers a family takes (0 where the world lacks it)."""
        return dict(self.families).get(family, 0.0)

    @property
    def present_families(self) -> tuple[str, ...]:
        return tuple(name for name in LEGITIMATE_TYPOLOGIES if self.share(name) > 0)

    @property
    def present_typologies(self) -> tuple[str, ...]:
        weights = dict(self.laundering)
        return tuple(name for name in FRAUD_TYPOLOGIES if weights.get(name, 0.0) > 0)


WORLDS: dict[str, World] = {
    world.name: world
    for world in (
        World(
            name="retail_bank",
            summary="a high-street bank: every family, moderate hops, some structuring",
            id_format="acc",
            families=(
                ("merchant", 0.12),
                ("employer", 0.04),
                ("processor", 0.04),
                ("payroll_bureau", 0.003),
                ("wholesale", 0.015),
                ("landlord", 0.001),
                ("exchange", 0.02),
                ("bill_split", 0.02),
                ("one_off", 0.003),
            ),
            laundering=tuple((name, 1.0) for name in FRAUD_TYPOLOGIES),
        ),
        World(
            name="payments_company",
            summary="processors and marketplaces dominate; slow, multi-day laundering; hex ids",
            id_format="hex",
            families=(
                ("processor", 0.24),
                ("merchant", 0.06),
                ("employer", 0.01),
                ("payroll_bureau", 0.002),
                ("exchange", 0.02),
                ("bill_split", 0.04),
                ("one_off", 0.002),
            ),
            laundering=(
                ("fan_in", 1.5),
                ("fan_out", 1.0),
                ("scatter_gather", 1.0),
                ("gather_scatter", 1.5),
                ("random_chain", 1.0),
                ("bipartite", 0.7),
            ),
            fraud_share=0.008,
            hop_minutes=(60.0, 1_800.0),
            multi_day_share=0.55,
            fresh_share=0.35,
            dormant_share=0.05,
            structuring_share=0.0,
            exchange_structuring_share=0.0,
            settlement_lags=(1, 2, 2, 3),
            currency_shares=(0.5, 0.4, 0.1),
        ),
        World(
            name="small_business",
            summary="wholesalers, landlords and payroll bureaus; dormant shells; IBAN ids",
            id_format="iban",
            families=(
                ("wholesale", 0.12),
                ("payroll_bureau", 0.007),
                ("landlord", 0.0025),
                ("employer", 0.03),
                ("merchant", 0.05),
                ("processor", 0.03),
                ("one_off", 0.005),
            ),
            laundering=(
                ("cycle", 1.0),
                ("stack", 1.2),
                ("bipartite", 1.2),
                ("fan_in", 1.0),
                ("gather_scatter", 0.8),
                ("random_chain", 0.8),
            ),
            amount_scale=3.0,
            fraud_share=0.015,
            hop_minutes=(120.0, 1_800.0),
            multi_day_share=0.35,
            fresh_share=0.1,
            dormant_share=0.3,
            structuring_share=0.05,
            exchange_structuring_share=0.0,
            currency_shares=(0.1, 0.2, 0.7),
        ),
        World(
            name="crypto_offramp",
            summary="exchanges and cash-out points, structuring on both sides, fast hops; uuids",
            id_format="uuid",
            families=(
                ("exchange", 0.15),
                ("merchant", 0.08),
                ("employer", 0.02),
                ("processor", 0.03),
                ("bill_split", 0.03),
                ("one_off", 0.004),
            ),
            laundering=(
                ("fan_in", 1.2),
                ("scatter_gather", 1.5),
                ("gather_scatter", 1.2),
                ("fan_out", 1.0),
                ("random_chain", 1.0),
                ("cycle", 0.6),
            ),
            fraud_share=0.016,
            hop_minutes=(1.0, 90.0),
            multi_day_share=0.1,
            fresh_share=0.45,
            dormant_share=0.1,
            structuring_share=0.2,
            exchange_structuring_share=0.08,
            currency_shares=(0.8, 0.15, 0.05),
        ),
        World(
            name="cross_border",
            summary="another currency (x8 amounts), slow hops often next day; numeric ids",
            id_format="numeric",
            families=(
                ("merchant", 0.08),
                ("employer", 0.03),
                ("processor", 0.05),
                ("wholesale", 0.04),
                ("exchange", 0.03),
                ("landlord", 0.001),
                ("bill_split", 0.01),
                ("one_off", 0.006),
            ),
            laundering=tuple((name, 1.0) for name in FRAUD_TYPOLOGIES),
            amount_scale=8.0,
            fraud_share=0.01,
            hop_minutes=(360.0, 2_400.0),
            multi_day_share=0.6,
            fresh_share=0.15,
            dormant_share=0.2,
            structuring_share=0.0,
            exchange_structuring_share=0.0,
            settlement_lags=(2, 2, 3),
            currency_shares=(0.3, 0.3, 0.4),
        ),
    )
}


def world_names() -> tuple[str, ...]:
    """The registered worlds, the default (``retail_bank``) first."""
    return tuple(WORLDS)


def get_world(name: str) -> World:
    try:
        return WORLDS[name]
    except KeyError:
        raise ValueError(
            f"unknown world {name!r}; expected one of {', '.join(world_names())}"
        ) from None
