"""The chaos run's plan, corpus and verdict line, without services. The run itself is
tests/integration/test_chaos.py."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest

from core.sa_id import make_sa_id
from core.transfer_event import InvalidEvent, parse
from hospital.chaos import FAULTS, FIRST_FAULT, LAST_FAULT, plan, share
from hospital.chaos_corpus import RESENT_CASES, Refs, bad_events, bad_files
from hospital.chaos_verdict import Verdict
from tests.rfc4180 import rfc4180_records

START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
# Categories `parse` decides alone; the others need the warehouse (or its column types).
PARSE_CATEGORIES = {"not_json", "not_an_object", "missing_field", "wrong_type", "invalid_value", "invalid_sa_id"}


@pytest.fixture()
def refs() -> Refs:
    return Refs(patient_id=17, hospital_number="CH00000017", sa_id_number=make_sa_id(date(1995, 4, 3), 1234, "citizen"),
                person_id=170, male_patient_id=18, male_person_id=180, ward_code="W01", other_ward_code="W02",
                facility_code="HJH", doctor_id=5, nurse_id=6, icd10_plain="A09.9", icd10_pregnancy="O80.0",
                icd10_injury="S06.0", icd10_external="W19", day=date(2026, 3, 3), window_start=START, window_days=9,
                seed=1)


@pytest.fixture()
def loaded(tmp_path):
    """A stand-in for a loaded vital-sign file of the writer's."""
    path = tmp_path / "vital_sign_20260302T0000_t0000.csv"
    rows = [[str(9_174_720_000_001 + n), "17", "W01", f"2026-03-02T00:0{n}:00+02:00", "80", "120", "80", "16",
             "36.8", "98", "6"] for n in range(8)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["vital_sign_id", "patient_id", "ward_code", "measured_at", "heart_rate_bpm", "systolic_mmhg",
                     "diastolic_mmhg", "respiratory_rate", "temperature_c", "spo2_percent", "recorded_by_staff_id"])
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_the_plan_is_every_fault_once_at_seeded_minutes_inside_the_window():
    first, again, other = plan(7, START, 9), plan(7, START, 9), plan(8, START, 9)

    assert first == again and first != other
    assert sorted(f.action for f in first) == sorted(FAULTS)
    instants = [f.at for f in first]
    assert instants == sorted(instants)
    window = timedelta(days=9)
    assert all(START + FIRST_FAULT * window <= at <= START + LAST_FAULT * window for at in instants)
    assert all(at.second == 0 for at in instants)


def test_the_corpus_has_at_least_30_distinct_named_and_explained_cases(refs, loaded):
    events, files = bad_events(refs), bad_files(refs, loaded)
    names = [case.name for case in events + files]

    assert len(names) >= 30 and len(set(names)) == len(names)
    assert all(case.why for case in events + files)
    assert {case.expect.split(":")[0] for case in events} <= {"quarantined", "stored"}
    assert {case.expect for case in files} == {"quarantined", "loaded", "set_aside", "ignored"}
    assert len({case.file_name for case in files}) == len(files)
    assert set(RESENT_CASES) <= {case.name for case in files}


def test_each_bad_event_fails_parsing_with_its_category_and_the_good_ones_parse(refs):
    for case in bad_events(refs):
        if case.category in PARSE_CATEGORIES:
            with pytest.raises(InvalidEvent) as caught:
                parse(case.value)
            assert caught.value.category == case.category, case.name
        elif case.expect == "stored" or case.category in ("unknown_patient", "unknown_ward", "unknown_facility",
                                                           "unknown_doctor", "conflicting_version"):
            assert parse(case.value).event_id, case.name  # well-formed: only the warehouse can refuse it


def test_each_loaded_file_case_has_the_rows_and_rejected_lines_it_claims(refs, loaded):
    for case in bad_files(refs, loaded):
        if case.expect != "loaded":
            continue
        text = case.data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        assert len(rfc4180_records(text)) - 1 == case.rows, case.name  # an independent parser
        assert all(2 <= line <= case.rows + 1 for line in case.rejected), case.name


def test_the_bad_inputs_are_shared_out_once_with_the_resent_files_last(refs, loaded):
    events, files = bad_events(refs), bad_files(refs, loaded)
    shares = [share(n, len(FAULTS), events, files) for n in range(len(FAULTS))]

    assert sorted(e.name for sent, _ in shares for e in sent) == sorted(e.name for e in events)
    assert sorted(f.name for _, dropped in shares for f in dropped) == sorted(f.name for f in files)
    assert set(RESENT_CASES) <= {f.name for f in shares[-1][1]}
    assert all(sent and dropped for sent, dropped in shares)


def test_the_verdict_line_says_pass_only_without_problems():
    verdict = Verdict(events_produced=10, events_stored=9, events_quarantined=1, corpus_cases=2, corpus_ok=2)
    assert verdict.line(kills=4).startswith("CHAOS PASS events produced=10 stored=9 ")
    assert "kills=4" in verdict.line(kills=4) and "\n" not in verdict.line(kills=4)

    verdict.problem("events neither stored nor quarantined", [f"event at 0:{n}" for n in range(7)])
    assert verdict.line().startswith("CHAOS FAIL (1 problems)")
    assert verdict.problems == ["events neither stored nor quarantined: event at 0:0, event at 0:1, event at 0:2, "
                                "event at 0:3, event at 0:4 and 2 more"]

