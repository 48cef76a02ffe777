"""The bad inputs of `hospital chaos`: transfer events and batch files, each with a name, why it
is bad, and what the pipeline must do with it.

Events go onto the transfers topic with a `chaos-case` header naming their case, so the verdict
finds them on the topic again; files land in the landing folder as `chaos-<case>...`. Both are
built from real rows of the warehouse (a patient, wards, a doctor, ICD-10 codes) so that each
one is wrong in exactly the way its case says and in no other. Expected outcomes:

    event  quarantined:<category>  ops.quarantined_event holds it at its offset, reason <category>: ...
           stored                  its event_id is in stream.transfer_event once, however often it was sent
    file   quarantined             its ledger row says quarantined, with `reason` in the error
           loaded                  loaded; exactly the `rejected` lines rejected, each with its reason
           set_aside               bytes loaded before: no ledger row of its own, moved out of landing
           ignored                 not a complete *.csv: left in landing, never in the ledger
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from core.batch_files import KINDS
from core.csv_writer import encode_rows

CASE_HEADER = "chaos-case"
FILE_PREFIX = "chaos-"
# Record ids of corpus rows: far above the writer's (tick number since 2000 * 10^7 + sequence,
# about 10^13), still 18 digits. Each file case owns the ids CORPUS_ID_BASE + n * 1000 + row.
CORPUS_ID_BASE = 900_000_000_000_000_000


@dataclass(frozen=True)
class Refs:
    """Real rows of the warehouse that the bad inputs are built around, and the day they happen on."""

    patient_id: int           # a woman aged 20-40 with an SA ID, so every rule passes for her
    hospital_number: str
    sa_id_number: str
    person_id: int
    male_patient_id: int      # a man aged 20-60
    male_person_id: int
    ward_code: str
    other_ward_code: str
    facility_code: str
    doctor_id: int
    nurse_id: int             # staff, not a doctor
    icd10_plain: str          # no sex or age restriction
    icd10_pregnancy: str      # chapter XV (O)
    icd10_injury: str         # chapter XIX (S)
    icd10_external: str       # chapter XX (V-Y)
    day: date                 # inside the window
    window_start: datetime
    window_days: int
    seed: int


REFS_SQL = {
    "woman": """SELECT pt.patient_id, pt.hospital_number, p.sa_id_number, p.person_id
                FROM core.patient pt JOIN core.person p USING (person_id)
                WHERE p.sex = 'F' AND p.sa_id_number IS NOT NULL
                  AND age(%(day)s, p.date_of_birth) BETWEEN interval '20 years' AND interval '40 years'
                ORDER BY pt.patient_id LIMIT 1""",
    "man": """SELECT pt.patient_id, p.person_id FROM core.patient pt JOIN core.person p USING (person_id)
              WHERE p.sex = 'M' AND age(%(day)s, p.date_of_birth) BETWEEN interval '20 years' AND interval '60 years'
              ORDER BY pt.patient_id LIMIT 1""",
    "wards": "SELECT ward_code FROM reference.ward ORDER BY ward_code LIMIT 2",
    "facility": "SELECT facility_code FROM reference.facility ORDER BY facility_code LIMIT 1",
    "doctor": "SELECT staff_id FROM core.doctor ORDER BY staff_id LIMIT 1",
    "nurse": """SELECT staff_id FROM core.staff s
                WHERE NOT EXISTS (SELECT FROM core.doctor d WHERE d.staff_id = s.staff_id) ORDER BY staff_id LIMIT 1""",
    "icd10": """SELECT (SELECT min(icd10_code) FROM reference.icd10_code WHERE icd10_code ~ '^[A-N]' {free}),
                       (SELECT min(icd10_code) FROM reference.icd10_code WHERE icd10_code ~ '^O'
                          AND coalesce(sex_restriction, 'F') = 'F'
                          AND coalesce(min_age_years, 0) <= 20 AND coalesce(max_age_years, 200) >= 40),
                       (SELECT min(icd10_code) FROM reference.icd10_code WHERE icd10_code ~ '^S' {free}),
                       (SELECT min(icd10_code) FROM reference.icd10_code WHERE icd10_code ~ '^[V-Y]' {free})""".format(
        free="AND sex_restriction IS NULL AND min_age_years IS NULL AND max_age_years IS NULL"),
}


class CorpusError(RuntimeError):
    """The warehouse lacks a row the corpus needs (the population is not loaded?)."""


def load_refs(conn, *, day: date, window_start: datetime, window_days: int, seed: int) -> Refs:
    """Pick the corpus's reference rows from the warehouse (the same rows for the same population)."""
    found = {}
    with conn.cursor() as cur:
        for name, query in REFS_SQL.items():
            cur.execute(query, {"day": day})
            rows = cur.fetchall()
            if not rows or None in rows[0] or (name == "wards" and len(rows) < 2):
                raise CorpusError(f"the warehouse has no {name} for the bad inputs; load the population first")
            found[name] = rows
    conn.rollback()
    (patient_id, hospital_number, sa_id, person_id), = found["woman"]
    (male_patient_id, male_person_id), = found["man"]
    plain, pregnancy, injury, external = found["icd10"][0]
    return Refs(patient_id, hospital_number, sa_id, person_id, male_patient_id, male_person_id,
                found["wards"][0][0], found["wards"][1][0], found["facility"][0][0], found["doctor"][0][0],
                found["nurse"][0][0], plain, pregnancy, injury, external, day, window_start, window_days, seed)


