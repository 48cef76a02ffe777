"""Transfer events through the real broker into the real database: effectively once."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest

from consumer.stream_consumer import ConsumerOptions, TransferConsumer, consume_transfers
from core.transfer_event import NEXT_STATUSES
from generators.transfers import TransferPlanner
from producer.stream_producer import produce_transfers
from tests.integration.stream_fixtures import (WINDOW_START, fetch, planner_inputs, population,  # noqa: F401
                                              produce_raw, read_topic, start_consumer, stored_versions, topic,
                                              topics, wait_for)

pytestmark = pytest.mark.integration


def generate(conn, settings, ticks: int):
    population_, roster = planner_inputs(conn)
    planner = TransferPlanner(population_, roster, settings.seed, WINDOW_START)
    return [event for n in range(ticks) for event in planner.tick(n)]


def consume_until_idle(settings, topic_name, dlq, group=None, idle_s=1.5):
    options = ConsumerOptions(topic=topic_name, dlq_topic=dlq, group=group or f"g-{uuid.uuid4().hex[:8]}",
                              until_idle_s=idle_s)
    return consume_transfers(settings, options)


def test_duplicates_and_reorderings_leave_the_highest_version(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 60)
    rng = random.Random(4)
    by_transfer = defaultdict(list)
    for event in events:
        by_transfer[event.transfer_id].append(event)
    messages = []
    for versions in by_transfer.values():
        shuffled = versions + rng.sample(versions, k=rng.randint(0, len(versions)))  # duplicates
        rng.shuffle(shuffled)  # reordered within the transfer's partition
        messages += [(e.key, e.to_bytes()) for e in shuffled]
    produce_raw(isolated_settings, events_topic, messages)

    stats = consume_until_idle(isolated_settings, events_topic, dlq)

    assert stats.messages == len(messages) and stats.quarantined == 0
    stored = stored_versions(population)
    assert len(stored) == len(set(stored))
    assert set(stored) == {(e.transfer_id, e.version) for e in events}
    highest = {tid: max(vs, key=lambda e: e.version) for tid, vs in by_transfer.items()}
    state = fetch(population, "SELECT transfer_id::text, version, status, last_event_id::text FROM stream.transfer")
    assert {row[0]: row[1:] for row in state} == {
        tid: (e.version, e.status, e.event_id) for tid, e in highest.items()}


def test_patient_ward_follows_the_latest_completed_transfer(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 200)
    census = dict(fetch(population, "SELECT patient_id, current_ward_code FROM core.patient"))
    expected = dict(census)
    for e in sorted((e for e in events if e.status == "completed"), key=lambda e: e.event_time):
        expected[e.patient_id] = e.to_place.ward_code
    # The newest completions first, then everything again: order must not matter.
    late_first = sorted(events, key=lambda e: e.event_time, reverse=True)
    produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in late_first + events])

    consume_until_idle(isolated_settings, events_topic, dlq)

    assert dict(fetch(population, "SELECT patient_id, current_ward_code FROM core.patient")) == expected


def _malformed_corpus(valid):
    """(payload, expected reason category) pairs, each built from a valid event with fresh ids."""
    def variant(change):
        doc = valid.to_dict()
        doc["event_id"], doc["transfer_id"] = str(uuid.uuid4()), str(uuid.uuid4())
        change(doc)
        return json.dumps(doc).encode()

    bad_id = valid.sa_id_number[:-1] + str((int(valid.sa_id_number[-1]) + 1) % 10)
    return [
        (b"this is not json", "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        (b"", "not_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (variant(lambda d: d.pop("event_time")), "missing_field"),
        (variant(lambda d: d["patient"].pop("patient_id")), "missing_field"),
        (variant(lambda d: d.update(version="2")), "wrong_type"),
        (variant(lambda d: d.update(version=True)), "wrong_type"),
        (variant(lambda d: d["authorising_doctor"].update(staff_id="7")), "wrong_type"),
        (variant(lambda d: d.update(event_id="not-a-uuid")), "invalid_value"),
        (variant(lambda d: d.update(status="teleported")), "invalid_value"),
        (variant(lambda d: d.update(event_time="2026-03-02T00:00:00")), "invalid_value"),
        (variant(lambda d: d.update(event_time="2026-03-02T00:00:00+00:00")), "invalid_value"),
        (variant(lambda d: d.update({"from": {"ward_code": "MED-A", "facility_code": "HJH"}})), "invalid_value"),
        (variant(lambda d: d["patient"].update(sa_id_number=bad_id)), "invalid_sa_id"),
        (variant(lambda d: d["patient"].update(sa_id_number="80010150090")), "invalid_sa_id"),
        (variant(lambda d: d["patient"].update(patient_id=987654)), "unknown_patient"),
        (variant(lambda d: d["patient"].update(hospital_number="JHB9999999")), "unknown_patient"),
        (variant(lambda d: d.update(to={"ward_code": "NO-SUCH-WARD"})), "unknown_ward"),
        (variant(lambda d: d.update(to={"facility_code": "NOWHERE"})), "unknown_facility"),
        (variant(lambda d: d["authorising_doctor"].update(staff_id=1)), "unknown_doctor"),
    ]


def test_malformed_events_are_quarantined_and_the_good_ones_around_them_stored(
        isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 30)
    template = next(e for e in events if e.sa_id_number and e.from_place.ward_code and e.version == 1)
    corpus = _malformed_corpus(template)
    messages = []
    for i, event in enumerate(events):
        messages.append((event.key, event.to_bytes()))
        if i < len(corpus):
            messages.append((event.key, corpus[i][0]))  # same partition, between good events
    produce_raw(isolated_settings, events_topic, messages)

    stats = consume_until_idle(isolated_settings, events_topic, dlq)

    assert stats.quarantined == len(corpus)
    quarantined = fetch(population, "SELECT split_part(reason, ':', 1), raw_payload FROM ops.quarantined_event")
    assert sorted((bytes(raw or b""), category) for category, raw in quarantined) == sorted(corpus)
    stored = stored_versions(population)
    assert sorted(stored) == sorted({(e.transfer_id, e.version) for e in events})
    dead_letters = read_topic(isolated_settings, dlq, 1)
    assert sorted((m.value() or b"", dict(m.headers())["reason"].decode().split(":")[0])
                  for m in dead_letters) == sorted(corpus)


def test_a_late_older_version_is_a_no_op_not_a_quarantine(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 40)
    produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events])
    consume_until_idle(isolated_settings, events_topic, dlq, group="g-late")
    before = fetch(population, "SELECT transfer_id, version, status, updated_at FROM stream.transfer ORDER BY 1")
    old = [e for e in events if e.version == 1]
    produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in old])

    stats = consume_until_idle(isolated_settings, events_topic, dlq, group="g-late")

    assert stats.messages == len(old) and stats.quarantined == 0
    assert fetch(population, "SELECT transfer_id, version, status, updated_at FROM stream.transfer ORDER BY 1") == before
    assert fetch(population, "SELECT count(*) FROM ops.quarantined_event") == [(0,)]


def test_another_event_for_a_version_already_taken_is_quarantined_not_dropped(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 30)
    group = f"g-{uuid.uuid4().hex[:8]}"

    def impostor(event):  # the same transfer and version, another event id and content
        return json.dumps(dict(event.to_dict(), event_id=str(uuid.uuid4()), reason="entered twice")).encode()

    same_batch = impostor(events[0])           # arrives with the event it conflicts with
    later = impostor(events[5])                # arrives once that event is stored
    produce_raw(isolated_settings, events_topic,
                [(e.key, e.to_bytes()) for e in events] + [(events[0].key, same_batch), (events[0].key, events[0].to_bytes())])
    first = consume_until_idle(isolated_settings, events_topic, dlq, group=group)
    produce_raw(isolated_settings, events_topic, [(events[5].key, later)])
    second = consume_until_idle(isolated_settings, events_topic, dlq, group=group)

    assert (first.quarantined, second.quarantined) == (1, 1)
    quarantined = fetch(population, "SELECT split_part(reason, ':', 1), raw_payload FROM ops.quarantined_event")
    assert sorted((category, bytes(raw)) for category, raw in quarantined) == sorted(
        [("conflicting_version", same_batch), ("conflicting_version", later)])
    stored = fetch(population, "SELECT event_id::text FROM stream.transfer_event")
    assert sorted(r[0] for r in stored) == sorted(e.event_id for e in events)  # the replay of events[0] added nothing


def test_kill_minus_9_rounds_lose_nothing_and_duplicate_nothing(isolated_settings, population, topics):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 300)
    group, instance = f"g-{uuid.uuid4().hex[:8]}", "kill-test"
    rng = random.Random(9)
    chunks = [events[i::10] for i in range(10)]
    for round_no, chunk in enumerate(chunks):
        chunk = sorted(chunk, key=lambda e: (e.event_time, e.version))
        produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in chunk])
        if round_no % 2 == 0:
            # Killed right after a database commit, before the Kafka commit.
            process = start_consumer(isolated_settings, events_topic, dlq, group, "--instance-id", instance,
                                     "--batch-size", "7",
                                     fault=["--exit-after-commits", str(rng.randint(1, 6))])
        else:
            process = start_consumer(isolated_settings, events_topic, dlq, group, "--instance-id", instance,
                                     "--batch-size", "7")
            time.sleep(rng.uniform(0.3, 2.5))  # a random point: starting, mid-batch, or idle
            process.send_signal(signal.SIGKILL)
        output = process.communicate(timeout=60)[0].decode()
        assert process.returncode == -signal.SIGKILL, output

    final = start_consumer(isolated_settings, events_topic, dlq, group, "--instance-id", instance,
                           "--until-idle", "2")
    output = final.communicate(timeout=120)[0].decode()
    assert final.returncode == 0, output

    stored = stored_versions(population)
    assert len(stored) == len(set(stored))
    assert set(stored) == {(e.transfer_id, e.version) for e in events}
    messages = read_topic(isolated_settings, events_topic, 3)
    ends = Counter(m.partition() for m in messages)
    assert dict(fetch(population, "SELECT kafka_partition, next_offset FROM ops.consumer_offset WHERE consumer_group = %s",
                      (group,))) == dict(ends)


def test_two_consumers_share_a_six_partition_topic_without_double_effects(
        isolated_settings, population, kafka_bootstrap):
    with topic(kafka_bootstrap, 6) as events_topic, topic(kafka_bootstrap, 1, "test-dlq") as dlq:
        group = f"g-{uuid.uuid4().hex[:8]}"
        stops = [threading.Event(), threading.Event()]
        consumers = [TransferConsumer(isolated_settings, ConsumerOptions(events_topic, dlq, group, batch_size=50), s)
                     for s in stops]
        threads = [threading.Thread(target=c.run) for c in consumers]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: all(c.stats.assigned for c in consumers)
                     and consumers[0].stats.assigned.isdisjoint(consumers[1].stats.assigned)
                     and len(consumers[0].stats.assigned | consumers[1].stats.assigned) == 6,
                     what="both consumers to hold partitions")
            events = generate(population, isolated_settings, 200)
            produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events])
            wait_for(lambda: len(stored_versions(population)) >= len(events), what="all events stored")
        finally:
            for s in stops:
                s.set()
            for t in threads:
                t.join(60)
        assert all(c.stats.stored > 0 for c in consumers)
        assert sum(c.stats.stored for c in consumers) == len(events)
        stored = stored_versions(population)
        assert len(stored) == len(set(stored)) == len(events)
        assert set(stored) == {(e.transfer_id, e.version) for e in events}


def test_produced_events_are_plausible_and_three_per_tick(isolated_settings, population, topics, tmp_path):
    events_topic, dlq = topics
    census = dict(fetch(population, "SELECT patient_id, current_ward_code FROM core.patient"))
    result = produce_transfers(dataclasses.replace(isolated_settings, sim_speed=0), topic=events_topic,
                               start=WINDOW_START, days=1, state_file=tmp_path / "state.json")
    assert result.ok and result.events_delivered == 3 * 480 and result.next_tick == 480

    consume_until_idle(isolated_settings, events_topic, dlq)

    rows = fetch(population, """
        SELECT transfer_id::text, version, status, patient_id, from_ward_code, to_ward_code, event_time,
               floor(extract(epoch FROM event_time - %s) / 180)::int AS tick
        FROM stream.transfer_event ORDER BY event_time, version""", (WINDOW_START,))
    assert len(rows) == 3 * 480
    assert Counter(r[7] for r in rows) == {n: 3 for n in range(480)}
    # Every authorising doctor was rostered, at the event time, in the ward that sends or receives.
    assert fetch(population, """
        SELECT count(*) FROM stream.transfer_event e
        WHERE NOT EXISTS (
            SELECT FROM core.staff_assignment sa JOIN core.doctor d ON d.staff_id = sa.staff_id
            WHERE sa.staff_id = e.authorising_staff_id
              AND sa.ward_code = coalesce(e.from_ward_code, e.to_ward_code)
              AND e.event_time >= sa.shift_start AND e.event_time < sa.shift_end)""") == [(0,)]
    # Versions are 1..n with allowed steps; the patient is in the from-ward when a transfer starts.
    where = dict(census)
    last_status = {}
    for transfer_id, version, status, patient_id, from_ward, to_ward, _, _ in rows:
        if version == 1:
            assert status == "requested" and transfer_id not in last_status
            assert where[patient_id] == from_ward  # None for an inbound patient, not admitted
        else:
            assert status in NEXT_STATUSES[last_status[transfer_id][1]] and version == last_status[transfer_id][0] + 1
        last_status[transfer_id] = (version, status)
        if status == "completed":
            where[patient_id] = to_ward


def test_producer_resumes_from_its_state_without_gaps_or_repeats(isolated_settings, population, topics, tmp_path):
    events_topic, _ = topics
    state_file = tmp_path / "state.json"
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    first = produce_transfers(dataclasses.replace(isolated_settings, sim_speed=7200), topic=events_topic,
                              start=WINDOW_START, days=1, max_ticks=200, state_file=state_file, stop=stop)
    timer.cancel()
    assert first.ok and 0 < first.next_tick < 200
    second = produce_transfers(dataclasses.replace(isolated_settings, sim_speed=0), topic=events_topic,
                               start=WINDOW_START, days=1, max_ticks=200 - first.next_tick, state_file=state_file)
    assert second.ok and second.first_tick == first.next_tick and second.next_tick == 200

    on_topic = [json.loads(m.value())["event_id"] for m in read_topic(isolated_settings, events_topic, 3)]
    expected = {e.event_id for e in generate(population, isolated_settings, 200)}
    assert len(on_topic) == len(set(on_topic)) and set(on_topic) == expected


def test_sigterm_stops_both_scripts_cleanly(isolated_settings, population, topics, tmp_path):
    import subprocess
    import sys

    from tests.integration.stream_fixtures import REPO_ROOT, child_env
    events_topic, dlq = topics
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = start_consumer(isolated_settings, events_topic, dlq, group)
    producer = subprocess.Popen(
        [sys.executable, "producer/stream_producer.py", "--topic", events_topic, "--speed", "3600",
         "--start", WINDOW_START.isoformat(), "--ticks", "1000", "--state-file", str(tmp_path / "state.json")],
        cwd=REPO_ROOT, env=child_env(isolated_settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: len(stored_versions(population)) >= 30, what="events flowing")
    producer.send_signal(signal.SIGTERM)
    assert producer.wait(60) == 0, producer.stdout.read().decode()
    next_tick = json.loads((tmp_path / "state.json").read_text())["next_tick"]
    wait_for(lambda: len(stored_versions(population)) == 3 * next_tick, what="the consumer to catch up")
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(60) == 0, consumer.stdout.read().decode()
    assert len(read_topic(isolated_settings, events_topic, 3)) == 3 * next_tick
    offsets = fetch(population, "SELECT sum(next_offset) FROM ops.consumer_offset WHERE consumer_group = %s", (group,))
    assert offsets == [(3 * next_tick,)]
