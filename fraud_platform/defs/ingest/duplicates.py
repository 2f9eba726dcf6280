"""Duplicate ``transaction_id``s across a day: the first occurrence is kept, later ones rejected.

Ids are hashed from their bytes and only ids sharing a hash are compared, exactly, so that no
file's work grows with the ids before it, and the day's ids cost some 40 bytes each.

Hand-written because pyarrow has no kernel for it: it has no row hash, and ``pc.is_in`` against
the day's kept ids builds its hash table anew for every file, so a day's cost grows with its
files. 1,000,000 ids: 80-260 ms here against 310-750 ms in 3 files, 100-120 ms against
1,800-2,100 ms in 20 files (``python benchmarks/ingest.py --kernels``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraud_platform.defs.ingest.arrow_text import rows_by_length, take_rows
from fraud_platform.defs.ingest.records import TEXT
from fraud_platform.defs.ingest.rules import MAX_TEXT_CHARS

_HASH_SEED = 0x9E3779B97F4A7C15

_HASH_MULTIPLIER = np.uint64(0xBF58476D1CE4E5B9)

#: Longest id hashed from its bytes (512 characters of UTF-8); longer ones share a hash and are
#: compared exactly.
_HASH_BYTES = 4 * MAX_TEXT_CHARS


def _row_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 32-bit hash of each row of a byte matrix, from 8-byte words read in place."""
    rows, length = matrix.shape
    matrix = np.ascontiguousarray(matrix)
    if length < 8:
        padded = np.zeros((rows, 8), dtype=np.uint8)
        padded[:, :length] = matrix
        words = [padded.view(np.uint64)[:, 0]]
    else:
        starts = [*range(0, length - 7, 8), *([length - 8] if length % 8 else [])]
        words = [
            np.ndarray((rows,), dtype="<u8", buffer=matrix, offset=start, strides=(length,))
            for start in starts
        ]
    hashes = np.full(rows, (length * _HASH_SEED) % (1 << 64), dtype=np.uint64)
    for word in words:
        hashes ^= word
        hashes *= _HASH_MULTIPLIER
        hashes ^= hashes >> np.uint64(31)
    return (hashes >> np.uint64(32)).astype(np.uint32)


def _id_hashes(transaction_ids: pa.ChunkedArray) -> np.ndarray:
    """A 32-bit hash of each id's bytes (`_row_hashes`, ids of one byte length at a time)."""
    hashes = np.zeros(len(transaction_ids), dtype=np.uint32)
    at = 0
    for chunk in transaction_ids.chunks:
        for rows, matrix in rows_by_length(chunk, 0, _HASH_BYTES):
            index = slice(at, at + len(chunk)) if isinstance(rows, slice) else rows + at
            hashes[index] = _row_hashes(matrix)
        at += len(chunk)
    return hashes


def _first_occurrences(ids: pa.ChunkedArray) -> np.ndarray:
    """For each id, the position of the first equal one: an exact comparison, with Arrow's hash
    table (only called for the few ids that share a hash with another)."""
    codes = pc.dictionary_encode(ids.combine_chunks()).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)  # each code's first position, in order
    first_of_code = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    first_of_code[codes[first]] = first
    return first_of_code[codes]


_LOW_BITS = np.uint64(0xFFFFFFFF)

_SHIFT = np.uint64(32)

