"""`hospital validate` over a real finished run: the rules run, and a rule outside its band fails."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

import pytest

from database.connection import connect
from hospital import validate
from hospital.run import RunOptions, run

pytestmark = pytest.mark.integration


@pytest.fixture()
def finished_run(run_settings, monkeypatch):
    """A one-day window over 1 April at a small scale, finished; the commands read its settings."""
    settings = dataclasses.replace(run_settings, sim_start=datetime.fromisoformat("2026-03-31T12:00:00+02:00"))
    run(settings, RunOptions(days=1, speed=0, target_size="2MB", people=20_000), threading.Event())
    monkeypatch.setattr(validate, "load", lambda: settings)
    return settings


def test_the_rules_pass_on_a_finished_run_and_the_retirements_are_measured(finished_run, capsys):
    conn = connect(finished_run.database_url)
    try:
        findings = {f.rule.name: f for f in validate.measure(conn, validate.read_rules())}
    finally:
        conn.close()
    assert not [f.rule.name for f in findings.values() if f.verdict == "FAIL"], validate.render(list(findings.values()))
    assert findings["admissions_fit_their_ward"].cases > 0
    assert findings["retirements_in_the_window"].verdict == "pass" and findings["retirements_in_the_window"].value >= 1
    assert findings["replacements_take_the_shifts"].value >= 1

    assert validate.main([]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("VALIDATE PASS")
    assert validate.main(["--markdown"]) == 0
    assert "| transfers for ICU care that go to an ICU |" in capsys.readouterr().out


def test_a_value_outside_its_band_fails_the_verdict(finished_run, tmp_path, capsys):
    rules = tmp_path / "rules.toml"
    rules.write_text('''
[[rule]]
name = "too_many_admissions"
what = "admissions in the window"
unit = "count"
low = 0
high = 1
source = "a band no run can meet, to see the verdict fail"
sql = "SELECT count(*), count(*) FROM clinical.admission"
''')
    assert validate.main(["--rules", str(rules)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("VALIDATE FAIL") and "too_many_admissions" in last


def test_an_empty_warehouse_is_a_clear_verdict_not_a_crash(isolated_settings, monkeypatch, capsys):
    monkeypatch.setattr(validate, "load", lambda: isolated_settings)
    assert validate.main([]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("VALIDATE FAIL: no rule had cases")
