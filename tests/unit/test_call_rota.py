"""The doctors' call queue: each day's callers are distinct, nobody is on call two days running,
and the calls are shared out evenly (any two lines differ by at most one call)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from generators.roster import call_lines


@given(st.integers(1, 6).flatmap(lambda most: st.tuples(
    st.integers(2 * most, 40), st.lists(st.integers(1, most), min_size=2, max_size=120))))
def test_calls_go_round_the_lines_in_turn(case):
    lines, callers = case
    days = call_lines(lines, np.array(callers))
    calls = np.zeros(lines, dtype=int)
    for today, (called, wanted) in enumerate(zip(days, callers)):
        assert len(set(called.tolist())) == len(called) == wanted
        if today:
            assert not set(called.tolist()) & set(days[today - 1].tolist())
        calls[called] += 1
    assert calls.max() - calls.min() <= 1


def test_too_few_lines_for_rest_after_a_call_is_refused():
    with pytest.raises(ValueError, match="raise --staff"):
        call_lines(4, np.array([2, 3, 2]))
