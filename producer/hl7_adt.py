"""HL7 v2.5.1 ADT messages (A01 admit, A02 transfer, A03 discharge) from what the warehouse stored.

Pure: an ops.adt_outbox row (the stored row as JSON), the patient as core.patient and core.person
hold them, and the admission's primary diagnosis if one is stored, in; ER7 bytes out (UTF-8,
segments ended by \\r, field separator | and encoding characters ^~\\&). The same inputs give the
same bytes, so a message published again after a crash is the same message, with the same MSH-10.

Segment mapping (README "HL7 v2 ADT messages" has the table):
  MSH  sending HOSPITAL-ADT at CHBAH, receiving ADT-SUBSCRIBERS at GDOH; MSH-7 the event time;
       MSH-9 ADT^<event>^ADT_<event>; MSH-10 the control id (CONTROL_PREFIX + source key);
       MSH-11 P; MSH-12 2.5.1; MSH-17 ZAF; MSH-18 UNICODE UTF-8
  EVN  EVN-1 the event, EVN-2 the recorded time (the stored event time)
  PID  PID-3 hospital number (CHBAH, MR) ~ SA ID (ZAF, NI) ~ passport (its issuing country, PPN);
       PID-5 last^first; PID-7 birth date; PID-8 sex; PID-11 street^suburb^city^
       province^postal code^ZAF^H; PID-13 phone (E.164)^PRN^PH
  PV1  PV1-2 I; PV1-3 ward^^^CHBAH; PV1-4 admission type; PV1-6 prior location (the ward left, or
       ^^^facility for an arrival from elsewhere); PV1-19 admission id^^^CHBAH^VN; PV1-36
       discharge disposition; PV1-37 facility discharged to; PV1-44 admitted; PV1-45 discharged;
       PV1-50 transfer id (the stream's key) on messages made from a transfer
  DG1  on A01 with a stored primary diagnosis: DG1-3 code^description^I10, DG1-6 A (admitting)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.reference import HOSPITAL_FACILITY_CODE
from core.settings import SAST

SEGMENT_END = "\r"
FIELD, COMPONENT, REPETITION, ESCAPE, SUBCOMPONENT = "|", "^", "~", "\\", "&"
ENCODING_CHARACTERS = COMPONENT + REPETITION + ESCAPE + SUBCOMPONENT
VERSION = "2.5.1"
PROCESSING_ID = "P"  # production
CHARACTER_SET = "UNICODE UTF-8"
COUNTRY = "ZAF"
SENDING_APPLICATION = "HOSPITAL-ADT"
RECEIVING_APPLICATION, RECEIVING_FACILITY = "ADT-SUBSCRIBERS", "GDOH"
PATIENT_CLASS_INPATIENT = "I"
DIAGNOSIS_CODING_SYSTEM = "I10"  # HL7 table 0396: ICD-10
ADMITTING_DIAGNOSIS = "A"        # HL7 table 0052

SOURCE_ADMISSION, SOURCE_DISCHARGE, SOURCE_TRANSFER = "clinical.admission", "clinical.discharge", "stream.transfer_event"
# MSH-10 is this prefix and the stored row's key: unique across the three tables, stable forever.
CONTROL_PREFIX = {SOURCE_ADMISSION: "ADM", SOURCE_DISCHARGE: "DIS", SOURCE_TRANSFER: "TRF"}
# HL7 table 0007 (admission type): clinical.admission.admission_type -> code.
ADMISSION_TYPE = {"emergency": "E", "elective": "C", "maternity": "L", "transfer_in": "R"}
ADMISSION_TYPE_FROM_FACILITY = "R"
# HL7 table 0112 (discharge disposition, user-defined; the UB-04 codes): clinical.discharge.disposition -> code.
DISPOSITION = {"home": "01", "transferred_out": "02", "died": "20", "absconded": "07",
               "against_medical_advice": "07"}
DISPOSITION_TO_FACILITY = "02"

# HL7 escape sequences, backslash first so the escapes' own backslashes are not escaped again.
_ESCAPES = ((ESCAPE, "\\E\\"), (FIELD, "\\F\\"), (COMPONENT, "\\S\\"), (SUBCOMPONENT, "\\T\\"),
            (REPETITION, "\\R\\"), ("\r", "\\X0D\\"), ("\n", "\\X0A\\"))


class UnknownSource(ValueError):
    """An outbox row names a table or trigger event this builder does not map."""


@dataclass(frozen=True)
class Patient:
    """The patient as core.patient and core.person store them."""

    hospital_number: str
    sa_id_number: str | None
    passport_number: str | None
    first_name: str
    last_name: str
    date_of_birth: date
    sex: str
    street_address: str
    suburb: str
    city: str
    province: str
    postal_code: str
    phone_number: str
    passport_country: str | None = None   # ISO 3166-1 alpha-3 of the issuing state


@dataclass(frozen=True)
class Diagnosis:
    icd10_code: str
    description: str
    diagnosed_at: datetime


@dataclass(frozen=True)
class OutboxRow:
    """An ops.adt_outbox row: the trigger event, the source table and key, the stored row (JSON)."""

    trigger_event: str
    source_table: str
    source_id: str
    source_row: dict


def escape(text: str) -> str:
    """`text` with HL7's delimiters and the segment terminator written as escape sequences."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def hl7_time(value: datetime | str) -> str:
    """A DTM in SAST with its offset, to the second: YYYYMMDDHHMMSS+0200."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(SAST).strftime("%Y%m%d%H%M%S%z")


def _components(*parts: str | None) -> str:
    """Components already escaped, joined by ^, with empty trailing ones dropped."""
    return COMPONENT.join(p or "" for p in parts).rstrip(COMPONENT)


def _segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its numbered fields (1-based; missing ones are empty)."""
    last = max(fields, default=0)
    return FIELD.join([name] + [fields.get(i, "") for i in range(1, last + 1)])


