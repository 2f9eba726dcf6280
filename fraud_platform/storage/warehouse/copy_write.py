"""Loading rows: pandas frames into warehouse tables by ``COPY ... FROM STDIN (FORMAT binary)``.

The frame is encoded to PostgreSQL's binary COPY format by vectorized code (numpy and Arrow
compute over the column buffers, 64k-row batches, no Python per row: `encode_frame`,
`binary_rows`), column order and types from `WAREHOUSE_TABLES`, checked against the database
(binary COPY would take the 8 bytes of a float for a bigint). psycopg's writer thread sends a
batch while the next is encoded; `copy_encoded` writes into the caller's transaction, so a day
is replaced in one transaction with the rest of the IO manager's work.
"""

# Why a hand-written encoder: ``benchmarks/postgres_load.py`` (2 shared cores, a whole day,
# summary + nodes + edges, until the commit; same tables, same run):
#
#     feed                          1M day (1.1M rows)   10M day (11.4M rows)
#     psycopg Copy.write_row        7.1-8.6 s            85-89 s
#     Arrow CSV (the previous feed) 4.0-5.2 s            43-46 s
#     binary (this encoder)         1.5-1.9 s            15.3-17.4 s
#     ADBC adbc_ingest              2.6-2.9 s            24-25 s
#
# ADBC also needs a connection of its own, hence a second transaction: a day could no longer be
# replaced atomically. pgpq (Rust, Arrow -> binary COPY, written into this same ``cursor.copy``)
# stores the same values for every column type here, but is no faster; ``--rows 10 --repeat 5
# --feeds binary,pgpq``, medians (ranges): day 11.4 s (10.7-13.2) here against 11.6 s
# (10.9-13.9) for pgpq, 1.01x; in three more invocations (1M twice, 10M under load) pgpq took
# 1.03x, 1.10x and 1.07x this encoder's time. Encoding alone (no server, 10M) pgpq took 0.87x
# and 1.01x (1.5 s against 1.8 s; 3.6 s both), which the load does not show: the server is the
# limit (COPY of rows encoded beforehand takes 14.5-16 s at 10M), so the dependency buys nothing.

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from fraud_platform.storage.warehouse.connection import WarehouseError, catalog_rows
from fraud_platform.storage.warehouse.schema import ensure_day_partitions, table_spec
from fraud_platform.tables import PARTITION_COLUMN

COPY_BATCH_ROWS = 65_536

