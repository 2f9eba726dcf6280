"""Ingest: a day's landing files become validated transactions and rejected rows."""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from fraud_platform.defs.ingest.checks import rejected_share_result, rejected_share_spec
from fraud_platform.defs.ingest.logic import IngestResult, empty_rejected, empty_transactions
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.partitions import (
    daily_backfill_policy,
    daily_freshness_policy,
    daily_partitions,
    storage_retry_policy,
)
from fraud_platform.tables import PARTITION_COLUMN


def _file_table(result: IngestResult) -> str:
    lines = ["| file | read | valid | rejected | error |", "|---|---:|---:|---:|---|"]
    for f in result.files:
        error = (f.error or "").replace("|", "\\|")
        lines.append(
            f"| {f.source_file} | {f.rows_read:,} | {f.rows_valid:,} | {f.rows_rejected:,} "
            f"| {error} |"
        )
    return "\n".join(lines)


@multi_asset(
    outs={
        "raw_transactions": AssetOut(
            description="The day's valid transfers, one row per transaction_id.",
            io_manager_key="io_manager",
            freshness_policy=daily_freshness_policy,
        ),
        "rejected_transactions": AssetOut(
            description="Rows set aside by validation, with file, line, field and reason.",
            io_manager_key="warehouse_io_manager",
            metadata={"partition_expr": PARTITION_COLUMN},
            freshness_policy=daily_freshness_policy,
        ),
    },
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    retry_policy=storage_retry_policy,
    group_name="ingest",
    check_specs=[rejected_share_spec],
)
def raw_transactions(
    context: AssetExecutionContext, landing_zone: LandingZone
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    """Read every landing file of the partition's day(s) and validate them."""
    results = [landing_zone.ingest(day) for day in context.partition_keys]
    valid = pd.concat([r.valid for r in results], ignore_index=True) if results else None
    rejected = pd.concat([r.rejected for r in results], ignore_index=True) if results else None
    files = [f for r in results for f in r.files]
    rows_read = sum(r.rows_read for r in results)
    if not files:
        context.log.warning(f"No landing files for {', '.join(context.partition_keys)}")
    merged = IngestResult(
        valid=valid if valid is not None else empty_transactions(),
        rejected=rejected if rejected is not None else empty_rejected(),
        files=files,
    )
    yield Output(
        merged.valid,
        output_name="raw_transactions",
        metadata={
            "files_read": len(files),
            "rows_read": rows_read,
            "rows_valid": len(merged.valid),
            "rows_rejected": len(merged.rejected),
            "files": MetadataValue.md(_file_table(merged)) if files else "no files",
        },
    )
    yield Output(
        merged.rejected,
        output_name="rejected_transactions",
        metadata={"rows_rejected": len(merged.rejected)},
    )
    yield rejected_share_result(
        rows_read,
        len(merged.rejected),
        warn_share=landing_zone.rejected_warn_share,
        error_share=landing_zone.rejected_error_share,
    )
