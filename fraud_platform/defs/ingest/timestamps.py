"""ISO-8601 timestamps to microseconds since the epoch (UTC): the ``timestamp`` rule's parser.

The rule is ``pd.to_datetime(format="ISO8601", utc=True)``: a naive timestamp means UTC.
Values of the common shapes (``YYYY-MM-DD(T| )HH:MM:SS``, 1 to 6 digits of a fraction, then
nothing, ``Z`` or ``±HH:MM``) are parsed from their bytes with NumPy; every other value goes,
only it, through pandas, whose reading defines the rule.

Hand-written for speed: pyarrow's ``pc.cast(text, pa.timestamp("us", "UTC"))`` parses the same
shapes, but it refuses a whole array for one bad value and casts naive and zoned text apart,
so it needs a regex to pick the values it may be given; that takes 2-4 times as long (12-53 ms
against 41-116 ms for 262,144 rows; ``python benchmarks/ingest.py --kernels``); even the cast
alone, without the regex, took 17 ms against 12.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from fraud_platform.defs.ingest.arrow_text import (
    present_mask,
    rows_by_length,
    str_series,
    take_rows,
)
from fraud_platform.defs.ingest.records import Column

_DIGIT = ord("0")

_TRANSPOSE_ROWS = 1 << 14

#: Timestamps parsed from their bytes: ``YYYY-MM-DD(T| )HH:MM:SS``, then ``.`` and 1 to 6
#: digits, then nothing, ``Z`` or ``±HH:MM`` (19 to 32 bytes). Years outside this span and every
#: other shape go to pandas, whose reading is the rule.
_ISO_LENGTHS = (19, 32)

_FAST_YEARS = (1900, 2199)

_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)

_ISO_BASE = "DDDD-DD-DD?DD:DD:DD"

_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _transposed(matrix: np.ndarray) -> np.ndarray:
    """A rows × length byte matrix transposed (byte ``j`` of every row in row ``j``), so that
    every later step runs along long contiguous arrays; copied in cache-sized blocks."""
    rows, length = matrix.shape
    columns = np.empty((length, rows), dtype=np.uint8)
    for start in range(0, rows, _TRANSPOSE_ROWS):
        columns[:, start : start + _TRANSPOSE_ROWS] = matrix[start : start + _TRANSPOSE_ROWS].T
    return columns


def _layout_rows(keys: np.ndarray) -> Iterator[tuple[int, slice | np.ndarray]]:
    """(key, rows) for each value of small non-negative ``keys``; one slice when all agree."""
    counts = np.bincount(keys)
    if counts.max() == len(keys):
        yield int(keys[0]), slice(None)
        return
    for key in np.flatnonzero(counts):
        yield int(key), np.flatnonzero(keys == key)


def _template_ok(columns: np.ndarray, pattern: str) -> np.ndarray:
    """Rows whose bytes follow ``pattern``: ``D`` a digit, ``?`` any byte, others themselves."""
    ok = np.ones(columns.shape[1], dtype=bool)
    scratch = np.empty(columns.shape[1], dtype=np.uint8)
    check = np.empty(columns.shape[1], dtype=bool)
    for at, char in enumerate(pattern):
        if char == "D":
            np.less_equal(np.subtract(columns[at], _DIGIT, out=scratch), 9, out=check)
        elif char != "?":
            np.equal(columns[at], ord(char), out=check)
        else:
            continue
        ok &= check
    return ok


def _two_digits(columns: np.ndarray, at: int) -> np.ndarray:
    return columns[at].astype(np.int32) * 10 + columns[at + 1] - 528  # 528 = "00"


def _iso_micros(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch (UTC) of ISO-8601 texts of one length, and which parsed.

    At one length the zone (none, ``Z`` or ``±HH:MM``) fixes where every field is.
    """
    length, rows = columns.shape
    zone = (columns[length - 1] == ord("Z")).astype(np.int8)
    if length >= 25:
        sign, colon = columns[length - 6], columns[length - 3]
        zone[((sign == ord("+")) | (sign == ord("-"))) & (colon == ord(":"))] = 2
    micros = np.zeros(rows, dtype=np.int64)
    ok = np.zeros(rows, dtype=bool)
    for key, members in _layout_rows(zone):
        suffix = ("", "Z", "?DD:DD")[key]
        digits = length - len(_ISO_BASE) - len(suffix) - 1  # after the seconds' "."
        if digits == -1 or 1 <= digits <= 6:
            pattern = _ISO_BASE + ("." + "D" * digits if digits > 0 else "") + suffix
            part = columns if isinstance(members, slice) else columns[:, members]
            micros[members], ok[members] = _iso_layout(part, pattern, max(digits, 0), key == 2)
    return micros, ok


