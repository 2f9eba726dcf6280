"""Typed frames with no rows: an empty day has the columns and dtypes of any other day.

A column name means one thing in every table the definitions build (``sender`` is text,
``tx_count`` an int64 count, ``timestamp`` UTC microseconds), so its pandas dtype is written once
here, and `empty_frame` builds any table's empty frame from the table's column list; an empty
frame that spelled its own dtypes could drift from the filled one and break a later concat.
"""

from collections.abc import Sequence

import pandas as pd

from fraud_platform.tables import PARTITION_COLUMN

#: Text is pandas' ``str`` dtype, times are UTC microseconds, codes int32, counts int64.
COLUMN_DTYPES: dict[str, str] = {
    PARTITION_COLUMN: "str",
    # transfers and accounts
    "transaction_id": "str",
    "timestamp": "datetime64[us, UTC]",
    "sender": "str",
    "receiver": "str",
    "amount": "float64",
    "currency": "str",
    "account": "str",
    "direction": "str",
    "counterparty": "str",
    # where a row came from, and why it was rejected
    "source_file": "str",
    "line": "int64",
    "field": "str",
    "reason": "str",
    "raw": "str",
    # the graph: edges (collapsed transfers) and nodes (accounts)
    "amount_total": "float64",
    "tx_count": "int64",
    "first_timestamp": "datetime64[us, UTC]",
    "last_timestamp": "datetime64[us, UTC]",
    "sender_node": "int32",
    "receiver_node": "int32",
    "in_degree": "int64",
    "out_degree": "int64",
    "in_amount": "float64",
    "out_amount": "float64",
}


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """A frame with no rows and ``columns``, in that order, each with its `COLUMN_DTYPES` type."""
    return pd.DataFrame({name: pd.Series(dtype=COLUMN_DTYPES[name]) for name in columns})
