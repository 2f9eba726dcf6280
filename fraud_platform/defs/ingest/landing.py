"""The landing zone: which files a day has, and whether they fit the input budget.

A day's files live under ``<landing>/date=YYYY-MM-DD/``; their name order decides which
duplicate is kept. A CSV file is parsed whole, so one larger than the byte budget refuses the
day before anything is read (`FileTooLargeError`), rather than the run dying of memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import Failure
from upath import UPath

from fraud_platform.storage.object_store import object_store_errors, store_path

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)


def day_folder(landing_url: str, partition_date: str) -> UPath:
    """The folder of a day's landing files (``date=YYYY-MM-DD``, Hive style)."""
    return store_path(landing_url) / f"date={partition_date}"


def list_landing_files(landing_url: str, partition_date: str) -> list[UPath]:
    """The day's files in name order (the order that decides which duplicate is kept).

    Names starting with ``.`` or ``_`` (uploads in progress, ``_SUCCESS`` markers) and
    subfolders are not landing files.
    """
    folder = day_folder(landing_url, partition_date)
    with object_store_errors(folder, "list"):
        # s3fs caches listings (sizes and ETags) for the life of the process: a file replaced or
        # added since would be missed, or read with a stale ETag that S3 refuses
        # (PreconditionFailed). A day's listing is one request: always ask again.
        folder.fs.invalidate_cache(folder.path)
        if not folder.exists():
            return []
        return sorted(
            (p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_"))),
            key=lambda p: p.name,
        )


class FileTooLargeError(Failure):
    """A landing CSV file exceeds the input budget; raised before any of the day's files is read.

    A Dagster `Failure` without retries: the files do not shrink by waiting.
    """

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


def _size_text(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size:,} bytes)"
    return f"{size:,} bytes"


def file_budget_error(
    partition_date: str, sizes: Mapping[str, int], max_file_bytes: int
) -> str | None:
    """Why a day whose files have ``sizes`` (name -> bytes) cannot be read, or None if it can.

    The budget is per CSV file: a day is streamed file by file, and a Parquet file row group by
    row group, but a CSV file is parsed whole.
    """
    over = sorted(
        (
            (name, size)
            for name, size in sizes.items()
            if size > max_file_bytes and not name.endswith(PARQUET_SUFFIXES)
        ),
        key=lambda item: (-item[1], item[0]),
    )
    if not over:
        return None
    shown = ", ".join(f"{name} {_size_text(size)}" for name, size in over[:3])
    more = f" and {len(over) - 3} more" if len(over) > 3 else ""
    return (
        f"day {partition_date} not read: {len(over)} of its {len(sizes)} landing file(s) "
        f"exceed the input budget of {_size_text(max_file_bytes)} per file "
        f"(LandingZone.max_file_bytes, set by FRAUD_MAX_FILE_BYTES): {shown}{more}. "
        "A CSV file is read whole into memory (the day is streamed file by file, a Parquet file "
        "row group by row group): split the file into smaller files in the same date= folder, "
        "write it as Parquet, or raise the budget on a machine with several times that memory."
    )


def landing_file_sizes(paths: Sequence[UPath]) -> dict[str, int]:
    """Name -> stored size in bytes, from the listing's metadata (nothing is read)."""
    sizes = {}
    for path in paths:
        with object_store_errors(path, "look up"):
            sizes[path.name] = int(path.stat().st_size)
    return sizes
