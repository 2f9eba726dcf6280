"""Ingest checks: how much of a day was rejected, judged against the deployment's limits.

A failed check says why where the user looks first: its description names the day, the share,
the threshold, the top reasons and the command that lists every rejected row, and its metadata
holds the counts by reason and the first rejected rows (the wording lives in `rejected`).
"""

from collections.abc import Sequence

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from fraud_platform.defs.check_results import daily_check_spec, day_metadata
from fraud_platform.defs.ingest.records import empty_rejected
from fraud_platform.defs.ingest.rejected import (
    PREVIEW_RAW_CHARS,
    PREVIEW_ROWS,
    RejectedShare,
    list_command_text,
    preview_rows,
    reason_counts,
    rejected_share_message,
)

REJECTED_SHARE_CHECK = "rejected_share"

rejected_share_spec = daily_check_spec(
    REJECTED_SHARE_CHECK,
    "raw_transactions",
    (
        "Share of the day's rows rejected by validation: WARN above the warning share, ERROR "
        "above the error share (and the day's graph is not built from it)."
    ),
    blocking=True,
)

_REASON_SCHEMA = TableSchema(
    columns=[
        TableColumn("field", "string"),
        TableColumn("reason", "string"),
        TableColumn("rows", "int"),
    ]
)
_ROW_SCHEMA = TableSchema(
    columns=[
        TableColumn("source_file", "string"),
        TableColumn("line", "int"),
        TableColumn("field", "string"),
        TableColumn("reason", "string"),
        TableColumn("raw", "string", description=f"cut to {PREVIEW_RAW_CHARS} characters"),
    ]
)


def _table(frame: pd.DataFrame, schema: TableSchema) -> MetadataValue:
    records = [
        TableRecord({c: (int(v) if c in ("line", "rows") else str(v)) for c, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return MetadataValue.table(records=records, schema=schema)


def rejected_metadata(rejected: pd.DataFrame, days: Sequence[str]) -> dict[str, MetadataValue]:
    """The rejected rows as the check shows them: counts by reason and field, the first rows."""
    return {
        "rejected_by_reason": _table(reason_counts(rejected), _REASON_SCHEMA),
        "rejected_rows": _table(
            preview_rows(rejected, PREVIEW_ROWS, PREVIEW_RAW_CHARS), _ROW_SCHEMA
        ),
        "list_all_rejected_rows": MetadataValue.text(list_command_text(rejected, days)),
    }


def rejected_share_result(
    rows_read: int,
    rows_rejected: int,
    *,
    warn_share: float,
    error_share: float,
    rejected: pd.DataFrame | None = None,
    days: Sequence[str] = (),
) -> AssetCheckResult:
    """Passes at or below ``warn_share``; fails with WARN up to ``error_share``, ERROR above.

    ``rejected`` (the rejected rows) and ``days`` (the partition keys) make the description and
    metadata say which rows and why.
    """
    rejected = empty_rejected() if rejected is None else rejected
    verdict = RejectedShare(tuple(days), rows_read, rows_rejected, warn_share, error_share)
    metadata: dict[str, object] = {
        **day_metadata(days),
        "rows_read": rows_read,
        "rows_rejected": rows_rejected,
        "rejected_share": round(verdict.share, 6),
        "warn_share": warn_share,
        "error_share": error_share,
    }
    if not rejected.empty:
        metadata.update(rejected_metadata(rejected, days))
    return AssetCheckResult(
        check_name=REJECTED_SHARE_CHECK,
        asset_key=AssetKey("raw_transactions"),
        passed=verdict.level == "ok",
        severity=(
            AssetCheckSeverity.WARN if verdict.level == "warning" else AssetCheckSeverity.ERROR
        ),
        metadata=metadata,
        description=rejected_share_message(verdict, rejected),
    )
