"""CSV bytes into text columns, with each row's physical line and the lines that would not parse.

pyarrow's multi-threaded reader is the fast path. It numbers rows, not physical lines, and
refuses ragged rows and Latin-1, so a file where the two could differ (blank lines, quoted line
breaks, ragged rows, bytes that are not UTF-8) goes through the standard-library reader, which
keeps every bad line with its number and text (`read_csv_bytes`): the rejected rows' contract
(file, line, field, reason) needs the physical line of every row, which pyarrow does not give.

Blank lines are not rows. A line that cannot be parsed (ragged, an unbalanced quote, a field
beyond the reader's limit) is rejected on its own: the lines after it are still read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from fraud_platform.defs.ingest.arrow_text import byte_lengths, holds_any
from fraud_platform.defs.ingest.records import TEXT

#: What one unparseable CSV line becomes: (physical line, reason, original text).
BrokenLine = tuple[int, str, str]
#: A file's columns as read, the physical line of each row, and the lines that could not be read.
CsvRows = tuple[pa.Table, np.ndarray, list[BrokenLine]]
BOM = b"\xef\xbb\xbf"

#: Bytes whose presence in a value means pyarrow's reading needs a second look.
_QUOTE_OR_BREAK = np.zeros(256, dtype=bool)
_QUOTE_OR_BREAK[[ord('"'), ord("\n"), ord("\r")]] = True


def read_csv_bytes(data: bytes) -> CsvRows:
    """Parse CSV bytes into text columns, with each row's physical line and unparseable lines.

    pyarrow's multi-threaded reader is the fast path; every column is read as text, so ``007``
    stays ``007``. It numbers rows, not physical lines, and refuses ragged rows and Latin-1, so
    files with blank lines, quoted newlines, ragged rows or bytes that are not UTF-8 go through
    the standard-library reader instead.

    The reader is first tried without skipping empty lines, so that a blank line shows, and its
    result is kept when `arrow_reading_is_exact` proves that the line-by-line quote scan of
    `_needs_exact_reader` would have passed; otherwise (a rare file) that scan decides, as ever.
    """
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        header = header_names(data)
    except (UnicodeDecodeError, csv.Error):
        header = []
    if header:
        table = read_csv_arrow(pa.BufferReader(data), header, ignore_empty_lines=False)
        quoted = b'"' in data
        last_line = last_line_of(data) if quoted else b""
        if table is not None and arrow_reading_is_exact(table, quoted, last_line):
            return table, row_lines(table.num_rows), []
    if _needs_exact_reader(data):
        return _read_csv_exact(data)
    try:
        header = header_names(data)
    except (UnicodeDecodeError, csv.Error):
        return _read_csv_exact(data)
    table = read_csv_arrow(pa.BufferReader(data), header, ignore_empty_lines=True)
    if table is None:
        return _read_csv_exact(data)
    return table, row_lines(table.num_rows), []


def read_csv_arrow(
    source: pa.NativeFile, header: list[str], *, ignore_empty_lines: bool
) -> pa.Table | None:
    """Every column as text with pyarrow's reader, or None where it refuses the file.

    ``read_csv``, not the streaming ``open_csv``: a file is validated whole anyway, and the
    threaded reader is the faster (an 81 MB file: 83-193 ms against 117-218 ms;
    ``python benchmarks/ingest.py --kernels``).
    """
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=False, ignore_empty_lines=ignore_empty_lines
            ),
            convert_options=pacsv.ConvertOptions(
                # Read everything as text: validation decides what a value means.
                column_types={name: TEXT for name in header},
                strings_can_be_null=False,
                auto_dict_encode=False,
            ),
        )
        # A header name the line split above read differently would have been type-inferred.
        return table.cast(pa.schema([(name, TEXT) for name in table.column_names]))
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
        return None


def row_lines(rows: int) -> np.ndarray:
    """The physical lines of ``rows`` rows read without a gap: the header is line 1."""
    return np.arange(2, rows + 2, dtype=np.int64)


def arrow_reading_is_exact(table: pa.Table, quoted: bool, last_line: bytes | None) -> bool:
    """Whether `_needs_exact_reader` would pass a file pyarrow read without skipping lines.

    Read that way, a blank line is a row of empty values: none means no line was blank. Every
    line has an even number of quotes when no value or name holds a quote or a line break and
    the last line's count is even: pyarrow takes a quote inside an unquoted value or a doubled
    quote as data, and a quoted value that runs past its line takes the line break with it, so
    each line held only opening and closing pairs, but for an unterminated quote at the very
    end of the file. ``quoted``: the file holds a quote; ``last_line``: its last line (None:
    not known).
    """
    if _has_empty_row(table):
        return False
    if not quoted:
        return True
    if any(char in name for name in table.column_names for char in '"\r\n'):
        return False
    if any(holds_any(column, _QUOTE_OR_BREAK) for column in table.columns):
        return False
    return last_line is not None and last_line.count(b'"') % 2 == 0


def _has_empty_row(table: pa.Table) -> bool:
    """Whether some row has only empty values (what a blank line reads as)."""
    if table.num_columns == 0 or table.num_rows == 0:
        return False
    first = byte_lengths(table.column(0))
    if first.min() > 0:
        return False
    empty = first == 0
    for index in range(1, table.num_columns):
        empty &= byte_lengths(table.column(index)) == 0
    return bool(empty.any())


def last_line_of(data: bytes) -> bytes:
    """The last of ``data.splitlines()``, found from the end."""
    end = len(data)
    if data.endswith(b"\r\n"):
        end -= 2
    elif data.endswith((b"\n", b"\r")):
        end -= 1
    newline = data.rfind(b"\n", 0, end)
    carriage = data.rfind(b"\r", newline + 1, end)
    return data[max(newline, carriage) + 1 : end]


def _needs_exact_reader(data: bytes) -> bool:
    """Whether physical line numbers could differ from row numbers + 1 in pyarrow's reading.

    Blank lines (pyarrow skips them) and quoted newlines (a row spanning lines); an odd number
    of quotes on some line is the cheap sign of the latter, or of an unbalanced quote.
    """
    if data.startswith((b"\n", b"\r")) or b"\n\n" in data or b"\n\r\n" in data or b"\r\r" in data:
        return True
    return b'"' in data and any(line.count(b'"') % 2 for line in data.splitlines())


def header_names(data: bytes) -> list[str]:
    """The first line's field names (the fast path reads every named column as text)."""
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")
    return next(csv.reader([first]), [])


