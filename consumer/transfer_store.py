"""PostgreSQL side of the transfer consumer: one transaction per batch of Kafka messages.

`write_batch` stores, in a single transaction,
  - every new event in stream.transfer_event (ON CONFLICT DO NOTHING: a replay adds nothing),
  - the highest version per transfer in stream.transfer, guarded so an older or equal version
    never overwrites a newer one,
  - the patient's current ward when a transfer completes (guarded by time, so order does not matter),
  - quarantined messages in ops.quarantined_event (unique on topic, partition, offset),
  - the next offset of every partition in ops.consumer_offset (never moved backwards).
Because the offsets commit with the rows, a consumer killed at any point restarts exactly after
the last batch whose rows are durable: nothing lost, nothing applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg2.extras import execute_values

from hospital.transfer_event import (CONFLICTING_VERSION, UNKNOWN_DOCTOR, UNKNOWN_FACILITY, UNKNOWN_PATIENT,
                                     UNKNOWN_WARD, InvalidEvent, TransferEvent)


@dataclass(frozen=True)
class Accepted:
    event: TransferEvent
    partition: int
    offset: int
    raw: bytes
    produced_at: datetime | None = None  # the Kafka message timestamp


@dataclass(frozen=True)
class Quarantined:
    topic: str
    partition: int
    offset: int
    reason: str
    raw: bytes | None


class ReferenceCache:
    """Wards and facilities (small, static) cached; patients and doctors looked up per batch."""

    def __init__(self) -> None:
        self.wards: set[str] = set()
        self.facilities: set[str] = set()

    def refresh(self, cur) -> None:
        cur.execute("SELECT ward_code FROM reference.ward")
        self.wards = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT facility_code FROM reference.facility")
        self.facilities = {r[0] for r in cur.fetchall()}

    def check(self, cur, events: list[TransferEvent]) -> dict[str, InvalidEvent]:
        """Events (by event_id) that name something the warehouse does not know."""
        places = [p for e in events for p in (e.from_place, e.to_place)]
        if any(p.ward_code and p.ward_code not in self.wards for p in places) or \
                any(p.facility_code and p.facility_code not in self.facilities for p in places):
            self.refresh(cur)  # reference data may have grown since we cached it
        cur.execute("""
            SELECT p.patient_id, p.hospital_number, pe.sa_id_number
            FROM core.patient p JOIN core.person pe ON pe.person_id = p.person_id
            WHERE p.patient_id = ANY(%s)""", (sorted({e.patient_id for e in events}),))
        patients = {pid: (number, sa_id) for pid, number, sa_id in cur.fetchall()}
        cur.execute("SELECT staff_id FROM core.doctor WHERE staff_id = ANY(%s)",
                    (sorted({e.authorising_staff_id for e in events}),))
        doctors = {r[0] for r in cur.fetchall()}
        problems: dict[str, InvalidEvent] = {}
        for e in events:
            problem = self._problem(e, patients, doctors)
            if problem is not None:
                problems[e.event_id] = problem
        problems.update(version_conflicts(cur, [e for e in events if e.event_id not in problems]))
        return problems

    def _problem(self, e: TransferEvent, patients: dict, doctors: set[int]) -> InvalidEvent | None:
        known = patients.get(e.patient_id)
        if known is None:
            return InvalidEvent(UNKNOWN_PATIENT, f"patient_id {e.patient_id}")
        number, sa_id = known
        if number != e.hospital_number or (sa_id or None) != e.sa_id_number:
            return InvalidEvent(UNKNOWN_PATIENT, f"patient_id {e.patient_id} has another hospital number or SA ID")
        for name, place in (("from", e.from_place), ("to", e.to_place)):
            if place.ward_code and place.ward_code not in self.wards:
                return InvalidEvent(UNKNOWN_WARD, f"{name}.ward_code {place.ward_code!r}")
            if place.facility_code and place.facility_code not in self.facilities:
                return InvalidEvent(UNKNOWN_FACILITY, f"{name}.facility_code {place.facility_code!r}")
        if e.authorising_staff_id not in doctors:
            return InvalidEvent(UNKNOWN_DOCTOR, f"staff_id {e.authorising_staff_id} is not a doctor")
        return None


VERSION_HOLDERS = """
SELECT e.transfer_id::text, e.version, e.event_id::text
FROM stream.transfer_event e
JOIN unnest(%s::uuid[], %s::bigint[]) AS b (transfer_id, version)
  ON e.transfer_id = b.transfer_id AND e.version = b.version
"""


def version_conflicts(cur, events: list[TransferEvent]) -> dict[str, InvalidEvent]:
    """Events (by event_id) claiming a version of a transfer that another event holds, stored
    already or earlier in this batch. The first keeps it, and a replay of it (the same event_id)
    changes nothing; a different event under that version must be quarantined, because the
    insert's ON CONFLICT DO NOTHING would otherwise drop it without a trace."""
    if not events:
        return {}
    cur.execute(VERSION_HOLDERS, ([e.transfer_id for e in events], [e.version for e in events]))
    holder = {(transfer_id, version): event_id for transfer_id, version, event_id in cur.fetchall()}
    conflicts = {}
    for e in events:  # in arrival order, as the insert keeps the first
        first = holder.setdefault((e.transfer_id, e.version), e.event_id)
        if first != e.event_id:
            conflicts[e.event_id] = InvalidEvent(
                CONFLICTING_VERSION, f"version {e.version} of transfer {e.transfer_id} is already event {first}")
    return conflicts


