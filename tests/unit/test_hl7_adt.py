"""The ADT message builder, read back by an independent HL7 v2 parser (the `hl7` package)."""

from __future__ import annotations

from datetime import date, datetime

import hl7
from hypothesis import given, settings, strategies as st

from producer.hl7_adt import (SOURCE_ADMISSION, SOURCE_DISCHARGE, SOURCE_TRANSFER, Diagnosis, OutboxRow, Patient,
                              build_message)

PATIENT = Patient("H0001234", "8001015009087", None, "Thabo", "Mokoena", date(1980, 1, 1), "M",
                  "12 Vilakazi Street", "Orlando West", "Johannesburg", "Gauteng", "1804", "+27821234567")
ADMISSION = OutboxRow("A01", SOURCE_ADMISSION, "2600012345", {
    "admission_id": 2600012345, "record_date": "2026-03-02", "patient_id": 7, "ward_code": "W03",
    "admitted_at": "2026-03-02T08:15:00+02:00", "admission_type": "emergency"})
TRANSFER = OutboxRow("A02", SOURCE_TRANSFER, "6f1c5a1e-0000-4000-8000-000000000001", {
    "event_id": "6f1c5a1e-0000-4000-8000-000000000001", "transfer_id": "0e0e0e0e-0000-4000-8000-000000000002",
    "from_ward_code": "W03", "to_ward_code": "W12", "from_facility_code": None, "to_facility_code": None,
    "event_time": "2026-03-02T09:00:00+02:00"})


def parse(message: bytes) -> hl7.Message:
    return hl7.parse(message.decode("utf-8"))


def field(message: hl7.Message, segment: str, number: int):
    return message.segment(segment)[number]


def test_an_admission_is_an_adt_a01_with_its_header_patient_visit_and_diagnosis():
    diagnosis = Diagnosis("I21.9", "Acute myocardial infarction, unspecified", datetime.fromisoformat("2026-03-02T08:40:00+02:00"))
    message = parse(build_message(ADMISSION, PATIENT, diagnosis))

    assert str(field(message, "MSH", 9)) == "ADT^A01^ADT_A01"
    assert str(field(message, "MSH", 10)) == "ADM2600012345"
    assert str(field(message, "MSH", 11)) == "P" and str(field(message, "MSH", 12)) == "2.5.1"
    assert str(field(message, "EVN", 1)) == "A01" and str(field(message, "EVN", 2)) == "20260302081500+0200"
    identifiers = field(message, "PID", 3)
    assert [(str(r[0]), str(r[3]), str(r[4])) for r in identifiers] == [("H0001234", "CHBAH", "MR"),
                                                                       ("8001015009087", "ZAF", "NI")]
    assert str(field(message, "PID", 5)) == "Mokoena^Thabo"
    assert str(field(message, "PID", 7)) == "19800101" and str(field(message, "PID", 8)) == "M"
    assert str(field(message, "PV1", 3)) == "W03^^^CHBAH"
    assert str(field(message, "PV1", 19)) == "2600012345^^^CHBAH^VN"
    assert str(field(message, "PV1", 44)) == "20260302081500+0200"
    assert str(field(message, "DG1", 3)) == "I21.9^Acute myocardial infarction, unspecified^I10"


def test_a_transfer_between_wards_is_an_a02_with_the_new_and_prior_locations():
    message = parse(build_message(TRANSFER, PATIENT))

    assert str(field(message, "MSH", 9)) == "ADT^A02^ADT_A02"
    assert str(field(message, "PV1", 3)) == "W12^^^CHBAH" and str(field(message, "PV1", 6)) == "W03^^^CHBAH"
    assert not any(str(s[0]) == "DG1" for s in message)


def test_a_discharge_is_an_a03_with_its_disposition_and_time():
    row = OutboxRow("A03", SOURCE_DISCHARGE, "2600099999", {
        "discharge_id": 2600099999, "admission_id": 2600012345, "ward_code": "W03",
        "discharged_at": "2026-03-05T11:00:00+02:00", "disposition": "died"})
    message = parse(build_message(row, PATIENT))

    assert str(field(message, "MSH", 9)) == "ADT^A03^ADT_A03"
    assert str(field(message, "PV1", 36)) == "20" and str(field(message, "PV1", 45)) == "20260305110000+0200"
    assert str(field(message, "PV1", 19)) == "2600012345^^^CHBAH^VN"


def test_the_same_row_gives_the_same_bytes():
    assert build_message(ADMISSION, PATIENT) == build_message(ADMISSION, PATIENT)


# Text with every HL7 delimiter and escape character, non-ASCII letters and line breaks.
hostile_text = st.text(alphabet=st.sampled_from(list("|^~\\&\r\n ab'-") + ["é", "ñ", "ŋ", "Ș", "漢", "😀"])
                       | st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(first=hostile_text, last=hostile_text, street=hostile_text, suburb=hostile_text)
def test_names_and_addresses_with_delimiters_round_trip_through_the_escape_rules(first, last, street, suburb):
    patient = Patient("H1", None, "AB1234567", first, last, date(1990, 5, 17), "F", street, suburb,
                      "Johannesburg", "Gauteng", "1804", "+27111234567", "ZWE")
    message = parse(build_message(ADMISSION, patient))

    name = field(message, "PID", 5)[0]
    address = field(message, "PID", 11)[0]
    assert message.unescape(str(name[0])) == last and message.unescape(str(name[1])) == first
    assert message.unescape(str(address[0])) == street and message.unescape(str(address[1])) == suburb
    # the delimiters in the data did not break the structure around them
    assert len(message) == 4 and str(field(message, "PID", 7)) == "19900517"
    assert str(field(message, "PID", 3)[-1][4]) == "PPN" and str(field(message, "PID", 3)[-1][3]) == "ZWE"
