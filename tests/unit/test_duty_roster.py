"""The record writer's duty roster answers who is on duty at an instant, shifts of any length."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from hypothesis import given, settings, strategies as st

from generators.clinical_records import DutyRoster

HOUR = 3600.0
BASE = datetime(2026, 3, 27, tzinfo=timezone.utc).timestamp()

# (ward, start hour, length in hours): nurses' 12 h, doctors' 8 h days and 16 h or 24 h calls.
shift = st.tuples(st.integers(0, 2), st.integers(0, 96), st.sampled_from([8, 12, 16, 24]))


def duty(shifts) -> DutyRoster:
    ward, start, length = (np.array(column) for column in zip(*shifts))
    return DutyRoster(
        ward_codes=np.array(["W01", "W02", "W03"]),
        fallback_nurses=[np.array([-1])] * 3, fallback_doctors=[np.array([-2])] * 3,
        roster_ward=ward.astype(np.int64), roster_staff=np.arange(len(shifts), dtype=np.int64),
        roster_is_doctor=np.arange(len(shifts)) % 2 == 0,
        roster_start=BASE + start * HOUR, roster_end=BASE + (start + length) * HOUR)


@settings(max_examples=60, deadline=None)
@given(st.lists(shift, min_size=1, max_size=30), st.lists(st.integers(0, 4 * 120), min_size=1, max_size=40))
def test_on_shift_is_who_a_brute_force_count_finds_on_duty(shifts, quarter_hours):
    """Instants asked in time order, as the writer asks them (one a tick), so the cache is used."""
    roster = duty(shifts)
    for q in sorted(quarter_hours):
        t = BASE + q * HOUR / 4
        nurses, doctors = roster.on_shift(datetime.fromtimestamp(t, timezone.utc))
        for w in range(3):
            here = [i for i, (ward, start, length) in enumerate(shifts)
                    if ward == w and BASE + start * HOUR <= t < BASE + (start + length) * HOUR]
            want_doctors = [i for i in here if i % 2 == 0] or [-2]
            want_nurses = [i for i in here if i % 2 == 1] or [-1]
            assert sorted(doctors[w].tolist()) == want_doctors and sorted(nurses[w].tolist()) == want_nurses, (w, q)
