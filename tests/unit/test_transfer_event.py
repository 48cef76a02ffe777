"""The transfer event's wire format and checks (no services)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from core.transfer_event import InvalidEvent, Place, TransferEvent, check_window, parse

# Published example numbers: a valid ID (Luhn digit 7) and the same with a wrong check digit.
VALID_ID = "8001015009087"
WRONG_CHECK_DIGIT = "8001015009088"


def event(**changes) -> TransferEvent:
    fields = dict(event_id="0b7c7f1e-1111-4a4a-8b8b-123456789abc", transfer_id="1c7c7f1e-2222-4a4a-8b8b-123456789abc",
                  version=1, status="requested", patient_id=7, hospital_number="JHB0000007", sa_id_number=VALID_ID,
                  from_place=Place(ward_code="MED-A"), to_place=Place(facility_code="HJH"), reason="back-referral",
                  priority="routine", authorising_staff_id=121,
                  event_time=datetime.fromisoformat("2026-03-02T10:03:00+02:00"))
    fields.update(changes)
    return TransferEvent(**fields)


def doc(**changes) -> bytes:
    d = event().to_dict()
    d.update(changes)
    return json.dumps(d).encode()


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse(raw)
    return info.value.category


def test_an_event_round_trips_through_json():
    assert parse(event().to_bytes()) == event()


def test_the_wire_format_is_plain_json_with_sast_time():
    d = json.loads(event().to_bytes())
    assert d["event_time"].endswith("+02:00")
    assert d["from"] == {"ward_code": "MED-A"} and d["to"] == {"facility_code": "HJH"}
    assert d["patient"]["sa_id_number"] == VALID_ID and d["authorising_doctor"] == {"staff_id": 121}


def test_the_key_is_the_transfer_id():
    assert event().key == b"1c7c7f1e-2222-4a4a-8b8b-123456789abc"


def test_a_foreign_national_without_an_sa_id_is_valid():
    assert parse(event(sa_id_number=None).to_bytes()).sa_id_number is None


@pytest.mark.parametrize("raw, category", [
    (b"{not json", "not_json"),
    (b"\x80\x81", "not_json"),
    (None, "not_json"),
    (b'"a string"', "not_an_object"),
    (doc(version="1"), "wrong_type"),
    (doc(version=1.0), "wrong_type"),
    (doc(version=True), "wrong_type"),
    (doc(reason=None), "missing_field"),
    (doc(priority="whenever"), "invalid_value"),
    (doc(version=0), "invalid_value"),
    (doc(version=2), "invalid_value"),  # version 2 cannot be 'requested'
    (doc(transfer_id="123"), "invalid_value"),
    (doc(event_time="yesterday"), "invalid_value"),
    (doc(event_time="2026-03-02T08:03:00+00:00"), "invalid_value"),
    (doc(to={"ward_code": "MED-A"}), "invalid_value"),
    (doc(to={}), "invalid_value"),
    (doc(**{"from": {"facility_code": "CHBAH"}}), "invalid_value"),
    (doc(to={"ward_code": 5}), "wrong_type"),
    (b'{"version": NaN}', "not_json"),  # not RFC 8259, though Python's json module reads it
    (b'{"reason": "\\ud800"}', "not_json"),  # a lone surrogate cannot be stored as UTF-8
    (doc(version=2 ** 64), "wrong_type"),  # orjson reads integers beyond 64 bits as floats
])
def test_malformed_events_are_rejected_with_their_category(raw, category):
    assert reason_of(raw) == category


def test_missing_nested_fields_are_named():
    d = event().to_dict()
    del d["patient"]["hospital_number"]
    with pytest.raises(InvalidEvent, match="missing_field: patient.hospital_number"):
        parse(json.dumps(d).encode())


@pytest.mark.parametrize("number", [WRONG_CHECK_DIGIT, "8013015009087", "800101500908", "80010150090877",
                                    "800101500908A", " 8001015009087"])
def test_invalid_sa_id_numbers_are_rejected(number):
    d = event().to_dict()
    d["patient"]["sa_id_number"] = number
    assert reason_of(json.dumps(d).encode()) == "invalid_sa_id"


@pytest.mark.parametrize("changes, category", [
    ({"version": 2**63}, "invalid_value"),           # orjson reads it as an int; bigint cannot hold it
    ({"version": 2**63 - 1, "status": "accepted"}, None),  # fits bigint: the int4 column decides
    ({"version": -2**63 - 1}, "wrong_type"),          # below 64 bits: orjson gives a float
    ({"patient": {"patient_id": 2**63, "hospital_number": "JHB0000007", "sa_id_number": VALID_ID}},
     "invalid_value"),
    ({"patient": {"patient_id": 0, "hospital_number": "JHB0000007", "sa_id_number": VALID_ID}}, "invalid_value"),
    ({"authorising_doctor": {"staff_id": -5}}, "invalid_value"),
    ({"authorising_doctor": {"staff_id": 2**63}}, "invalid_value"),
    ({"reason": "x" * 2001}, "invalid_value"),
    ({"reason": "needs\x00care"}, "invalid_value"),     # PostgreSQL text cannot hold NUL
    ({"to": {"facility_code": "HJ\x00H"}}, "invalid_value"),
    ({"to": {"ward_code": ""}}, "invalid_value"),
    ({"to": {"ward_code": "W" * 257}}, "invalid_value"),
    ({"patient": {"patient_id": 7, "hospital_number": "", "sa_id_number": VALID_ID}}, "invalid_value"),
    ({"patient": {"patient_id": 7, "hospital_number": "JHB0000007", "sa_id_number": "8" * 100_000}},
     "invalid_sa_id"),
])
def test_values_must_fit_the_columns_that_store_them(changes, category):
    raw = doc(**changes)
    if category is None:
        assert parse(raw).version == 2**63 - 1
    else:
        assert reason_of(raw) == category


def test_a_long_junk_sa_id_is_named_briefly():
    with pytest.raises(InvalidEvent) as info:
        parse(doc(patient={"patient_id": 7, "hospital_number": "JHB0000007", "sa_id_number": "9" * 100_000}))
    assert len(info.value.reason) < 100


def test_the_window_is_half_open():
    start = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
    end = datetime.fromisoformat("2026-03-11T00:00:00+02:00")
    check_window(event(event_time=start), start, end)
    for outside in (end, datetime.fromisoformat("2099-03-02T10:00:00+02:00"),
                    datetime.fromisoformat("2026-03-01T23:59:59+02:00")):
        with pytest.raises(InvalidEvent) as info:
            check_window(event(event_time=outside), start, end)
        assert info.value.category == "outside_window"
