"""Reading a landed record file without PostgreSQL: records counted, bad ones told apart.

The counts are checked against tests/rfc4180.py, a record splitter written from the rules
(RFC 4180 as Python's csv module reads it), not against the loader's own reading."""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from hypothesis import HealthCheck, given, settings, strategies as st

from core.batch_files import KINDS
from database.record_file import RecordFile, check_records, digits_to_ints, distinct, distinct_bytes
from tests.rfc4180 import rfc4180_records

VITAL = KINDS["vital_sign"]
GOOD_ROW = "7,100001,MED1,2026-03-02T08:00:00+02:00,80,120,80,16,36.8,98,500001\n"


def _body(text: str) -> RecordFile:
    return RecordFile(VITAL, text.encode("utf-8", "surrogateescape"))


# Text built from the characters that matter to CSV, and a few that do not.
CSV_TEXT = st.text(alphabet=st.sampled_from(list(',"\r\n\\.ab7\x00é') + ["\udcff"]), max_size=200)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(CSV_TEXT)
def test_every_record_is_counted_once_as_a_row_or_a_rejection(text):
    checked = check_records(_body(text))
    assert checked.records == len(rfc4180_records(text))
    staged = list(csv.reader(io.StringIO(checked.clean.decode("utf-8"), newline="")))
    assert len(staged) == checked.rows
    assert all(len(row) == len(VITAL.columns) + 1 and row[0].isdigit() for row in staged)


@settings(max_examples=200)
@given(st.lists(st.sampled_from([GOOD_ROW, "\n", "1,2\n", "\\.\n", GOOD_ROW.replace("MED1", "M\x00")]), max_size=30))
def test_a_simple_file_counts_its_lines_as_the_record_reader_does(lines):
    records = _body("".join(lines))
    assert records.simple
    assert records.simple_count() == check_records(records).records == len(lines)


def test_good_records_are_written_again_with_their_line_numbers_and_bad_ones_say_why():
    text = GOOD_ROW + GOOD_ROW.replace("\n", ",extra\n") + '"multi\nline",' + GOOD_ROW[2:] + "\\.\n" + GOOD_ROW
    checked = check_records(_body(text))
    rows = list(csv.reader(io.StringIO(checked.clean.decode(), newline="")))
    assert [row[0] for row in rows] == ["2", "4", "7"]          # the lines the good records start on
    assert rows[1][1] == "multi\nline"
    assert [(r.line_number, r.reason) for r in checked.rejected] == [
        (3, "12 fields where the header has 11"), (6, "a line holding only \\. (COPY's end-of-data marker)")]


def test_a_quoted_field_that_never_ends_is_one_rejected_record():
    checked = check_records(_body(GOOD_ROW + '8,"100001,MED1\n' + GOOD_ROW))
    assert checked.rows == 1 and [r.line_number for r in checked.rejected] == [3]
    assert "unbalanced quote" in checked.rejected[0].reason


def test_rejected_text_keeps_bad_bytes_visible_and_storable():
    records = RecordFile(VITAL, GOOD_ROW.replace("MED1", "M\xe9\x00").encode("latin-1"))
    (rejected,) = check_records(records).rejected
    assert rejected.reason == "bytes that are not UTF-8" and "M\\xe9\\x00" in rejected.raw


# -- the direct load's column reader ---------------------------------------------------------------

# Any bytes but the four that make a file not simple or end a field; UTF-8 or not.
FIELD = st.binary(max_size=12).map(lambda b: bytes(c for c in b if c not in b'",\r\n'))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(FIELD, min_size=11, max_size=11), max_size=30),
       odd=st.one_of(st.none(), st.tuples(st.integers(0, 29), st.sampled_from([10, 12, 1]))))
def test_simple_fields_are_the_columns_the_csv_module_reads(rows, odd):
    """Against the csv module on the same bytes; a line with another field count gives None."""
    lines = [b",".join(row) for row in rows]
    if odd is not None and lines:
        at, width = odd[0] % len(lines), odd[1]
        lines[at] = b",".join((rows[at] * 2)[:width])
    body = b"".join(line + b"\n" for line in lines)
    read = RecordFile(VITAL, body).simple_fields([c.name for c in VITAL.columns])
    parsed = list(csv.reader(io.StringIO(body.decode("latin-1"), newline="")))
    if any(len(fields) != 11 for fields in parsed):
        assert read is None
        return
    for i, column in enumerate(VITAL.columns):
        assert [v.rstrip(b"\0") for v in read[column.name].tolist()] == \
            [fields[i].encode("latin-1").rstrip(b"\0") for fields in parsed]


@given(st.lists(st.one_of(st.from_regex(r"\A[0-9]{1,18}\Z"),
                         st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)),
                max_size=20))
def test_digits_to_ints_reads_digit_strings_and_refuses_anything_else(values):
    encoded = [v.encode("utf-8") for v in values]
    got = digits_to_ints(np.array(encoded, dtype=bytes) if encoded else np.array([], "S1"))
    if all(re.fullmatch(rb"[0-9]{1,18}", v) for v in encoded):
        assert got is not None and got.tolist() == [int(v) for v in encoded]
    else:
        assert got is None


@given(st.lists(st.integers(-5, 5)))
def test_distinct_is_the_sorted_set(values):
    assert distinct(np.array(values, np.int64)).tolist() == sorted(set(values))


@given(st.lists(st.binary(max_size=11).map(lambda b: b.rstrip(b"\0")), max_size=40))
def test_distinct_bytes_is_the_set_of_values(values):
    array = np.array(values, dtype=bytes) if values else np.array([], "S1")
    assert sorted(distinct_bytes(array)) == sorted(set(values))