# One statement per batch, fed by one JSON parameter: PostgreSQL expands the array into rows
# (json_populate_recordset, typed by the table itself) and applies all three effects from them.
# Measured against execute_values (a formatted VALUES row per event, then two more statements):
# the client builds the parameter with one orjson call instead of quoting every value, and the
# server plans one statement instead of three. `ordinality` is the arrival order inside the batch: the
# first of two events with the same (transfer_id, version) is the one kept, as with one-by-one.
APPLY_EVENTS = """
WITH batch AS (  -- "ordinality": the arrival order inside the batch
    SELECT * FROM json_populate_recordset(NULL::stream.transfer_event, %(events)s::json) WITH ORDINALITY
), new_event AS (
    INSERT INTO stream.transfer_event
        (event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
         to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time,
         kafka_partition, kafka_offset, received_at, produced_at)
    SELECT event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
           to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time,
           kafka_partition, kafka_offset, clock_timestamp(), produced_at
    FROM batch ORDER BY transfer_id, version, ordinality
    ON CONFLICT DO NOTHING
), latest AS (  -- the highest version per transfer in this batch
    SELECT DISTINCT ON (transfer_id) * FROM batch ORDER BY transfer_id, version DESC, ordinality
), upsert AS (
    INSERT INTO stream.transfer AS t
        (last_event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
         to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time)
    SELECT event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
           to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time
    FROM latest ORDER BY transfer_id
    ON CONFLICT (transfer_id) DO UPDATE SET
        version = EXCLUDED.version, status = EXCLUDED.status, patient_id = EXCLUDED.patient_id,
        from_ward_code = EXCLUDED.from_ward_code, from_facility_code = EXCLUDED.from_facility_code,
        to_ward_code = EXCLUDED.to_ward_code, to_facility_code = EXCLUDED.to_facility_code,
        reason = EXCLUDED.reason, priority = EXCLUDED.priority,
        authorising_staff_id = EXCLUDED.authorising_staff_id, last_event_id = EXCLUDED.last_event_id,
        event_time = EXCLUDED.event_time, updated_at = now()
    WHERE t.version < EXCLUDED.version
), arrival AS (  -- each patient's latest completed transfer in this batch (NULL ward: left for a facility)
    SELECT DISTINCT ON (patient_id) patient_id, to_ward_code, event_time
    FROM batch WHERE status = 'completed' ORDER BY patient_id, event_time DESC, ordinality
)
-- Guarded by event time, so a late or replayed completion never moves a patient back.
UPDATE core.patient p SET current_ward_code = a.to_ward_code, current_ward_since = a.event_time
FROM arrival a
WHERE p.patient_id = a.patient_id
  AND (p.current_ward_since IS NULL OR p.current_ward_since < a.event_time)
"""


def _event_json(a: Accepted) -> dict:
    e = a.event
    return {"event_id": e.event_id, "transfer_id": e.transfer_id, "version": e.version, "status": e.status,
            "patient_id": e.patient_id, "from_ward_code": e.from_place.ward_code,
            "from_facility_code": e.from_place.facility_code, "to_ward_code": e.to_place.ward_code,
            "to_facility_code": e.to_place.facility_code, "reason": e.reason, "priority": e.priority,
            "authorising_staff_id": e.authorising_staff_id, "event_time": e.event_time,
            "kafka_partition": a.partition, "kafka_offset": a.offset, "produced_at": a.produced_at}


def write_batch(cur, *, group: str, topic: str, accepted: list[Accepted], quarantined: list[Quarantined],
                next_offsets: dict[int, int]) -> None:
    """Apply one batch inside the caller's transaction (see the module docstring)."""
    if accepted:
        # orjson writes datetimes as RFC 3339 with their offset, which timestamptz reads exactly.
        cur.execute(APPLY_EVENTS, {"events": orjson.dumps([_event_json(a) for a in accepted]).decode()})
    if quarantined:
        execute_values(cur, """
            INSERT INTO ops.quarantined_event (topic, kafka_partition, kafka_offset, reason, raw_payload)
            VALUES %s ON CONFLICT DO NOTHING""",
            sorted((q.topic, q.partition, q.offset, q.reason, q.raw) for q in quarantined),
            page_size=len(quarantined))
    if next_offsets:
        execute_values(cur, """
            INSERT INTO ops.consumer_offset AS o (consumer_group, topic, kafka_partition, next_offset)
            VALUES %s
            ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE
                SET next_offset = EXCLUDED.next_offset, updated_at = now()
            WHERE o.next_offset < EXCLUDED.next_offset""",
            sorted((group, topic, p, o) for p, o in next_offsets.items()))


def load_offsets(cur, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """The stored next offset of each of `partitions` that has one."""
    cur.execute("""
        SELECT kafka_partition, next_offset FROM ops.consumer_offset
        WHERE consumer_group = %s AND topic = %s AND kafka_partition = ANY(%s)""", (group, topic, partitions))
    return dict(cur.fetchall())
