"""The ward rule's data: every ward of wards.csv named by exactly one row, a clear error otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from core import reference, wards


def test_every_ward_has_exactly_one_rule_with_a_source():
    rules = pd.read_csv(reference.path("ward_eligibility.csv"), dtype=str, keep_default_na=False)
    named = [code for codes in rules.ward_codes for code in codes.split("|")]
    assert sorted(named) == sorted(reference.wards().ward_code)
    assert all(rules.source.str.len() > 20) and set(rules.sex) <= {"*", "F", "M"}
    assert set(wards.eligibility()) == set(reference.wards().ward_code)


def test_a_ward_named_twice_or_not_at_all_is_a_clear_error(monkeypatch):
    original = reference.table
    table = original("ward_eligibility.csv")
    twice = pd.concat([table, table.iloc[[0]].assign(rule="again")])
    for broken, message in ((twice, "is named by"), (table.iloc[1:], "names no rule for")):
        monkeypatch.setattr(reference, "table", lambda name, frame=broken: frame if name == "ward_eligibility.csv"
                            else original(name))
        wards.eligibility.cache_clear()
        with pytest.raises(ValueError, match=message):
            wards.eligibility()
    monkeypatch.undo()
    wards.eligibility.cache_clear()


def test_the_rule_takes_scalars_and_arrays():
    maternity = wards.rule_for("W41")
    assert maternity.fits(30.0, False) and not maternity.fits(30.0, True) and not maternity.fits(12.0, False)
    assert list(maternity.fits([14.9, 15.0, 49.9, 50.0], [False] * 4)) == [False, True, True, False]
