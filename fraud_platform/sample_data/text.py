"""Text assembly for the sample data: numbers → ASCII matrices → Arrow strings.

No per-row Python objects: columns are assembled as ASCII digit matrices that become Arrow string
buffers without copying. Arrow's own cast/pad/join kernels were measured 5-10x slower for the
same columns. Account ids come in the formats the named worlds use (``ACC0001234``, opaque hex,
IBAN, uuid, digits only), so that nothing downstream can rely on one id shape.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

#: Account id formats, by the name a world uses.
ID_FORMATS = ("acc", "hex", "iban", "uuid", "numeric")

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_IBAN_BANKS = (b"NWBK", b"BARC", b"LOYD", b"HBUK", b"MIDL", b"NAIA", b"ABBY", b"MONZ")
_IBAN_BANK_SHARES = (0.2, 0.2, 0.18, 0.14, 0.1, 0.08, 0.06, 0.04)


def digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers, zero-padded on the left."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = np.asarray(values, dtype=np.int64).copy()
    for column in range(width - 1, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, column] = digit
    out += ord("0")
    return out


def with_prefix(prefix: bytes, matrix: np.ndarray) -> np.ndarray:
    head = np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (len(matrix), len(prefix)))
    return np.concatenate([head, matrix], axis=1)


def fixed_width_strings(matrix: np.ndarray) -> pa.Array:
    """An Arrow string array whose i-th value is row i of an ASCII matrix (no copy)."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(matrix)
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))


def _right_aligned_strings(matrix: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """An Arrow string array made of the last ``lengths[i]`` characters of each matrix row."""
    rows, width = matrix.shape
    keep = np.arange(width)[None, :] >= (width - lengths)[:, None]
    offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix[keep]))
    )


def format_cents(cents: np.ndarray, decimal: str = ".", suffix: str = "") -> pa.Array:
    """Amounts in cents as text such as ``1234.50`` or ``-0.99`` (vectorised)."""
    cents = np.asarray(cents, dtype=np.int64)
    negative = cents < 0
    whole, fraction = np.divmod(np.abs(cents), 100)
    digits = 1 + np.searchsorted(10 ** np.arange(1, 19, dtype=np.int64), whole, side="right")
    most = int(digits.max(initial=1))
    tail = (decimal + "00" + suffix).encode()
    matrix = np.empty((len(cents), 1 + most + len(tail)), dtype=np.uint8)
    matrix[:, 1 : 1 + most] = digit_matrix(whole, most)
    matrix[:, 1 + most :] = np.frombuffer(tail, dtype=np.uint8)
    matrix[:, 2 + most : 4 + most] = digit_matrix(fraction, 2)
    signed = np.flatnonzero(negative)
    matrix[signed, most - digits[signed]] = ord("-")
    return _right_aligned_strings(matrix, digits + len(tail) + negative)


def format_times(day: dt.date, ms: np.ndarray, *, millis: bool) -> pa.Array:
    """ISO-8601 times of ``day``: ``…T13:45:12Z`` or, with ``millis``, naive ``…T13:45:12.345``."""
    template = f"{day.isoformat()}T00:00:00" + (".000" if millis else "Z")
    matrix = np.empty((len(ms), len(template)), dtype=np.uint8)
    matrix[:] = np.frombuffer(template.encode(), dtype=np.uint8)
    seconds, milli = np.divmod(np.asarray(ms, dtype=np.int64), 1000)
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    for column, values in ((11, hours), (14, minutes), (17, secs)):
        matrix[:, column : column + 2] = digit_matrix(values, 2)
    if millis:
        matrix[:, 20:23] = digit_matrix(milli, 3)
    return fixed_width_strings(matrix)


# --------------------------------------------------------------------------------------------
# Account ids
# --------------------------------------------------------------------------------------------


