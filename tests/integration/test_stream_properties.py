"""Property tests: hostile messages, generated rather than listed, through the real broker and the
real consumer into the real database.

Each hypothesis example is one round, on its own: the stream tables are emptied and a new topic
made, messages (valid events from the planner mixed with generated hostile ones) are produced to
it, the consumer runs until it is idle, and the invariants are checked against PostgreSQL:

  - the consumer returned normally and counted every message of the round;
  - every produced (partition, offset) is stored (stream.transfer_event), quarantined
    (ops.quarantined_event, with the exact bytes produced) or one of the deliberate replays,
    exactly one of the three;
  - every valid event produced is stored;
  - every stream.transfer row's last_event_id is a stored event of that transfer and version.

Examples are few and each is one produce + consume round of many messages, so the suite takes
seconds, not minutes; derandomize=True makes the examples the same on every run. Shrinking is
off: every step of it would be another round of seconds, and the failing round is printed whole.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from consumer.stream_consumer import ConsumerOptions, consume_transfers
from core.kafka_config import producer_config
from core.transfer_event import PRIORITIES, STATUSES
from database.connection import connect
from generators.transfers import TransferPlanner
from tests.integration.stream_fixtures import WINDOW_START, fetch, planner_inputs, population, topic  # noqa: F401

pytestmark = pytest.mark.integration

ROUNDS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                         HealthCheck.data_too_large])
VALID_PER_ROUND = 15
SAST_PLUS_2 = timezone(timedelta(hours=2))

# -- strategies ----------------------------------------------------------------------------------
# Integers a JSON sender may write: small, around the bigint and int4 limits, and beyond 64 bits.
EDGE_INTEGERS = st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 10**40])
# Any unicode, surrogates and NUL included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40) | st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "\udfff", " ", "MED-A", "requested", "completed", "2099-01-01T00:00:00+02:00"])
JSON_LEAVES = (st.none() | st.booleans() | st.integers() | EDGE_INTEGERS | st.floats() | ANY_TEXT)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(ANY_TEXT, children, max_size=4), max_leaves=12)
EVENT_FIELDS = [("event_id",), ("transfer_id",), ("version",), ("status",), ("patient",), ("patient", "patient_id"),
                ("patient", "hospital_number"), ("patient", "sa_id_number"), ("from",), ("from", "ward_code"),
                ("from", "facility_code"), ("to",), ("to", "ward_code"), ("to", "facility_code"), ("reason",),
                ("priority",), ("authorising_doctor",), ("authorising_doctor", "staff_id"), ("event_time",)]


def json_bytes(value, ensure_ascii: bool) -> bytes:
    """JSON text as a sender might write it: Python's json (NaN, huge ints and lone surrogates allowed)."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@st.composite
