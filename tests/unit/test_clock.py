from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.clock import BATCH_INTERVAL, STREAM_INTERVAL, SimClock, tick_count, tick_time

START = datetime(2026, 3, 2, tzinfo=ZoneInfo("Africa/Johannesburg"))


def test_nine_days_have_exactly_4320_stream_and_864_batch_ticks():
    assert tick_count(timedelta(days=9), STREAM_INTERVAL) == 4320
    assert tick_count(timedelta(days=9), BATCH_INTERVAL) == 864


def test_tick_instants_are_absolute_multiples_of_the_interval():
    assert tick_time(START, STREAM_INTERVAL, 4319) == START + timedelta(days=9) - timedelta(minutes=3)


def test_slow_work_does_not_push_later_ticks_back():
    # 1 simulated minute per 10 ms of wall time; every tick's work takes 15 ms (longer than a tick).
    clock = SimClock(START, speed=6000)
    seen = []
    for n, instant in clock.ticks(START, timedelta(minutes=1), 20):
        seen.append(n)
        time.sleep(0.015)
    elapsed = time.monotonic() - clock.wall_origin
    assert seen == list(range(20))
    # Drift-free: total time is work-bound (20 x 15 ms), not work + interval per tick (20 x 25 ms).
    assert elapsed < 20 * 0.025


def test_speed_zero_never_waits_and_resumes_from_a_given_tick():
    clock = SimClock(START, speed=0)
    ticks = list(clock.ticks(START, BATCH_INTERVAL, 864, first=860))
    assert [n for n, _ in ticks] == [860, 861, 862, 863]
    assert ticks[-1][1] == START + 863 * BATCH_INTERVAL


def test_stop_wakes_a_waiting_clock():
    clock = SimClock(START, speed=1)
    clock.stop()
    assert list(clock.ticks(START, STREAM_INTERVAL, 10, first=1)) == []


def test_naive_origin_is_rejected():
    with pytest.raises(ValueError):
        SimClock(datetime(2026, 3, 2), speed=1)