# -- transfer events ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadEvent:
    name: str
    why: str
    value: bytes | None
    key: bytes | None
    expect: str          # "quarantined:<category>" or "stored"
    copies: int = 1      # sent this many times, one after the other
    event_id: str | None = None  # for "stored": the id that must be in stream.transfer_event

    @property
    def category(self) -> str | None:
        return self.expect.split(":", 1)[1] if self.expect.startswith("quarantined:") else None


def _uuids(seed: int):
    rng = random.Random(f"chaos-events-{seed}")
    while True:
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _json(doc) -> bytes:
    """UTF-8 JSON (the standard library's: it writes integers of any size, as a bad sender might)."""
    return json.dumps(doc).encode()


def _valid_event(refs: Refs, ids) -> dict:
    """A well-formed version 1 of a new transfer between two real wards."""
    return {"event_id": next(ids), "transfer_id": next(ids), "version": 1, "status": "requested",
            "patient": {"patient_id": refs.patient_id, "hospital_number": refs.hospital_number,
                        "sa_id_number": refs.sa_id_number},
            "from": {"ward_code": refs.ward_code}, "to": {"ward_code": refs.other_ward_code},
            "reason": "needs ICU care", "priority": "urgent", "authorising_doctor": {"staff_id": refs.doctor_id},
            "event_time": f"{refs.day.isoformat()}T12:00:00+02:00"}


