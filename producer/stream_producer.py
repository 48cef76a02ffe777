"""Produce patient-transfer events to Kafka: exactly 3 per 3-minute tick of the simulated clock.

    python producer/stream_producer.py --speed 0 --days 9          # a 9-day backfill, flat out
    python producer/stream_producer.py --speed 1                   # real time (one tick per 3 min)

Resuming. The events are a pure function of (seed, window start, census at the window start,
tick), so the producer keeps only a small JSON state file: the census it started from and the
first tick not yet confirmed by the broker. After a restart it rebuilds the open transfers by
replaying the earlier ticks in memory (no Kafka, a fraction of a second for 9 days) and carries
on from that tick. A tick sent twice (killed after delivery, before the state was saved) has the
same event ids both times, so the consumer stores it once; no tick is skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path

from confluent_kafka import KafkaError, Producer

from core.atomic_write import write_atomically
from core.clock import STREAM_INTERVAL, WINDOW_DAYS, SimClock, tick_time, window_ticks
from core.kafka_config import producer_config
from core.logs import configure_logging
from core.reference import HOSPITAL_FACILITY_CODE
from core.settings import SAST, Settings, load
from core.shutdown import stop_on_signals
from database.connection import connect_with_retry
from generators.transfers import Population, TransferPlanner, load_population, load_roster

log = logging.getLogger(__name__)

STATE_SAVE_INTERVAL_S = 1.0
STATE_FORMAT = 1


@dataclass
class Delivery:
    """Tracks which ticks the broker has acknowledged in full; written to by the delivery callback."""

    first_tick: int
    pending: dict[int, int] = field(default_factory=dict)
    confirmed_through: int = -1  # every tick <= this one is acknowledged
    delivered: int = 0
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.confirmed_through = self.first_tick - 1

    def sent(self, tick: int) -> None:
        self.pending[tick] = self.pending.get(tick, 0) + 1

    def on_delivery(self, tick: int, err: KafkaError | None, msg) -> None:
        """The delivery report of one event; a failure here is final (retries are already spent)."""
        if err is not None:
            self.failed.append(f"tick {tick} key {msg.key()!r}: {err}")
            log.error("delivery failed for good: tick %d key %r: %s", tick, msg.key(), err)
            return
        self.delivered += 1
        self.pending[tick] -= 1
        while self.pending.get(self.confirmed_through + 1) == 0:
            del self.pending[self.confirmed_through + 1]
            self.confirmed_through += 1


def default_state_file(settings: Settings, topic: str) -> Path:
    return settings.data_dir / "stream" / f"producer-{topic}.json"


def read_state(path: Path, *, seed: int, start: datetime) -> dict | None:
    """The saved state, if it belongs to this seed and window start."""
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if (state.get("format") != STATE_FORMAT or state.get("seed") != seed
            or datetime.fromisoformat(state["start"]) != start):
        log.warning("ignoring %s: it belongs to another run (seed or window start differ)", path)
        return None
    return state


def confirmed_ticks(settings: Settings, topic: str) -> int:
    """How many ticks of this run's window (SEED, SIM_START) the broker has confirmed: the tick a
    restart resumes at, 0 when the state file is missing or belongs to another run."""
    try:
        state = json.loads(default_state_file(settings, topic).read_text(encoding="utf-8"))
        same_run = (state.get("format") == STATE_FORMAT and state.get("seed") == settings.seed
                    and datetime.fromisoformat(state["start"]) == settings.sim_start)
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    return int(state.get("next_tick", 0)) if same_run else 0


def write_state(path: Path, state: dict) -> None:
    """Replace the state file atomically (write a temporary file, then rename)."""
    write_atomically(path, json.dumps(state).encode("utf-8"))


@dataclass
class ProduceResult:
    first_tick: int
    next_tick: int  # first tick not confirmed (where a restart resumes)
    events_delivered: int
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


def produce_transfers(settings: Settings, *, topic: str, start: datetime, days: int = WINDOW_DAYS,
                      max_ticks: int | None = None, first_tick: int | None = None, state_file: Path | None = None,
                      home_facility: str | None = HOSPITAL_FACILITY_CODE, stop: threading.Event | None = None,
                      producer_overrides: dict | None = None) -> ProduceResult:
    """Run the ticks of the `days`-day window that starts at `start` from `first_tick` on, at most
    `max_ticks` of them (default: to the window's end), at the clock speed `settings.sim_speed`;
    returns what happened.

    `first_tick` None means: resume from the state file (0 if there is none). `stop` ends the run
    after the current tick; the producer then flushes what it has sent.
    """
    stop = stop or threading.Event()
    window = window_ticks(days, STREAM_INTERVAL)
    state_file = state_file or default_state_file(settings, topic)
    state = read_state(state_file, seed=settings.seed, start=start)
    conn = connect_with_retry(settings=settings)
    try:
        if state is None:
            population = load_population(conn, ages_at=start.date(), home_facility=home_facility)
            state = {"format": STATE_FORMAT, "seed": settings.seed, "start": start.isoformat(),
                     "topic": topic, "next_tick": 0, "population": population.snapshot()}
        else:
            population = Population.from_snapshot(state["population"])
        roster = load_roster(conn, start, tick_time(start, STREAM_INTERVAL, window + 1))
    finally:
        conn.close()
    first = state["next_tick"] if first_tick is None else first_tick
    ticks = window if max_ticks is None else min(window, first + max_ticks)
    planner = TransferPlanner(population, roster, settings.seed, start)
    for n in range(first):  # rebuild the open transfers (no Kafka)
        planner.tick(n)
    log.info("producing ticks %d..%d to %s (speed %s)", first, ticks - 1, topic, settings.sim_speed or "max")

    delivery = Delivery(first_tick=first)
    producer = Producer(producer_config(settings, **(producer_overrides or {})))
    clock = SimClock(sim_origin=tick_time(start, STREAM_INTERVAL, first), speed=settings.sim_speed).stop_on(stop)
    last_save = time.monotonic()

    def save() -> None:
        state["next_tick"] = delivery.confirmed_through + 1
        write_state(state_file, state)

    try:
        for n, _instant in clock.ticks(start, STREAM_INTERVAL, ticks, first=first):
            if stop.is_set() or delivery.failed:
                break
            on_delivery = partial(delivery.on_delivery, n)  # one callback object per tick, not per event
            for event in planner.tick(n):
                _produce(producer, topic, event.key, event.to_bytes(), on_delivery)
                delivery.sent(n)
            producer.poll(0)
            if time.monotonic() - last_save >= STATE_SAVE_INTERVAL_S:
                save()
                last_save = time.monotonic()
    finally:
        remaining = producer.flush(settings_flush_timeout(producer_overrides))
        if remaining:
            delivery.failed.append(f"{remaining} events still undelivered after flush")
        save()
        stop.set()  # lets the clock's stop thread finish
    log.info("delivered %d events; next tick %d%s", delivery.delivered, delivery.confirmed_through + 1,
             f"; {len(delivery.failed)} failures" if delivery.failed else "")
    return ProduceResult(first, delivery.confirmed_through + 1, delivery.delivered, delivery.failed)


def settings_flush_timeout(overrides: dict | None) -> float:
    """Long enough for librdkafka to finish its own retries (delivery.timeout.ms) and a margin."""
    timeout_ms = (overrides or {}).get("delivery.timeout.ms", 120_000)
    return timeout_ms / 1000 + 10


def _produce(producer: Producer, topic: str, key: bytes, value: bytes, callback) -> None:
    """produce(), waiting for room when the local queue is full."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, on_delivery=callback)
            return
        except BufferError:
            producer.poll(0.1)


def parse_start(text: str) -> datetime:
    """An ISO 8601 date or datetime; a naive one is taken as SAST."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=SAST)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Produce 3 patient-transfer events every 3 simulated minutes to Kafka.")
    parser.add_argument("--topic", help="Kafka topic (default: TRANSFERS_TOPIC)")
    parser.add_argument("--start", type=parse_start, help="simulated window start, ISO 8601 (default: SIM_START)")
    parser.add_argument("--days", type=int, default=WINDOW_DAYS,
                        help=f"days in the window, {window_ticks(1, STREAM_INTERVAL)} ticks of 3 simulated minutes "
                             f"a day (default {WINDOW_DAYS}: {window_ticks(WINDOW_DAYS, STREAM_INTERVAL)} ticks)")
    parser.add_argument("--ticks", type=int, default=None, help="stop after this many ticks (default: to the end)")
    parser.add_argument("--first-tick", type=int,
                        help="tick to start at (default: resume from the state file, or 0)")
    parser.add_argument("--speed", type=float,
                        help="simulated seconds per wall second; 1 = real time, 0 = as fast as possible "
                             "(default: SIM_SPEED)")
    parser.add_argument("--state-file", type=Path,
                        help="where the resume state lives (default: DATA_DIR/stream/producer-<topic>.json)")
    parser.add_argument("--home-facility", default=HOSPITAL_FACILITY_CODE,
                        help=f"this hospital's facility code, never a transfer partner (default: {HOSPITAL_FACILITY_CODE})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    configure_logging()
    settings = load()
    if args.speed is not None:
        settings = replace(settings, sim_speed=args.speed)
    stop = stop_on_signals()
    result = produce_transfers(
        settings, topic=args.topic or settings.transfers_topic, start=args.start or settings.sim_start,
        days=args.days, max_ticks=args.ticks, first_tick=args.first_tick, state_file=args.state_file,
        home_facility=args.home_facility, stop=stop)
    if not result.ok:
        for failure in result.failures[:10]:
            log.error("%s", failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
