"""The ward rule's data: every ward of wards.csv named by exactly one row, a clear error otherwise;
the rule with its conditions checked against the table read apart and ICD-10 restated."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# What each condition is, restated from WHO ICD-10 (not read from conditions.csv): pregnancy is
# chapter XV (O00-O99); burns are T20-T32 (burns and corrosions) and T75.4 (electrical injury).
def _pregnancy(code: str) -> bool:
    return code.startswith("O")


def _burns(code: str) -> bool:
    return (code[:1] == "T" and code[1:3].isdigit() and 20 <= int(code[1:3]) <= 32) or code.startswith("T75.4")


ICD10_CONDITION = {"pregnancy": _pregnancy, "burns": _burns, "*": lambda code: True}


def _rules_read_apart() -> dict[str, dict]:
    """Ward code -> its row of ward_eligibility.csv, read with the csv module."""
    with open(reference.path("ward_eligibility.csv"), newline="") as f:
        return {ward: row for row in csv.DictReader(f) for ward in row["ward_codes"].split("|")}


def test_maternity_takes_only_pregnancy_and_the_burns_unit_only_burns():
    rules = _rules_read_apart()
    assert {w for w, r in rules.items() if r["condition"] == "pregnancy"} == {
        "W39", "W40", "W41", "W42", "W43", "W44", "W47"}
    assert {w for w, r in rules.items() if r["condition"] == "burns"} == {"W72"}
    assert {r["condition"] for r in rules.values()} == {"*", "pregnancy", "burns"}


CODES = sorted(set(pd.read_csv(reference.path("icd10_codes.csv"), dtype=str).icd10_code))


@settings(max_examples=400, deadline=None)
@given(ward=st.sampled_from(sorted(reference.wards().ward_code)), age=st.floats(0, 110), male=st.booleans(),
       code=st.one_of(st.just(""), st.sampled_from(CODES)))
def test_the_rule_with_conditions_is_the_table(ward, age, male, code):
    """A stay under way fits a ward when its sex and age fit the ward's row and its primary
    diagnosis has the row's condition; a patient to be admitted (no diagnosis yet) by sex and age."""
    row = _rules_read_apart()[ward]
    demographic = (float(row["min_age_years"]) <= age < float(row["max_age_years"])
                   and row["sex"] in ("*", "M" if male else "F"))
    has = row["condition"] == "*" or (code != "" and ICD10_CONDITION[row["condition"]](code))
    rule = wards.rule_for(ward)
    assert rule.fits(age, male) == demographic
    assert rule.fits(age, male, code) == (demographic and has)
    assert list(rule.fits(np.array([age, age]), np.array([male, male]), np.array([code, code]))) == [demographic and has] * 2


@given(codes=st.lists(st.one_of(st.just(""), st.sampled_from(CODES)), max_size=30))
def test_has_condition_on_arrays_is_the_restated_definition(codes):
    for condition in ("pregnancy", "burns"):
        expected = [code != "" and ICD10_CONDITION[condition](code) for code in codes]
        assert list(wards.has_condition(condition, np.array(codes, dtype=str))) == expected
        assert [wards.has_condition(condition, code) for code in codes] == expected
    assert wards.has_condition("burns", None) is False


def test_a_rule_naming_an_unknown_condition_is_a_clear_error(monkeypatch):
    original = reference.table
    broken = original("ward_eligibility.csv").assign(condition="leprosy")
    monkeypatch.setattr(reference, "table", lambda name: broken if name == "ward_eligibility.csv" else original(name))
    wards.eligibility.cache_clear()
    with pytest.raises(ValueError, match="leprosy"):
        wards.eligibility()
    monkeypatch.undo()
    wards.eligibility.cache_clear()