def control_id(row: OutboxRow) -> str:
    """MSH-10: the source table's prefix and the stored row's key."""
    return CONTROL_PREFIX[row.source_table] + row.source_id


def _msh(row: OutboxRow, event_time: str) -> str:
    # MSH-1 is the field separator itself, so the fields are joined from MSH-2 on.
    fields = [ENCODING_CHARACTERS, SENDING_APPLICATION, HOSPITAL_FACILITY_CODE, RECEIVING_APPLICATION,
              RECEIVING_FACILITY, event_time, "", _components("ADT", row.trigger_event, "ADT_" + row.trigger_event),
              escape(control_id(row)), PROCESSING_ID, VERSION, "", "", "", "", COUNTRY, CHARACTER_SET]
    return "MSH" + FIELD + FIELD.join(fields)


def _pid(p: Patient) -> str:
    identifiers = [_components(escape(p.hospital_number), "", "", HOSPITAL_FACILITY_CODE, "MR")]
    if p.sa_id_number:
        identifiers.append(_components(escape(p.sa_id_number), "", "", COUNTRY, "NI"))
    if p.passport_number:
        # The issuing state is the passport's assigning authority (CX-4).
        identifiers.append(_components(escape(p.passport_number), "", "", escape(p.passport_country or ""), "PPN"))
    address = _components(escape(p.street_address), escape(p.suburb), escape(p.city), escape(p.province),
                          escape(p.postal_code), COUNTRY, "H")
    return _segment("PID", {1: "1", 3: REPETITION.join(identifiers),
                            5: _components(escape(p.last_name), escape(p.first_name)),
                            7: p.date_of_birth.strftime("%Y%m%d"), 8: escape(p.sex), 11: address,
                            13: _components(escape(p.phone_number), "PRN", "PH")})


def _ward(ward_code: str | None) -> str:
    return _components(escape(ward_code), "", "", HOSPITAL_FACILITY_CODE) if ward_code else ""


def _facility(facility_code: str | None) -> str:
    return _components("", "", "", escape(facility_code)) if facility_code else ""


def _visit(admission_id) -> str:
    return _components(str(admission_id), "", "", HOSPITAL_FACILITY_CODE, "VN")


def _pv1_fields(row: OutboxRow) -> dict[int, str]:
    """PV1's fields (beyond PV1-1 and PV1-2) from the stored row."""
    r = row.source_row
    if row.source_table == SOURCE_ADMISSION:
        return {3: _ward(r["ward_code"]), 4: ADMISSION_TYPE.get(r["admission_type"], ""),
                19: _visit(r["admission_id"]), 44: hl7_time(r["admitted_at"])}
    if row.source_table == SOURCE_DISCHARGE:
        return {3: _ward(r["ward_code"]), 19: _visit(r["admission_id"]),
                36: DISPOSITION.get(r["disposition"], ""), 45: hl7_time(r["discharged_at"])}
    if row.source_table != SOURCE_TRANSFER:
        raise UnknownSource(f"no ADT mapping for rows of {row.source_table!r}")
    transfer = {50: _components(escape(r["transfer_id"]), "", "", HOSPITAL_FACILITY_CODE)}
    if row.trigger_event == "A02":
        return {3: _ward(r["to_ward_code"]), 6: _ward(r["from_ward_code"]), **transfer}
    if row.trigger_event == "A03":  # left a ward here for another facility
        return {3: _ward(r["from_ward_code"]), 36: DISPOSITION_TO_FACILITY,
                37: escape(r["to_facility_code"]), 45: hl7_time(r["event_time"]), **transfer}
    if row.trigger_event == "A01":  # arrived from another facility
        return {3: _ward(r["to_ward_code"]), 4: ADMISSION_TYPE_FROM_FACILITY, 6: _facility(r["from_facility_code"]),
                44: hl7_time(r["event_time"]), **transfer}
    raise UnknownSource(f"no ADT mapping for {row.trigger_event!r} from {row.source_table}")


EVENT_TIME_COLUMN = {SOURCE_ADMISSION: "admitted_at", SOURCE_DISCHARGE: "discharged_at", SOURCE_TRANSFER: "event_time"}


def build_message(row: OutboxRow, patient: Patient, diagnosis: Diagnosis | None = None) -> bytes:
    """The ER7 bytes (UTF-8) of the ADT message for one outbox row. `diagnosis` (the admission's
    primary diagnosis) adds DG1 to an A01 made from clinical.admission and is ignored otherwise.
    Raises UnknownSource for a table or event without a mapping."""
    if row.source_table not in CONTROL_PREFIX:
        raise UnknownSource(f"no ADT mapping for rows of {row.source_table!r}")
    event_time = hl7_time(row.source_row[EVENT_TIME_COLUMN[row.source_table]])
    segments = [_msh(row, event_time), _segment("EVN", {1: row.trigger_event, 2: event_time}), _pid(patient),
                _segment("PV1", {1: "1", 2: PATIENT_CLASS_INPATIENT, **_pv1_fields(row)})]
    if diagnosis is not None and row.source_table == SOURCE_ADMISSION:
        segments.append(_segment("DG1", {1: "1", 3: _components(escape(diagnosis.icd10_code),
                                                                escape(diagnosis.description),
                                                                DIAGNOSIS_CODING_SYSTEM),
                                         5: hl7_time(diagnosis.diagnosed_at), 6: ADMITTING_DIAGNOSIS}))
    return (SEGMENT_END.join(segments) + SEGMENT_END).encode("utf-8")
