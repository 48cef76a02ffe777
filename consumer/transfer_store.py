"""PostgreSQL side of the transfer consumer: one transaction per batch of Kafka messages.

Inside the caller's transaction:
  - `ReferenceCache.problems` finds events that name a patient, ward, facility or doctor the
    warehouse does not know.
  - `write_events` stores the other events in stream.transfer_event (ON CONFLICT DO NOTHING) and
    derives every effect from the rows that insert actually returned, never from the batch: the
    highest version per transfer in stream.transfer (guarded so an older or equal version never
    overwrites a newer one) and the patient's current ward when a transfer completes (guarded by
    time, so order does not matter). It returns the events the insert skipped.
  - `explain_skipped` says why each was skipped, from the stored row that holds its event_id or
    its (transfer_id, version): the same event_id with the same content is a replay and changes
    nothing; the same event_id with other content is conflicting_event_id; another event under
    the same version is conflicting_version. Both conflicts are quarantined, never dropped.
  - `write_quarantined` keeps bad messages in ops.quarantined_event (unique on topic, partition,
    offset), with their reason and raw bytes.
  - `write_offsets` stores the next offset of every partition in ops.consumer_offset (never moved
    backwards, except by `record_offset_incidents` when the log itself moved; see there).
Because the offsets commit with the rows, a consumer killed at any point restarts exactly after
the last batch whose rows are durable: nothing lost, nothing applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg2.extras import execute_values

from core.transfer_event import (CONFLICTING_EVENT_ID, CONFLICTING_VERSION, UNKNOWN_DOCTOR, UNKNOWN_FACILITY,
                                     UNKNOWN_PATIENT, UNKNOWN_WARD, InvalidEvent, TransferEvent)

# Longest reason kept (characters): the detail of a hostile value is cut, never the category.
MAX_REASON_CHARS = 1000


def safe_text(text: str, max_chars: int = MAX_REASON_CHARS) -> str:
    """`text` as PostgreSQL text and a Kafka header can always hold it: no NUL, no lone surrogate
    (both shown as backslash escapes instead), at most `max_chars` characters."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= max_chars else text[:max_chars - 3] + "..."


@dataclass(frozen=True)
class Accepted:
    event: TransferEvent
    partition: int
    offset: int
    raw: bytes
    produced_at: datetime | None = None  # the Kafka message timestamp


@dataclass(frozen=True)
class Quarantined:
    """A message set aside: where it was, why, and its bytes. The reason is made safe to store
    on construction, so writing a quarantine cannot fail on what the message contained."""

    topic: str
    partition: int
    offset: int
    reason: str
    raw: bytes | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", safe_text(self.reason))


# explain_skipped's verdict for an event that is stored already with the same content.
REPLAY = "replay"


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

    def problems(self, cur, events: list[TransferEvent]) -> list[InvalidEvent | None]:
        """For each event (same order), what it names that the warehouse does not know, or None."""
        places = [p for e in events for p in (e.from_place, e.to_place)]
        if any(p.ward_code and p.ward_code not in self.wards for p in places) or \
                any(p.facility_code and p.facility_code not in self.facilities for p in places):
            self.refresh(cur)  # reference data may have grown since we cached it
        cur.execute("""
            SELECT p.patient_id, p.hospital_number, pe.sa_id_number
            FROM core.patient p JOIN core.person pe ON pe.person_id = p.person_id
            WHERE p.patient_id = ANY(%s::bigint[])""", (sorted({e.patient_id for e in events}),))
        patients = {pid: (number, sa_id) for pid, number, sa_id in cur.fetchall()}
        cur.execute("SELECT staff_id FROM core.doctor WHERE staff_id = ANY(%s::bigint[])",
                    (sorted({e.authorising_staff_id for e in events}),))
        doctors = {r[0] for r in cur.fetchall()}
        return [self._problem(e, patients, doctors) for e in events]

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


