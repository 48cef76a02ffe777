"""The consumer's pure parts (no services): safe reasons, dead-letter copies, offset incidents,
and the window the run hands the consumer. The consumer itself runs against the real broker and
database in tests/integration/test_stream_hostile.py and test_stream_properties.py."""

from __future__ import annotations

import pytest

from consumer.dead_letter import DEAD_LETTER_MAX_BYTES, dead_letter_message
from consumer.stream_consumer import WINDOW_DAYS, build_parser
from consumer.transfer_store import (AHEAD_OF_LOG_END, BEHIND_LOG_START, MAX_REASON_CHARS, Quarantined,
                                     offset_incident, safe_text)
from core.settings import load
from hospital.run import RunOptions, part_args


@pytest.mark.parametrize("hostile", ["nul \x00 inside", "lone \ud800 surrogate", "x" * 100_000, "\x00" * 5000])
def test_a_reason_is_always_storable_text_and_a_valid_header(hostile):
    text = safe_text(hostile)
    assert "\x00" not in text and len(text) <= MAX_REASON_CHARS
    text.encode("utf-8")  # raises on a lone surrogate


def test_a_quarantine_makes_its_reason_safe_and_keeps_the_raw_bytes():
    raw = b"\x00\xff" * 10
    q = Quarantined("t", 0, 7, "unexpected_error: ValueError: bad \x00 byte", raw)
    assert q.reason == "unexpected_error: ValueError: bad \\x00 byte" and q.raw == raw


def test_a_dead_letter_copy_over_the_cut_size_is_cut_and_says_so():
    raw = bytes(range(256)) * 4000  # 1,024,000 bytes
    value, headers = dead_letter_message(Quarantined("events", 2, 41, "not_json: x", raw))
    headers = dict(headers)
    assert value == raw[:DEAD_LETTER_MAX_BYTES] and DEAD_LETTER_MAX_BYTES <= 256 * 1024
    assert headers["truncated"] == b"true" and headers["original_length"] == b"1024000"
    assert (headers["source_topic"], headers["source_partition"], headers["source_offset"]) == (b"events", b"2", b"41")


@pytest.mark.parametrize("raw", [None, b"", b"small"])
def test_a_small_or_empty_dead_letter_copy_is_whole(raw):
    value, headers = dead_letter_message(Quarantined("events", 0, 1, "not_json: empty message", raw))
    assert value == raw and dict(headers)["truncated"] == b"false"


@pytest.mark.parametrize("stored, start, end, kind", [
    (0, 0, 0, None), (5, 0, 10, None), (10, 0, 10, None), (10, 10, 10, None),
    (11, 0, 10, AHEAD_OF_LOG_END), (1000, 0, 0, AHEAD_OF_LOG_END),
    (3, 4, 10, BEHIND_LOG_START), (0, 25, 40, BEHIND_LOG_START),
])
def test_an_offset_incident_is_a_stored_offset_outside_the_log(stored, start, end, kind):
    incident = offset_incident(0, stored, start, end)
    assert (incident and incident.kind) == kind


def test_the_consumer_window_defaults_to_nine_days_and_takes_days():
    assert WINDOW_DAYS == 9 and build_parser().parse_args([]).days == 9
    assert build_parser().parse_args(["--days", "3"]).days == 3


def test_the_run_tells_the_consumer_its_days():
    args = part_args("consumer", load(), RunOptions(days=4))
    assert args[0] == "consume-transfers" and args[args.index("--days") + 1] == "4"
