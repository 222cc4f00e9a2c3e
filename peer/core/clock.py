"""A hybrid logical clock packed in one integer: wall milliseconds << 16 | counter.

It never goes backwards, stays close to wall time, and is always later than
every time this device has observed from others, so "later write wins" means
the same thing on every replica even when wall clocks disagree a little.

>>> clock = HybridClock(wall=lambda: 1.0)
>>> clock.now() < clock.now()
True
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

SHIFT = 16
SKEW_ENV = "ROAMSYNC_CLOCK_SKEW"
AHEAD = 86_400_000 << SHIFT  # one day: how far ahead of its wall clock a replica's clock goes


def system_wall() -> Callable[[], float]:
    """The wall clock: ``time.time``, moved by ``$ROAMSYNC_CLOCK_SKEW`` seconds if set.

    The skew exists to test a device whose clock is wrong (the chaos tests set
    it on one daemon); nothing else should set it.
    """
    raw = os.environ.get(SKEW_ENV, "").strip()
    if not raw:
        return time.time
    try:
        skew = float(raw)
    except ValueError:
        raise ValueError(f"{SKEW_ENV} must be a number of seconds, not {raw!r}") from None
    return lambda: time.time() + skew


class HybridClock:
    """The clock; it never runs more than :data:`AHEAD` (a day) ahead of the wall clock.

    A time observed from another device (or stored by an older version) beyond
    that is not taken: a forged write dated 2**63 - 1 must not leave the device
    unable to write. The replica refuses records dated beyond :meth:`ceiling`,
    so honest devices never observe such times (README, "Time").
    """

    def __init__(self, last: int = 0, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self.last = min(last, self.ceiling())

    def ceiling(self) -> int:
        """The latest time this device takes from anyone: its wall clock plus a day."""
        return (int(self.wall() * 1000) << SHIFT) + AHEAD

    def now(self) -> int:
        """A new timestamp, later than every one issued or observed before."""
        self.last = max(self.last + 1, int(self.wall() * 1000) << SHIFT)
        return self.last

    def observe(self, remote: int) -> None:
        """Take note of a timestamp seen in a merged write (up to :meth:`ceiling`)."""
        if remote > self.last:
            self.last = max(self.last, min(remote, self.ceiling()))


def to_millis(t: int) -> int:
    return t >> SHIFT
