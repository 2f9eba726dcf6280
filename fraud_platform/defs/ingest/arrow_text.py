"""Arrow text columns read at the byte level: NUL and quote scans, trimming, row picks.

Validation asks a few questions of every text value (does it hold a NUL, does it need
trimming); asked of a column's data buffer with NumPy, they are answered for the whole column
at once, usually by its smallest byte, where pyarrow's kernels visit every value. That is why
the scans here are hand-written: ``python benchmarks/ingest.py --kernels`` times each against
the pyarrow kernel doing the same job (figures on 262,144 rows of the generated day below).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.ingest.records import STR, TEXT

_SCAN_BLOCK = 1 << 20


def is_text(kind: pa.DataType) -> bool:
    """Whether a column holds text (the checks here read text; other types go to pandas)."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or kind == pa.string_view()


def large_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text as ``large_string``, the one layout `text_buffers` reads (64-bit offsets)."""
    return values if values.type == TEXT else values.cast(TEXT)


def text_buffers(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A ``large_string`` chunk's offsets (one per row, plus the end) and data bytes, uncopied."""
    if len(chunk) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    _, offsets, data = chunk.buffers()
    starts = np.frombuffer(offsets, dtype=np.int64, count=len(chunk) + 1, offset=chunk.offset * 8)
    return starts, (np.zeros(0, np.uint8) if data is None else np.frombuffer(data, np.uint8))


def present_mask(chunk: pa.Array) -> np.ndarray | None:
    """Which rows are not null, or None when none is (a null may still own bytes in Arrow)."""
    return None if chunk.null_count == 0 else chunk.is_valid().to_numpy(zero_copy_only=False)


def holds_any(values: pa.ChunkedArray, table: np.ndarray) -> bool:
    """Whether any value holds a byte marked in ``table`` (256 booleans).

    Hand-written for speed (``benchmarks/ingest.py --kernels``): 0.1 ms where
    ``pc.match_substring_regex`` takes 17-25 ms, as no byte is that low in most columns.
    """
    highest = int(np.flatnonzero(table)[-1])
    for chunk in values.chunks:
        offsets, data = text_buffers(chunk)
        used = data[offsets[0] : offsets[-1]]
        if used.size == 0 or int(used.min()) > highest:  # no byte that low: nothing to look at
            continue
        for start in range(0, used.size, _SCAN_BLOCK):
            if table[used[start : start + _SCAN_BLOCK]].any():
                return True
    return False


def nul_rows(values: pa.ChunkedArray) -> np.ndarray:
    """Rows holding a NUL character (a zero byte: UTF-8 has no other).

    Hand-written for speed (``benchmarks/ingest.py --kernels``): 0.1 ms a column where
    ``pc.match_substring`` takes 4-7 ms, asked of every column of every batch.
    """
    masks = []
    for chunk in values.chunks:
        offsets, data = text_buffers(chunk)
        mask = np.zeros(len(chunk), dtype=bool)
        used = data[offsets[0] : offsets[-1]]
        if used.size and int(used.min()) == 0:
            at = np.flatnonzero(used == 0) + offsets[0]
            mask[np.searchsorted(offsets, at, side="right") - 1] = True
            present = present_mask(chunk)
            if present is not None:
                mask &= present
        masks.append(mask)
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def _may_need_trim(chunk: pa.Array) -> bool:
    """Whether a value may start or end with whitespace: a first or last byte that is not
    printable ASCII (control, space, or part of a character beyond ASCII)."""
    offsets, data = text_buffers(chunk)
    used = data[offsets[0] : offsets[-1]]
    if used.size == 0 or (used.min() > 0x20 and used.max() < 0x7F):  # no such byte at all
        return False
    first = np.take(data, offsets[:-1], mode="clip")
    last = np.take(data, offsets[1:] - 1, mode="clip")  # an empty value looks at a neighbour
    return bool(((first - np.uint8(0x21)) > 0x5D).any() or ((last - np.uint8(0x21)) > 0x5D).any())