def bad_events(refs: Refs) -> list[BadEvent]:
    """Every bad transfer event of the corpus."""
    ids = _uuids(refs.seed)

    def variant(name: str, why: str, category: str, change) -> BadEvent:
        doc = _valid_event(refs, ids)
        change(doc)
        return BadEvent(name, why, _json(doc), str(doc.get("transfer_id", name)).encode(),
                        f"quarantined:{category}")

    def raw(name: str, why: str, category: str, value: bytes | None) -> BadEvent:
        return BadEvent(name, why, value, name.encode(), f"quarantined:{category}")

    wrong_check_digit = refs.sa_id_number[:-1] + str((int(refs.sa_id_number[-1]) + 1) % 10)
    valid = _valid_event(refs, ids)
    twice = _valid_event(refs, ids)
    conflicting = dict(_valid_event(refs, ids), transfer_id=twice["transfer_id"], priority="emergency")
    flat = {k: v for k, v in _valid_event(refs, ids).items() if k != "patient"}
    flat.update(schema_version=2, patient_id=refs.patient_id, hospital_number=refs.hospital_number)
    return [
        raw("e01-not-json", "plain text, not JSON", "not_json", b"this is not a transfer event"),
        raw("e02-truncated-json", "a valid event cut off half-way", "not_json",
            _json(_valid_event(refs, ids))[:90]),
        raw("e03-not-utf8", "bytes that are not UTF-8", "not_json", b"\xff\xfe\x00\x81garbage\xc3\x28"),
        raw("e04-empty", "an empty message", "not_json", b""),
        raw("e05-tombstone", "a null value (a Kafka tombstone)", "not_json", None),
        raw("e06-nan", "JSON with NaN, which RFC 8259 does not allow", "not_json", b'{"version": NaN}'),
        raw("e07-deep-nesting", "arrays nested 5,000 deep", "not_json", b"[" * 5000 + b"]" * 5000),
        raw("e08-array", "a JSON array, not an object", "not_an_object", b"[1, 2, 3]"),
        raw("e09-string", "a JSON string, not an object", "not_an_object", b'"transfer"'),
        variant("e10-no-event-time", "event_time missing", "missing_field", lambda d: d.pop("event_time")),
        variant("e11-no-patient-id", "patient.patient_id missing", "missing_field",
                lambda d: d["patient"].pop("patient_id")),
        BadEvent("e12-schema-v2", "schema_version 2 with a flat patient: not the contract's layout",
                 _json(flat), flat["transfer_id"].encode(), "quarantined:missing_field"),
        variant("e13-version-string", 'version "2", a string', "wrong_type", lambda d: d.update(version="2")),
        variant("e14-version-boolean", "version true", "wrong_type", lambda d: d.update(version=True)),
        variant("e15-staff-id-string", "authorising_doctor.staff_id as a string", "wrong_type",
                lambda d: d["authorising_doctor"].update(staff_id=str(refs.doctor_id))),
        variant("e16-patient-id-huge", "patient_id beyond 64 bits", "wrong_type",
                lambda d: d["patient"].update(patient_id=2**70)),
        variant("e17-negative-version", "version -1", "invalid_value", lambda d: d.update(version=-1)),
        variant("e18-version-zero", "version 0", "invalid_value", lambda d: d.update(version=0)),
        variant("e19-event-id-not-uuid", "event_id is not a UUID", "invalid_value",
                lambda d: d.update(event_id="event-42")),
        variant("e20-unknown-status", 'status "teleported"', "invalid_value", lambda d: d.update(status="teleported")),
        variant("e21-v1-completed", "version 1 must be requested, this one is completed", "invalid_value",
                lambda d: d.update(status="completed")),
        variant("e22-time-no-offset", "event_time without an offset", "invalid_value",
                lambda d: d.update(event_time=f"{refs.day.isoformat()}T12:00:00")),
        variant("e23-time-utc", "event_time in UTC, not SAST", "invalid_value",
                lambda d: d.update(event_time=f"{refs.day.isoformat()}T10:00:00+00:00")),
        variant("e24-time-impossible", "event_time on 30 February", "invalid_value",
                lambda d: d.update(event_time="2026-02-30T12:00:00+02:00")),
        variant("e25-ward-and-facility", "from names a ward and a facility", "invalid_value",
                lambda d: d.update({"from": {"ward_code": refs.ward_code, "facility_code": refs.facility_code}})),
        variant("e26-same-place", "from and to are the same ward", "invalid_value",
                lambda d: d.update(to={"ward_code": refs.ward_code})),
        variant("e27-empty-reason", "reason is blank", "invalid_value", lambda d: d.update(reason="   ")),
        variant("e28-sa-id-check-digit", "SA ID with a wrong Luhn check digit", "invalid_sa_id",
                lambda d: d["patient"].update(sa_id_number=wrong_check_digit)),
        variant("e29-unknown-patient", "patient_id not in the warehouse", "unknown_patient",
                lambda d: d["patient"].update(patient_id=987_654_321_987)),
        variant("e30-wrong-hospital-number", "hospital number of nobody", "unknown_patient",
                lambda d: d["patient"].update(hospital_number="JHB9999999")),
        variant("e31-unknown-ward", "to.ward_code not a ward", "unknown_ward",
                lambda d: d.update(to={"ward_code": "NO-SUCH-WARD"})),
        variant("e32-unknown-facility", "to.facility_code not a facility", "unknown_facility",
                lambda d: d.update(to={"facility_code": "NOWHERE"})),
        variant("e33-not-a-doctor", "authorised by a nurse", "unknown_doctor",
                lambda d: d["authorising_doctor"].update(staff_id=refs.nurse_id)),
        variant("e34-version-int32-overflow", "version 3,000,000,000: JSON allows it, the database column does not",
                "rejected_by_database", lambda d: d.update(version=3_000_000_000, status="accepted")),
        variant("e35-huge-payload", "900 kB of padding, and version is a string", "wrong_type",
                lambda d: d.update(version="1", padding="x" * 900_000)),
        BadEvent("e36-null-key", "no message key (ordering is not guaranteed), otherwise valid: stored",
                 _json(valid), None, "stored", event_id=valid["event_id"]),
        BadEvent("e37-sent-twice", "the same event delivered twice: stored once",
                 _json(twice), twice["transfer_id"].encode(), "stored", copies=2, event_id=twice["event_id"]),
        BadEvent("e38-conflicting-version", "another event claiming the same transfer and version as e37",
                 _json(conflicting), twice["transfer_id"].encode(), "quarantined:conflicting_version"),
    ]


