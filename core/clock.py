"""The simulated clock: one timeline that every cadence of the pipeline runs on.

Tick `n` of a cadence is due at the simulated instant `start + n * interval`; that instant maps to
a wall-clock deadline `wall_origin + (instant - sim_origin) / speed`. Deadlines are absolute, so
however long a tick's work takes, the next tick is not pushed later (no drift): 9 days always give
exactly 4,320 three-minute ticks and 864 fifteen-minute ticks.

`speed` is simulated seconds per wall second: 1 is real time, 1440 runs a day in a minute,
0 means as fast as possible (backfills and tests). Every part reads it from the settings
(`SIM_SPEED`, `Settings.sim_speed`); a command's `--speed` replaces the setting.

The window's facts live here and nowhere else: its default length (`WINDOW_DAYS`), the two
cadences (`STREAM_INTERVAL`, `BATCH_INTERVAL`) and how many ticks of each a window holds
(`window_ticks`). Every part takes the window as `--days`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator

WINDOW_DAYS = 9
STREAM_INTERVAL = timedelta(minutes=3)
BATCH_INTERVAL = timedelta(minutes=15)


def tick_count(window: timedelta, interval: timedelta) -> int:
    """How many ticks of `interval` fall in `window` (the first at offset 0, the last before the end)."""
    return -(-window // interval)  # ceiling division of timedeltas


def window_ticks(days: int, interval: timedelta) -> int:
    """How many ticks of `interval` a window of `days` days holds (9 days: 4,320 stream, 864 batch)."""
    return tick_count(timedelta(days=days), interval)


def tick_time(start: datetime, interval: timedelta, n: int) -> datetime:
    """The simulated instant of tick `n` (0-based)."""
    return start + n * interval


@dataclass
class SimClock:
    """Maps simulated time to wall-clock deadlines. Thread-safe to read; `stop()` wakes sleepers."""

    sim_origin: datetime
    speed: float
    wall_origin: float = field(default_factory=time.monotonic)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.sim_origin.tzinfo is None:
            raise ValueError("sim_origin must be timezone-aware")
        if self.speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")

    def deadline(self, instant: datetime) -> float:
        """The time.monotonic() value at which simulated `instant` is due."""
        if self.speed == 0:
            return float("-inf")
        return self.wall_origin + (instant - self.sim_origin).total_seconds() / self.speed

    def now(self) -> datetime:
        """The simulated time now (at speed 0: the origin, since time does not pass on its own)."""
        if self.speed == 0:
            return self.sim_origin
        return self.sim_origin + timedelta(seconds=(time.monotonic() - self.wall_origin) * self.speed)

    def wait_until(self, instant: datetime) -> bool:
        """Sleep until `instant` is due. Returns False if `stop()` was called first."""
        remaining = self.deadline(instant) - time.monotonic()
        if remaining > 0:
            self._stopped.wait(remaining)
        return not self._stopped.is_set()

    def stop(self) -> None:
        """Wake every waiter; later waits return False at once."""
        self._stopped.set()

    def stop_on(self, event: threading.Event) -> "SimClock":
        """Stop this clock (waking its waiters) as soon as `event` is set, for example by
        `core.shutdown.stop_on_signals()`. Returns the clock."""
        threading.Thread(target=lambda: (event.wait(), self.stop()), daemon=True,
                         name="clock-stop").start()
        return self

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def ticks(self, start: datetime, interval: timedelta, count: int,
              first: int = 0) -> Iterator[tuple[int, datetime]]:
        """Yield (n, instant) for ticks first..count-1, each once it is due; stops early on `stop()`."""
        for n in range(first, count):
            instant = tick_time(start, interval, n)
            if not self.wait_until(instant):
                return
            yield n, instant
