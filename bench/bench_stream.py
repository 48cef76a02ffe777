"""Stream benchmark: transfer events from produce to committed rows, against a naive baseline.

    python bench/bench_stream.py            # needs `make up`; uses its own scratch databases and topics

1. Backfill: the real producer at speed 0 sends --events events while the real consumer (a child
   process) writes them; events/s = events / (first produce -> last row committed).
2. Baseline, same run: a consumer doing one autocommitted INSERT per event (and one upsert of
   the transfer state), the usual version of this pipeline.
3. Live cadence: 3 events per tick, ticks every --tick-ms; latency = time the row is visible
   to another connection (committed) - time produce() was called.

Last line: BENCH stream events_per_s=... baseline_events_per_s=... p99_ms=... ratio=...
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import math
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import psycopg2
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from core.clock import STREAM_INTERVAL, window_ticks
from core.kafka_config import consumer_config, producer_config
from core.logs import configure_logging
from core.settings import Settings, load
from core.transfer_event import parse
from database.connection import connect
from database.schema import scratch_database, with_database
from generators.transfer_population import build_population
from generators.transfers import TransferPlanner, load_population, load_roster
from producer.stream_producer import produce_transfers

log = logging.getLogger("bench.stream")
READY_LINE = "READY"
WARM_UP_TICKS = 2


@contextmanager
def scratch(settings: Settings, days: int):
    """A scratch database with the small population; yields settings pointing at it."""
    with scratch_database(settings.require("database_admin_url"), prefix="hospital_bench") as name:
        local = dataclasses.replace(settings, database_url=with_database(settings.database_url, name))
        conn = connect(local.database_url)
        build_population(conn, start=settings.sim_start, days=days)
        conn.close()
        yield local


@contextmanager
def scratch_topic(settings: Settings, partitions: int):
    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": settings.require("kafka_bootstrap_servers")})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(30)


def count_rows(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM stream.transfer_event")
        n = cur.fetchone()[0]
    conn.rollback()
    return n


@contextmanager
def child(settings: Settings, args: list[str]):
    """A consumer in its own process (its own core and GIL); returns once it holds partitions."""
    env = {"DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "PYTHONUNBUFFERED": "1"}
    import os
    process = subprocess.Popen([sys.executable, *args], env=dict(os.environ, **env),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:
            if READY_LINE in line or "assigned partitions" in line:
                break
        else:
            raise RuntimeError("consumer exited before it was assigned partitions")
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        yield process
    finally:
        process.terminate()
        process.wait(60)


def wait_rows(conn, target: int, timeout_s: float = 600) -> float:
    """Poll until `target` rows are committed; returns the time.perf_counter() when seen."""
    deadline = time.monotonic() + timeout_s
    while count_rows(conn) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count_rows(conn)} of {target} rows after {timeout_s} s")
        # 20 ms resolution on a multi-second run; polling harder would steal a core from the pipeline.
        time.sleep(0.02)
    return time.perf_counter()


def backfill(settings: Settings, events: int, consumer_command) -> float:
    """events/s from the first produce to the last committed row.

    `consumer_command(topic, dlq_topic)` gives the arguments of the consumer's child process.
    """
    ticks = events // 3
    with scratch_topic(settings, 6) as topic_name, scratch_topic(settings, 1) as dlq:
        conn = connect(settings.database_url)
        with child(settings, consumer_command(topic_name, dlq)):
            started = time.perf_counter()
            result = produce_transfers(dataclasses.replace(settings, sim_speed=0), topic=topic_name,
                                       start=settings.sim_start, days=-(-ticks // window_ticks(1, STREAM_INTERVAL)),
                                       max_ticks=ticks, first_tick=0, state_file=_tmp_state())
            if not result.ok:
                raise RuntimeError(f"producer failed: {result.failures[:3]}")
            done = wait_rows(conn, 3 * ticks)
        conn.close()
    return 3 * ticks / (done - started)


def real_consumer(topic: str, dlq: str, days: int = 2) -> list[str]:
    # The consumer quarantines events outside its window (SIM_START + days): give it the bench's days.
    return ["-m", "consumer.stream_consumer", "--topic", topic, "--dlq-topic", dlq,
            "--group", f"bench-{uuid.uuid4().hex[:8]}", "--days", str(days)]


def naive_consumer(topic: str, _dlq: str) -> list[str]:
    return [__file__, "--baseline-consumer", topic, f"bench-base-{uuid.uuid4().hex[:8]}"]


def _tmp_state():
    import tempfile
    from pathlib import Path
    return Path(tempfile.mkdtemp(prefix="bench-stream-")) / "state.json"


def live_latency(settings: Settings, ticks: int, tick_s: float) -> list[float]:
    """Produce 3 events per tick on a fixed cadence; return produce -> committed-row latencies in ms."""
    conn = connect(settings.database_url)
    planner = TransferPlanner(load_population(conn, ages_at=settings.sim_start.date()), load_roster(conn, settings.sim_start,
                                                                 settings.sim_start + timedelta(days=2)),
                              settings.seed, settings.sim_start)
    produced: dict[str, float] = {}
    seen: dict[str, float] = {}
    with scratch_topic(settings, 6) as topic_name, scratch_topic(settings, 1) as dlq:
        with child(settings, real_consumer(topic_name, dlq, days=2)):
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(settings, seen, stop))
            watcher.start()
            producer = Producer(producer_config(settings))
            # A live pipeline runs for days: measure it warm. Right after assignment the consumer is
            # still looking up its start offsets, so the first WARM_UP_TICKS are sent and stored
            # before the clock starts, and not counted.
            warm = [e for n in range(WARM_UP_TICKS) for e in planner.tick(n)]
            for event in warm:
                producer.produce(topic_name, key=event.key, value=event.to_bytes())
            producer.flush(30)
            wait_rows(conn, len(warm), timeout_s=60)
            origin = time.monotonic()
            for n in range(WARM_UP_TICKS, WARM_UP_TICKS + ticks):
                time.sleep(max(0.0, origin + (n - WARM_UP_TICKS) * tick_s - time.monotonic()))  # absolute deadlines
                for event in planner.tick(n):
                    produced[event.event_id] = time.time()
                    producer.produce(topic_name, key=event.key, value=event.to_bytes())
                producer.poll(0)
            producer.flush(30)
            deadline = time.monotonic() + 30
            while len(seen) < len(produced) and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            watcher.join()
    conn.close()
    return [(seen[e] - t) * 1000 for e, t in produced.items() if e in seen] + \
        [math.inf] * (len(produced) - len(seen))


def _watch(settings: Settings, seen: dict[str, float], stop: threading.Event) -> None:
    """Record when each event's row becomes visible to another connection (i.e. is committed)."""
    conn = connect(settings.database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        while not stop.is_set():
            cur.execute("SELECT event_id::text FROM stream.transfer_event WHERE received_at > now() - interval '5 s'")
            now = time.time()
            for (event_id,) in cur.fetchall():
                seen.setdefault(event_id, now)
            time.sleep(0.002)
    conn.close()


def baseline_consumer(settings: Settings, topic_name: str, group: str) -> int:
    """The naive consumer: one autocommitted INSERT (and upsert) per message, auto-committed offsets."""
    conn = psycopg2.connect(settings.database_url)
    conn.autocommit = True
    consumer = Consumer(consumer_config(settings, group_id=group, **{"enable.auto.commit": True,
                                                                     "enable.auto.offset.store": True}))
    consumer.subscribe([topic_name], on_assign=lambda c, ps: print(READY_LINE, flush=True))
    try:
        with conn.cursor() as cur:
            while True:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                e = parse(msg.value())
                row = (e.transfer_id, e.version, e.status, e.patient_id, e.from_place.ward_code,
                       e.from_place.facility_code, e.to_place.ward_code, e.to_place.facility_code, e.reason,
                       e.priority, e.authorising_staff_id, e.event_time)
                cur.execute("""INSERT INTO stream.transfer_event (event_id, transfer_id, version, status, patient_id,
                    from_ward_code, from_facility_code, to_ward_code, to_facility_code, reason, priority,
                    authorising_staff_id, event_time, kafka_partition, kafka_offset)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                            (e.event_id, *row, msg.partition(), msg.offset()))
                cur.execute("""INSERT INTO stream.transfer (last_event_id, transfer_id, version, status, patient_id,
                    from_ward_code, from_facility_code, to_ward_code, to_facility_code, reason, priority,
                    authorising_staff_id, event_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (transfer_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status""",
                            (e.event_id, *row))
    finally:
        consumer.close()
        conn.close()


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Benchmark the transfer stream against a naive consumer.")
    parser.add_argument("--events", type=int, default=30_000, help="backfill events (default: %(default)s)")
    parser.add_argument("--baseline-events", type=int, default=6_000, help="baseline events (default: %(default)s)")
    parser.add_argument("--live-ticks", type=int, default=150, help="ticks at the live cadence (default: %(default)s)")
    parser.add_argument("--tick-ms", type=float, default=200,
                        help="wall milliseconds per 3-minute tick in the latency run (default: %(default)s)")
    parser.add_argument("--baseline-consumer", nargs=2, metavar=("TOPIC", "GROUP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_logging(logging.WARNING)
    settings = load()
    if args.baseline_consumer:
        return baseline_consumer(settings, *args.baseline_consumer)

    days = args.events // 3 * 3 // 1440 + 2
    with ExitStack() as stack:
        fast_db = stack.enter_context(scratch(settings, days))
        rate = backfill(fast_db, args.events, functools.partial(real_consumer, days=days))
        print(f"backfill: {rate:,.0f} events/s ({args.events} events)", file=sys.stderr)
        base_db = stack.enter_context(scratch(settings, days))
        base_rate = backfill(base_db, args.baseline_events, naive_consumer)
        print(f"baseline: {base_rate:,.0f} events/s ({args.baseline_events} events)", file=sys.stderr)
        live_db = stack.enter_context(scratch(settings, 2))
        latencies = sorted(live_latency(live_db, args.live_ticks, args.tick_ms / 1000))
    p99 = latencies[min(len(latencies) - 1, math.ceil(0.99 * len(latencies)) - 1)]
    print(f"live: {len(latencies)} events, p50 {latencies[len(latencies) // 2]:.1f} ms, p99 {p99:.1f} ms, "
          f"max {latencies[-1]:.1f} ms", file=sys.stderr)
    print(f"BENCH stream events_per_s={rate:.0f} baseline_events_per_s={base_rate:.0f} p99_ms={p99:.1f} "
          f"ratio={rate / base_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
