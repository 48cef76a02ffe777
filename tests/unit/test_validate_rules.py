"""The realism rules file: every rule complete, sourced and well-formed; bad files are refused."""

from __future__ import annotations

import tomllib

import pytest

from hospital import validate


def test_every_rule_has_a_band_a_source_and_a_query_of_two_columns():
    rules = validate.read_rules()
    raw = tomllib.loads(validate.RULES_FILE.read_text())["rule"]
    assert len(rules) == len(raw) >= 8
    for rule in rules:
        assert rule.low <= rule.high and rule.unit in validate.UNITS
        assert len(rule.source) > 20, rule.name
        assert rule.sql.strip().upper().startswith(("SELECT", "WITH")), rule.name


@pytest.mark.parametrize("body, why", [
    ("", "no [[rule]]"),
    ('[[rule]]\nname = "a"\nwhat = "x"\nsql = "SELECT 1, 1"\nlow = 2\nhigh = 1\nunit = "share"\nsource = "s"\n', "low <= high"),
    ('[[rule]]\nname = "a"\nwhat = "x"\nsql = "SELECT 1, 1"\nlow = 0\nhigh = 1\nunit = "share"\n', "missing"),
    ('[[rule]]\nname = "a"\nwhat = "x"\nsql = "SELECT 1, 1"\nlow = 0\nhigh = 1\nunit = "percent"\nsource = "s"\n', "unit"),
    ("[[rule]\n", "rules.toml"),
])
def test_a_bad_rules_file_is_one_clear_error(tmp_path, body, why):
    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(validate.RulesError, match=why.replace("[", r"\[")):
        validate.read_rules(path)


def test_too_few_cases_do_not_decide_and_nothing_measured_fails():
    rule = validate.read_rules()[0]
    assert validate.Finding(rule, None, 0).verdict == "too few"
    assert not validate.passed([validate.Finding(rule, None, 0)])
    assert validate.passed([validate.Finding(rule, rule.low, 5), validate.Finding(rule, None, 0)])
    assert not validate.passed([validate.Finding(rule, rule.high + 1, 5)])