def _decoded_lines(data: bytes) -> list[str]:
    """Physical lines with their endings; a line that is not valid UTF-8 is read as Latin-1."""
    try:
        return io.StringIO(data.decode("utf-8"), newline="").readlines()
    except UnicodeDecodeError:
        # Line by line, so one Latin-1 line does not garble the UTF-8 lines of the same file.
        lines = []
        for raw in data.splitlines(keepends=True):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("latin-1"))
        return lines


class _Lines(Iterator[str]):
    """Physical lines fed to `csv.reader`, with a cursor that can be moved back after a bad line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.position = 0  # index of the next line to hand out

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]

    def text(self, index: int) -> str:
        return self.lines[index].rstrip("\r\n")


def _read_csv_exact(data: bytes) -> CsvRows:
    """Standard-library CSV reading with physical line numbers, one verdict per bad line.

    A record that spans lines but has the wrong number of fields is an unbalanced quote that
    swallowed the lines after it: only its first line is rejected and reading resumes on the next
    line, so a stray quote costs one row, not the rest of the file. The same holds for a line
    the reader refuses (``csv.Error``: an unbalanced quote at the end of the file, a field beyond
    the reader's size limit).
    """
    lines = _Lines(_decoded_lines(data))
    reader = csv.reader(lines, strict=True)
    header: list[str] = []
    while not header:  # blank lines before the header are skipped
        try:
            header = next(reader)
        except StopIteration:
            return pa.table({}), row_lines(0), []
        except csv.Error as exc:
            raise ValueError(f"malformed CSV header: {exc}") from None
    width = len(header)
    records: list[list[str]] = []
    numbers: list[int] = []
    broken: list[BrokenLine] = []
    while True:
        start = lines.position
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reason = f"malformed CSV: {exc}"
            if str(exc) == "unexpected end of data":
                reason = "unbalanced quote: a quoted value runs to the end of the file"
            broken.append((start + 1, reason, lines.text(start)))
            lines.position = start + 1
            reader = csv.reader(lines, strict=True)  # a fresh reader: no half-read record
            continue
        if not record:  # a blank line
            continue
        if len(record) == width:
            records.append(record)
            numbers.append(start + 1)
        elif lines.position - start > 1:
            reason = f"unbalanced quote: expected {width} fields, found {len(record)}"
            broken.append((start + 1, reason, lines.text(start)))
            lines.position = start + 1
            reader = csv.reader(lines, strict=True)
        else:
            reason = f"expected {width} fields, found {len(record)}"
            broken.append((start + 1, reason, lines.text(start)))
    columns = list(zip(*records, strict=True)) if records else [()] * width
    table = pa.Table.from_arrays([pa.array(values, TEXT) for values in columns], names=header)
    return table, np.asarray(numbers, dtype=np.int64), broken
