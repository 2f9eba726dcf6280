"""A day's transfers on integer account codes: what every time-aware feature is computed from.

The collapsed graph keeps one row per (sender, receiver) pair and so loses the order of events:
whether money left an account *after* it arrived, how long it stayed, whether a chain of hops
moved forward in time. Features that need that read the day's individual transfers, coded to the
rows of the day's node table (sorted by account), so no step matches account strings again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Microseconds in an hour and a day: transfer times are microseconds since the Unix epoch (UTC).
MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 24 * MICROS_PER_HOUR


@dataclass(frozen=True)
class DayTransfers:
    """One day's transfers as parallel arrays, in ascending ``time`` (ties in any order).

    ``sender`` and ``receiver`` are rows of the day's node table (``0 <= code < accounts``);
    ``amount`` is positive; ``time`` is microseconds since the epoch, UTC.
    """

    sender: np.ndarray  # int64
    receiver: np.ndarray  # int64
    amount: np.ndarray  # float64
    time: np.ndarray  # int64
    accounts: int

    def __post_init__(self) -> None:
        n = len(self.sender)
        if not (len(self.receiver) == len(self.amount) == len(self.time) == n):
            raise ValueError("sender, receiver, amount and time must have the same length")

    def __len__(self) -> int:
        return len(self.sender)

    @staticmethod
    def from_arrays(
        sender: np.ndarray,
        receiver: np.ndarray,
        amount: np.ndarray,
        time: np.ndarray,
        accounts: int,
    ) -> DayTransfers:
        """Arrays in any order, sorted here by time (stable, so equal times keep their order)."""
        time = np.asarray(time, dtype=np.int64)
        order = np.argsort(time, kind="stable")
        return DayTransfers(
            sender=np.asarray(sender, dtype=np.int64)[order],
            receiver=np.asarray(receiver, dtype=np.int64)[order],
            amount=np.asarray(amount, dtype=np.float64)[order],
            time=time[order],
            accounts=int(accounts),
        )
