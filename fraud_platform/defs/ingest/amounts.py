"""Decimal text to float amounts: the ``amount`` rule's parser.

The rule is ``pd.to_numeric``; plain decimals (digits and at most one dot, up to 15 bytes) are
parsed by pyarrow's cast, which rounds them the same, and only other values go through pandas.
Which values are plain is found with NumPy over the column's bytes, not a regex
(``pc.match_substring_regex``): 9-15 ms against 15-40 ms for 262,144 rows
(``python benchmarks/ingest.py --kernels``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.ingest.arrow_text import present_mask, str_series, take_rows, text_buffers
from fraud_platform.defs.ingest.records import TEXT, Column

#: Longest amount parsed by Arrow (`_plain_decimals`); longer ones go to pandas.
_DECIMAL_DIGITS = 15


def _parse_amounts(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype("str").str.strip()
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _text_amounts(values: pa.ChunkedArray) -> np.ndarray:
    """Amounts of text as read; values other than plain decimals go, only they, through
    `_parse_amounts` (which trims them first)."""
    amounts = np.zeros(len(values), dtype=np.float64)
    parsed = np.zeros(len(values), dtype=bool)
    at = 0
    for chunk in values.chunks:
        stop = at + len(chunk)
        amounts[at:stop], parsed[at:stop] = _plain_decimals(chunk)
        at = stop
    rest = np.flatnonzero(~parsed)
    if rest.size:
        amounts[rest] = _parse_amounts(str_series(take_rows(values, rest))).to_numpy()
    return amounts


def _plain_decimals(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values written as plain decimals (``147.37``, ``007``), and which were.

    Digits with at most one dot between them, at most 15 bytes: Arrow's parsing rounds
    correctly, and so does ``pd.to_numeric`` when the digits make an exact integer divided once
    by an exact power of ten, which at most 15 digits guarantee, so both give the same float.
    """
    offsets, data = text_buffers(chunk)
    lengths = np.diff(offsets)
    ok = (lengths >= 1) & (lengths <= _DECIMAL_DIGITS)
    present = present_mask(chunk)
    if present is not None:
        ok &= present
    start, end = int(offsets[0]), int(offsets[-1])
    if end > start:
        used = data[start:end]
        odd = np.subtract(used, ord("0")) > 9  # neither a digit...
        odd &= used != ord(".")  # ...nor a dot
        _clear_rows(ok, offsets, np.flatnonzero(odd) + start)
        first = np.take(data, offsets[:-1], mode="clip")
        last = np.take(data, offsets[1:] - 1, mode="clip")
        ok &= (first != ord(".")) & (last != ord("."))  # ".5" and "5." are left to pandas
    for _ in range(2):
        text = chunk if ok.all() else pc.if_else(pa.array(ok), chunk, pa.scalar("0", TEXT))
        try:
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False), ok
        except pa.ArrowInvalid:  # a value with two dots, left to pandas
            dots = np.flatnonzero(data[start:end] == ord(".")) + start
            rows = np.searchsorted(offsets, dots, side="right") - 1
            ok[rows[1:][rows[1:] == rows[:-1]]] = False
    raise AssertionError("unreachable: only plain decimals are left")


def _clear_rows(mask: np.ndarray, offsets: np.ndarray, positions: np.ndarray) -> None:
    """Set ``mask`` false for the rows holding the data-buffer byte ``positions``."""
    if positions.size:
        mask[np.searchsorted(offsets, positions, side="right") - 1] = False


def amount_values(values: Column) -> np.ndarray:
    """The amounts of an ``amount`` column as read (NaN where unparseable)."""
    if isinstance(values, pa.ChunkedArray):
        return _text_amounts(values)
    return _parse_amounts(values).to_numpy(dtype=np.float64)
