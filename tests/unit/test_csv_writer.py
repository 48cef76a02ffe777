"""core/csv_writer.py's vectorised encoders against what Python itself writes.

Each encoder builds CSV text without a Python call per value; these tests draw hostile inputs
(hypothesis) and compare with str(), the % operator and the csv module, and read the bytes back
with the csv module and with the independent splitter in tests/rfc4180.py."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.csv_writer import csv_fields, encode_arrays, encode_rows, formatted, int_bytes, zero_padded
from tests.rfc4180 import rfc4180_records

non_negative = st.integers(min_value=0, max_value=np.iinfo(np.int64).max)
# Any text a field can hold: every Unicode character but NUL (and surrogates, which UTF-8 cannot encode).
field_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@given(st.lists(non_negative, max_size=60))
def test_int_bytes_is_the_decimal_text_of_each_value(values):
    encoded = int_bytes(np.array(values, dtype=np.int64))
    assert encoded.tolist() == [str(v).encode("ascii") for v in values]


def test_int_bytes_refuses_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        int_bytes(np.array([3, -1]))


@given(st.lists(st.integers(0, 10**9 - 1), max_size=40))
def test_zero_padded_is_fixed_width(values):
    assert zero_padded(np.array(values, dtype=np.int64), 9).tolist() == [f"{v:09d}".encode() for v in values]


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=40),
       st.sampled_from(["%.1f", "%g", "%.3f"]))
def test_formatted_is_the_percent_operator(values, spec):
    assert formatted(np.array(values, dtype=np.float64), spec).tolist() == [(spec % v).encode() for v in values]


@settings(max_examples=300)
@given(st.lists(st.lists(field_text, min_size=3, max_size=3), max_size=8))
def test_fields_encoded_as_arrays_read_back_as_the_same_values(rows):
    """Columns of arbitrary text (commas, quotes, lone CRs and LFs, emoji, empty values) through
    csv_fields and encode_arrays are the bytes encode_rows writes, and read back, by the csv module
    and by the independent splitter, as the same records and values."""
    header = ["a", "b", "c"]
    columns = [csv_fields([row[i] for row in rows]) for i in range(3)]
    data = b"a,b,c\n" + encode_arrays([[column] for column in columns], len(rows))
    assert data == encode_rows(header, rows)
    text = data.decode("utf-8")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [header, *rows]
    assert len(rfc4180_records(text)) == len(rows) + 1


@given(st.lists(st.lists(st.one_of(field_text, st.integers(), st.none()), min_size=1, max_size=3), max_size=6))
def test_encode_rows_reads_back_as_written(rows):
    """Any rows, one field or several, None written as empty: one record each, values as str()."""
    text = encode_rows(["h"], rows).decode("utf-8")
    expected = [["h"], *[["" if v is None else str(v) for v in row] for row in rows]]
    assert list(csv.reader(io.StringIO(text, newline=""))) == expected
    assert len(rfc4180_records(text)) == len(rows) + 1


def test_a_lone_carriage_return_is_quoted():
    """The csv module (3.11) writes ['x\r'] unquoted with \n line ends, so the record splits in two."""
    assert encode_rows(["a", "b"], [["x\r", "y"]]) == b'a,b\n"x\r",y\n'


def test_csv_fields_refuses_nul():
    with pytest.raises(ValueError, match="NUL"):
        csv_fields(["fine", "bad\x00"])