def arbitrary_value(draw) -> bytes | None:
    """Bytes, JSON of any shape, or an object with the event's keys and arbitrary values."""
    kind = draw(st.sampled_from(["bytes", "json", "event_shaped", "null"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "null":
        return None
    if kind == "json":
        return json_bytes(draw(JSON_VALUES), draw(st.booleans()))
    keys = {path[0] for path in EVENT_FIELDS}
    return json_bytes({k: draw(JSON_VALUES) for k in sorted(keys)}, draw(st.booleans()))


def _set(doc: dict, path: tuple[str, ...], value) -> None:
    target = doc
    for name in path[:-1]:
        if not isinstance(target.get(name), dict):
            target[name] = {}
        target = target[name]
    target[path[-1]] = value


def _remove(doc: dict, path: tuple[str, ...]) -> None:
    target = doc
    for name in path[:-1]:
        target = target.get(name)
        if not isinstance(target, dict):
            return
    target.pop(path[-1], None)


@dataclass
class Round:
    """One round's messages, in produce order, and what each is."""

    messages: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    valid_ids: set[str] = field(default_factory=set)
    replays: set[int] = field(default_factory=set)  # indexes into messages


def build_round(data, valid: list, hostile_strategy) -> Round:
    """The valid events in order with hostile messages drawn and inserted at drawn places.

    hostile_strategy(event, index) draws (key, value, is_replay, must_follow_index)."""
    slots: list[list[tuple]] = [[] for _ in range(len(valid) + 1)]
    for _ in range(data.draw(st.integers(10, 40), label="hostile messages")):
        index = data.draw(st.integers(0, len(valid) - 1), label="built from event")
        key, value, replay, after = data.draw(hostile_strategy(valid, index))
        place = data.draw(st.integers(0, len(valid)), label="position")
        if after is not None:
            place = max(place, after + 1)  # a replay or a reused id comes after the event it copies
        slots[place].append((key, value, replay))
    result = Round(valid_ids={e.event_id for e in valid})
    for position in range(len(valid) + 1):
        for key, value, replay in slots[position]:
            if replay:
                result.replays.add(len(result.messages))
            result.messages.append((key, value))
        if position < len(valid):
            result.messages.append((valid[position].key, valid[position].to_bytes()))
    return result


def arbitrary_messages(valid, index):
    return st.tuples(st.none() | st.binary(max_size=40) | st.just(valid[index].key), arbitrary_value(),
                     st.just(False), st.none())


@st.composite
def mutated_event(draw, valid, index):
    """A valid event with one field replaced or removed (under fresh ids), its event_id reused by
    other content, or the event itself again in other bytes (a replay)."""
    event = valid[index]
    doc = event.to_dict()
    kind = draw(st.sampled_from(["replace", "remove", "reuse_event_id", "replay"]))
    if kind == "replay":
        spaced = json.dumps(dict(reversed(list(doc.items()))), indent=draw(st.sampled_from([None, 1, 4])))
        return event.key, spaced.encode(), True, index
    if kind == "reuse_event_id":
        other = valid[draw(st.integers(0, len(valid) - 1).filter(lambda i: i != index))]
        copy = dict(other.to_dict(), event_id=event.event_id, transfer_id=str(uuid.uuid4()))
        return event.key, json_bytes(copy, True), False, index
    doc.update(event_id=str(uuid.uuid4()), transfer_id=str(uuid.uuid4()))
    path = draw(st.sampled_from(EVENT_FIELDS))
    if kind == "replace":
        _set(doc, path, draw(JSON_VALUES | near_value(path)))
    else:
        _remove(doc, path)
    return event.key, json_bytes(doc, draw(st.booleans())), False, None


def near_value(path: tuple[str, ...]):
    """A value of the kind the field holds, so the checks behind the type check are reached too."""
    name = path[-1]
    if name in ("version", "patient_id", "staff_id"):
        return st.integers() | EDGE_INTEGERS
    if name == "event_time":
        return st.datetimes(timezones=st.sampled_from([SAST_PLUS_2, timezone.utc])).map(datetime.isoformat)
    if name in ("event_id", "transfer_id"):
        return st.uuids().map(str) | ANY_TEXT
    if name in ("status", "priority"):
        return st.sampled_from(STATUSES + PRIORITIES) | ANY_TEXT
    return ANY_TEXT


# -- the harness ---------------------------------------------------------------------------------

def produce_tracked(settings_, topic_name: str, messages) -> list[tuple[int, int]]:
    """Send messages in order; return each one's (partition, offset) from its delivery report."""
    positions: list[tuple[int, int] | None] = [None] * len(messages)
    errors = []
    producer = Producer(producer_config(settings_))

    def report(i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append(err)
            else:
                positions[i] = (msg.partition(), msg.offset())
        return on_delivery

    for i, (key, value) in enumerate(messages):
        producer.produce(topic_name, key=key, value=value, on_delivery=report(i))
        producer.poll(0)
    assert producer.flush(30) == 0 and errors == []
    return positions


# What a round writes; emptied (as the owner: the pipeline role may not) before each round.
# Each round starts empty; the ADT outbox goes too, or the next round's events (same ids) would
# meet their own outbox rows of the round before.
ROUND_TABLES = "stream.transfer_event, stream.transfer, ops.quarantined_event, ops.consumer_offset, ops.adt_outbox"


class Harness:
    def __init__(self, settings_, conn, kafka_bootstrap: str) -> None:
        self.settings = dataclasses.replace(settings_, sim_start=WINDOW_START)
        self.conn, self.bootstrap = conn, kafka_bootstrap
        people, roster = planner_inputs(conn)
        planner = TransferPlanner(people, roster, self.settings.seed, WINDOW_START)
        self.pool = [e for n in range(100) for e in planner.tick(n)]

    def valid_events(self, data) -> list:
        """A run of consecutive planner events (in order, as the producer would send them)."""
        first = data.draw(st.integers(0, len(self.pool) - VALID_PER_ROUND), label="first valid event")
        return self.pool[first:first + VALID_PER_ROUND]

    def play(self, round_: Round) -> None:
        admin = connect(self.settings.database_admin_url)
        try:
            with admin.cursor() as cur:
                cur.execute(f"TRUNCATE {ROUND_TABLES}")
            admin.commit()
        finally:
            admin.close()
        with topic(self.bootstrap, 3, "test-prop") as events_topic, topic(self.bootstrap, 1, "test-prop-dlq") as dlq:
            positions = produce_tracked(self.settings, events_topic, round_.messages)
            options = ConsumerOptions(events_topic, dlq, f"g-prop-{uuid.uuid4().hex[:8]}", until_idle_s=1.0)
            stats = consume_transfers(self.settings, options)  # an exception here fails the property
        self.check(dict(zip(positions, (value for _, value in round_.messages))),
                   {positions[i] for i in round_.replays}, round_.valid_ids)
        assert stats.messages == len(round_.messages)
        assert stats.stored + stats.replayed + stats.quarantined == stats.messages

    def check(self, produced: dict[tuple[int, int], bytes | None], replays: set[tuple[int, int]],
              valid_ids: set[str]) -> None:
        stored = fetch(self.conn, "SELECT kafka_partition, kafka_offset, event_id::text FROM stream.transfer_event")
        quarantined = {(p, o): None if raw is None else bytes(raw) for p, o, raw in fetch(
            self.conn, "SELECT kafka_partition, kafka_offset, raw_payload FROM ops.quarantined_event")}
        stored_at = {(p, o) for p, o, _ in stored}
        assert len(stored_at) == len(stored)
        assert stored_at.isdisjoint(quarantined) and stored_at.isdisjoint(replays)
        assert set(quarantined).isdisjoint(replays)
        assert stored_at | set(quarantined) | replays == set(produced)
        assert all(quarantined[position] == produced[position] for position in quarantined)
        assert valid_ids <= {event_id for _, _, event_id in stored}
        assert fetch(self.conn, """
            SELECT t.transfer_id FROM stream.transfer t
            WHERE NOT EXISTS (SELECT FROM stream.transfer_event e WHERE e.event_id = t.last_event_id
                              AND e.transfer_id = t.transfer_id AND e.version = t.version)""") == []


@pytest.fixture()
def harness(isolated_settings, population, kafka_bootstrap):
    return Harness(isolated_settings, population, kafka_bootstrap)


@ROUNDS
@given(data=st.data())
def test_arbitrary_bytes_and_json_among_valid_events_are_quarantined_and_stop_nothing(harness, data):
    harness.play(build_round(data, harness.valid_events(data), arbitrary_messages))


@ROUNDS
@given(data=st.data())
def test_mutated_valid_events_are_stored_or_quarantined_and_never_take_effect_alone(harness, data):
    harness.play(build_round(data, harness.valid_events(data), mutated_event))
