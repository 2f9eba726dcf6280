"""The column contract of every table the platform writes, and the bundles that travel together.

Every day-level table carries ``partition_date`` (``YYYY-MM-DD`` text) so that a frame covering a
range of days can be split per day by the IO managers, and loaded back as one frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd

PARTITION_COLUMN = "partition_date"

#: Required columns of a landing file, in the order the contract documents them.
LANDING_REQUIRED_COLUMNS = ("transaction_id", "timestamp", "sender", "receiver", "amount")
LANDING_OPTIONAL_COLUMNS = ("currency",)

RAW_TRANSACTION_COLUMNS = (
    PARTITION_COLUMN,
    "transaction_id",
    "timestamp",  # datetime64[us, UTC]
    "sender",
    "receiver",
    "amount",  # float64
    "currency",  # nullable text
    "source_file",
    "line",  # 1-based line of the file (header is line 1); row number + 1 for Parquet
)

REJECTED_COLUMNS = (PARTITION_COLUMN, "source_file", "line", "field", "reason", "raw")

EDGE_COLUMNS = (
    PARTITION_COLUMN,
    "sender",
    "receiver",
    "amount_total",
    "tx_count",
    "first_timestamp",
    "last_timestamp",
    # Rows of the sender and the receiver in the day's node table (int32), which is sorted by
    # account: later steps index arrays with them instead of matching account strings again.
    "sender_node",
    "receiver_node",
)

NODE_COLUMNS = (
    PARTITION_COLUMN,
    "account",
    "in_degree",  # distinct senders that paid this account
    "out_degree",  # distinct receivers this account paid
    "in_amount",
    "out_amount",
    "tx_count",  # transfers sent plus transfers received
)

DATASET_COLUMNS = (
    "dataset_id",
    PARTITION_COLUMN,
    "name",
    "description",
    "url",
    "node_count",
    "edge_count",
    "high_risk_count",
    "created_at",
)

DATASET_NODE_COLUMNS = (
    "dataset_id",
    PARTITION_COLUMN,
    "account",
    "centrality",
    "cluster",
    "risk_score",
    "point_color",
    "point_size",
    "x",  # layout position (float64; NaN where no layout was computed)
    "y",
    "in_amount",  # money received that day (float64; NaN where not known)
    "out_amount",
    "reasons",  # why the account is at risk: its top reasons, "; "-separated ("" when none)
    "pattern",  # the kind of evidence of the first reason, e.g. "relay" ("" when none)
)

DATASET_EDGE_COLUMNS = (
    "dataset_id",
    PARTITION_COLUMN,
    "sender",
    "receiver",
    "amount_total",
    "tx_count",
)


#: An account's day as its history needs it (``account_features``' ``activity`` member): keys, not
#: account strings, so 28 days of it stay small.
ACTIVITY_COLUMNS = (
    PARTITION_COLUMN,
    "account_key",  # uint64, the same for an account id on every day
    "in_amount",
    "out_amount",
    "counterparties",  # distinct accounts paid or paid by
    "relayed",  # passed on at least half of the day's inflow within 24 hours
)

#: The day's distinct undirected pairs of accounts that traded (``account_features``' ``pairs``).
PAIR_COLUMNS = (PARTITION_COLUMN, "pair_key")

#: Trailing behaviour of the day's accounts over the days before it (``account_history``).
HISTORY_COLUMNS = (
    PARTITION_COLUMN,
    "account",
    "history_days",  # earlier days of the window with data (the same for every account)
    "days_active",  # earlier days of the window on which the account moved money
    "days_since_first_seen",  # window + 1 when never seen in it
    "days_since_last_seen",  # window + 1 when never seen in it
    "relay_days",  # earlier days on which it relayed (see ACTIVITY_COLUMNS)
    "typical_in_amount",  # median money in on its active earlier days (0 when none)
    "typical_out_amount",
    "typical_counterparties",
    "known_counterparty_share",  # share of today's counterparties it traded with before
    "new_counterparties",  # today's counterparties it never traded with in the window
)


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
