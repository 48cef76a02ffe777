"""`hospital follow-window`: what `hospital run` does around the window's parts, for docker compose.

    hospital follow-window --days 9 --people 5000000 --target-size 5GB   # the compose file's `window`

Under docker compose the parts of the window (the transfer consumer and producer, the batch
writer, the two batch_ingest loaders) are services of their own, and nothing else would do what
`hospital run` does around them. This command does, on the same warehouse and DATA_DIR volume:

1. records the run in ops.run_state, under the key `hospital run` gives the same options, so a
   warehouse holding another run is refused the same way on both paths;
2. while the stream advances, applies the retirements whose dates it has reached;
3. once the producer and the writer have finished the window (their state files in DATA_DIR say
   so), runs the last ingest pass, waits until nothing is left in the landing folder and the
   consumer has caught up, applies the retirements up to the window's end, marks the run
   finished and prints the status.

Stopped (`docker compose down`) and started again, it carries on from where the parts are.
Exit status 0 once the window is complete or when stopped by a signal, 1 when the drain times out.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from datetime import datetime, timedelta

import psycopg2
from confluent_kafka import KafkaException

from core.clock import BATCH_INTERVAL, STREAM_INTERVAL, WINDOW_DAYS, window_ticks
from core.settings import Settings, SettingsError, load
from core.shutdown import stop_on_signals
from core.sizes import parse_size
from database import batch_ingest
from hospital import status as status_module
from hospital.run import DRAIN_TIMEOUT_S, RunOptions, apply_retirements, claim_run, finish_run
from producer.batch_writer import writer_state
from producer.stream_producer import confirmed_ticks

log = logging.getLogger(__name__)

POLL_S = 2.0
PROGRESS_EVERY_S = 10.0
# PostgreSQL or Kafka out of reach (a restart, a name that does not resolve for a while): the
# round is tried again, as the other parts do, until the outage has lasted this long.
OUTAGE_LIMIT_S = 600.0
INFRASTRUCTURE_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, KafkaException)


class Outage:
    """How long the database or the broker has been out of reach; raises once it is too long."""

    def __init__(self, limit_s: float = OUTAGE_LIMIT_S):
        self.limit_s, self.since = limit_s, None

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if now - self.since > self.limit_s:
            raise RuntimeError(f"PostgreSQL or Kafka out of reach for {self.limit_s:.0f} s: {exc}") from exc
        log.warning("out of reach, trying again: %s", " ".join(str(exc).split())[:200])

    def over(self) -> None:
        self.since = None


def retried(action, stop: threading.Event, outage: Outage | None = None):
    """`action()` until it gets through an outage (or `stop` is set: then None)."""
    outage = outage or Outage()
    while not stop.is_set():
        try:
            result = action()
        except INFRASTRUCTURE_ERRORS as exc:
            outage.failed(exc)
            stop.wait(POLL_S)
            continue
        outage.over()
        return result
    return None


def parts_done(settings: Settings, options: RunOptions) -> bool:
    """True once the producer has every tick of the window confirmed and the writer has written them all."""
    stream_ticks = window_ticks(options.days, STREAM_INTERVAL)
    batch_ticks = window_ticks(options.days, BATCH_INTERVAL)
    written = writer_state(settings, days=options.days, target_bytes=parse_size(options.target_size)).next_tick()
    return confirmed_ticks(settings, settings.transfers_topic) >= stream_ticks and written >= batch_ticks


def reached(settings: Settings, current: dict) -> datetime:
    """The simulated instant the stored stream has reached, as `hospital run` counts it."""
    return settings.sim_start + current["window"]["stream_ticks"] * STREAM_INTERVAL


def progress_line(current: dict) -> str:
    w, t, b = current["window"], current["transfers"], current["batch"]
    return (f"stream {w['stream_ticks']}/{w['stream_ticks_expected']} ticks, events {t['events_stored']} "
            f"(lag {t['consumer_lag']}); batch files {b['files_loaded']}/{b['files_written']}; "
            f"retirements {current['staff']['retirements']}")


def follow(settings: Settings, options: RunOptions, stop: threading.Event) -> None:
    """Apply retirements as the stream advances until the producer and writer are done (or `stop`)."""
    last_progress = 0.0
    outage = Outage()

    def one_round() -> tuple[bool, dict]:
        done = parts_done(settings, options)  # before the count, so the count includes their last tick
        current = status_module.collect(settings, days=options.days)
        apply_retirements(settings, reached(settings, current))
        return done, current

    while not stop.is_set():
        outcome = retried(one_round, stop, outage)
        if outcome is None:
            return
        done, current = outcome
        if done:
            return
        if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
            log.info("%s", progress_line(current))
            last_progress = time.monotonic()
        stop.wait(POLL_S)


def drain(settings: Settings, options: RunOptions, stop: threading.Event, timeout_s: float) -> dict:
    """Last ingest passes until the landing folder is empty, then wait until the consumer has caught
    up and the ADT relay has published every outbox row.

    The loaders' own passes may still hold a file when a pass here runs (the ledger keeps them from
    loading it twice), so a pass is repeated until nothing waits. Returns the status at the end."""
    deadline = time.monotonic() + timeout_s
    outage = Outage()
    while not stop.is_set():
        current = retried(lambda: status_module.collect(settings, days=options.days), stop, outage)
        if current is None:
            break
        if current["batch"]["files_waiting"]:
            retried(lambda: batch_ingest.run(settings, days=options.days, stop=stop), stop, outage)
        elif current["transfers"]["consumer_lag"] == 0 and current["adt"]["messages_pending"] == 0:
            return current  # the ADT relay (a service of its own) has published every outbox row
        if time.monotonic() > deadline:
            raise RuntimeError(f"the window did not drain within {timeout_s:.0f} s: {progress_line(current)}")
        stop.wait(1.0)
    return status_module.collect(settings, days=options.days)


def follow_window(settings: Settings, options: RunOptions, stop: threading.Event,
                  drain_timeout_s: float = DRAIN_TIMEOUT_S) -> dict:
    """Follow (or resume following) the window to its end; returns the final status object."""
    retried(lambda: claim_run(settings, options), stop)
    log.info("following the window: %s + %d days", settings.sim_start.isoformat(), options.days)
    follow(settings, options, stop)
    if not stop.is_set():
        log.info("producer and writer are done: last ingest pass and drain")
        drain(settings, options, stop, drain_timeout_s)
    if stop.is_set():  # stopped by a signal: record it if the database answers at once, and go
        try:
            finish_run(settings, options, "stopped")
            return status_module.collect(settings, days=options.days)
        except INFRASTRUCTURE_ERRORS:
            return {}
    retried(lambda: apply_retirements(settings, settings.sim_start + timedelta(days=options.days)), stop)
    retried(lambda: finish_run(settings, options, "finished"), stop)
    return retried(lambda: status_module.collect(settings, days=options.days), stop) or {}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the window (default {WINDOW_DAYS})")
    parser.add_argument("--people", type=int, default=5_000_000,
                        help="people the population job generated (part of the run's key; default 5,000,000)")
    parser.add_argument("--target-size", default="5GB",
                        help="the batch writer's --target-size (part of the run's key; default 5GB)")
    parser.add_argument("--drain-timeout", type=float, default=DRAIN_TIMEOUT_S,
                        help=f"seconds to wait for the last files and the consumer (default {DRAIN_TIMEOUT_S})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    try:
        parse_size(args.target_size)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    options = RunOptions(days=args.days, target_size=args.target_size, people=args.people)
    stop = stop_on_signals()
    started = time.monotonic()
    try:
        settings = load()
        final = follow_window(settings, options, stop, args.drain_timeout)
    except (RuntimeError, SettingsError) as exc:
        print(f"{prog or 'follow-window'}: {exc}", file=sys.stderr)
        return 1
    if final:
        print(status_module.render(final))
    print(f"{'stopped; start it again to resume' if stop.is_set() else 'finished'} "
          f"after {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
