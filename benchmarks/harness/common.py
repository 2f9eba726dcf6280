"""What every part of the daily-pipeline benchmark shares: paths, the measured day, units, and
the progress log."""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
REPO = BENCH_DIR.parent

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY = "2024-10-01"
MILLION = 1_000_000
GB = 1024**3


def log(message: str) -> None:
    """Progress goes to stderr; the report alone goes to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def days_from(first: str, count: int) -> list[str]:
    """``count`` partition keys from ``first`` on, one a day: what a backfill covers."""
    start = date.fromisoformat(first)
    return [(start + timedelta(days=offset)).isoformat() for offset in range(count)]