def _distinct_integers(rng: np.random.Generator, size: int, low: int, high: int) -> np.ndarray:
    """``size`` distinct random integers of [low, high), in draw order.

    Drawing a little more than needed and dropping repeats avoids the permutation of the whole
    space that ``choice(replace=False)`` makes when ``size`` is a sizeable share of it.
    """
    found = np.zeros(0, dtype=np.int64)
    while len(found) < size:
        extra = rng.integers(low, high, size - len(found) + size // 100 + 16, dtype=np.int64)
        both = np.concatenate([found, extra])
        _, first = np.unique(both, return_index=True)
        found = both[np.sort(first)]
    return found[:size]


def _hex_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) lowercase hex digits of non-negative integers."""
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = np.asarray(values, dtype=np.uint64).copy()
    for column in range(width - 1, -1, -1):
        out[:, column] = _HEX[(rest & np.uint64(15)).astype(np.intp)]
        rest >>= np.uint64(4)
    return out


def _iban_check_digits(bban: np.ndarray, country: bytes) -> np.ndarray:
    """ISO 13616 check digits: 98 minus (BBAN + country + "00", letters as 10-35) mod 97."""
    rest = np.zeros(len(bban), dtype=np.int64)
    tail = np.broadcast_to(np.frombuffer(country + b"00", dtype=np.uint8), (len(bban), 4))
    for column in np.concatenate([bban, tail], axis=1).T:
        letter = column >= ord("A")
        value = np.where(letter, column.astype(np.int64) - ord("A") + 10, column - ord("0"))
        rest = (rest * np.where(letter, 100, 10) + value) % 97
    return 98 - rest


def account_labels(rng: np.random.Generator, size: int, id_format: str) -> pa.Array:
    """``size`` distinct account ids in a world's format, seeded and in random order."""
    if id_format == "acc":
        # A seeded sample of a 7+ digit space, so the ids look like real account numbers.
        space = max(10_000_000, 4 * size)
        numbers = rng.choice(space, size=size, replace=False)
        return fixed_width_strings(with_prefix(b"ACC", digit_matrix(numbers, len(str(space - 1)))))
    if id_format == "numeric":
        width = max(12, len(str(40 * size)))
        numbers = _distinct_integers(rng, size, 10 ** (width - 1), 10**width)
        return fixed_width_strings(digit_matrix(numbers, width))
    if id_format == "hex":
        numbers = _distinct_integers(rng, size, 0, 2**63 - 1)
        return fixed_width_strings(_hex_matrix(numbers, 16))
    if id_format == "uuid":
        high = _distinct_integers(rng, size, 0, 2**63 - 1)
        low = rng.integers(0, 2**62, size, dtype=np.int64)
        digits = np.concatenate([_hex_matrix(high, 16), _hex_matrix(low, 16)], axis=1)
        digits[:, 12] = ord("4")  # version 4 (random)
        digits[:, 16] = _HEX[8 + rng.integers(0, 4, size)]  # RFC 4122 variant: 8, 9, a or b
        dash = np.full((size, 1), ord("-"), dtype=np.uint8)
        pieces = [digits[:, 0:8], dash, digits[:, 8:12], dash, digits[:, 12:16], dash]
        pieces += [digits[:, 16:20], dash, digits[:, 20:32]]
        return fixed_width_strings(np.concatenate(pieces, axis=1))
    if id_format == "iban":
        # GB IBANs: GBkk BBBB SSSSSS AAAAAAAA (bank code, sort code, account number).
        banks = np.frombuffer(b"".join(_IBAN_BANKS), dtype=np.uint8).reshape(-1, 4)
        bank = banks[rng.choice(len(_IBAN_BANKS), size=size, p=_IBAN_BANK_SHARES)]
        sort_code = digit_matrix(rng.integers(0, 1_000_000, size), 6)
        account = digit_matrix(_distinct_integers(rng, size, 0, 100_000_000), 8)
        bban = np.concatenate([bank, sort_code, account], axis=1)
        check = digit_matrix(_iban_check_digits(bban, b"GB"), 2)
        return fixed_width_strings(np.concatenate([with_prefix(b"GB", check), bban], axis=1))
    raise ValueError(f"unknown id format {id_format!r}; expected one of {ID_FORMATS}")
