"""The one timing wrapper the benchmark scripts put around the platform's functions.

`ingest.py` sums a phase's seconds, `pipeline_run.py` keeps every interval: each passes what to
do with a call's start and end. Nothing here is imported by the platform.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any


def timed(
    function: Callable[..., Any],
    record: Callable[[float, float], None],
    clock: Callable[[], float] = time.perf_counter,
) -> Callable[..., Any]:
    """``function``, calling ``record(start, end)`` (``clock`` readings) after every call, also
    when it raises; ``record`` runs on the calling thread."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return function(*args, **kwargs)
        finally:
            record(start, clock())

    return wrapper