def _iso_layout(
    columns: np.ndarray, pattern: str, digits: int, zoned: bool
) -> tuple[np.ndarray, np.ndarray]:
    """`_iso_micros` for rows of one pattern (``digits`` of a fraction, ``zoned``: ±HH:MM)."""
    ok = _template_ok(columns, pattern)
    ok &= (columns[10] == ord("T")) | (columns[10] == ord(" "))
    hour, minute = _two_digits(columns, 11), _two_digits(columns, 14)
    second = _two_digits(columns, 17)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    clock = (hour * 60 + minute) * 60 + second
    if zoned:  # ±HH:MM: local time minus the offset is UTC
        length = len(pattern)
        hours, minutes = _two_digits(columns, length - 5), _two_digits(columns, length - 2)
        ok &= (hours <= 23) & (minutes <= 59)
        offset = (hours * 60 + minutes) * 60
        clock -= np.where(columns[length - 6] == ord("-"), -offset, offset)
    days = _iso_days(columns, ok)
    micros = (days * 86_400 + clock) * 1_000_000
    if digits:
        fraction = columns[20].astype(np.int32) - _DIGIT
        for at in range(21, 20 + digits):
            fraction = fraction * 10 + columns[at] - _DIGIT
        micros += fraction * 10 ** (6 - digits)
    return micros, ok


def _iso_days(columns: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the ``YYYY-MM-DD`` start of each row; invalid dates fail ``ok``.

    A file usually holds one day: when every row has the first row's date, it is computed once.
    """
    first = columns[:10, 0].tobytes() if columns.shape[1] else b""
    if _DATE.fullmatch(first) and (columns[:10] == columns[:10, :1]).all():
        year, month, day = (np.array([int(first[a:b])]) for a, b in ((0, 4), (5, 7), (8, 10)))
    else:
        year = _two_digits(columns, 0) * 100 + _two_digits(columns, 2)
        month, day = _two_digits(columns, 5), _two_digits(columns, 8)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    days_in_month = _MONTH_DAYS[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    ok &= (
        month_ok
        & (day >= 1)
        & (day <= days_in_month)
        & (year >= _FAST_YEARS[0])
        & (year <= _FAST_YEARS[1])
    )
    # The proleptic Gregorian day number (H. Hinnant's days_from_civil), here for years >= 0.
    shifted = year.astype(np.int64) - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _parse_timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    text = values.astype("str").str.strip()
    # format="ISO8601" accepts 'Z', offsets and naive values; utc=True makes naive mean UTC.
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[us, UTC]")


def _micros(parsed: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    return parsed.array.asi8.copy(), parsed.isna().to_numpy()


def _text_timestamps(values: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds, unparseable) of text as read; values of other shapes than the common ones
    go, only they, through `_parse_timestamps` (which trims them first)."""
    micros = np.zeros(len(values), dtype=np.int64)
    parsed = np.zeros(len(values), dtype=bool)
    at = 0
    for chunk in values.chunks:
        for rows, matrix in rows_by_length(chunk, *_ISO_LENGTHS):
            got, ok = _iso_micros(_transposed(matrix))
            index = slice(at, at + len(chunk)) if isinstance(rows, slice) else rows + at
            micros[index], parsed[index] = got, ok
        present = present_mask(chunk)
        if present is not None:
            parsed[at : at + len(chunk)] &= present
        at += len(chunk)
    missing = ~parsed
    rest = np.flatnonzero(missing)
    if rest.size:
        odd = str_series(take_rows(values, rest))
        micros[rest], missing[rest] = _micros(_parse_timestamps(odd))
    return micros, missing


def timestamp_values(values: Column) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since the epoch, unparseable) of a ``timestamp`` column as read."""
    if isinstance(values, pa.ChunkedArray):
        # Untrimmed: the byte shapes parsed here hold no whitespace, the rest is stripped later.
        return _text_timestamps(values)
    return _micros(_parse_timestamps(values))
