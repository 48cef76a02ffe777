"""The stream survives a restart of PostgreSQL and of the broker.

These stop the shared local services for a few seconds each: run this module last.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid

import pytest

from consumer.stream_consumer import ConsumerOptions, TransferConsumer
from database.connection import connect
from generators.transfers import TransferPlanner
from producer.stream_producer import produce_transfers
from tests.integration.stream_fixtures import (WINDOW_START, planner_inputs, population,  # noqa: F401
                                              produce_raw, read_topic, stored_versions, topics, wait_for)

pytestmark = pytest.mark.integration


def generate(conn, settings, ticks):
    population_, roster = planner_inputs(conn)
    planner = TransferPlanner(population_, roster, settings.seed, WINDOW_START)
    return [e for n in range(ticks) for e in planner.tick(n)]


def test_consumer_retries_through_a_postgres_restart_and_catches_up(isolated_settings, population, topics, services):
    events_topic, dlq = topics
    events = generate(population, isolated_settings, 200)
    half = len(events) // 2
    stop = threading.Event()
    consumer = TransferConsumer(isolated_settings, ConsumerOptions(events_topic, dlq, f"g-{uuid.uuid4().hex[:8]}",
                                                                   batch_size=20), stop)
    thread = threading.Thread(target=consumer.run)
    thread.start()
    try:
        produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events[:half]])
        wait_for(lambda: len(stored_versions(population)) == half, what="the first half stored")
        services.postgres.stop()
        produce_raw(isolated_settings, events_topic, [(e.key, e.to_bytes()) for e in events[half:]])
        services.postgres.start()
        conn = connect(isolated_settings.database_url)
        wait_for(lambda: len(stored_versions(conn)) == len(events), timeout_s=120, what="the consumer to catch up")
    finally:
        stop.set()
        thread.join(60)
    stored = stored_versions(conn)
    conn.close()
    assert len(stored) == len(set(stored))
    assert set(stored) == {(e.transfer_id, e.version) for e in events}


def test_producer_loses_nothing_through_a_broker_restart(isolated_settings, population, topics, services, tmp_path):
    events_topic, _ = topics
    ticks = 300
    results = []
    # 3 simulated minutes per 25 ms of wall time: the run spans the broker restart.
    thread = threading.Thread(target=lambda: results.append(produce_transfers(
        dataclasses.replace(isolated_settings, sim_speed=7200), topic=events_topic, start=WINDOW_START, days=1,
        max_ticks=ticks, state_file=tmp_path / "state.json")))
    thread.start()
    wait_for(lambda: (tmp_path / "state.json").exists()
             and json.loads((tmp_path / "state.json").read_text())["next_tick"] > 20, what="the producer to start")
    services.kafka.stop()
    services.kafka.start()
    thread.join(300)
    assert results and results[0].ok and results[0].next_tick == ticks

    on_topic = [json.loads(m.value())["event_id"] for m in read_topic(isolated_settings, events_topic, 3)]
    expected = {e.event_id for e in generate(population, isolated_settings, ticks)}
    assert len(on_topic) == len(set(on_topic))  # the idempotent producer wrote no duplicates
    assert set(on_topic) == expected
