"""Helpers for the stream tests: a small population in the isolated database, topics of our
own, raw produce, the consumer as a real child process, and read-backs for independent checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.kafka_config import producer_config
from database.connection import connect
from generators.transfer_population import build_population
from generators.transfers import load_population, load_roster
from tests import faults

REPO_ROOT = Path(__file__).resolve().parents[2]
WINDOW_START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
WINDOW_DAYS = 3


@contextmanager
def topic(bootstrap: str, partitions: int = 3, prefix: str = "test-stream") -> Iterator[str]:
    """A uniquely named topic, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(30)


@pytest.fixture()
def population(isolated_settings):
    """The isolated database with a small hospital (6 wards, 120 patients, 24 doctors, a roster)."""
    conn = connect(isolated_settings.database_url)
    try:
        build_population(conn, start=WINDOW_START, days=WINDOW_DAYS)
        yield conn
    finally:
        try:
            conn.close()
        except psycopg2.Error:
            pass  # a restart test may have cut it


@pytest.fixture()
def topics(kafka_bootstrap):
    """(transfer topic with 3 partitions, dead-letter topic)."""
    with topic(kafka_bootstrap, 3) as events, topic(kafka_bootstrap, 1, "test-dlq") as dlq:
        yield events, dlq


def planner_inputs(conn):
    return load_population(conn, ages_at=WINDOW_START.date()), load_roster(conn, WINDOW_START, WINDOW_START + timedelta(days=WINDOW_DAYS))


def produce_raw(settings, topic_name: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send (key, value) pairs in order; fail unless every one is acknowledged."""
    errors = []
    producer = Producer(producer_config(settings))
    for key, value in messages:
        producer.produce(topic_name, key=key, value=value, on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []


def read_topic(settings, topic_name: str, partitions: int, timeout_s: float = 30) -> list:
    """Every message now on the topic (all partitions, from the beginning to the end offsets)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        ends = {}
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic_name, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic_name, p, 0) for p in ends])
        messages, deadline = [], time.monotonic() + timeout_s
        done = {p: False for p in ends}
        while not all(done.values()) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error():
                    continue
                messages.append(msg)
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done[msg.partition()] = True
        assert all(done.values()), "timed out reading the topic"
        return messages
    finally:
        consumer.close()


def child_env(settings) -> dict[str, str]:
    """Environment for a child process that points at the test's own database and broker."""
    return dict(os.environ, DATABASE_URL=settings.database_url, KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
                PYTHONUNBUFFERED="1")


def start_consumer(settings, topic_name: str, dlq: str, group: str, *extra: str,
                   fault: list[str] | None = None) -> subprocess.Popen:
    """The consumer script as a real process (so kill -9 is real); `fault` (tests/faults.py, for
    example ["--exit-after-commits", "3"]) patches a seam of it."""
    args = ["--topic", topic_name, "--dlq-topic", dlq, "--group", group, *extra]
    argv = faults.command("consumer", fault, args) if fault else [sys.executable, "consumer/stream_consumer.py", *args]
    return subprocess.Popen(argv, cwd=REPO_ROOT, env=child_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def stored_versions(conn) -> list[tuple[str, int]]:
    """(transfer_id, version) of every stored event, duplicates included (a list, not a set)."""
    with conn.cursor() as cur:
        cur.execute("SELECT transfer_id::text, version FROM stream.transfer_event")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def fetch(conn, query: str, params=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def wait_for(predicate, timeout_s: float = 60, what: str = "condition") -> None:
    """Poll until predicate() is true; fail with `what` after timeout_s (a safety net, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
