"""Ingest checks: how much of a day was rejected, judged against the deployment's limits."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

REJECTED_SHARE_CHECK = "rejected_share"

rejected_share_spec = AssetCheckSpec(
    name=REJECTED_SHARE_CHECK,
    asset=AssetKey("raw_transactions"),
    description=(
        "Share of the day's rows rejected by validation: WARN above the warning share, ERROR "
        "above the error share (and the day's graph is not built from it)."
    ),
    blocking=True,
)


def rejected_share_result(
    rows_read: int, rows_rejected: int, *, warn_share: float, error_share: float
) -> AssetCheckResult:
    """Passes at or below ``warn_share``; fails with WARN up to ``error_share``, ERROR above."""
    share = rows_rejected / rows_read if rows_read else 0.0
    metadata = {
        "rows_read": rows_read,
        "rows_rejected": rows_rejected,
        "rejected_share": round(share, 6),
        "warn_share": warn_share,
        "error_share": error_share,
    }
    if share > error_share:
        severity = AssetCheckSeverity.ERROR
    elif share > warn_share:
        severity = AssetCheckSeverity.WARN
    else:
        return AssetCheckResult(
            check_name=REJECTED_SHARE_CHECK,
            asset_key=AssetKey("raw_transactions"),
            passed=True,
            metadata=metadata,
        )
    return AssetCheckResult(
        check_name=REJECTED_SHARE_CHECK,
        asset_key=AssetKey("raw_transactions"),
        passed=False,
        severity=severity,
        metadata=metadata,
        description=f"{share:.1%} of {rows_read:,} rows rejected",
    )