# -- batch files ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadFile:
    name: str
    why: str
    file_name: str        # its name in the landing folder
    data: bytes
    expect: str           # quarantined | loaded | set_aside | ignored
    reason: str = ""      # quarantined: a piece of the ledger's error
    rows: int = 0         # loaded: data rows read
    rejected: dict[int, str] = field(default_factory=dict)  # loaded: line number -> a piece of the reason

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _csv(header, rows) -> bytes:
    return encode_rows(header, rows)


class _Rows:
    """Rows of each kind about the reference patient, valid unless a test changes a field."""

    def __init__(self, refs: Refs, case: int):
        self.refs, self.base = refs, CORPUS_ID_BASE + case * 1000

    def at(self, minute: int, day: date | None = None) -> str:
        return f"{(day or self.refs.day).isoformat()}T{8 + minute // 60:02d}:{minute % 60:02d}:00+02:00"

    def vital(self, n: int, **change) -> list[str]:
        r = self.refs
        row = dict(vital_sign_id=str(self.base + n), patient_id=str(r.patient_id), ward_code=r.ward_code,
                   measured_at=self.at(n), heart_rate_bpm="80", systolic_mmhg="120", diastolic_mmhg="80",
                   respiratory_rate="16", temperature_c="36.8", spo2_percent="98", recorded_by_staff_id=str(r.nurse_id))
        row.update(change)
        return [row[c] for c in KINDS["vital_sign"].header]

    def medication(self, n: int, **change) -> list[str]:
        r = self.refs
        row = dict(medication_id=str(self.base + n), patient_id=str(r.patient_id), ward_code=r.ward_code,
                   drug_name="Paracetamol", dose="1 g", route="oral", administered_at=self.at(n),
                   administered_by_staff_id=str(r.nurse_id))
        row.update(change)
        return [row[c] for c in KINDS["medication"].header]

    def diagnosis(self, n: int, **change) -> list[str]:
        r = self.refs
        row = dict(diagnosis_id=str(self.base + n), admission_id=str(self.base + 500 + n), patient_id=str(r.patient_id),
                   icd10_code=r.icd10_plain, diagnosis_role="primary", diagnosed_at=self.at(n),
                   diagnosing_staff_id=str(r.doctor_id))
        row.update(change)
        return [row[c] for c in KINDS["diagnosis"].header]

    def admission(self, n: int, **change) -> list[str]:
        r = self.refs
        row = dict(admission_id=str(self.base + n), patient_id=str(r.patient_id), person_id=str(r.person_id),
                   ward_code=r.ward_code, admitted_at=self.at(n), admission_type="emergency",
                   attending_staff_id=str(r.doctor_id))
        row.update(change)
        return [row[c] for c in KINDS["admission"].header]


# Cases that send again records of `loaded`: they need a file the run has loaded and archived.
RESENT_CASES = ("f27-resent-by-lab", "f28-redelivered", "f29-edited-resend", "f30-same-id-another-day")


