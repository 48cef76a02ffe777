"""The ADT relay's pure parts: the outbox position it writes into every message and reads back."""

from __future__ import annotations

from hypothesis import given, strategies as st

from producer.adt_relay import format_position, parse_position

positions = st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1))


@given(positions)
def test_a_position_reads_back_as_written(position):
    assert parse_position(format_position(position).encode("ascii")) == position
