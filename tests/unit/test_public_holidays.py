"""South African public holidays: the Act's schedule and its Sunday rule, checked against dates
written out apart from the rule and against dateutil's Easter."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.easter import easter
from hypothesis import given, strategies as st

from core.public_holidays import easter_sunday, public_holidays

# 2026 as gazetted (Public Holidays Act 36 of 1994): 9 August is a Sunday, so Monday 10 August.
HOLIDAYS_2026 = {date(2026, 1, 1), date(2026, 3, 21), date(2026, 4, 3), date(2026, 4, 6), date(2026, 4, 27),
                 date(2026, 5, 1), date(2026, 6, 16), date(2026, 8, 10), date(2026, 9, 24), date(2026, 12, 16),
                 date(2026, 12, 25), date(2026, 12, 26)}


def test_2026_holidays_are_the_gazetted_ones():
    assert public_holidays(date(2026, 1, 1), date(2027, 1, 1)) == HOLIDAYS_2026


def test_a_sunday_holiday_is_observed_on_the_monday_and_the_span_is_half_open():
    # 2027: Human Rights Day 21 March and the Day of Goodwill 26 December are Sundays.
    holidays = public_holidays(date(2027, 3, 1), date(2028, 1, 1))
    assert date(2027, 3, 22) in holidays and date(2027, 3, 21) not in holidays
    assert date(2027, 12, 27) in holidays and {date(2027, 3, 26), date(2027, 3, 29)} <= holidays
    assert public_holidays(date(2026, 4, 4), date(2026, 4, 6)) == set()


@given(st.integers(1900, 2200))
def test_easter_matches_dateutil(year):
    assert easter_sunday(year) == easter(year)


FIXED = [(1, 1), (3, 21), (4, 27), (5, 1), (6, 16), (8, 9), (9, 24), (12, 16), (12, 25), (12, 26)]


@given(st.integers(1995, 2100))
def test_each_fixed_holiday_is_observed_on_its_date_or_the_monday_after_and_never_on_a_sunday(year):
    in_year = public_holidays(date(year, 1, 1), date(year + 1, 1, 2))
    assert all(d.weekday() != 6 for d in in_year)
    for month, day in FIXED:
        on = date(year, month, day)
        assert (on + timedelta(days=1) if on.weekday() == 6 else on) in in_year
    assert easter(year) - timedelta(days=2) in in_year and easter(year) + timedelta(days=1) in in_year