#: Type names as `WAREHOUSE_TABLES` or ``format_type`` spell them -> the encoder's type.
_PG_TYPES = {
    "uuid": "uuid",
    "date": "date",
    "text": "text",
    "double precision": "float8",
    "float8": "float8",
    "real": "float4",
    "float4": "float4",
    "bigint": "int8",
    "int8": "int8",
    "integer": "int4",
    "int4": "int4",
    "int": "int4",
    "smallint": "int2",
    "int2": "int2",
    "boolean": "bool",
    "bool": "bool",
    "timestamptz": "timestamptz",
    "timestamp with time zone": "timestamptz",
}
#: Fixed-width types: numpy big-endian dtype of the value (the network byte order COPY wants).
_FIXED_DTYPES = {
    "float8": ">f8",
    "float4": ">f4",
    "int8": ">i8",
    "int4": ">i4",
    "int2": ">i2",
    "bool": "u1",
    "date": ">i4",
    "timestamptz": ">i8",
}
_INTEGER_ARROW_TYPES = {"int8": pa.int64(), "int4": pa.int32(), "int2": pa.int16()}
_FLOAT_ARROW_TYPES = {"float8": pa.float64(), "float4": pa.float32()}
#: PostgreSQL counts dates and timestamps from 2000-01-01.
_PG_EPOCH_DAYS = 10_957
_PG_EPOCH_MICROSECONDS = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_BINARY_TRAILER = b"\xff\xff"
_NULL_FIELD = b"\xff\xff\xff\xff"  # field length -1
#: Hex digit value of each byte (16 and above: not a hex digit), for uuid text.
_HEX_DIGITS = np.full(256, 16, np.uint8)
_HEX_DIGITS[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
_HEX_DIGITS[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_UUID_HYPHENS = [8, 13, 18, 23]
_UUID_HEX_POSITIONS = [i for i in range(36) if i not in _UUID_HYPHENS]


def column_type(definition: str) -> str:
    """The encoder type of a column definition: ``"double precision NOT NULL"`` -> ``float8``."""
    text = " ".join(definition.lower().split())
    for name in sorted(_PG_TYPES, key=len, reverse=True):
        if text == name or text.startswith((f"{name} ", f"{name}(")):
            return _PG_TYPES[name]
    raise WarehouseError(f"no binary COPY encoder for column type {definition!r}")


class _Fixed(NamedTuple):
    """A fixed-width column: per-row big-endian values (``values[indices]`` when ``indices`` is
    set, a dictionary encoding; ``values[0]`` for every row when ``constant``), and which rows are
    NULL."""

    values: np.ndarray  # (rows | dictionary size | 1, width) uint8
    indices: np.ndarray | None = None
    nulls: np.ndarray | None = None
    constant: bool = False

    def payload(self, start: int, stop: int) -> np.ndarray | bytes:
        if self.constant:
            return self.values[0].tobytes()
        if self.indices is None:
            return self.values[start:stop]
        return self.values[self.indices[start:stop]]


class _Text(NamedTuple):
    """A text column: UTF-8 values as Arrow large_binary (NULL rows null) and their offsets."""

    values: pa.LargeBinaryArray
    offsets: np.ndarray  # int64, rows + 1
    nulls: np.ndarray | None


def _nulls(array: pa.Array) -> np.ndarray | None:
    """A boolean mask of the NULL rows, or None when there are none."""
    if array.null_count == 0:
        return None
    return np.asarray(array.is_null())


def _big_endian(values: np.ndarray, encoder_type: str) -> np.ndarray:
    """Values as (rows, width) uint8 in network byte order."""
    dtype = np.dtype(_FIXED_DTYPES[encoder_type])
    return np.ascontiguousarray(values, dtype=dtype).view(np.uint8).reshape(-1, dtype.itemsize)


def _dictionary_column(array: pa.Array, convert: Any) -> _Fixed:
    """Columns with few distinct values (a day, a dataset id): convert each value once."""
    if len(array) and array.null_count == 0 and pc.all(pc.equal(array, array[0])).as_py():
        return _Fixed(convert(array.slice(0, 1)), constant=True)
    encoded = array.dictionary_encode()
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    values = convert(encoded.dictionary)
    if not len(values):  # every row NULL: index 0 must still exist
        values = np.zeros((1, values.shape[1]), np.uint8)
    return _Fixed(values, indices, _nulls(array))


def _uuid_values(strings: pa.Array) -> np.ndarray:
    """The 16 bytes of each uuid text: the canonical 36-character form (any case) by numpy over
    the Arrow buffers, anything else PostgreSQL also reads (no hyphens, braces) by `uuid.UUID`."""
    strings = pc.cast(strings, pa.large_string())
    count = len(strings)
    if count and strings.null_count == 0:
        offsets = np.frombuffer(strings.buffers()[1], np.int64, count + 1, strings.offset * 8)
        if (np.diff(offsets) == 36).all():
            data = np.frombuffer(strings.buffers()[2], np.uint8)
            chars = data[offsets[0] : offsets[-1]].reshape(count, 36)
            nibbles = _HEX_DIGITS[chars[:, _UUID_HEX_POSITIONS]]
            if (chars[:, _UUID_HYPHENS] == ord("-")).all() and (nibbles < 16).all():
                return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    raw = b"".join(uuid.UUID(str(value)).bytes for value in strings.to_pylist())
    return np.frombuffer(raw, np.uint8).reshape(-1, 16)


def _date_values(dictionary: pa.Array) -> np.ndarray:
    days = pc.cast(dictionary, pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    return _big_endian(days.astype(np.int64) - _PG_EPOCH_DAYS, "date")


def _timestamp_microseconds(array: pa.Array) -> np.ndarray:
    """Microseconds since 1970 (UTC; a naive timestamp is UTC, the platform's contract).

    Nanoseconds round half to even, as PostgreSQL rounds the fraction of a text timestamp.
    """
    if pa.types.is_date(array.type):
        array = pc.cast(array, pa.timestamp("us"))
    elif not pa.types.is_timestamp(array.type):
        array = pc.cast(array, pa.timestamp("us", tz="UTC"))
    unit = array.type.unit
    raw = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    if unit == "ns":
        micro, rest = np.divmod(raw, 1000)
        return micro + ((rest > 500) | ((rest == 500) & (micro % 2 == 1)))
    return raw * {"s": 1_000_000, "ms": 1000, "us": 1}[unit]


def _integer_array(array: pa.Array, encoder_type: str, column: str) -> np.ndarray:
    target = _INTEGER_ARROW_TYPES[encoder_type]
    if pa.types.is_integer(array.type) and array.null_count < len(array):
        extremes = pc.min_max(array)
        info = np.iinfo(target.to_pandas_dtype())
        for value in (extremes["min"].as_py(), extremes["max"].as_py()):
            if not info.min <= value <= info.max:
                raise WarehouseError(
                    f"column {column!r}: value {value} is out of range for {encoder_type} "
                    f"({info.min} to {info.max})"
                )
    return pc.cast(array, target).fill_null(0).to_numpy(zero_copy_only=False)


def _encode_column(array: pa.Array, encoder_type: str, column: str) -> _Fixed | _Text:
    """One column of the frame, converted to what the table column receives."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    nulls = _nulls(array)
    if encoder_type == "text":
        textual = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)
        if not any(test(array.type) for test in (*textual, pa.types.is_large_binary)):
            array = pc.cast(array, pa.large_string())  # numbers etc. as Arrow prints them
        array = array.cast(pa.large_binary())
        offsets = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, array.offset * 8)
        return _Text(array, offsets, nulls)
    if encoder_type == "uuid":
        if isinstance(array, pa.ExtensionArray):  # pa.uuid(), what pyarrow makes of UUID objects
            array = array.storage
        if pa.types.is_fixed_size_binary(array.type) and array.type.byte_width == 16:
            filled = array.fill_null(bytes(16)) if nulls is not None else array
            raw = np.frombuffer(filled.buffers()[1], np.uint8)
            start = filled.offset * 16
            return _Fixed(raw[start : start + len(array) * 16].reshape(-1, 16), nulls=nulls)
        return _dictionary_column(pc.cast(array, pa.large_string()), _uuid_values)
    if encoder_type == "date":
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return _dictionary_column(array, _date_values)
        return _Fixed(_date_values(pc.cast(array, pa.date32(), safe=False)), nulls=nulls)
    if encoder_type == "timestamptz":
        micro = _timestamp_microseconds(array) - _PG_EPOCH_MICROSECONDS
        return _Fixed(_big_endian(micro, encoder_type), nulls=nulls)
    if encoder_type in _INTEGER_ARROW_TYPES:
        values = _integer_array(array, encoder_type, column)
        return _Fixed(_big_endian(values, encoder_type), nulls=nulls)
    if encoder_type in _FLOAT_ARROW_TYPES:
        values = pc.cast(array, _FLOAT_ARROW_TYPES[encoder_type]).fill_null(0)
        return _Fixed(_big_endian(values.to_numpy(zero_copy_only=False), encoder_type), nulls=nulls)
    if encoder_type == "bool":
        values = pc.cast(array, pa.bool_()).fill_null(False).to_numpy(zero_copy_only=False)
        return _Fixed(_big_endian(values.astype(np.uint8), encoder_type), nulls=nulls)
    raise WarehouseError(f"no binary COPY encoder for {encoder_type}")


def encode_columns(
    table: pa.Table, types: Mapping[str, str], table_name: str = "?"
) -> list[_Fixed | _Text]:
    """The columns of ``table`` (in its order) ready for `binary_rows`; ``types`` maps each column
    to its encoder type (`column_type`). Text of other Arrow types is cast to Arrow's text form."""
    encoded: list[_Fixed | _Text] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        try:
            encoded.append(_encode_column(array, types[name], name))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
            raise WarehouseError(
                f"column {name!r} ({array.type}) cannot be stored in {table_name} as "
                f"{types[name]}: {error}"
            ) from None
    return encoded


def _fixed_width_binary(matrix: np.ndarray) -> pa.Array:
    """A (rows, width) uint8 matrix as an Arrow large_binary array, without copying."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(matrix)]
    )


def _fixed_segment(parts: Sequence[np.ndarray | bytes], rows: int) -> pa.Array:
    """Consecutive fixed-width parts (bytes shared by every row, or (rows, width) matrices) laid
    side by side, as a large_binary array of one value per row."""
    merged: list[np.ndarray | bytes] = []
    for part in parts:  # runs of shared bytes become one assignment
        if isinstance(part, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += part
        else:
            merged.append(part)
    widths = [len(part) if isinstance(part, bytes) else part.shape[1] for part in merged]
    # A structured view copies each part as one element per row, 5x faster than uint8 slices.
    layout = np.dtype(
        {
            "names": [f"f{i}" for i in range(len(merged))],
            "formats": [f"V{width}" for width in widths],
            "offsets": np.cumsum([0, *widths[:-1]]).tolist(),
            "itemsize": sum(widths),
        }
    )
    matrix = np.empty(rows, layout)
    for i, (part, width) in enumerate(zip(merged, widths, strict=True)):
        if isinstance(part, bytes):
            matrix[f"f{i}"] = np.void(part)
        else:
            matrix[f"f{i}"] = np.ascontiguousarray(part).view(f"V{width}").reshape(rows)
    return _fixed_width_binary(matrix.view(np.uint8).reshape(rows, layout.itemsize))


def binary_rows(columns: Sequence[_Fixed | _Text], start: int, stop: int) -> memoryview:
    """Rows ``start:stop`` in COPY's binary tuple format: a 16-bit field count, then per field
    a 32-bit length (-1 for NULL) and the value.

    Runs of fixed-width fields (and the length of the text after them) are laid out in one numpy
    array; Arrow's ``binary_join_element_wise`` then interleaves them with the text values.
    """
    rows = stop - start
    pieces: list[pa.Array] = []
    segment: list[np.ndarray | bytes] = [len(columns).to_bytes(2, "big")]
    for column in columns:
        nulls = None if column.nulls is None else column.nulls[start:stop]
        if isinstance(column, _Text):
            lengths = np.diff(column.offsets[start : stop + 1])
            if nulls is not None:
                lengths = np.where(nulls, -1, lengths)
            segment.append(_big_endian(lengths, "int4"))
            pieces.append(_fixed_segment(segment, rows))
            segment = []
            pieces.append(column.values.slice(start, rows))
            continue
        payload = column.payload(start, stop)
        prefix = column.values.shape[1].to_bytes(4, "big")
        if nulls is None or not nulls.any():
            segment += [prefix, payload]
            continue
        if segment:
            pieces.append(_fixed_segment(segment, rows))
            segment = []
        field = _fixed_segment([prefix, payload], rows)
        null = pa.scalar(_NULL_FIELD, pa.large_binary())
        pieces.append(pc.if_else(pa.array(~nulls), field, null))
    if segment:
        pieces.append(_fixed_segment(segment, rows))
    if len(pieces) == 1:
        joined = pieces[0]
    else:
        empty = pa.scalar(b"", pa.large_binary())
        joined = pc.binary_join_element_wise(
            *pieces, empty, null_handling="replace", null_replacement=b""
        )
    offsets = np.frombuffer(joined.buffers()[1], np.int64, rows + 1, joined.offset * 8)
    data = joined.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _distinct_days(column: _Fixed) -> list[str]:
    """The days an encoded ``date`` column holds (its dictionary when it has one)."""
    days = column.values.view(">i4").ravel()
    if column.indices is None and not column.constant:
        days = pc.unique(pa.array(days.astype(np.int32))).to_numpy()
    epoch = np.datetime64("2000-01-01")
    return [str(epoch + np.timedelta64(int(day), "D")) for day in days]


def _stored_columns(
    connection: psycopg.Connection, schema: str, table: str
) -> tuple[dict[str, str], bool]:
    """Column -> type name as the database has it (``format_type``), and whether the table is
    partitioned."""
    rows = catalog_rows(
        connection,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.relkind = 'p' "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        schema,
        table,
    )
    return {name: type_name for name, type_name, _ in rows}, any(p for _, _, p in rows)


class EncodedRows(NamedTuple):
    """A frame's rows ready for `copy_encoded`: the table columns it fills, in table order."""

    table: str
    columns: list[str]
    encoded: list[_Fixed | _Text]
    rows: int


def encode_frame(table: str, frame: pd.DataFrame) -> EncodedRows:
    """The frame's rows encoded for ``table`` (columns by name, types from `WAREHOUSE_TABLES`).

    CPU work only, no connection: `FraudDatasetTypeHandler` runs it in a worker thread for the
    next table while the server loads the current one. NaN in a float column becomes NULL, like
    pandas' missing values (as the CSV feed stored it); the empty string stays distinct from NULL.
    """
    spec = table_spec(table)
    extra = [c for c in frame.columns if c not in spec]
    if extra:
        raise WarehouseError(
            f"columns {extra} are not in table {table}; add them to its Arrow schema in "
            "fraud_platform/tables.py"
        )
    columns = [c for c in spec if c in frame.columns]
    types = {c: column_type(spec[c]) for c in columns}
    try:
        arrow = pa.Table.from_pandas(frame[columns], preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise WarehouseError(f"rows for {table} cannot be stored: {error}") from None
    return EncodedRows(table, columns, encode_columns(arrow, types, table), len(frame))


def copy_encoded(connection: psycopg.Connection, schema: str, rows: EncodedRows) -> int:
    """COPY encoded rows into ``schema.table``; returns the row count.

    The table's column types are checked against the database first: binary COPY would read the
    8 bytes of a float as a bigint without complaint. Rows of a partitioned table whose day has no
    partition yet get one, in this transaction.
    """
    spec = table_spec(rows.table)
    stored, partitioned = _stored_columns(connection, schema, rows.table)
    for column in rows.columns:
        if _PG_TYPES.get(stored.get(column, "")) != column_type(spec[column]):
            raise WarehouseError(
                f"column {column!r} of {schema}.{rows.table} is "
                f"{stored.get(column, 'missing')!r} in the database but {spec[column]!r} in "
                "WAREHOUSE_TABLES"
            )
    if partitioned and PARTITION_COLUMN in rows.columns and rows.rows:
        day_column = rows.encoded[rows.columns.index(PARTITION_COLUMN)]
        if isinstance(day_column, _Fixed):
            ensure_day_partitions(connection, schema, rows.table, _distinct_days(day_column))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(schema, rows.table),
        sql.SQL(", ").join(sql.Identifier(c) for c in rows.columns),
    )
    # A writer thread sends one batch while the next is encoded.
    with (
        connection.cursor() as cursor,
        cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        copy.write(_BINARY_HEADER)
        for start in range(0, rows.rows, COPY_BATCH_ROWS):
            stop = min(start + COPY_BATCH_ROWS, rows.rows)
            copy.write(binary_rows(rows.encoded, start, stop))
        copy.write(_BINARY_TRAILER)
    return rows.rows


def copy_frame(connection: psycopg.Connection, schema: str, table: str, frame: pd.DataFrame) -> int:
    """COPY the frame's rows into ``schema.table`` (columns by name); returns the row count.

    `encode_frame` then `copy_encoded`: binary COPY, column order and types from
    `WAREHOUSE_TABLES`.
    """
    return copy_encoded(connection, schema, encode_frame(table, frame))
