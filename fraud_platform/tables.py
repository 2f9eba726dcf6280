"""The column contract of every table the platform writes, and the bundles that travel together.

Each table's columns are stated once, as an Arrow schema: the column-name tuples, the warehouse
DDL (`fraud_platform.storage.warehouse.schema`) and empty frames are derived from it, so adding a
column is one line here. Every day-level table carries ``partition_date`` (``YYYY-MM-DD`` text in
frames, ``date`` in the warehouse) so that a frame covering a range of days can be split per day
by the IO managers, and loaded back as one frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd
import pyarrow as pa

PARTITION_COLUMN = "partition_date"

#: Required columns of a landing file, in the order the contract documents them.
LANDING_REQUIRED_COLUMNS = ("transaction_id", "timestamp", "sender", "receiver", "amount")
LANDING_OPTIONAL_COLUMNS = ("currency",)

#: Arrow types of the schemas below. A day is ``date32`` and an id ``uuid`` (what the warehouse
#: stores); in frames both travel as text (``YYYY-MM-DD``, canonical uuid), see `pandas_dtypes`.
DAY = pa.date32()
UUID = pa.uuid()
UTC_TIME = pa.timestamp("us", tz="UTC")


def _schema(
    *columns: tuple[str, pa.DataType] | tuple[str, pa.DataType, bool] | pa.Field,
) -> pa.Schema:
    """An Arrow schema from ``(name, type)`` or ``(name, type, nullable)`` tuples, or fields."""
    return pa.schema([c if isinstance(c, pa.Field) else pa.field(*c) for c in columns])


def _same(schema: pa.Schema, *names: str, nullable: bool | None = None) -> list[pa.Field]:
    """The columns ``names`` exactly as ``schema`` states them (``nullable`` changed if given):
    a column that means the same in two tables is typed in one place."""
    picked = [schema.field(name) for name in names]
    return picked if nullable is None else [f.with_nullable(nullable) for f in picked]


#: The day column every day-level table starts with (never NULL).
_DAY_FIELD = (PARTITION_COLUMN, DAY, False)
#: The uuid column that ties a published day's rows to their ``datasets`` row (never NULL).
_DATASET_ID_FIELD = ("dataset_id", UUID, False)
#: The columns a published day's tables start with: the dataset, then its day.
_DATASET_KEY = (_DATASET_ID_FIELD, _DAY_FIELD)

#: ``raw_transactions``: the day's valid landing rows, where each came from.
RAW_TRANSACTION_SCHEMA = _schema(
    _DAY_FIELD,
    ("transaction_id", pa.string()),
    ("timestamp", UTC_TIME),
    ("sender", pa.string()),
    ("receiver", pa.string()),
    ("amount", pa.float64()),
    ("currency", pa.string()),
    ("source_file", pa.string()),
    ("line", pa.int64()),  # 1-based line of the file (header is line 1); row number + 1 for Parquet
)

#: ``rejected_transactions``: one row per refused landing row, with why.
REJECTED_SCHEMA = _schema(
    _DAY_FIELD,
    *_same(RAW_TRANSACTION_SCHEMA, "source_file", "line"),
    ("field", pa.string()),
    ("reason", pa.string()),
    ("raw", pa.string()),
)

EDGE_SCHEMA = _schema(
    _DAY_FIELD,
    *_same(RAW_TRANSACTION_SCHEMA, "sender", "receiver"),
    ("amount_total", pa.float64()),
    ("tx_count", pa.int64()),
    ("first_timestamp", UTC_TIME),
    ("last_timestamp", UTC_TIME),
    # Rows of the sender and the receiver in the day's node table, which is sorted by account:
    # later steps index arrays with them instead of matching account strings again.
    ("sender_node", pa.int32()),
    ("receiver_node", pa.int32()),
)

NODE_SCHEMA = _schema(
    _DAY_FIELD,
    ("account", pa.string()),
    ("in_degree", pa.int64()),  # distinct senders that paid this account
    ("out_degree", pa.int64()),  # distinct receivers this account paid
    ("in_amount", pa.float64()),  # money received that day
    ("out_amount", pa.float64()),  # money sent that day
    ("tx_count", pa.int64()),  # transfers sent plus transfers received
)

#: ``datasets``: one row per published day.
DATASET_SCHEMA = _schema(
    *_DATASET_KEY,
    ("name", pa.string()),
    ("description", pa.string()),
    ("url", pa.string()),
    ("node_count", pa.int64()),
    ("edge_count", pa.int64()),
    ("high_risk_count", pa.int64()),
    ("created_at", UTC_TIME, False),
)

#: How the viewer draws an account: its point's colour and size, and its layout position (x, y
#: NaN where no layout was computed).
_DRAWN_POINT = (
    ("point_color", pa.string()),
    ("point_size", pa.float64()),
    ("x", pa.float64()),
    ("y", pa.float64()),
)

#: ``dataset_nodes``: a published day's accounts, as the viewer draws them.
DATASET_NODE_SCHEMA = _schema(
    *_DATASET_KEY,
    *_same(NODE_SCHEMA, "account", nullable=False),
    ("centrality", pa.float64()),
    ("cluster", pa.int64()),
    ("risk_score", pa.float64()),
    *_DRAWN_POINT,
    *_same(NODE_SCHEMA, "in_amount", "out_amount"),  # NaN where not known
    ("reasons", pa.string()),  # why the account is at risk: top reasons, "; "-separated ("" none)
    ("pattern", pa.string()),  # the kind of evidence of the first reason, e.g. "relay" ("" none)
)

#: ``dataset_edges``: a published day's (sender, receiver) pairs.
DATASET_EDGE_SCHEMA = _schema(
    *_DATASET_KEY,
    *_same(EDGE_SCHEMA, "sender", "receiver", nullable=False),
    *_same(EDGE_SCHEMA, "amount_total", "tx_count"),
)

#: An account's day as its history needs it (``account_features``' ``activity`` member): keys, not
#: account strings, so 28 days of it stay small.
ACTIVITY_SCHEMA = _schema(
    _DAY_FIELD,
    ("account_key", pa.uint64()),  # the same for an account id on every day
    *_same(NODE_SCHEMA, "in_amount", "out_amount"),
    ("counterparties", pa.int64()),  # distinct accounts paid or paid by
    ("relayed", pa.bool_()),  # passed on at least half of the day's inflow within 24 hours
)

#: The day's distinct undirected pairs of accounts that traded (``account_features``' ``pairs``).
PAIR_SCHEMA = _schema(_DAY_FIELD, ("pair_key", pa.uint64()))

#: Trailing behaviour of the day's accounts over the days before it (``account_history``).
HISTORY_SCHEMA = _schema(
    _DAY_FIELD,
    *_same(NODE_SCHEMA, "account", nullable=False),
    ("history_days", pa.int64()),  # earlier days of the window with data (same for every account)
    ("days_active", pa.int64()),  # earlier days of the window on which the account moved money
    ("days_since_first_seen", pa.int64()),  # window + 1 when never seen in it
    ("days_since_last_seen", pa.int64()),  # window + 1 when never seen in it
    ("relay_days", pa.int64()),  # earlier days on which it relayed (see ACTIVITY_SCHEMA)
    ("typical_in_amount", pa.float64()),  # median money in on its active earlier days (0: none)
    ("typical_out_amount", pa.float64()),
    ("typical_counterparties", pa.float64()),
    ("known_counterparty_share", pa.float64()),  # share of today's counterparties seen before
    ("new_counterparties", pa.int64()),  # today's counterparties it never traded with before
)

#: ``high_risk_transfers``: each transfer of a day's high-risk accounts, seen from the account's
#: side (direction in or out): the timeline of an analyst's case page.
HIGH_RISK_TRANSFER_SCHEMA = _schema(
    _DAY_FIELD,
    *_same(NODE_SCHEMA, "account", nullable=False),
    ("direction", pa.string(), False),
    ("counterparty", pa.string()),
    *_same(RAW_TRANSACTION_SCHEMA, "amount", "timestamp", "transaction_id"),
)

#: ``alerts``: one row per (day, high-risk account), recorded by the alert sensor.
ALERT_SCHEMA = _schema(
    ("alert_id", UUID, False),
    _DAY_FIELD,
    _DATASET_ID_FIELD,
    *_same(NODE_SCHEMA, "account", nullable=False),
    ("risk_score", pa.float64(), False),
    ("cluster", pa.int64()),
    ("url", pa.string()),
    ("created_at", UTC_TIME, False),
    ("delivered_at", UTC_TIME),
    ("reasons", pa.string()),
    ("pattern", pa.string()),  # the kind of evidence behind the score (its top reason's family)
    ("suppressed_by", UUID),  # the analyst's dismissal that silences this repeat alert
)

#: ``analysts``: who may decide on alerts; a token is stored only as its SHA-256.
ANALYST_SCHEMA = _schema(
    ("name", pa.string(), False),
    ("token_hash", pa.string(), False),
    ("created_at", UTC_TIME, False),
    ("revoked_at", UTC_TIME),
)

#: ``alert_decisions``: analysts' decisions on alerts; ``risk_score`` is the alert's when decided.
ALERT_DECISION_SCHEMA = _schema(
    ("decision_id", UUID, False),
    *_same(ALERT_SCHEMA, "alert_id", PARTITION_COLUMN, "account"),
    ("decision", pa.string(), False),
    ("category", pa.string()),
    ("note", pa.string()),
    ("analyst", pa.string(), False),
    ("risk_score", pa.float64()),
    ("decided_at", UTC_TIME, False),
)

#: ``analyst_labels``: decisions as labels for the risk model (``features``: a JSON object
#: feature -> value; ``label`` 1 for confirmed fraud, 0 for a dismissal).
ANALYST_LABEL_SCHEMA = _schema(
    _DAY_FIELD,
    *_same(ALERT_DECISION_SCHEMA, "account"),
    *_same(ALERT_DECISION_SCHEMA, "alert_id", nullable=True),
    *_same(ALERT_DECISION_SCHEMA, "decision", "category"),
    ("label", pa.int64(), False),
    *_same(ALERT_DECISION_SCHEMA, "analyst", "decided_at", nullable=True),
    ("features", pa.string(), False),
)

#: ``analyst_sessions``: viewer logins; the session id lives only in the browser's cookie.
ANALYST_SESSION_SCHEMA = _schema(
    ("session_hash", pa.string(), False),
    *_same(ALERT_DECISION_SCHEMA, "analyst"),
    ("csrf_token", pa.string(), False),
    *_same(ANALYST_SCHEMA, "created_at"),
    ("expires_at", UTC_TIME, False),
)

#: Every warehouse table and its columns, as frames hold them: the warehouse DDL is derived from
#: these (`fraud_platform.storage.warehouse.schema`), so adding a column is one line here.
WAREHOUSE_SCHEMAS: dict[str, pa.Schema] = {
    "datasets": DATASET_SCHEMA,
    "dataset_nodes": DATASET_NODE_SCHEMA,
    "dataset_edges": DATASET_EDGE_SCHEMA,
    "high_risk_transfers": HIGH_RISK_TRANSFER_SCHEMA,
    "high_risk_history": HISTORY_SCHEMA,  # the day's high-risk accounts' rows
    "rejected_transactions": REJECTED_SCHEMA,
    "alerts": ALERT_SCHEMA,
    "analysts": ANALYST_SCHEMA,
    "alert_decisions": ALERT_DECISION_SCHEMA,
    "analyst_labels": ANALYST_LABEL_SCHEMA,
    "analyst_sessions": ANALYST_SESSION_SCHEMA,
}

RAW_TRANSACTION_COLUMNS = tuple(RAW_TRANSACTION_SCHEMA.names)
REJECTED_COLUMNS = tuple(REJECTED_SCHEMA.names)
EDGE_COLUMNS = tuple(EDGE_SCHEMA.names)
NODE_COLUMNS = tuple(NODE_SCHEMA.names)
DATASET_COLUMNS = tuple(DATASET_SCHEMA.names)
DATASET_NODE_COLUMNS = tuple(DATASET_NODE_SCHEMA.names)
DATASET_EDGE_COLUMNS = tuple(DATASET_EDGE_SCHEMA.names)
ACTIVITY_COLUMNS = tuple(ACTIVITY_SCHEMA.names)
PAIR_COLUMNS = tuple(PAIR_SCHEMA.names)
HISTORY_COLUMNS = tuple(HISTORY_SCHEMA.names)


def frame_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as frames hold it: days and ids as text (``YYYY-MM-DD``, canonical uuid).

    The IO managers split and compare days as strings, and the warehouse's reader returns both so.
    """
    return pa.schema([f.with_type(pa.string()) if f.type in (DAY, UUID) else f for f in schema])


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    """A frame with ``schema``'s columns, in order, no rows, and the dtypes of `pandas_dtypes`."""
    return frame_schema(schema).empty_table().to_pandas()