# One statement per batch, fed by one JSON parameter: PostgreSQL expands the array into rows
# (json_populate_recordset, typed by the table itself) and applies all three effects from them.
# Measured against execute_values (a formatted VALUES row per event, then two more statements):
# the client builds the parameter with one orjson call instead of quoting every value, and the
# server plans one statement instead of three.
# Every effect reads `new_event`, the rows the insert RETURNED, not `batch`: an event the insert
# skipped (its event_id or its version already taken) has no effect at all. The insert takes the
# batch in arrival order (`ordinality`), so of two events claiming one event_id or one version the
# first to arrive is kept, as when the consumer takes events one at a time. One transfer's events
# share a partition, so where arrival order breaks a tie it is (kafka_partition, kafka_offset).
APPLY_EVENTS = """
WITH batch AS (
    SELECT * FROM json_populate_recordset(NULL::stream.transfer_event, %(events)s::json) WITH ORDINALITY
), new_event AS (
    INSERT INTO stream.transfer_event
        (event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
         to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time,
         kafka_partition, kafka_offset, received_at, produced_at)
    SELECT event_id, transfer_id, version, status, patient_id, from_ward_code, from_facility_code,
           to_ward_code, to_facility_code, reason, priority, authorising_staff_id, event_time,
           kafka_partition, kafka_offset, clock_timestamp(), produced_at
    FROM batch ORDER BY ordinality
    ON CONFLICT DO NOTHING
    RETURNING *
), latest AS (  -- the highest version per transfer among the events just stored
    SELECT DISTINCT ON (transfer_id) * FROM new_event ORDER BY transfer_id, version DESC
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
), arrival AS (  -- each patient's latest completed transfer just stored (NULL ward: left for a facility)
    SELECT DISTINCT ON (patient_id) patient_id, to_ward_code, event_time
    FROM new_event WHERE status = 'completed' ORDER BY patient_id, event_time DESC, kafka_partition, kafka_offset
), moved AS (
    -- Guarded by event time, so a late or replayed completion never moves a patient back. A move
    -- between wards keeps the stay and its diagnosis; arriving from or leaving for another facility
    -- begins or ends a stay, whose diagnosis the stream does not carry.
    UPDATE core.patient p SET current_ward_code = a.to_ward_code, current_ward_since = a.event_time,
        current_primary_icd10 = CASE WHEN a.to_ward_code IS NOT NULL AND p.current_ward_code IS NOT NULL
                                     THEN p.current_primary_icd10 END
    FROM arrival a
    WHERE p.patient_id = a.patient_id
      AND (p.current_ward_since IS NULL OR p.current_ward_since < a.event_time)
)
-- The events the insert skipped, by position; usually none.
SELECT b.kafka_partition, b.kafka_offset FROM batch b
WHERE NOT EXISTS (SELECT FROM new_event n
                  WHERE n.kafka_partition = b.kafka_partition AND n.kafka_offset = b.kafka_offset)
"""


def _event_json(a: Accepted) -> dict:
    e = a.event
    return {"event_id": e.event_id, "transfer_id": e.transfer_id, "version": e.version, "status": e.status,
            "patient_id": e.patient_id, "from_ward_code": e.from_place.ward_code,
            "from_facility_code": e.from_place.facility_code, "to_ward_code": e.to_place.ward_code,
            "to_facility_code": e.to_place.facility_code, "reason": e.reason, "priority": e.priority,
            "authorising_staff_id": e.authorising_staff_id, "event_time": e.event_time,
            "kafka_partition": a.partition, "kafka_offset": a.offset, "produced_at": a.produced_at}


def write_events(cur, accepted: list[Accepted]) -> list[Accepted]:
    """Store events and apply their effects (see APPLY_EVENTS); returns those the insert skipped."""
    if not accepted:
        return []
    # orjson writes datetimes as RFC 3339 with their offset, which timestamptz reads exactly.
    cur.execute(APPLY_EVENTS, {"events": orjson.dumps([_event_json(a) for a in accepted]).decode()})
    skipped = set(cur.fetchall())
    return [a for a in accepted if (a.partition, a.offset) in skipped] if skipped else []


# What stream.transfer_event keeps of an event, in `stored_content`'s order. Two events with one
# event_id are the same event exactly when these agree (the raw bytes may differ: key order, spaces).
CONTENT_COLUMNS = """e.transfer_id::text, e.version, e.status, e.patient_id, e.from_ward_code, e.from_facility_code,
    e.to_ward_code, e.to_facility_code, e.reason, e.priority, e.authorising_staff_id, e.event_time"""

# The stored events holding the event_ids, or the (transfer_id, version)s, of some events.
HOLDERS = f"""
SELECT e.event_id::text, {CONTENT_COLUMNS} FROM stream.transfer_event e
WHERE e.event_id = ANY(%(event_ids)s::uuid[])
UNION
SELECT e.event_id::text, {CONTENT_COLUMNS} FROM stream.transfer_event e
JOIN unnest(%(transfer_ids)s::uuid[], %(versions)s::bigint[]) AS b (transfer_id, version)
  ON e.transfer_id = b.transfer_id AND e.version = b.version
"""


