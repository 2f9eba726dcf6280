"""A gzip CSV file parsed while it is inflated, never held whole as text.

pyarrow inflates (``pa.CompressedInputStream``) and parses (`read_csv_arrow`) block by block.
The text passes `_Watched` on its way, which notes what `arrow_reading_is_exact` needs to trust
the reading: whether a quote occurs, and the last line. A reading it cannot trust, a damaged
file (pyarrow refuses it: truncated, a bad checksum, bytes after the last member) or a small one
returns None, and the caller decompresses the file whole with ``gzip.decompress``, whose
verdicts are the rule.
"""

from __future__ import annotations

import csv
import io
import zlib

import pyarrow as pa

from fraud_platform.defs.ingest.csv_reader import (
    BOM,
    CsvRows,
    arrow_reading_is_exact,
    header_names,
    last_line_of,
    read_csv_arrow,
    row_lines,
)

#: Compressed files smaller than this are decompressed whole: they hold a few megabytes of text.
STREAM_MIN_BYTES = 1 << 20
#: Compressed bytes inflated up front to find the header line.
_HEAD_BYTES = 1 << 16


def read_gzip_csv(compressed: bytes) -> CsvRows | None:
    """The CSV of a gzip file parsed while it is inflated, or None for the whole-bytes path.

    Several members read as their texts joined, as with ``gzip.decompress``. Anything the
    whole-bytes path could decide otherwise (damage, a blank line, no header in the first
    piece, a small file) is left to it.
    """
    if len(compressed) < STREAM_MIN_BYTES:
        return None
    try:
        head = zlib.decompressobj(wbits=31).decompress(compressed[:_HEAD_BYTES])
    except zlib.error:
        return None
    skip = len(BOM) if head.startswith(BOM) else 0
    head = head[skip:]
    if b"\n" not in head or head.isspace():
        return None  # a header longer than the head, or maybe a blank file
    try:
        header = header_names(head)
    except (UnicodeDecodeError, csv.Error):
        return None
    if not header:
        return None
    text = _Watched(pa.CompressedInputStream(pa.BufferReader(compressed), "gzip"), skip)
    try:
        table = read_csv_arrow(pa.PythonFile(text, mode="r"), header, ignore_empty_lines=False)
    except (OSError, pa.ArrowException):  # damaged: gzip.decompress gives the verdict
        return None
    if table is None or not arrow_reading_is_exact(table, text.quoted, text.last_line()):
        return None
    return table, row_lines(table.num_rows), []


class _Watched(io.RawIOBase):
    """The inflated text of ``source`` as pyarrow's reader pulls it, past a byte-order mark
    (``skip`` bytes), noting whether a quote occurs and the last two blocks (the last line)."""

    def __init__(self, source: pa.NativeFile, skip: int) -> None:
        super().__init__()
        self._source = source
        if skip:
            source.read(skip)
        self._blocks: list[bytes] = []
        self.quoted = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        block = self._source.read(None if size < 0 else size)
        if block:
            self.quoted = self.quoted or b'"' in block
            self._blocks = [*self._blocks[-1:], block]
        return block

    def last_line(self) -> bytes | None:
        """The text's last line (`last_line_of`) when the last two blocks hold it, else None."""
        for count in (1, 2):
            tail = b"".join(self._blocks[-count:])
            line = last_line_of(tail)
            if len(line) < len(tail.rstrip(b"\r\n")) or count > len(self._blocks):
                return line
        return None
