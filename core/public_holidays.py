"""South African public holidays (Public Holidays Act 36 of 1994), for any span of dates.

The holidays are data, core/reference/public_holidays.csv: ten on fixed dates and two counted from
Easter Sunday (Good Friday, Family Day). Section 2(1) of the Act moves a holiday that falls on a
Sunday to the Monday after it. Days the President declares ad hoc (election days, for instance)
are not in the Act's schedule and are not known here.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from core import reference


def easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=None)
def holidays_of_year(year: int) -> frozenset[date]:
    """The public holidays observed in `year`, a Sunday holiday observed on the Monday after it."""
    easter = easter_sunday(year)
    observed = set()
    for row in reference.table("public_holidays.csv").itertuples():
        if isinstance(row.days_from_easter, str):
            day = easter + timedelta(days=int(row.days_from_easter))
        else:
            day = date(year, int(row.month), int(row.day))
        observed.add(day + timedelta(days=1) if day.weekday() == 6 else day)
    return frozenset(observed)


def public_holidays(first: date, end: date) -> set[date]:
    """Observed public holidays in [first, end)."""
    years = range(first.year, end.year + 1)
    return {d for y in years for d in holidays_of_year(y) if first <= d < end}