def bad_files(refs: Refs, loaded: Path) -> list[BadFile]:
    """Every bad batch file of the corpus. `loaded`: a vital-sign file the run has already loaded
    (in the archive), for the RESENT_CASES."""
    vitals, meds, dx, adm = (KINDS[k].header for k in ("vital_sign", "medication", "diagnosis", "admission"))
    files: list[BadFile] = []

    def case(n: int, slug: str, why: str, data: bytes, expect: str, *, suffix: str = ".csv", **outcome) -> None:
        files.append(BadFile(f"f{n:02d}-{slug}", why, f"{FILE_PREFIX}f{n:02d}-{slug}{suffix}", data, expect, **outcome))

    def loaded_with(n: int, slug: str, why: str, header, rows, rejected: dict[int, str]) -> None:
        case(n, slug, why, _csv(header, rows), "loaded", rows=len(rows), rejected=rejected)

    r = lambda n: _Rows(refs, n)  # noqa: E731 - one row factory per case, each with its own ids
    start_day = refs.window_start.date()
    good = r(0)
    good_vitals = _csv(vitals, [good.vital(i) for i in range(1, 6)])

    # Files that cannot be read at all: quarantined whole.
    case(1, "empty", "an empty file", b"", "quarantined", reason="empty")
    case(2, "wrong-header", "a header that is no record kind's", _csv(["id", "patient", "when"], [["1", "2", "3"]]),
         "quarantined", reason="wrong header")
    case(3, "columns-reordered", "the vital-sign columns in another order",
         _csv(vitals[::-1], [r(3).vital(1)[::-1]]), "quarantined", reason="wrong header")

    # Records that cannot be rows: each is rejected with its line, the rest of the file loads.
    case(4, "byte-order-mark", "a UTF-8 byte-order mark before the header", b"\xef\xbb\xbf" + good_vitals,
         "loaded", rows=5)
    short = [r(5).vital(i) for i in range(1, 4)]
    short[1] = short[1][:-2]
    case(5, "missing-columns", "a row two fields short", _csv(vitals, short), "loaded", rows=3,
         rejected={3: "9 fields where the header has 11"})
    extra = [r(6).vital(i) for i in range(1, 4)]
    extra[1] = extra[1] + ["surplus"]
    case(6, "extra-column", "a row with a field too many", _csv(vitals, extra), "loaded", rows=3,
         rejected={3: "12 fields where the header has 11"})
    latin = [r(7).medication(1), r(7).medication(2, drug_name="Paracétamol")]
    case(7, "latin-1", "a row in Latin-1, not UTF-8 (Paracétamol)", _csv(meds, latin).decode().encode("latin-1"),
         "loaded", rows=2, rejected={3: "not UTF-8"})
    case(8, "truncated", "the last line cut off (no line end)",
         _csv(vitals, [r(8).vital(i) for i in range(1, 4)])[:-20], "loaded", rows=3, rejected={4: "no line end"})
    case(9, "unterminated-quote", "a quoted field that never closes",
         _csv(meds, [r(9).medication(1)]) + f'{CORPUS_ID_BASE + 9002},1,W,"Paracetamol,1 g,oral\n'.encode(),
         "loaded", rows=2, rejected={3: "unbalanced quote"})
    case(10, "nul-byte", "a NUL byte inside a field",
         _csv(meds, [r(10).medication(1, drug_name="Para\x00cetamol"), r(10).medication(2)]), "loaded", rows=2,
         rejected={2: "NUL"})
    marked = _csv(vitals, [r(33).vital(i) for i in range(1, 6)]).split(b"\n")
    case(33, "end-of-data-marker", "a line holding only \\. (where COPY stops reading) after the second row",
         b"\n".join(marked[:3] + [b"\\."] + marked[3:]), "loaded", rows=6, rejected={4: "end-of-data marker"})
    case(34, "crlf", "Windows line ends (CR LF) and a quoted field with a comma and a line break",
         _csv(meds, [r(34).medication(1), r(34).medication(2, dose="1 g, then\n500 mg")]).replace(b"\n", b"\r\n"),
         "loaded", rows=2)
    case(11, "gzip", "gzip bytes under a .csv name", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x8b\xae\xe5\x02\x00",
         "quarantined", reason="UTF-8")

    # Readable files with bad rows: the good rows load, each bad row is rejected with its reason.
    f = r(12)
    loaded_with(12, "bad-references", "unknown patient, ward and staff", vitals,
                [f.vital(1), f.vital(2, patient_id="987654321987"), f.vital(3, ward_code="NOWARD"),
                 f.vital(4, recorded_by_staff_id="987654321"), f.vital(5)],
                {3: "no such patient", 4: "no such ward", 5: "no such staff"})
    f = r(13)
    loaded_with(13, "unknown-icd10", "an ICD-10 code not in the reference list", dx,
                [f.diagnosis(1), f.diagnosis(2, icd10_code="Z99.99")], {3: "no such icd10"})
    f = r(14)
    loaded_with(14, "outside-window", "records dated before and after the window", vitals,
                [f.vital(1), f.vital(2, measured_at=f.at(2, start_day - timedelta(days=5))),
                 f.vital(3, measured_at=f.at(3, start_day + timedelta(days=refs.window_days + 5)))],
                {3: "window", 4: "window"})
    f = r(15)
    loaded_with(15, "bad-timestamps", "timestamps that are not ISO 8601", vitals,
                [f.vital(1, measured_at="yesterday"), f.vital(2, measured_at=f.at(2).replace("T08", "T25")),
                 f.vital(3)], {2: "not an ISO timestamp", 3: "not an ISO timestamp"})
    f = r(16)
    loaded_with(16, "duplicate-ids", "the same id twice in one file", meds,
                [f.medication(1), f.medication(2), f.medication(1, dose="2 g")], {4: "duplicate"})
    f = r(17)
    loaded_with(17, "pregnancy-code-for-a-man", "a pregnancy diagnosis for a man", dx,
                [f.diagnosis(1, icd10_code=refs.icd10_pregnancy),
                 f.diagnosis(2, patient_id=str(refs.male_patient_id), icd10_code=refs.icd10_pregnancy)],
                {3: "pregnancy"})
    f = r(18)
    loaded_with(18, "injury-without-cause", "an injury with no external cause in the file", dx,
                [f.diagnosis(1, icd10_code=refs.icd10_injury),
                 f.diagnosis(2, admission_id=str(f.base + 777), icd10_code=refs.icd10_injury),
                 f.diagnosis(3, admission_id=str(f.base + 777), icd10_code=refs.icd10_external,
                             diagnosis_role="external_cause")],
                {2: "external cause"})
    f = r(19)
    loaded_with(19, "vitals-out-of-range", "heart rate 400 and SpO2 120", vitals,
                [f.vital(1, heart_rate_bpm="400"), f.vital(2, spo2_percent="120"), f.vital(3)],
                {2: "outside", 3: "outside"})
    f = r(20)
    loaded_with(20, "wrong-types", "words where numbers belong", vitals,
                [f.vital(1, heart_rate_bpm="eighty"), f.vital(2, temperature_c="hot"), f.vital(3)],
                {2: "not an integer", 3: "not a number"})
    f = r(21)
    loaded_with(21, "missing-values", "required values left empty", vitals,
                [f.vital(1, recorded_by_staff_id=""), f.vital(2, ward_code=""), f.vital(3)],
                {2: "missing", 3: "missing"})
    f = r(22)
    loaded_with(22, "admission-wrong-person", "an admission whose person is not the patient's", adm,
                [f.admission(1), f.admission(2, person_id=str(refs.male_person_id))], {3: "not the person"})
    f = r(23)
    loaded_with(23, "negative-id", "a negative record id", meds,
                [f.medication(1, medication_id="-5"), f.medication(2)], {2: "not an id"})
    f = r(24)
    loaded_with(24, "text-too-long", "a 300-character drug name", meds,
                [f.medication(1, drug_name="P" * 300), f.medication(2)], {2: "1-200"})
    f = r(25)
    loaded_with(25, "unknown-route", 'route "drip", not one of the allowed', meds,
                [f.medication(1, route="drip"), f.medication(2)], {2: "not one of"})
    case(26, "header-only", "a header and no rows", _csv(meds, []), "loaded", rows=0)

    # Records sent again: whatever the file is called, a record loads once.
    original = loaded.read_bytes()
    lines = original.decode("utf-8").splitlines(keepends=True)
    case(27, "resent-by-lab", f"the bytes of {loaded.name}, under another name", original, "set_aside")
    files.append(BadFile("f28-redelivered", f"{loaded.name} delivered again under its own name", loaded.name,
                         original, "set_aside"))
    first_rows = list(csv.reader(io.StringIO("".join(lines[1:6]))))
    first_rows[-1][4] = "81" if first_rows[-1][4] != "81" else "82"  # the heart rate edited: other bytes
    loaded_with(29, "edited-resend", f"the first rows of {loaded.name} again, one value edited", vitals,
                first_rows, {n: "already loaded" for n in range(2, 2 + len(first_rows))})
    again = list(first_rows[0])  # the same record id, measured a day later (or earlier, at the window's end)
    moved = date.fromisoformat(again[3][:10]) + timedelta(days=1)
    if moved >= start_day + timedelta(days=refs.window_days):
        moved -= timedelta(days=2)
    again[3] = moved.isoformat() + again[3][10:]
    loaded_with(30, "same-id-another-day", f"a record of {loaded.name} again, dated a day apart", vitals,
                [again, r(30).vital(1)], {2: "already loaded"})

    # Not complete record files: never taken.
    case(31, "half-written", "a writer's temporary file, never renamed", good_vitals[:40], "ignored",
         suffix=".csv.tmp")
    case(32, "notes", "not a .csv file at all", b'{"note": "lab closed for the weekend"}\n', "ignored",
         suffix=".json")
    return files


def archived_sample(archive: Path, names: list[str]) -> Path | None:
    """The first of `names` (ledger names of loaded vital-sign files) still in the archive."""
    return next((archive / name for name in names if (archive / name).is_file()), None)