#: Bits of `SeenIds`' filter per id kept, at least: a new hash passes it 1 time in 32 at most.
_FILTER_BITS_PER_ID = 32


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of every ``[start, end)``, one range after the other."""
    counts = ends - starts
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())


class SeenIds:
    """The transaction ids a day has kept so far, to reject their repeats in its later rows.

    Per file, its kept ids (Arrow text, copied out of the file), their lines, and a run of keys
    ``hash << 32 | index``, sorted. A bitmap over the hashes' top bits (a one-hash Bloom filter,
    `_FILTER_BITS_PER_ID` bits an id, rebuilt larger as the day grows) tells most ids of a new
    file that no earlier id has their hash, without looking at the runs; the few others are
    looked up in each run. Only ids sharing a 32-bit hash (the repeats, and a few collisions)
    are compared, exactly. Some 40 bytes an id, where the day's rows would take hundreds, and
    no file's work grows with the ids before it but for that lookup of the few.
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.ids: list[pa.Array] = []
        self.lines: list[np.ndarray] = []
        self.sources: list[str] = []
        self.count = 0
        self.shift = np.uint64(32)
        self.bits = np.zeros(1, dtype=np.uint8)

    def repeats(self, valid: pa.Table, source_file: str) -> tuple[np.ndarray, list[str]]:
        """The rows of a file's ``valid`` rows whose id the day has seen before (in an earlier
        file or earlier in this one), with reasons naming the first occurrence; the ids of the
        other rows are remembered."""
        rows = valid.num_rows
        if rows == 0:
            return np.zeros(0, dtype=np.int64), []
        ids = valid.column("transaction_id")
        lines = valid.column("line").to_numpy()
        # This file's rows by hash, then row: hashes shared within the file are neighbours.
        mine = np.sort(
            _id_hashes(ids).astype(np.uint64) << _SHIFT | np.arange(rows, dtype=np.uint64)
        )
        hashes, order = mine >> _SHIFT, (mine & _LOW_BITS).astype(np.int64)
        found, earlier = self._lookup(hashes)
        shared = found.copy()
        pairs = hashes[1:] == hashes[:-1]
        shared[1:] |= pairs
        shared[:-1] |= pairs
        repeated, reasons = np.zeros(0, dtype=np.int64), []
        if shared.any():
            candidates = np.sort(order[shared])
            repeated, reasons = self._compare(ids, lines, source_file, earlier, candidates)
        if repeated.size:
            keep = np.ones(rows, dtype=bool)
            keep[repeated] = False
            kept = keep[order]
            index = (np.cumsum(keep) - 1).astype(np.uint64)
            mine = hashes[kept] << _SHIFT | index[order[kept]]
            ids, lines = ids.filter(pa.array(keep)), lines[keep]
        self.runs.append(mine)
        # A copy: only the ids stay, not the buffers of the file they were read from.
        self.ids.append(pa.concat_arrays(ids.chunks) if ids.num_chunks else pa.array([], TEXT))
        self.lines.append(lines)
        self.sources.append(source_file)
        self.count += mine.size
        if not self._grown():
            self._mark(mine >> _SHIFT)
        return repeated, reasons

    def _lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """Which of the (sorted) ``hashes`` an earlier kept id has, and those ids, as (file,
        indices) in the day's order."""
        found = np.zeros(hashes.size, dtype=bool)
        spots = hashes >> self.shift
        maybe = np.flatnonzero(self.bits[spots >> 3] >> (spots & 7).astype(np.uint8) & 1)
        if maybe.size == 0:
            return found, []
        wanted = np.unique(hashes[maybe])
        hit = np.zeros(wanted.size, dtype=bool)
        earlier = []
        for file, run in enumerate(self.runs):
            starts = np.searchsorted(run, wanted << _SHIFT)
            there = run[np.minimum(starts, run.size - 1)] >> _SHIFT == wanted
            if there.any():
                hit |= there
                ends = np.searchsorted(run, wanted[there] << _SHIFT | _LOW_BITS, side="right")
                index = run[_ranges(starts[there], ends)] & _LOW_BITS
                earlier.append((file, np.sort(index)))
        found[maybe] = hit[np.searchsorted(wanted, hashes[maybe])]
        return found, earlier

    def _compare(
        self,
        ids: pa.ChunkedArray,
        lines: np.ndarray,
        source_file: str,
        earlier: list[tuple[int, np.ndarray]],
        rows: np.ndarray,
    ) -> tuple[np.ndarray, list[str]]:
        """`repeats` among the ids that share a hash: the ``earlier`` kept ids and this file's
        ``rows``, compared exactly, in the day's order."""
        seen = [self.ids[file].take(pa.array(index)) for file, index in earlier]
        firsts = _first_occurrences(pa.chunked_array([*seen, *take_rows(ids, rows).chunks], TEXT))
        # Where each candidate is: its file (this one comes next) and line.
        files = [np.full(index.size, file) for file, index in earlier]
        where = np.concatenate([*files, np.full(rows.size, len(self.sources))])
        at = np.concatenate([*(self.lines[file][index] for file, index in earlier), lines[rows]])
        repeat = firsts != np.arange(firsts.size)  # earlier ids are unique: only this file's
        sources = [*self.sources, source_file]
        reasons = [
            f"duplicate transaction_id (first seen in {sources[f]} line {n})"
            for f, n in zip(
                where[firsts[repeat]].tolist(), at[firsts[repeat]].tolist(), strict=True
            )
        ]
        return rows[repeat[firsts.size - rows.size :]], reasons

    def _grown(self) -> bool:
        """Whether the filter had to grow for ``count`` ids, and was rebuilt from the runs (four
        times larger each time, so that rebuilding costs a third of marking, at most)."""
        if self.bits.size * 8 >= _FILTER_BITS_PER_ID * self.count:
            return False
        bits = min(32, max(20, (4 * _FILTER_BITS_PER_ID * self.count - 1).bit_length()))
        self.shift = np.uint64(32 - bits)
        self.bits = np.zeros(1 << (bits - 3), dtype=np.uint8)
        for run in self.runs:
            self._mark(run >> _SHIFT)
        return True

    def _mark(self, hashes: np.ndarray) -> None:
        spots = hashes >> self.shift
        np.bitwise_or.at(self.bits, spots >> 3, np.left_shift(1, spots & 7).astype(np.uint8))
