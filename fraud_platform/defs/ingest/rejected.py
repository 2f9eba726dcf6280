"""A day's rejected rows explained: counted by reason, shown, and read back from the warehouse.

A day that fails ``rejected_share`` must say why where the user already looks (the check's
failure line, its metadata in the UI, ``fraud-platform rejected --day``), without a query in
psql. The counting and the wording are pure functions (frame in, frame or text out), shared by
the check and the command; `dataset_stored`, `read_reason_counts` and `read_rejected_rows`
are the command's reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import psycopg
from psycopg import sql

from fraud_platform.defs.check_results import failure_line
from fraud_platform.defs.ingest.records import empty_rejected
from fraud_platform.storage.warehouse import stored_row_counts, table_exists
from fraud_platform.tables import PARTITION_COLUMN, REJECTED_COLUMNS

REJECTED_TABLE = "rejected_transactions"
#: How many rejected rows a check's metadata shows (the command lists them all).
PREVIEW_ROWS = 20
#: ``raw`` is cut to this many characters where it is shown beside other columns.
PREVIEW_RAW_CHARS = 120
#: How many reasons a failure line names.
TOP_REASONS = 3
#: The columns a listing shows, in order.
LISTED_COLUMNS = ("source_file", "line", "field", "reason", "raw")


def rejected_command(day: str) -> str:
    """The command that lists a day's rejected rows (named in every failure line)."""
    return f"fraud-platform rejected --day {day}"


