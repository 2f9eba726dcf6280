"""Ingest: a day's landing files become validated transactions and rejected rows.

The day is streamed: files are read one at a time and each file's valid rows are appended to a
local Parquet file as soon as they are validated, which the IO manager then moves into the object
store; the step never holds the day's rows, so a day larger than memory is ingested as long as
each of its files fits (see `LandingZone.max_file_bytes`). The graph step reads the stored file
back a row group at a time.
"""

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetOut,
    MetadataValue,
    Output,
    multi_asset,
)

from fraud_platform.defs.check_results import log_failed_check
from fraud_platform.defs.ingest.checks import rejected_share_result, rejected_share_spec
from fraud_platform.defs.ingest.logic import (
    FileReport,
    IngestSummary,
    empty_rejected,
    raw_transaction_schema,
)
from fraud_platform.defs.ingest.rejected import list_command_text
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.partitions import daily_freshness_policy, daily_step, warehouse_table
from fraud_platform.storage.object_store import TransactionBatches, stream_writer


def _file_table(files: Sequence[FileReport]) -> str:
    lines = ["| file | read | valid | rejected | error |", "|---|---:|---:|---:|---|"]
    for f in files:
        error = (f.error or "").replace("|", "\\|")
        lines.append(
            f"| {f.source_file} | {f.rows_read:,} | {f.rows_valid:,} | {f.rows_rejected:,} "
            f"| {error} |"
        )
    return "\n".join(lines)


@multi_asset(
    outs={
        "raw_transactions": AssetOut(
            description=(
                "The day's valid transfers, one row per transaction_id (a Parquet file per "
                "day, read back in row groups)."
            ),
            io_manager_key="io_manager",
            freshness_policy=daily_freshness_policy,
        ),
        "rejected_transactions": AssetOut(
            description="Rows set aside by validation, with file, line, field and reason.",
            **warehouse_table(),
            freshness_policy=daily_freshness_policy,
        ),
    },
    **daily_step("ingest", fresh=False),
    check_specs=[rejected_share_spec],
)
def raw_transactions(
    context: AssetExecutionContext, landing_zone: LandingZone
) -> Iterator[Output[TransactionBatches] | Output[pd.DataFrame] | AssetCheckResult]:
    """Read every landing file of the partition's day(s), validate them, stream the valid rows."""
    spill = Path(tempfile.mkdtemp(prefix="raw_transactions-"))
    try:
        paths: list[str] = []
        summaries: list[IngestSummary] = []
        for day in context.partition_keys:
            path = spill / f"{day}.parquet"
            with stream_writer(path, raw_transaction_schema()) as writer:
                summaries.append(landing_zone.stream(day, writer.write_table))
            paths.append(str(path))
        files = [f for s in summaries for f in s.files]
        rows_read = sum(s.rows_read for s in summaries)
        rows_valid = sum(s.rows_valid for s in summaries)
        rejected = (
            pd.concat([s.rejected for s in summaries], ignore_index=True)
            if summaries
            else empty_rejected()
        )
        if not files:
            context.log.warning(f"No landing files for {', '.join(context.partition_keys)}")
        yield Output(
            TransactionBatches(tuple(paths)),
            output_name="raw_transactions",
            metadata={
                "files_read": len(files),
                "rows_read": rows_read,
                "rows_valid": rows_valid,
                "rows_rejected": len(rejected),
                "files": MetadataValue.md(_file_table(files)) if files else "no files",
            },
        )
    finally:
        # The IO manager has moved the files into the store; what remains is a failed run's.
        shutil.rmtree(spill, ignore_errors=True)
    yield Output(
        rejected,
        output_name="rejected_transactions",
        metadata={
            "rows_rejected": len(rejected),
            # Beside the IO manager's SQL: the command a user lists the rows with.
            "list_rows": MetadataValue.text(list_command_text(rejected, context.partition_keys)),
        },
    )
    check = rejected_share_result(
        rows_read,
        len(rejected),
        warn_share=landing_zone.rejected_warn_share,
        error_share=landing_zone.rejected_error_share,
        rejected=rejected,
        days=context.partition_keys,
    )
    log_failed_check(context.log, check)
    yield check
