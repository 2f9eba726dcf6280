"""The one shape of an asset check that lists problems, shared by every area's checks.

A check that finds a list of problems fails at ERROR when the list is not empty, and says the
same way in every area what it found: the problems, "; "-joined, in its metadata (``none`` when
it passed) and as its description, beside the counts it looked at.
"""

from collections.abc import Sequence

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey


def problems_result(
    check_name: str, asset: str, problems: Sequence[str], **counts: int
) -> AssetCheckResult:
    """ERROR unless ``problems`` is empty; ``counts`` (e.g. ``rows=...``) go into the metadata."""
    joined = "; ".join(problems)
    return AssetCheckResult(
        check_name=check_name,
        asset_key=AssetKey(asset),
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={**counts, "problems": joined or "none"},
        description=joined or None,
    )