def shorten(text: object, limit: int = PREVIEW_RAW_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    value = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def reason_counts(rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows per (field, reason), most frequent first (ties by field, then reason)."""
    if rejected.empty:
        return pd.DataFrame({"field": [], "reason": [], "rows": []}).astype(
            {"field": "str", "reason": "str", "rows": "int64"}
        )
    counts = (
        rejected.assign(
            field=rejected["field"].astype("str"), reason=rejected["reason"].astype("str")
        )
        .groupby(["field", "reason"], sort=False)
        .size()
        .rename("rows")
        .reset_index()
    )
    return _most_frequent_first(counts)


def _most_frequent_first(counts: pd.DataFrame) -> pd.DataFrame:
    """``field, reason, rows`` typed and ordered as `reason_counts` returns them, whether counted
    here or by the server."""
    typed = counts.astype({"field": "str", "reason": "str", "rows": "int64"})
    return typed.sort_values(
        ["rows", "field", "reason"], ascending=[False, True, True], ignore_index=True
    )


def top_reasons(rejected: pd.DataFrame, n: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The ``n`` most frequent reasons (whatever the field) and their row counts."""
    if rejected.empty:
        return []
    counts = rejected["reason"].astype("str").value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return [(str(reason), int(count)) for reason, count in ordered[:n]]


def preview_rows(
    rejected: pd.DataFrame, limit: int | None = PREVIEW_ROWS, raw_chars: int | None = None
) -> pd.DataFrame:
    """The first ``limit`` rejected rows in file and line order, as `LISTED_COLUMNS`, with
    ``raw`` cut to ``raw_chars`` (None: all rows, whole text)."""
    rows = rejected.sort_values(["source_file", "line", "field"], kind="stable")
    if limit is not None:
        rows = rows.head(limit)
    rows = rows[list(LISTED_COLUMNS)].reset_index(drop=True)
    rows["line"] = rows["line"].astype("int64")
    if raw_chars is not None:
        rows["raw"] = rows["raw"].map(lambda text: shorten(text, raw_chars))
    return rows


def reasons_text(reasons: Sequence[tuple[str, int]]) -> str:
    """``amount must be greater than zero (2), unparseable timestamp (1)``."""
    return ", ".join(f"{reason} ({count:,})" for reason, count in reasons)


def list_command_text(rejected: pd.DataFrame, days: Sequence[str]) -> str:
    """The command(s) that list the rejected rows: one per day that has any."""
    with_rows = (
        sorted(rejected[PARTITION_COLUMN].astype("str").unique())
        if not rejected.empty and PARTITION_COLUMN in rejected.columns
        else sorted(days)
    )
    commands = [rejected_command(day) for day in with_rows[:3]]
    more = f" (and {len(with_rows) - 3} more days)" if len(with_rows) > 3 else ""
    return "; ".join(commands) + more


@dataclass(frozen=True)
class RejectedShare:
    """What a day's (or a range's) rejected share is, judged against the limits."""

    days: tuple[str, ...]
    rows_read: int
    rows_rejected: int
    warn_share: float
    error_share: float

    @property
    def share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def level(self) -> str:
        """``error``, ``warning`` or ``ok``."""
        if self.share > self.error_share:
            return "error"
        if self.share > self.warn_share:
            return "warning"
        return "ok"


def rejected_share_message(verdict: RejectedShare, rejected: pd.DataFrame) -> str:
    """One line naming the day, the share, the threshold crossed, its effect, the top reasons
    and the command that lists every rejected row.

    e.g. ``57.1% of 7 rows rejected on 2026-01-05 (error above 20.0%: the day's graph is not
    built). Top reasons: amount must be greater than zero (2), ... List them: fraud-platform
    rejected --day 2026-01-05``
    """
    finding = f"{verdict.share:.1%} of {verdict.rows_read:,} rows rejected"
    if verdict.level == "error":
        limit = f"error above {verdict.error_share:.1%}: the day's graph is not built"
    elif verdict.level == "warning":
        limit = (
            f"warning above {verdict.warn_share:.1%}: the day is built from its valid rows; "
            f"error above {verdict.error_share:.1%}"
        )
    else:
        limit = f"within the warning share of {verdict.warn_share:.1%}"
    next_step = (
        f"Top reasons: {reasons_text(top_reasons(rejected))}. "
        f"List them: {list_command_text(rejected, verdict.days)}"
        if verdict.rows_rejected
        else ""
    )
    return failure_line(finding, days=verdict.days, limit=limit, next_step=next_step)


# -- the command's reads ---------------------------------------------------------------------


def dataset_stored(connection: psycopg.Connection, schema: str, day: str) -> bool:
    """Whether ``day`` was published: tells a day without rejected rows from one never loaded
    (False too when the tables do not exist yet)."""
    return stored_row_counts(connection, schema, "datasets", [day])[day] > 0


def read_reason_counts(connection: psycopg.Connection, schema: str, day: str) -> pd.DataFrame:
    """`reason_counts` of the day's stored rejected rows, counted by the server (a day may have
    millions)."""
    table = sql.Identifier(schema, REJECTED_TABLE)
    if not table_exists(connection, schema, REJECTED_TABLE):
        return reason_counts(pd.DataFrame({"field": [], "reason": []}))
    rows = connection.execute(
        sql.SQL("SELECT {f}, {r}, count(*) FROM {t} WHERE {d} = %s GROUP BY {f}, {r}").format(
            f=sql.Identifier("field"),
            r=sql.Identifier("reason"),
            t=table,
            d=sql.Identifier(PARTITION_COLUMN),
        ),
        [day],
    ).fetchall()
    return _most_frequent_first(pd.DataFrame(rows, columns=["field", "reason", "rows"]))


def read_rejected_rows(
    connection: psycopg.Connection, schema: str, day: str, limit: int | None = None
) -> pd.DataFrame:
    """The day's rejected rows (`REJECTED_COLUMNS`) in file and line order; at most ``limit``.

    An empty frame when the table does not exist (nothing was ever loaded into ``schema``).
    """
    if not table_exists(connection, schema, REJECTED_TABLE):
        return empty_rejected()
    table = sql.Identifier(schema, REJECTED_TABLE)
    columns = list(REJECTED_COLUMNS)
    query = sql.SQL("SELECT {} FROM {} WHERE {} = %s ORDER BY {}, {}, {}{}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table,
        sql.Identifier(PARTITION_COLUMN),
        sql.Identifier("source_file"),
        sql.Identifier("line"),
        sql.Identifier("field"),
        sql.SQL(" LIMIT %s") if limit is not None else sql.SQL(""),
    )
    params: list[object] = [day] + ([limit] if limit is not None else [])
    rows = connection.execute(query, params).fetchall()
    frame = pd.DataFrame(rows, columns=columns)
    frame[PARTITION_COLUMN] = frame[PARTITION_COLUMN].astype("str")
    return frame


def text_table(frame: pd.DataFrame, widths: dict[str, int] | None = None) -> str:
    """``frame`` as aligned plain-text columns; ``widths`` caps a column (longer text cut)."""
    widths = widths or {}
    cells = {
        column: [shorten(value, widths.get(column, 10**9)) for value in frame[column]]
        for column in frame.columns
    }
    sizes = {
        column: max([len(column), *(len(value) for value in cells[column])])
        for column in frame.columns
    }
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}

    def line(values: dict[str, str]) -> str:
        parts = [
            values[c].rjust(sizes[c]) if c in numeric else values[c].ljust(sizes[c])
            for c in frame.columns
        ]
        return "  ".join(parts).rstrip()

    lines = [line({c: c for c in frame.columns})]
    lines.append(line({c: "-" * sizes[c] for c in frame.columns}))
    for i in range(len(frame)):
        lines.append(line({c: cells[c][i] for c in frame.columns}))
    return "\n".join(lines)