def stored_content(e: TransferEvent) -> tuple:
    """The event as stream.transfer_event stores it (CONTENT_COLUMNS)."""
    return (e.transfer_id, e.version, e.status, e.patient_id, e.from_place.ward_code, e.from_place.facility_code,
            e.to_place.ward_code, e.to_place.facility_code, e.reason, e.priority, e.authorising_staff_id,
            e.event_time)


def explain_skipped(cur, skipped: list[TransferEvent]) -> list[InvalidEvent | str]:
    """Why the insert skipped each event (same order), from the stored row that holds its id or
    version (stored before, or just now from earlier in the batch):
    REPLAY (the same event_id, the same content: nothing to store, nothing to change),
    conflicting_event_id (the same event_id, other content) or conflicting_version."""
    if not skipped:
        return []
    cur.execute(HOLDERS, {"event_ids": [e.event_id for e in skipped], "transfer_ids": [e.transfer_id for e in skipped],
                          "versions": [e.version for e in skipped]})
    content_of: dict[str, tuple] = {}
    holder_of: dict[tuple[str, int], str] = {}
    for event_id, *content in cur.fetchall():
        content_of[event_id] = tuple(content)
        holder_of[(content[0], content[1])] = event_id
    verdicts: list[InvalidEvent | str] = []
    for e in skipped:
        held = content_of.get(e.event_id)
        if held is not None:
            verdicts.append(REPLAY if held == stored_content(e) else InvalidEvent(
                CONFLICTING_EVENT_ID, f"event_id {e.event_id} is already an event with other content"))
        else:
            holder = holder_of.get((e.transfer_id, e.version), "another event")
            verdicts.append(InvalidEvent(
                CONFLICTING_VERSION, f"version {e.version} of transfer {e.transfer_id} is already event {holder}"))
    return verdicts


def write_quarantined(cur, quarantined: list[Quarantined]) -> None:
    """Keep bad messages with their reason and raw bytes; a message quarantined before stays as it was."""
    if quarantined:
        execute_values(cur, """
            INSERT INTO ops.quarantined_event (topic, kafka_partition, kafka_offset, reason, raw_payload)
            VALUES %s ON CONFLICT DO NOTHING""",
            sorted((q.topic, q.partition, q.offset, q.reason, q.raw) for q in quarantined),
            page_size=len(quarantined))


def write_offsets(cur, group: str, topic: str, next_offsets: dict[int, int]) -> None:
    """Move each partition's stored next offset forward (never backwards)."""
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


# -- stored offsets that disagree with the log ------------------------------------------------------
AHEAD_OF_LOG_END = "ahead_of_log_end"    # the topic was recreated or truncated under us
BEHIND_LOG_START = "behind_log_start"    # retention deleted messages before we read them
RESUMED_FROM_LOG_START = "resumed_from_log_start"


@dataclass(frozen=True)
class OffsetIncident:
    """A partition whose stored next offset lies outside the log's [log_start, log_end]."""

    partition: int
    stored_offset: int
    log_start: int
    log_end: int

    @property
    def kind(self) -> str:
        return AHEAD_OF_LOG_END if self.stored_offset > self.log_end else BEHIND_LOG_START


def offset_incident(partition: int, stored_offset: int, log_start: int, log_end: int) -> OffsetIncident | None:
    """The incident if `stored_offset` is not a position in the log (log_start..log_end), else None."""
    if log_start <= stored_offset <= log_end:
        return None
    return OffsetIncident(partition, stored_offset, log_start, log_end)


def record_offset_incidents(cur, group: str, topic: str, incidents: list[OffsetIncident]) -> None:
    """Log each incident in ops.offset_incident and set the stored offset to the log start, where
    the consumer resumes. Moving it back is safe: replayed events that are stored change nothing.
    It is also needed: write_offsets never moves an offset back, so an offset left ahead of a
    recreated log would stay there while the new log is read."""
    execute_values(cur, """
        INSERT INTO ops.offset_incident
            (consumer_group, topic, kafka_partition, stored_offset, log_start, log_end, kind, action)
        VALUES %s""", [(group, topic, i.partition, i.stored_offset, i.log_start, i.log_end, i.kind,
                        RESUMED_FROM_LOG_START) for i in incidents])
    for i in incidents:
        cur.execute("""
            UPDATE ops.consumer_offset SET next_offset = %s, updated_at = now()
            WHERE consumer_group = %s AND topic = %s AND kafka_partition = %s""",
                    (i.log_start, group, topic, i.partition))
