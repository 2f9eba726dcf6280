"""Memory of the measured processes: RSS sampling of a process tree, and a kill above a limit."""

from __future__ import annotations

import contextlib
import math
import threading
import time

import psutil

SAMPLE_SECONDS = 0.05


class RssSampler:
    """Samples the RSS of a process tree every 50 ms, and kills the tree above ``limit``.

    The limit protects a shared machine: a run that would exhaust it is stopped and reported,
    not left to the kernel's OOM killer (which may pick another process).
    """

    def __init__(self, pid: int, limit: int) -> None:
        self.pid = pid
        self.limit = limit
        self.samples: list[tuple[float, int, int]] = []  # time, tree RSS, largest process RSS
        self.killed_at: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.pid)
        return [root, *root.children(recursive=True)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sizes = []
                for process in self._tree():
                    with contextlib.suppress(psutil.Error):
                        sizes.append(process.memory_info().rss)
            except psutil.Error:
                return
            total = sum(sizes)
            self.samples.append((time.time(), total, max(sizes, default=0)))
            if total > self.limit and self.killed_at is None:
                self.killed_at = total
                kill_tree(self.pid)
            self._stop.wait(SAMPLE_SECONDS)

    def peak(self, start: float = -math.inf, end: float = math.inf) -> int:
        """Largest tree RSS sampled within [start, end], widened by one sampling period so that
        an interval shorter than the period still sees the samples around it."""
        start, end = start - SAMPLE_SECONDS, end + SAMPLE_SECONDS
        return max((rss for t, rss, _ in self.samples if start <= t <= end), default=0)

    def peak_process(self) -> int:
        """Largest single process's RSS sampled (a tree's total overstates one process)."""
        return max((largest for _, _, largest in self.samples), default=0)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant (children first, so none is re-parented)."""
    try:
        root = psutil.Process(pid)
        processes = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
