"""The roster horizon: the 9-day window plus a year by default, starting with the night shift that
is running when the window opens (it began at 19:00 the day before)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import WINDOW_DAYS
from core.settings import SAST

DEFAULT_HORIZON_DAYS = WINDOW_DAYS + 365


@dataclass(frozen=True)
class Horizon:
    start: datetime  # the window start (SIM_START)
    days: int

    @property
    def first_shift_date(self) -> date:
        """The day before the start: its night shift is on duty at SIM_START 00:00."""
        return self.start.astimezone(SAST).date() - timedelta(days=1)

    @property
    def end_date(self) -> date:
        """First day no longer covered (exclusive)."""
        return self.start.astimezone(SAST).date() + timedelta(days=self.days)

    @property
    def start_date(self) -> date:
        return self.start.astimezone(SAST).date()
