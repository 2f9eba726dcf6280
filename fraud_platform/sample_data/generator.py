"""Seeded daily money-transfer files with planted laundering, so risk scores can be judged.

A day is a mix of flows over one stable population of accounts in a named world (``worlds``):

* background person-to-person transfers (heavy-tailed activity, local communities, a favourite
  contact per account so that parallel transfers and day-to-day persistence exist);
* legitimate families: merchants and employers (hubs), and the look-alikes of laundering that
  real networks have: payment processors settling T+1..T+3 minus a fee, payroll bureaus,
  wholesalers, landlords, exchanges, friends splitting bills, one-off windfalls passed on;
* laundering operations after IBM AMLworld's typologies, with amounts inside the legitimate
  range, hops minutes to days apart, fresh, dormant and camouflaged accounts, some operations
  spanning several days;
* a small share of deliberately malformed rows (CSV files only) that a validator must reject.

``generate_day`` is a pure function of (config, day): what a day needs from earlier days (the
payments a processor settles, the operations still running) is re-derived from those days' own
seeds. Everything is vectorised with numpy and pyarrow (no Python object per transaction), so a
day of ten million transfers fits in memory and a million takes about a second.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fraud_platform.sample_data import flows
from fraud_platform.sample_data.population import CURRENCIES
from fraud_platform.sample_data.population import population as _population
from fraud_platform.sample_data.sampling import MS_PER_DAY, Transfers
from fraud_platform.sample_data.text import (
    digit_matrix,
    fixed_width_strings,
    format_cents,
    format_times,
    with_prefix,
)
from fraud_platform.sample_data.worlds import (
    FRAUD_TYPOLOGIES,
    HUB_TYPOLOGIES,
    LEGITIMATE_TYPOLOGIES,
    WORLDS,
    World,
    get_world,
    world_names,
)
from fraud_platform.settings import redact_url
from fraud_platform.storage.access import (
    object_store_errors,
    read_bytes,
    store_path,
    write_atomically,
)
from fraud_platform.tables import (
    LANDING_OPTIONAL_COLUMNS,
    LANDING_REQUIRED_COLUMNS,
    PARTITION_COLUMN,
)

__all__ = [
    "CURRENCIES",
    "FILE_EXTENSIONS",
    "FRAUD_TYPOLOGIES",
    "GROUND_TRUTH_COLUMNS",
    "GROUND_TRUTH_FILE",
    "GROUND_TRUTH_PATH",
    "HUB_TYPOLOGIES",
    "LANDING_PATH",
    "LEGITIMATE_TYPOLOGIES",
    "MALFORMED_COLUMNS",
    "MALFORMED_KINDS",
    "TRANSACTION_COLUMNS",
    "WORLDS",
    "SampleConfig",
    "SampleDay",
    "World",
    "format_cents",
    "format_times",
    "generate_day",
    "generate_days",
    "part_name",
    "read_ground_truth",
    "world_names",
    "write_day",
]

LANDING_PATH = "landing/transactions"
GROUND_TRUTH_PATH = "sample/ground_truth"
GROUND_TRUTH_FILE = "accounts.csv"

TRANSACTION_COLUMNS = LANDING_REQUIRED_COLUMNS + LANDING_OPTIONAL_COLUMNS
GROUND_TRUTH_COLUMNS = ("account", "typology", "is_fraud", "ring_id", "role")
_GROUND_TRUTH_DTYPES = {
    "account": "str",
    "typology": "str",
    "is_fraud": "bool",
    "ring_id": "int64",
    "role": "str",
}
MALFORMED_COLUMNS = ("transaction_id", "source_file", "line", "field", "kind")

#: File formats in the order a day's parts rotate through them.
FILE_EXTENSIONS = (".csv", ".csv.gz", ".parquet")

#: (kind, field it breaks) for each malformed-row variety, used in rotation.
MALFORMED_KINDS = (
    ("amount_not_number", "amount"),
    ("empty_sender", "sender"),
    ("bad_timestamp", "timestamp"),
    ("negative_amount", "amount"),
    ("self_transfer", "receiver"),
)

_CURRENCY_MISSING_SHARE = 0.005


@dataclass(frozen=True)
class SampleConfig:
    """Size, seed and world of a synthetic landing feed; the same config always yields the same
    files.

    Every day starts laundering operations of at least three in four of the world's typologies,
    so the fraud share of active accounts is higher on tiny days.
    """

    transactions_per_day: int = 20_000
    accounts: int | None = None  # population size; default transactions_per_day // 4 (min 200)
    malformed_rate: float = 0.001  # share of rows deliberately broken (CSV files only)
    files_per_day: int = 3  # parts per day, rotating .csv, .csv.gz, .parquet
    seed: int = 7
    world: str = "retail_bank"  # a name of WORLDS

    def __post_init__(self) -> None:
        if self.transactions_per_day < 1:
            raise ValueError("transactions_per_day must be positive")
        if self.accounts is not None and self.accounts < 100:
            raise ValueError("accounts must be at least 100")
        if not 0.0 <= self.malformed_rate <= 0.5:
            raise ValueError("malformed_rate must be within [0, 0.5]")
        if self.files_per_day < 1:
            raise ValueError("files_per_day must be at least 1")
        get_world(self.world)  # an unknown name fails here, listing the known ones

    @property
    def population_size(self) -> int:
        if self.accounts is not None:
            return self.accounts
        return max(200, self.transactions_per_day // 4)


def _empty_malformed() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c == "line" else "str") for c in MALFORMED_COLUMNS}
    )


@dataclass
class SampleDay:
    """One generated day: its landing rows (text, as written), the planted truth, the broken rows.

    ``transactions`` is ordered as written: the first ``file_rows[0]`` rows go to ``part-000``,
    and so on. ``malformed`` lists every deliberately broken row with its file and 1-based line
    (the header is line 1), so a validator can be checked row by row.
    """

    day: dt.date
    transactions: pd.DataFrame  # TRANSACTION_COLUMNS, all text; missing values are NaN
    ground_truth: pd.DataFrame  # GROUND_TRUTH_COLUMNS; ring_id is -1 for legitimate families
    malformed: pd.DataFrame = field(default_factory=_empty_malformed)
    file_rows: tuple[int, ...] | None = None  # rows per part; None splits by config.files_per_day

    @property
    def malformed_rows(self) -> int:
        return len(self.malformed)

    def file_names(self, config: SampleConfig | None = None) -> list[str]:
        """The part names this day is written to, in order."""
        return [part_name(i) for i in range(len(self._file_rows(config or SampleConfig())))]

    def _file_rows(self, config: SampleConfig) -> tuple[int, ...]:
        if self.file_rows is not None:
            return self.file_rows
        return _split_sizes(len(self.transactions), config.files_per_day)


def part_name(index: int) -> str:
    """``part-000.csv``, ``part-001.csv.gz``, ``part-002.parquet``, ``part-003.csv``, …"""
    return f"part-{index:03d}{FILE_EXTENSIONS[index % len(FILE_EXTENSIONS)]}"


def _split_sizes(rows: int, parts: int) -> tuple[int, ...]:
    base, extra = divmod(rows, parts)
    return tuple(base + (1 if i < extra else 0) for i in range(parts))


def _key(config: SampleConfig) -> flows.PopulationKey:
    return (config.seed, config.population_size, config.transactions_per_day, config.world)


def _clear_caches() -> None:
    """Forget every cached population and re-derived day (tests check a rebuild is the same)."""
    flows.clear_caches()


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate_day(day: dt.date, config: SampleConfig = SampleConfig()) -> SampleDay:
    """The landing rows and ground truth of ``day``: a pure function of (config, day)."""
    pop = _population(*_key(config))
    rng = np.random.default_rng([*pop.stream(flows.DAY_STREAM), day.toordinal()])
    planted_rng, background_rng, malformed_rng, currency_rng = rng.spawn(4)
    total = config.transactions_per_day

    planted, truth = flows.planted(day, _key(config), pop, planted_rng)
    n_background = total - sum(len(t) for t in planted)
    if n_background < total // 2:
        raise ValueError(f"transactions_per_day={total} is too small for the planted structure")
    background = flows.background(background_rng, pop, n_background)
    transfers = Transfers.concat([background, *planted])
    transfers.ms = np.clip(transfers.ms, 0, MS_PER_DAY - 1)
    is_background = np.arange(total) < n_background

    # Rows in time order: ids follow time and each part covers one stretch of the day.
    order = np.argsort(transfers.ms, kind="stable")
    sender, receiver = transfers.sender[order], transfers.receiver[order]
    cents, ms, is_background = transfers.cents[order], transfers.ms[order], is_background[order]

    sizes = _split_sizes(total, config.files_per_day)
    part = np.repeat(np.arange(config.files_per_day), sizes)
    line = np.arange(total) - np.repeat(np.cumsum(sizes) - np.asarray(sizes), sizes) + 2

    # Malformed rows: only background rows of CSV parts, so planted fraud and hubs stay intact.
    is_csv_part = np.array([not part_name(i).endswith(".parquet") for i in range(len(sizes))])
    eligible = np.flatnonzero(is_background & is_csv_part[part])
    n_bad = min(round(config.malformed_rate * total), len(eligible))
    bad = np.sort(malformed_rng.choice(eligible, size=n_bad, replace=False))
    kind = malformed_rng.permutation(np.arange(n_bad) % len(MALFORMED_KINDS))
    kinds = [name for name, _ in MALFORMED_KINDS]

    def broken(name: str) -> np.ndarray:
        return bad[kind == kinds.index(name)]

    sender[broken("empty_sender")] = -1
    receiver[broken("self_transfer")] = sender[broken("self_transfer")]
    cents[broken("negative_amount")] *= -1

    amount = format_cents(cents)
    not_number = broken("amount_not_number")
    if len(not_number):
        mask = np.zeros(total, dtype=bool)
        mask[not_number] = True
        amount = pc.replace_with_mask(
            amount, pa.array(mask), format_cents(cents[not_number], decimal=",", suffix="x")
        )
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    timestamp = pa.concat_arrays(
        [
            format_times(day, ms[bounds[i] : bounds[i + 1]], millis=i % 2 == 1)
            for i in range(len(sizes))
        ]
    )
    unparseable = broken("bad_timestamp")
    if len(unparseable):
        mask = np.zeros(total, dtype=bool)
        mask[unparseable] = True
        timestamp = pc.replace_with_mask(
            timestamp,
            pa.array(mask),
            pa.repeat(pa.scalar(f"{day.year}-13-45T99:00", pa.large_string()), len(unparseable)),
        )

    id_width = max(8, len(str(total)))
    prefix = f"T{day.strftime('%Y%m%d')}-".encode()
    transaction_id = fixed_width_strings(
        with_prefix(prefix, digit_matrix(np.arange(1, total + 1), id_width))
    )
    currency_code = pop.currency[sender.clip(min=0)].astype(np.int64)
    missing_currency = currency_rng.random(total) < _CURRENCY_MISSING_SHARE
    currency = pa.array(CURRENCIES, pa.large_string()).take(
        pa.array(currency_code, mask=missing_currency)
    )
    table = pa.table(
        {
            "transaction_id": transaction_id,
            "timestamp": timestamp,
            "sender": pop.labels.take(pa.array(sender, mask=sender < 0)),
            "receiver": pop.labels.take(pa.array(receiver)),
            "amount": amount,
            "currency": currency,
        }
    )
    names = np.array([part_name(i) for i in range(len(sizes))], dtype=object)
    malformed = pd.DataFrame(
        {
            "transaction_id": transaction_id.take(pa.array(bad)).to_pandas().astype("str"),
            "source_file": pd.array(names[part[bad]], dtype="str"),
            "line": line[bad].astype(np.int64),
            "field": pd.array([MALFORMED_KINDS[k][1] for k in kind], dtype="str"),
            "kind": pd.array([MALFORMED_KINDS[k][0] for k in kind], dtype="str"),
        }
    )
    return SampleDay(
        day=day,
        transactions=table.to_pandas(),
        ground_truth=flows.ground_truth(pop, truth),
        malformed=malformed,
        file_rows=sizes,
    )


def _typed_for_parquet(table: pa.Table) -> pa.Table:
    """Parquet producers write real types: UTC timestamps and float amounts, when they parse."""
    try:
        timestamp = pd.to_datetime(
            table.column("timestamp").to_pandas(), utc=True, format="ISO8601"
        ).astype("datetime64[us, UTC]")
        amount = table.column("amount").cast(pa.float64())
    except (ValueError, TypeError, pa.ArrowInvalid):
        return table  # a hand-made day with broken rows here: keep them as text
    table = table.set_column(
        table.schema.get_field_index("timestamp"), "timestamp", pa.array(timestamp)
    )
    table = table.set_column(table.schema.get_field_index("amount"), "amount", amount)
    return table.replace_schema_metadata(None)


def _writer(name: str, table: pa.Table) -> Callable[[BinaryIO], None]:
    options = pacsv.WriteOptions(include_header=True)
    if name.endswith(".parquet"):
        return lambda handle: pq.write_table(_typed_for_parquet(table), handle)
    if name.endswith(".csv.gz"):

        def write_gzip(handle: BinaryIO) -> None:
            # filename="" and mtime=0 keep the gzip header free of names and clocks (same bytes
            # for the same day, whatever the temp name); level 6, gzip's own default, is 5x
            # faster than Python's 9 for a 7% larger file.
            with gzip.GzipFile(
                filename="", fileobj=handle, mode="wb", compresslevel=6, mtime=0
            ) as stream:
                pacsv.write_csv(table, stream, options)

        return write_gzip
    return lambda handle: pacsv.write_csv(table, handle, options)


def write_day(
    storage_url: str,
    sample: SampleDay,
    config: SampleConfig = SampleConfig(),
) -> list[str]:
    """Write a day's landing parts and its ground truth under ``storage_url``; return their URLs.

    ``storage_url`` is a local folder or an fsspec URL (``s3://bucket/prefix``). ``config`` only
    matters for a hand-made ``SampleDay`` without ``file_rows``: it then sets the number of parts.
    """
    missing = [c for c in LANDING_REQUIRED_COLUMNS if c not in sample.transactions.columns]
    if missing:
        raise ValueError(f"transactions lack required columns {missing}")
    root = store_path(storage_url)
    partition = f"date={sample.day.isoformat()}"
    folder = root / LANDING_PATH / partition
    table = pa.Table.from_pandas(sample.transactions, preserve_index=False)
    table = table.replace_schema_metadata(None)
    sizes = sample._file_rows(config)
    if sum(sizes) != table.num_rows:
        raise ValueError(f"file_rows add up to {sum(sizes)}, not {table.num_rows} rows")

    written: list[str] = []
    start = 0
    for index, size in enumerate(sizes):
        name = part_name(index)
        target = folder / name
        write_atomically(target, _writer(name, table.slice(start, size)))
        written.append(str(target))
        start += size

    truth = root / GROUND_TRUTH_PATH / partition / GROUND_TRUTH_FILE
    frame = sample.ground_truth.loc[:, list(GROUND_TRUTH_COLUMNS)]
    write_atomically(truth, lambda handle: frame.to_csv(handle, index=False))
    written.append(str(truth))
    return written


def generate_days(
    storage_url: str,
    start: dt.date,
    days: int,
    config: SampleConfig = SampleConfig(),
    progress: Callable[[dt.date], None] | None = None,
    *,
    keep_transactions: bool = True,
) -> list[SampleDay]:
    """Generate and write ``days`` consecutive days from ``start``; ``progress`` hears each day.

    With ``keep_transactions=False`` the returned days carry empty transaction frames, so that a
    month of multi-million-row days does not have to fit in memory at once.
    """
    samples: list[SampleDay] = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        sample = generate_day(day, config)
        write_day(storage_url, sample, config)
        if not keep_transactions:
            sample.transactions = sample.transactions.iloc[0:0]
        samples.append(sample)
        if progress is not None:
            progress(day)
    return samples


def read_ground_truth(storage_url: str, days: list[dt.date] | None = None) -> pd.DataFrame:
    """The written ground truth of ``days`` (all written days if None), with ``partition_date``."""
    base = store_path(storage_url) / GROUND_TRUTH_PATH
    if days is None:
        with object_store_errors(base, "list"):
            found = list(base.iterdir()) if base.exists() else []
        folders = sorted((p for p in found if p.name.startswith("date=")), key=lambda p: p.name)
    else:
        folders = [base / f"date={day.isoformat()}" for day in days]
    frames = []
    for folder in folders:
        data = read_bytes(folder / GROUND_TRUTH_FILE)
        if data is None:
            raise FileNotFoundError(
                f"no ground truth for {folder.name} under {redact_url(storage_url)}"
            )
        frame = pd.read_csv(io.BytesIO(data), dtype=_GROUND_TRUTH_DTYPES)
        frame.insert(0, PARTITION_COLUMN, folder.name.removeprefix("date="))
        frames.append(frame)
    if not frames:
        empty = {PARTITION_COLUMN: pd.Series(dtype="str")}
        empty.update({c: pd.Series(dtype=t) for c, t in _GROUND_TRUTH_DTYPES.items()})
        return pd.DataFrame(empty)
    return pd.concat(frames, ignore_index=True)
