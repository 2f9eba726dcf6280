"""Named sample-data worlds: payment networks that differ in who pays whom, how and how fast.

A model trained on one generator learns that generator. Evaluation therefore trains on some
worlds and reports on others: each world changes the mix of legitimate families (including the
look-alikes of laundering that real networks have), the amount scale, how fast and over how many
days laundering moves, which laundering typologies are present, and the shape of account ids.
The worlds themselves are data, in ``worlds.toml`` beside this module; `World` states what a
world may say and checks it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fraud_platform.sample_data.text import ID_FORMATS

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
    id_format: str  # one of text.ID_FORMATS
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
        if self.id_format not in ID_FORMATS:
            raise ValueError(f"world {self.name}: id_format must be one of {', '.join(ID_FORMATS)}")
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


#: Where the worlds are stated: one TOML table each, checked by `World` when read.
WORLDS_FILE = "worlds.toml"
#: Fields given as TOML arrays, held as tuples (a `World` is frozen and hashable).
_TUPLE_FIELDS = ("hop_minutes", "settlement_lags", "currency_shares")


def _world(name: str, spec: object, source: str = WORLDS_FILE) -> World:
    """One world from its TOML table; an unknown or missing key is an error naming the world."""
    if not isinstance(spec, dict):
        raise ValueError(f"{source}: {name} must be a table ([{name}]) of a world's settings")
    values = dict(spec)
    for key in ("families", "laundering"):
        values[key] = tuple(values.get(key, {}).items())
    for key in _TUPLE_FIELDS:
        if key in values:
            values[key] = tuple(values[key])
    try:
        return World(name=name, **values)
    except TypeError as error:  # a key World does not have, or one it needs
        raise ValueError(f"{source}: world {name}: {error}") from None
    except ValueError as error:  # World's own checks, which name the world
        raise ValueError(f"{source}: {error}") from None


def _worlds_of(text: str, source: str) -> dict[str, World]:
    """Every world of a worlds file's ``text`` (from ``source``, named in errors)."""
    try:
        specs = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from None
    return {name: _world(name, spec, source) for name, spec in specs.items()}


def _read_worlds() -> dict[str, World]:
    text = resources.files(__package__).joinpath(WORLDS_FILE).read_text(encoding="utf-8")
    return _worlds_of(text, WORLDS_FILE)


WORLDS: dict[str, World] = _read_worlds()


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


def add_worlds(path: str | Path) -> tuple[str, ...]:
    """Register the worlds of a TOML file written like ``worlds.toml`` (e.g. a network's own
    make-up, to evaluate on); a name already registered is refused. Returns the names added."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read the worlds file {source}: {error.strerror}") from None
    found = _worlds_of(text, str(source))
    taken = sorted(set(found) & set(WORLDS))
    if taken:
        raise ValueError(f"{source}: {', '.join(taken)} already named; give the world another name")
    if not found:
        raise ValueError(f"{source}: no world in it (one [name] table per world)")
    WORLDS.update(found)
    return tuple(found)
