"""The patient-transfer event: its wire format (JSON) and the checks both sides agree on.

One event is one version of one transfer. A transfer moves through

    requested (v1) -> accepted -> in_transit -> completed
                 \\-> cancelled   \\-> cancelled

so version 1 is always `requested` and every later version is one step further. Events are
keyed by `transfer_id`, so one transfer's versions stay in order on one partition.

Wire format (UTF-8 JSON object):

    {"event_id": "<uuid>", "transfer_id": "<uuid>", "version": 2, "status": "accepted",
     "patient": {"patient_id": 17, "hospital_number": "CMJ0000017", "sa_id_number": "8001015009087"},
     "from": {"ward_code": "W-MED1"}, "to": {"facility_code": "CHBAH"},
     "reason": "...", "priority": "urgent", "authorising_doctor": {"staff_id": 5},
     "event_time": "2026-03-02T00:03:00+02:00"}

`sa_id_number` is null for foreign nationals (who have no SA ID). `from` and `to` each name
exactly one of a ward of this hospital or another facility. `event_time` carries the SAST
offset, +02:00. `parse` checks everything that can be checked without the database, including
that every value fits the column that stores it (ids and versions within PostgreSQL bigint, text
without NUL and of sane length); `check_window` checks the event falls in the run's window; the
consumer checks that the patient, wards, facilities and doctor exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta

import orjson
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.za import idnr

STATUSES = ("requested", "accepted", "in_transit", "completed", "cancelled")
FINAL_STATUSES = frozenset({"completed", "cancelled"})
PRIORITIES = ("routine", "urgent", "emergency")
# status -> the statuses that may follow it
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    "requested": ("accepted", "cancelled"),
    "accepted": ("in_transit", "cancelled"),
    "in_transit": ("completed",),
    "completed": (),
    "cancelled": (),
}
SAST_OFFSET = timedelta(hours=2)
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# PostgreSQL bigint: ids and versions above it would make the consumer's queries fail, not the event.
BIGINT_MAX = 2**63 - 1
# Longest text the consumer accepts, in characters: far above anything real, far below what
# would bloat a row. Codes are short stable identifiers; reasons are free text.
MAX_CODE_CHARS = 256
MAX_REASON_CHARS = 2000

# Reason categories for quarantined events (ops.quarantined_event.reason is "<category>: <detail>").
NOT_JSON = "not_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
INVALID_VALUE = "invalid_value"
INVALID_SA_ID = "invalid_sa_id"
UNKNOWN_PATIENT = "unknown_patient"
UNKNOWN_WARD = "unknown_ward"
UNKNOWN_FACILITY = "unknown_facility"
UNKNOWN_DOCTOR = "unknown_doctor"
# Another event (another event_id) already holds this version of the transfer.
CONFLICTING_VERSION = "conflicting_version"
# This event_id is already another event (stored, or earlier in the batch) with other content.
CONFLICTING_EVENT_ID = "conflicting_event_id"
# event_time is outside the run's simulated window.
OUTSIDE_WINDOW = "outside_window"


class InvalidEvent(ValueError):
    """An event the consumer must quarantine. `category` is one of the constants above."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail

    @property
    def reason(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Place:
    """Where a patient leaves from or goes to: a ward here or another facility (exactly one)."""

    ward_code: str | None = None
    facility_code: str | None = None

    def __post_init__(self) -> None:
        if (self.ward_code is None) == (self.facility_code is None):
            raise ValueError("a place is either a ward or a facility")

    def to_json(self) -> dict:
        return {"ward_code": self.ward_code} if self.ward_code else {"facility_code": self.facility_code}


@dataclass(frozen=True)
class TransferEvent:
    event_id: str
    transfer_id: str
    version: int
    status: str
    patient_id: int
    hospital_number: str
    sa_id_number: str | None
    from_place: Place
    to_place: Place
    reason: str
    priority: str
    authorising_staff_id: int
    event_time: datetime

    def to_dict(self) -> dict:
        return {
            "event_id": self.event_id,
            "transfer_id": self.transfer_id,
            "version": self.version,
            "status": self.status,
            "patient": {"patient_id": self.patient_id, "hospital_number": self.hospital_number,
                        "sa_id_number": self.sa_id_number},
            "from": self.from_place.to_json(),
            "to": self.to_place.to_json(),
            "reason": self.reason,
            "priority": self.priority,
            "authorising_doctor": {"staff_id": self.authorising_staff_id},
            "event_time": self.event_time.isoformat(),
        }

    def to_bytes(self) -> bytes:
        """The message value: compact UTF-8 JSON."""
        return orjson.dumps(self.to_dict())

    @property
    def key(self) -> bytes:
        """The message key: the transfer id, so one transfer's versions share a partition."""
        return self.transfer_id.encode("ascii")


def _field(obj: dict, name: str, kind: type, path: str = "") -> object:
    value = obj.get(name)
    if value.__class__ is kind:  # the well-formed case, checked first: the consumer parses every message
        return value
    full = f"{path}{name}"
    if name not in obj or obj[name] is None:
        raise InvalidEvent(MISSING_FIELD, full)
    value = obj[name]
    # bool is an int in Python; a JSON true is never a version or an id.
    if isinstance(value, bool) and kind is not bool:
        raise InvalidEvent(WRONG_TYPE, f"{full} is a boolean")
    if not isinstance(value, kind):
        raise InvalidEvent(WRONG_TYPE, f"{full} is {type(value).__name__}")
    return value


def _id(obj: dict, name: str, path: str = "", low: int = 1) -> int:
    """An integer field that fits PostgreSQL bigint and is at least `low`."""
    value = _field(obj, name, int, path)
    if not low <= value <= BIGINT_MAX:
        raise InvalidEvent(INVALID_VALUE, f"{path}{name} {value} is outside {low}..{BIGINT_MAX}")
    return value


def _text(obj: dict, name: str, max_chars: int, path: str = "") -> str:
    """A string field that PostgreSQL text can hold (no NUL) and of at most `max_chars` characters."""
    return _checked_text(_field(obj, name, str, path), f"{path}{name}", max_chars)


def _checked_text(value: str, full: str, max_chars: int) -> str:
    if "\x00" in value:
        raise InvalidEvent(INVALID_VALUE, f"{full} contains a NUL character")
    if not value or len(value) > max_chars:
        raise InvalidEvent(INVALID_VALUE, f"{full} has {len(value)} characters (1..{max_chars} allowed)")
    return value


def _uuid(obj: dict, name: str) -> str:
    text = _field(obj, name, str).lower()
    if not UUID_PATTERN.match(text):  # the canonical 8-4-4-4-12 form only
        raise InvalidEvent(INVALID_VALUE, f"{name} is not a UUID")
    return text


def _place(obj: dict, name: str) -> Place:
    place = _field(obj, name, dict)
    ward, facility = place.get("ward_code"), place.get("facility_code")
    for key, value in (("ward_code", ward), ("facility_code", facility)):
        if value is not None and (not isinstance(value, str) or isinstance(value, bool)):
            raise InvalidEvent(WRONG_TYPE, f"{name}.{key} is {type(value).__name__}")
        if value is not None:
            _checked_text(value, f"{name}.{key}", MAX_CODE_CHARS)
    if (ward is None) == (facility is None):
        raise InvalidEvent(INVALID_VALUE, f"{name} must name exactly one of ward_code, facility_code")
    return Place(ward_code=ward, facility_code=facility)


def _event_time(obj: dict) -> datetime:
    text = _field(obj, "event_time", str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidEvent(INVALID_VALUE, "event_time is not an ISO 8601 timestamp") from None
    if value.utcoffset() != SAST_OFFSET:
        raise InvalidEvent(INVALID_VALUE, "event_time must carry the SAST offset +02:00")
    return value


def validate_sa_id(number: str) -> None:
    """Raise InvalidEvent unless `number` is a valid 13-digit South African ID (python-stdnum)."""
    if len(number) != 13 or not number.isascii() or not number.isdigit():
        # Checked before the cache, so a stream of long junk strings cannot fill it.
        raise InvalidEvent(INVALID_SA_ID, f"{number[:20]!r} is not 13 bare digits")
    problem = _sa_id_problem(number)
    if problem is not None:
        raise InvalidEvent(INVALID_SA_ID, problem)


@lru_cache(maxsize=1 << 16)
def _sa_id_problem(number: str) -> str | None:
    # Cached: a patient's ID comes back with every version of every transfer, and python-stdnum
    # takes tens of microseconds per check, a large share of the consumer's time in a backfill.
    try:
        idnr.validate(number)
    except StdnumValidationError as exc:
        return f"{number!r}: {exc}"
    return None


def from_dict(obj: object) -> TransferEvent:
    """Check a decoded event and build it; raises InvalidEvent naming the first problem found."""
    if not isinstance(obj, dict):
        raise InvalidEvent(NOT_AN_OBJECT, f"top level is {type(obj).__name__}")
    event_id = _uuid(obj, "event_id")
    transfer_id = _uuid(obj, "transfer_id")
    version = _id(obj, "version")  # the tables store int4; a larger one is the database's to refuse
    status = _field(obj, "status", str)
    patient = _field(obj, "patient", dict)
    patient_id = _id(patient, "patient_id", "patient.")
    hospital_number = _text(patient, "hospital_number", MAX_CODE_CHARS, "patient.")
    sa_id = patient.get("sa_id_number")
    if sa_id is not None and not isinstance(sa_id, str):
        raise InvalidEvent(WRONG_TYPE, f"patient.sa_id_number is {type(sa_id).__name__}")
    from_place, to_place = _place(obj, "from"), _place(obj, "to")
    reason = _text(obj, "reason", MAX_REASON_CHARS)
    priority = _field(obj, "priority", str)
    doctor = _field(obj, "authorising_doctor", dict)
    staff_id = _id(doctor, "staff_id", "authorising_doctor.")
    event_time = _event_time(obj)

    if status not in STATUSES:
        raise InvalidEvent(INVALID_VALUE, f"status {status!r}")
    if (version == 1) != (status == "requested"):
        raise InvalidEvent(INVALID_VALUE, f"version {version} cannot be {status}")
    if priority not in PRIORITIES:
        raise InvalidEvent(INVALID_VALUE, f"priority {priority!r}")
    if not reason.strip():
        raise InvalidEvent(INVALID_VALUE, "reason is empty")
    if from_place == to_place:
        raise InvalidEvent(INVALID_VALUE, "from and to are the same place")
    if from_place.facility_code and to_place.facility_code:
        raise InvalidEvent(INVALID_VALUE, "a transfer must start or end in a ward of this hospital")
    if sa_id is not None:
        validate_sa_id(sa_id)
    return TransferEvent(event_id, transfer_id, version, status, patient_id, hospital_number, sa_id,
                         from_place, to_place, reason, priority, staff_id, event_time)


def check_window(event: TransferEvent, start: datetime, end: datetime) -> None:
    """Raise InvalidEvent (outside_window) unless start <= event.event_time < end."""
    if not start <= event.event_time < end:
        raise InvalidEvent(OUTSIDE_WINDOW, f"event_time {event.event_time.isoformat()} is outside the run's "
                                           f"window {start.isoformat()} .. {end.isoformat()}")


def parse(raw: bytes | None) -> TransferEvent:
    """Decode and check one message value; raises InvalidEvent (never anything else)."""
    if raw is None:
        raise InvalidEvent(NOT_JSON, "empty message")
    try:
        # orjson is strict RFC 8259 (no NaN, no lone surrogates, no invalid UTF-8, nesting limited)
        # and reads integers beyond 64 bits as floats (a wrong_type below), so such messages are
        # quarantined here rather than rejected by the database.
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(NOT_JSON, str(exc)[:200]) from None
    return from_dict(obj)