def trimmed(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``str.strip()`` as pandas does it (``pc.utf8_trim_whitespace``), skipped where it changes
    nothing: the check takes 0.1 ms where the kernel takes 2-3 ms a column
    (``benchmarks/ingest.py --kernels``)."""
    chunks = [pc.utf8_trim_whitespace(c) if _may_need_trim(c) else c for c in values.chunks]
    return pa.chunked_array(chunks, type=TEXT)


def byte_lengths(values: pa.ChunkedArray) -> np.ndarray:
    """Each value's length in bytes (0 for a null)."""
    return pc.fill_null(pc.binary_length(values), 0).to_numpy()


def null_mask(values: pa.ChunkedArray) -> np.ndarray:
    """Which rows are null (all False, without a pass, when none is)."""
    if values.null_count == 0:
        return np.zeros(len(values), dtype=bool)
    return values.is_null().to_numpy()


def take_rows(values: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``values.take(rows)`` for ascending ``rows``, chunk by chunk.

    pyarrow's take of a chunked array costs as much as a copy of the column, however few the
    rows: 1.6-2 ms for 1,000 rows of a 1,000,000-row file, against 0.1-0.2 ms here
    (``benchmarks/ingest.py --kernels``); rejected rows and odd values are picked this way.
    """
    parts = []
    start = 0
    for chunk in values.chunks:
        low, high = np.searchsorted(rows, [start, start + len(chunk)])
        if high > low:
            parts.append(chunk.take(pa.array(rows[low:high] - start)))
        start += len(chunk)
    return pa.chunked_array(parts, type=values.type)


def rows_by_length(
    chunk: pa.Array, shortest: int, longest: int
) -> Iterator[tuple[slice | np.ndarray, np.ndarray]]:
    """(rows, their bytes as a rows × length matrix) per byte length within the bounds: what
    the byte-level parsers (`timestamps`, the id hashes of `duplicates`) work on.

    A chunk whose values all have one length is one matrix over its data buffer, uncopied;
    otherwise each length's rows are copied out (`_rows_matrix`) and viewed the same way.
    """
    if len(chunk) == 0:
        return
    offsets, _ = text_buffers(chunk)
    lengths = np.diff(offsets)
    low, high = int(lengths.min()), int(lengths.max())
    if low == high:
        if shortest <= low <= longest:
            yield slice(None), byte_matrix(chunk, low)
        return
    clipped = np.clip(lengths, shortest - 1, longest + 1) - (shortest - 1)
    counts = np.bincount(clipped, minlength=longest - shortest + 3)
    buckets = np.flatnonzero(counts[1:-1]) + 1
    if len(buckets) <= 8:  # the usual case: a pass per length is cheaper than a sort
        groups = ((b, np.flatnonzero(clipped == b)) for b in buckets)
    else:
        order = np.argsort(clipped.astype(np.uint16), kind="stable")
        ends = np.cumsum(counts)
        groups = ((b, order[ends[b] - counts[b] : ends[b]]) for b in buckets)
    for bucket, rows in groups:
        length = int(bucket) + shortest - 1
        yield rows, _rows_matrix(chunk, rows, length)


def byte_matrix(chunk: pa.Array, length: int) -> np.ndarray:
    """The bytes of a chunk whose values all have ``length`` bytes, one row per value."""
    offsets, data = text_buffers(chunk)
    start = int(offsets[0])
    return data[start : start + len(chunk) * length].reshape(len(chunk), length)


def _rows_matrix(chunk: pa.Array, rows: np.ndarray, length: int) -> np.ndarray:
    """The bytes of some rows (ascending) that all have ``length`` bytes, one row per value.

    Usually nearly every row has the common length: its rows then form a few runs, each a
    contiguous stretch of the data buffer, joined with one copy.
    """
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(cuts) > 64:
        return byte_matrix(chunk.take(pa.array(rows)), length)
    offsets, data = text_buffers(chunk)
    firsts = rows[np.concatenate([[0], cuts])]
    lasts = rows[np.concatenate([cuts - 1, [len(rows) - 1]])]
    runs = [data[offsets[a] : offsets[b + 1]] for a, b in zip(firsts, lasts, strict=True)]
    return np.concatenate(runs).reshape(len(rows), length)


def without_rows(values: pa.ChunkedArray, rows: np.ndarray) -> pa.ChunkedArray:
    """``values`` without the (ascending) ``rows``, chunk by chunk.

    Hand-written for the day's sake, not the call's: ``pc.filter`` is as fast a batch (about
    1 ms; ``python benchmarks/ingest.py --kernels``), but its copies come from Arrow's memory
    pool, and a day validated with it and ``pc.if_else`` (`empty_as_null`) took longer, the
    difference system time: 1.18 s against 0.98 s for 3,000,000 rows, CPU 1.70 s against
    1.54 s (medians of 16 cold runs each, in shuffled order; the ``arrow`` kind of
    ``python benchmarks/ingest.py --rows 3000000 --arrow``).
    """
    parts = []
    start = 0
    for chunk in values.chunks:
        low, high = np.searchsorted(rows, [start, start + len(chunk)])
        parts.append(_chunk_without(chunk, rows[low:high] - start) if high > low else chunk)
        start += len(chunk)
    return pa.chunked_array(parts, type=values.type)


def _chunk_without(chunk: pa.Array, rows: np.ndarray) -> pa.Array:
    """A text chunk without some rows: the byte stretches between them joined in one copy (in
    NumPy's memory, not Arrow's pool) and the offsets recomputed."""
    keep = np.ones(len(chunk), dtype=bool)
    keep[rows] = False
    if chunk.null_count:
        return chunk.filter(pa.array(keep))
    offsets, data = text_buffers(chunk)
    lengths = np.diff(offsets)[keep]
    kept_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=kept_offsets[1:])
    starts = np.concatenate([offsets[:1], offsets[rows + 1]])
    ends = np.concatenate([offsets[rows], offsets[-1:]])
    pieces = [data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True) if b > a]
    kept_data = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint8)
    buffers = [None, pa.py_buffer(kept_offsets), pa.py_buffer(kept_data)]
    return pa.Array.from_buffers(TEXT, len(lengths), buffers)


def empty_as_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Empty text as null (a missing currency), by rewriting validity bitmaps only.

    ``pc.if_else`` would copy the column into Arrow's memory pool; see `without_rows` for what
    the two cost a day (``python benchmarks/ingest.py --arrow``).
    """
    chunks = []
    for chunk in values.chunks:
        offsets, _ = text_buffers(chunk)
        empty = offsets[1:] == offsets[:-1]
        if not empty.any():
            chunks.append(chunk)
            continue
        present = ~empty
        nulls = present_mask(chunk)
        if nulls is not None:
            present &= nulls
        validity = pa.py_buffer(np.packbits(present, bitorder="little"))
        # The offsets as seen from this chunk's first row (a view), the data buffer as it is.
        buffers = [validity, pa.py_buffer(offsets), chunk.buffers()[2]]
        chunks.append(pa.Array.from_buffers(TEXT, len(chunk), buffers))
    return pa.chunked_array(chunks, type=TEXT)


def str_series(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    """Arrow text as a pandas ``str`` Series, without copying it."""
    return pd.Series(STR.__from_arrow__(values))
