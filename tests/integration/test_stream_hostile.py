"""One hostile message, or a log that moved, must never stop or fool the transfer consumer.

Each test pins one finding of the consumer review against the real broker and database:
a message that made the consumer exit, an effect applied without its event, stored offsets
that disagree with the log, a dead-letter copy nobody checked, an event outside the run's window.
The checks read PostgreSQL and the topics back, independently of the consumer's own counters.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                   ResourceType)

from consumer.stream_consumer import ConsumerOptions, TransferConsumer, consume_transfers
from core.kafka_config import producer_config
from generators.transfers import TransferPlanner
from hospital import status as status_module
from tests.integration.stream_fixtures import (WINDOW_DAYS, WINDOW_START, fetch, planner_inputs,  # noqa: F401
                                              population, produce_raw, read_topic, start_consumer, topic, topics,
                                              wait_for)

pytestmark = pytest.mark.integration

CONSUMER_LOG = "consumer.stream_consumer"


def generate(conn, settings, ticks: int):
    people, roster = planner_inputs(conn)
    planner = TransferPlanner(people, roster, settings.seed, WINDOW_START)
    return [event for n in range(ticks) for event in planner.tick(n)]


def consume(settings, events_topic: str, dlq: str, group: str | None = None, **options):
    return consume_transfers(settings, ConsumerOptions(topic=events_topic, dlq_topic=dlq,
                                                       group=group or f"g-{uuid.uuid4().hex[:8]}",
                                                       until_idle_s=1.5, **options))


def fresh_copy(event, **changes) -> dict:
    """The event as a JSON document with new event and transfer ids (so it collides with nothing)."""
    doc = event.to_dict()
    doc.update(event_id=str(uuid.uuid4()), transfer_id=str(uuid.uuid4()))
    doc.update(changes)
    return doc


def stored_event_ids(conn) -> set[str]:
    return {r[0] for r in fetch(conn, "SELECT event_id::text FROM stream.transfer_event")}


def quarantine(conn) -> list[tuple[str, bytes]]:
    """(reason category, raw bytes) of every quarantined message."""
    return sorted((category, bytes(raw)) for category, raw in
                  fetch(conn, "SELECT split_part(reason, ':', 1), raw_payload FROM ops.quarantined_event"))


def effects_without_their_event(conn) -> list[tuple]:
    """stream.transfer rows whose last_event_id is not a stored event of that very transfer."""
    return fetch(conn, """
        SELECT t.transfer_id, t.last_event_id FROM stream.transfer t
        WHERE NOT EXISTS (SELECT FROM stream.transfer_event e
                          WHERE e.event_id = t.last_event_id AND e.transfer_id = t.transfer_id
                            AND e.version = t.version)""")


# -- 1. one message stops the stream -------------------------------------------------------------

def test_a_version_beyond_bigint_is_quarantined_and_the_stream_goes_on(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 20)
    too_big = json.dumps(fresh_copy(events[0], version=2**63, status="accepted")).encode()
    int4_overflow = json.dumps(fresh_copy(events[0], version=2**31, status="accepted")).encode()
    half = len(events) // 2
    bad = [(events[0].key, too_big), (events[0].key, int4_overflow)]
    produce_raw(isolated_settings, events_topic,
                [(e.key, e.to_bytes()) for e in events[:half]] + bad + [(e.key, e.to_bytes()) for e in events[half:]])

    stats = consume(isolated_settings, events_topic, dlq)  # returns: the consumer did not exit on them

    assert stats.messages == len(events) + 2
    assert stored_event_ids(population) == {e.event_id for e in events}
    # parse refuses what bigint cannot hold; the int4 column refuses 2^31, isolated by the database step
    assert quarantine(population) == sorted([("invalid_value", too_big), ("rejected_by_database", int4_overflow)])


def test_a_value_over_a_megabyte_is_quarantined_whole_and_dead_lettered_cut_to_size(
        isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 10)
    huge = os.urandom(1_000_100)  # not JSON, above the producer's default message.max.bytes of 1,000,000
    sender = Producer(producer_config(isolated_settings, **{"message.max.bytes": 2_000_000}))
    errors = []
    for key, value in [(e.key, e.to_bytes()) for e in events[:5]] + [(b"huge", huge)] + \
                      [(e.key, e.to_bytes()) for e in events[5:]]:
        sender.produce(events_topic, key=key, value=value, on_delivery=lambda err, _msg: err and errors.append(err))
    assert sender.flush(30) == 0 and errors == []

    stats = consume(isolated_settings, events_topic, dlq)

    assert stats.messages == len(events) + 1
    assert stored_event_ids(population) == {e.event_id for e in events}
    assert quarantine(population) == [("not_json", huge)]  # the full bytes, in the database
    [copy] = read_topic(isolated_settings, dlq, 1)
    headers = dict(copy.headers())
    assert copy.value() == huge[:256 * 1024]
    assert (headers["truncated"], headers["original_length"]) == (b"true", b"1000100")
    assert headers["reason"].startswith(b"not_json")


# -- 2. an effect without its event --------------------------------------------------------------

def test_an_event_reusing_another_events_id_is_quarantined_and_has_no_effect(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 60)
    group = f"g-{uuid.uuid4().hex[:8]}"
    original = events[0]
    census = dict(fetch(population, "SELECT patient_id, current_ward_code FROM core.patient"))
    wards = [r[0] for r in fetch(population, "SELECT ward_code FROM reference.ward ORDER BY 1")]
    # A new transfer under an event_id already taken, in the same batch as the event that holds it ...
    same_batch = json.dumps(fresh_copy(events[1], event_id=original.event_id)).encode()
    # ... and, once that is stored, the latest completion of all, to another ward: it would move
    # the patient if it took effect.
    done = next(e for e in events if e.status == "completed" and e.to_place.ward_code)
    elsewhere = next(w for w in wards if w not in (done.from_place.ward_code, done.to_place.ward_code))
    later = json.dumps(fresh_copy(done, event_id=original.event_id, to={"ward_code": elsewhere},
                                  event_time=(events[-1].event_time + timedelta(minutes=1)).isoformat())).encode()
    # The same event again with other bytes (keys reordered, spaces): a replay, not a conflict.
    replay = json.dumps(dict(reversed(list(original.to_dict().items()))), indent=1).encode()
    produce_raw(isolated_settings, events_topic,
                [(e.key, e.to_bytes()) for e in events] + [(original.key, same_batch), (original.key, replay)])
    first = consume(isolated_settings, events_topic, dlq, group)
    before = fetch(population, "SELECT * FROM stream.transfer ORDER BY transfer_id")
    produce_raw(isolated_settings, events_topic, [(original.key, later), (original.key, replay)])
    second = consume(isolated_settings, events_topic, dlq, group)

    assert quarantine(population) == sorted([("conflicting_event_id", same_batch), ("conflicting_event_id", later)])
    assert stored_event_ids(population) == {e.event_id for e in events}
    assert effects_without_their_event(population) == []
    assert fetch(population, "SELECT * FROM stream.transfer ORDER BY transfer_id") == before
    expected = dict(census)
    for e in sorted((e for e in events if e.status == "completed"), key=lambda e: e.event_time):
        expected[e.patient_id] = e.to_place.ward_code
    assert dict(fetch(population, "SELECT patient_id, current_ward_code FROM core.patient")) == expected
    assert (first.quarantined, second.quarantined) == (1, 1)
    assert (first.replayed, second.replayed) == (1, 1)


# -- 3. stored offsets that disagree with the log --------------------------------------------------

def incidents(conn, group: str) -> list[tuple]:
    return fetch(conn, """SELECT kafka_partition, stored_offset, log_start, log_end, kind, action
                          FROM ops.offset_incident WHERE consumer_group = %s ORDER BY kafka_partition""", (group,))


def offsets(conn, group: str) -> dict[int, int]:
    return dict(fetch(conn, "SELECT kafka_partition, next_offset FROM ops.consumer_offset WHERE consumer_group = %s",
                      (group,)))


def test_a_stored_offset_beyond_the_log_end_is_reported_and_reading_resumes_from_the_log_start(
        isolated_settings, population, topics, caplog, tmp_path):
    events_topic, dlq = topics
    group = f"g-{uuid.uuid4().hex[:8]}"
    # The warehouse remembers a topic of the same name that had 1,000 messages per partition;
    # the topic was recreated and now holds only these.
    with population.cursor() as cur:
        cur.executemany("INSERT INTO ops.consumer_offset (consumer_group, topic, kafka_partition, next_offset) "
                        "VALUES (%s, %s, %s, 1000)", [(group, events_topic, p) for p in range(3)])
    population.commit()
    events = generate(population, isolated_settings, 30)
    produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events])
    ends = Counter(m.partition() for m in read_topic(isolated_settings, events_topic, 3))
    caplog.set_level(logging.WARNING, logger=CONSUMER_LOG)

    stats = consume(isolated_settings, events_topic, dlq, group)

    assert incidents(population, group) == [(p, 1000, 0, ends[p], "ahead_of_log_end", "resumed_from_log_start")
                                            for p in range(3)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "beyond the log's end" in r.getMessage()]
    assert sorted(r.args[0] for r in warnings) == [0, 1, 2]  # one per partition, naming it
    assert all("stored offset 1000" in r.getMessage() for r in warnings)
    assert stored_event_ids(population) == {e.event_id for e in events}  # nothing of the new log skipped
    assert offsets(population, group) == dict(ends)  # and the stored offsets follow the new log
    local = dataclasses.replace(isolated_settings, transfers_topic=events_topic, consumer_group=group,
                                data_dir=tmp_path)
    assert status_module.collect(local, days=WINDOW_DAYS)["transfers"]["offset_incidents"] == 3
    assert stats.offset_incidents == 3


def test_a_stored_offset_before_the_log_start_is_reported_as_messages_deleted_unread(
        isolated_settings, population, kafka_bootstrap, caplog):
    with topic(kafka_bootstrap, 1) as events_topic, topic(kafka_bootstrap, 1, "test-dlq") as dlq:
        group = f"g-{uuid.uuid4().hex[:8]}"
        events = generate(population, isolated_settings, 40)
        read, unread = events[:30], events[30:]
        produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in read])
        consume(isolated_settings, events_topic, dlq, group)
        assert offsets(population, group) == {0: len(read)}
        # More arrive while the consumer is away, and retention deletes the first 25 of them unread.
        produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in unread])
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.delete_records([TopicPartition(events_topic, 0, len(read) + 25)]).values():
            future.result(30)
        caplog.set_level(logging.WARNING, logger=CONSUMER_LOG)

        stats = consume(isolated_settings, events_topic, dlq, group)

    assert incidents(population, group) == [(0, len(read), len(read) + 25, len(events), "behind_log_start",
                                             "resumed_from_log_start")]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "25 messages were deleted unread" in error.getMessage() and "partition 0" in error.getMessage()
    assert stored_event_ids(population) == {e.event_id for e in read + unread[25:]}
    assert offsets(population, group) == {0: len(events)}
    assert stats.offset_incidents == 1


# -- 4. dead-letter copies have a delivery report -------------------------------------------------

def test_a_refused_dead_letter_copy_holds_the_batch_back_until_the_copy_is_delivered(
        isolated_settings, population, kafka_bootstrap, caplog):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    dlq = f"test-dlq-small-{uuid.uuid4().hex[:8]}"
    # A dead-letter topic that refuses anything over 1 kB: the copy of the bad message bounces.
    admin.create_topics([NewTopic(dlq, 1, 1, config={"max.message.bytes": "1024"})])[dlq].result(30)
    try:
        with topic(kafka_bootstrap, 3) as events_topic:
            events = generate(population, isolated_settings, 10)
            bad = os.urandom(5000)  # random bytes: no compression brings the copy under 1 kB
            produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events] + [(b"bad", bad)])
            caplog.set_level(logging.WARNING, logger=CONSUMER_LOG)
            stop = threading.Event()
            options = ConsumerOptions(events_topic, dlq, f"g-{uuid.uuid4().hex[:8]}")
            consumer = TransferConsumer(isolated_settings, options, stop)
            thread = threading.Thread(target=consumer.run)
            thread.start()
            try:
                wait_for(lambda: sum("dead-letter" in r.getMessage() for r in caplog.records) >= 2,
                         what="the consumer to retry the refused dead-letter copy")
                # Retried before the commit: nothing of any batch holding the bad message is durable.
                assert fetch(population, "SELECT count(*) FROM ops.quarantined_event") == [(0,)]
                held_back = fetch(population, "SELECT count(*) FROM stream.transfer_event")[0][0]
                assert held_back < len(events)
                entry = ConfigEntry("max.message.bytes", "1048588", incremental_operation=AlterConfigOpType.SET)
                resource = ConfigResource(ResourceType.TOPIC, dlq, incremental_configs=[entry])
                for future in admin.incremental_alter_configs([resource]).values():
                    future.result(30)
                wait_for(lambda: fetch(population, "SELECT count(*) FROM ops.quarantined_event") == [(1,)],
                         what="the batch to commit once the copy is delivered")
                wait_for(lambda: len(stored_event_ids(population)) == len(events), what="every event stored")
            finally:
                stop.set()
                thread.join(60)
            assert not thread.is_alive()
            copies = read_topic(isolated_settings, dlq, 1)
    finally:
        admin.delete_topics([dlq])[dlq].result(30)
    assert quarantine(population) == [("not_json", bad)]
    assert {c.value() for c in copies} == {bad}  # at least once on the topic, whole (under the cut size)
    assert dict(copies[-1].headers())["truncated"] == b"false"


# -- 5. events outside the run's window -------------------------------------------------------------

def outside_and_inside(template, start, days: int) -> tuple[list[bytes], bytes]:
    """Copies of `template` dated outside the window start .. start + days, and one just inside."""
    end = start + timedelta(days=days)
    outside = [json.dumps(fresh_copy(template, event_time=t.isoformat())).encode() for t in (
        datetime.fromisoformat("2099-03-02T10:00:00+02:00"),
        start - timedelta(minutes=1),
        end)]  # the window is half-open: its end is outside
    inside = json.dumps(fresh_copy(template, event_time=(end - timedelta(seconds=1)).isoformat())).encode()
    return outside, inside


def test_an_event_dated_2099_or_before_the_window_is_quarantined(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 20)
    settings = dataclasses.replace(isolated_settings, sim_start=WINDOW_START)
    outside, inside = outside_and_inside(next(e for e in events if e.version == 1), WINDOW_START, 9)
    produce_raw(settings, events_topic,
                [(e.key, e.to_bytes()) for e in events] + [(b"t", v) for v in outside + [inside]])

    consume(settings, events_topic, dlq)  # the default window: 9 days from SIM_START

    assert quarantine(population) == sorted(("outside_window", v) for v in outside)
    assert stored_event_ids(population) == {e.event_id for e in events} | {json.loads(inside)["event_id"]}
    reasons = [r[0] for r in fetch(population, "SELECT reason FROM ops.quarantined_event")]
    assert all("outside the run's window 2026-03-02T00:00:00+02:00 .. 2026-03-11T00:00:00+02:00" in r
               for r in reasons)


def test_the_consumer_script_takes_the_run_days_as_its_window(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 20)
    outside, inside = outside_and_inside(next(e for e in events if e.version == 1), WINDOW_START, WINDOW_DAYS)
    produce_raw(isolated_settings, events_topic,
                [(e.key, e.to_bytes()) for e in events] + [(b"t", v) for v in outside + [inside]])

    process = start_consumer(dataclasses.replace(isolated_settings, sim_start=WINDOW_START), events_topic, dlq,
                             f"g-{uuid.uuid4().hex[:8]}", "--days", str(WINDOW_DAYS), "--until-idle", "1.5")
    output = process.communicate(timeout=120)[0].decode()

    assert process.returncode == 0, output
    assert quarantine(population) == sorted(("outside_window", v) for v in outside)
    assert stored_event_ids(population) == {e.event_id for e in events} | {json.loads(inside)["event_id"]}


# -- what is retried: real failures, classified ----------------------------------------------------

def raised(conn, statement: str) -> Exception:
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    except Exception as exc:  # noqa: BLE001 - the error is what the test looks at
        return exc
    finally:
        if not conn.closed:
            conn.rollback()
    raise AssertionError(f"{statement} did not fail")


def test_only_infrastructure_failures_count_as_retryable(isolated_settings):
    from consumer.dead_letter import DeadLetterUndelivered
    from consumer.stream_consumer import is_infrastructure
    from database.connection import connect

    conn = connect(isolated_settings.database_url)
    try:
        for statement in ("SELECT 1 / 0", "SELECT 2147483648::integer", "SELECT * FROM no_such_table",
                          "SELECT E'\\\\x00'::bytea::text::uuid"):
            assert not is_infrastructure(raised(conn, statement), conn), statement
        cancelled = raised(conn, "SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
        assert cancelled.pgcode == "57014" and is_infrastructure(cancelled, conn)
        lost = raised(conn, "SELECT pg_terminate_backend(pg_backend_pid())")
        assert conn.closed and is_infrastructure(lost, conn)
    finally:
        conn.close()
    assert is_infrastructure(DeadLetterUndelivered("refused"), None)
    assert not is_infrastructure(ValueError("A string literal cannot contain NUL (0x00) characters."), None)
