"""Reading rows: a slice of a warehouse table as a pandas frame, by ``COPY (SELECT ...) TO STDOUT``.

The CSV that COPY writes is parsed by ``pyarrow.csv`` with the column types the database
reports: 1.8 s per 1M rows against 7 s for ``fetchall`` and building the frame in Python.
"""

import io

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from fraud_platform.storage.warehouse.dagster_db import TableSlice
from fraud_platform.storage.warehouse.slices import select_statement

#: PostgreSQL type name -> Arrow type a loaded column gets. ``date`` stays ``YYYY-MM-DD`` text,
#: the frame contract of ``partition_date``; anything unlisted (text, uuid, ...) is text.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int64(),
    "int4": pa.int64(),
    "int8": pa.int64(),
    "float4": pa.float64(),
    "float8": pa.float64(),
    "numeric": pa.float64(),
    "bool": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
}


def read_slice(connection: psycopg.Connection, table_slice: TableSlice) -> pd.DataFrame:
    """The slice's rows as a DataFrame with the platform's dtypes.

    Integers are ``int64`` (``Int64`` when a NULL is present), ``timestamptz`` is
    ``datetime64[us, UTC]``, dates are ``YYYY-MM-DD`` strings and text is pandas' string dtype.
    """
    query, params = select_statement(table_slice)
    # COPY's text output follows these settings; pin them to what the parser below expects.
    connection.execute("SELECT set_config('DateStyle', 'ISO, YMD', true)")
    connection.execute("SELECT set_config('extra_float_digits', '1', true)")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("{} LIMIT 0").format(query), params)
        description = cursor.description or []
        names = [column.name for column in description]
        types = {}
        for column in description:
            info = connection.adapters.types.get(column.type_code)
            types[column.name] = _ARROW_TYPES.get(info.name if info else "", pa.string())
        buffer = io.BytesIO()
        statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        with cursor.copy(statement, params) as copy:
            for data in copy:
                buffer.write(data)
    schema = pa.schema([(name, types[name]) for name in names])
    if buffer.tell() == 0:
        table = schema.empty_table()
    else:
        buffer.seek(0)
        table = pa_csv.read_csv(
            buffer,
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            # COPY writes NULL as an unquoted empty field and quotes an empty string; nothing
            # else is NULL (Arrow's default list would also take the text "NULL" or "NaN").
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],  # how COPY writes booleans
                false_values=["f"],
            ),
        )
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name, arrow_type in types.items():
        if arrow_type == pa.int64() and not frame[name].hasnans:
            frame[name] = frame[name].astype("int64")
    return frame