def pandas_dtypes(schema: pa.Schema) -> dict[str, str]:
    """Column -> the pandas dtype (by name) a frame of ``schema`` holds it in."""
    return {name: str(dtype) for name, dtype in empty_frame(schema).dtypes.items()}


class TableBundle:
    """Several DataFrames that form one asset value, stored one Parquet file per member.

    Subclasses are dataclasses whose fields are all DataFrames; IO managers iterate the members
    by name, so adding a member needs no IO-manager change.
    """

    def members(self) -> dict[str, pd.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_members(cls, members: dict[str, pd.DataFrame]) -> TableBundle:
        return cls(**members)

    @classmethod
    def concat(cls, bundles: Sequence[TableBundle]) -> TableBundle:
        """Several days' bundles as one (each member concatenated, in the given order)."""
        if len(bundles) == 1:
            return bundles[0]
        names = list(bundles[0].members())
        return cls.from_members(
            {
                name: pd.concat([b.members()[name] for b in bundles], ignore_index=True)
                for name in names
            }
        )


@dataclass
class TransactionGraph(TableBundle):
    """A day's transfer network: one row per account, one row per (sender, receiver) pair."""

    nodes: pd.DataFrame
    edges: pd.DataFrame


@dataclass
class AccountFeatures(TableBundle):
    """A day's evidence per account: every feature, the account's activity and the day's pairs."""

    accounts: pd.DataFrame  # partition_date, account, account_key, then the feature columns
    activity: pd.DataFrame  # ACTIVITY_COLUMNS
    pairs: pd.DataFrame  # PAIR_COLUMNS


@dataclass
class AccountActivity(TableBundle):
    """The part of `AccountFeatures` that history reads: an input annotated with this bundle
    loads only these members' files, not the wide feature table."""

    activity: pd.DataFrame
    pairs: pd.DataFrame


@dataclass
class FraudDataset(TableBundle):
    """The persisted, viewable result of a day: its summary row, its accounts and its edges."""

    summary: pd.DataFrame  # one row per day: DATASET_COLUMNS
    nodes: pd.DataFrame
    edges: pd.DataFrame
