"""`hospital run`: the whole window end to end on one simulated clock.

    hospital run --people 100000 --target-size 200MB --speed 3000    # what `make demo` runs
    hospital run                                                      # 5 M people, 9 days, ~5 GB

1. Generates what is missing (people, patients, staff, roster) and loads it (`hospital prepare`).
2. Starts the pipeline's parts as separate processes (two cores, one GIL each):
   the transfer consumer, the transfer producer, the batch writer, two batch_ingest workers, and
   the HL7 v2 ADT relay (ops.adt_outbox -> ADT_TOPIC).
3. Shows live progress; applies retirements that fall inside the window to the staff history.
4. When the producer and the writer have finished, drains what is left (a last ingest pass, the
   consumer until it has caught up, then a last relay pass that publishes every outbox row), stops
   the long-running parts and prints the status.

Ctrl-C or SIGTERM stops every part cleanly; a second `hospital run` resumes where it stopped (the
producer and writer keep their place, the consumer its offsets in PostgreSQL, the ledger its files).
For the same reason any one part can be killed and started again mid-run (`hospital chaos` does).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import shutil

from confluent_kafka.admin import AdminClient
from psycopg2 import sql
from tqdm import tqdm

from core.clock import STREAM_INTERVAL, WINDOW_DAYS, window_ticks
from core.settings import Settings, SettingsError, load
from core.shutdown import stop_on_signals
from database.connection import connect, transaction
from hospital import status as status_module
from hospital.local import TRANSFER_PARTITIONS
from hospital.local.kafka import ensure_topics
from hospital.prepare import prepare_population
from producer.adt_relay import ADT_PARTITIONS

log = logging.getLogger(__name__)
# Off a terminal: a line at most this often. The run polls every 2 s plus the time a status read
# takes (about 2 s at the demo's scale), so a line comes at least every 10 s.
PLAIN_PROGRESS_EVERY_S = 5.0
POLL_EVERY_S = 2.0

DRAIN_TIMEOUT_S = 300
# Two batch_ingest workers side by side, one for each core: the ledger's claims keep them from
# loading a file twice, and together they load about twice as fast as one.
INGEST_PARTS = ("ingest", "ingest-2")
PARTS = ("consumer", "producer", "writer") + INGEST_PARTS
# The ADT relay follows the outbox through the run; a last one-shot pass after the drain makes
# the topic final. Not among PARTS: it has no window of its own to resume.
RELAY_PART = "relay"
RUN_FOLDERS = ("landing", "archive", "quarantine", "state", "stream", "logs")
# Everything a run writes; reference data stays.
RUN_TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('core', 'stream', 'clinical', 'ops') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

# A staff member whose retirement date the run has reached: close the current history row and
# open a 'retired' one. Idempotent (the unique (staff_id, valid_from) and the valid_to guard).
RETIREMENTS_SQL = """
WITH due AS (
    SELECT s.staff_id, s.retirement_date::timestamp AT TIME ZONE 'Africa/Johannesburg' AS retired_at
    FROM core.staff s
    WHERE s.retirement_date IS NOT NULL
      AND s.retirement_date::timestamp AT TIME ZONE 'Africa/Johannesburg' <= %(reached)s
), closed AS (
    UPDATE core.staff_history h SET valid_to = d.retired_at
    FROM due d
    WHERE h.staff_id = d.staff_id AND h.valid_to IS NULL AND h.valid_from < d.retired_at
    RETURNING h.staff_id, d.retired_at, h.job_title, h.department_code, h.home_ward_code
)
INSERT INTO core.staff_history
    (staff_id, valid_from, valid_to, employment_status, job_title, department_code, home_ward_code, change_reason)
SELECT staff_id, retired_at, NULL, 'retired', job_title, department_code, home_ward_code, 'retired at 65 (PSA s16)'
FROM closed
ON CONFLICT (staff_id, valid_from) DO NOTHING
"""


@dataclass
class RunOptions:
    days: int = WINDOW_DAYS
    speed: float = 0.0
    target_size: str = "5GB"
    people: int = 5_000_000
    fresh: bool = False


@dataclass
class Parts:
    """The child processes of a run, by name."""

    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen([sys.executable, "-m", "hospital", *args], env=env,
                                                    stdout=out, stderr=subprocess.STDOUT)

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def kill(self, name: str) -> int | None:
        """SIGKILL one part (no chance to finish anything) and reap it; returns its pid, None if it was not running."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return None
        process.kill()
        process.wait()
        return process.pid

    def stop(self, name: str, timeout_s: float = 60) -> int | None:
        """SIGTERM one part and wait for it; returns its exit code."""
        process = self.processes.get(name)
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


# Called about every 2 s while the parts run, with the parts and the simulated instant the stream
# has reached (the window's end once the producer and writer are done). `hospital chaos` uses it.
PollHook = Callable[[Parts, datetime], None]


def part_args(name: str, settings: Settings, options: RunOptions) -> list[str]:
    """The `hospital` command line of one part, computed when it (re)starts.

    batch_ingest follows the writer's cadence from the writer's current tick (at speed 0 it runs
    one pass at a time instead); the others keep their own place in DATA_DIR or PostgreSQL."""
    days = ["--days", str(options.days)]
    if name == "consumer":
        return ["consume-transfers", "--instance-id", "run-consumer", *days]  # events outside the window: quarantined
    if name == "producer":
        return ["produce-transfers", *days]
    if name == "writer":
        return ["write-batches", "--target-size", options.target_size, *days]
    if name in INGEST_PARTS:
        if options.speed > 0:
            return ["ingest-batches", "--follow", "--first-tick", str(writer_next_tick(settings)), *days]
        return ["ingest-batches", *days]
    raise ValueError(f"no part named {name!r}; the parts are {', '.join(PARTS)}")


def child_environment(settings: Settings, speed: float) -> dict[str, str]:
    """The environment of every part: this run's settings, whatever the env files say."""
    return dict(os.environ, DATABASE_URL=settings.require("database_url"),
                KAFKA_BOOTSTRAP_SERVERS=settings.require("kafka_bootstrap_servers"),
                TRANSFERS_TOPIC=settings.transfers_topic, TRANSFERS_DLQ_TOPIC=settings.transfers_dlq_topic,
                CONSUMER_GROUP=settings.consumer_group, ADT_TOPIC=settings.adt_topic, SIM_SPEED=str(speed), DATA_DIR=str(settings.data_dir),
                SIM_START=settings.sim_start.isoformat(), SEED=str(settings.seed), PYTHONUNBUFFERED="1")


def run_key(settings: Settings, options: RunOptions) -> str:
    """What makes two runs the same run: a second run with the same key resumes the first."""
    return (f"seed={settings.seed} start={settings.sim_start.isoformat()} days={options.days} "
            f"people={options.people} target={options.target_size}")


def claim_run(settings: Settings, options: RunOptions) -> None:
    """Record this run in ops.run_state, or refuse if the warehouse holds a different one."""
    key = run_key(settings, options)
    conn = connect(settings.require("database_url"))
    try:
        with transaction(conn) as cur:
            cur.execute("SELECT run_id FROM ops.run_state WHERE run_id <> %s", (key,))
            other = cur.fetchone()
            if other:
                raise RuntimeError(f"the warehouse holds another run ({other[0]}); start this one with "
                                   "--fresh to empty it first (make demo RUN_ARGS=--fresh)")
            end = settings.sim_start + timedelta(days=options.days)
            cur.execute("""INSERT INTO ops.run_state (run_id, window_start, window_end, status)
                           VALUES (%s, %s, %s, 'running')
                           ON CONFLICT (run_id) DO UPDATE SET status = 'running', updated_at = now()""",
                        (key, settings.sim_start, end))
    finally:
        conn.close()


def finish_run(settings: Settings, options: RunOptions, status: str) -> None:
    conn = connect(settings.require("database_url"))
    try:
        with transaction(conn) as cur:
            cur.execute("UPDATE ops.run_state SET status = %s, updated_at = now() WHERE run_id = %s",
                        (status, run_key(settings, options)))
    finally:
        conn.close()


def reset(settings: Settings) -> None:
    """Empty what runs write: warehouse data (not reference data), the topics, the run folders.

    Emptying a warehouse, audit trail included, is an operator's action: this connects as the
    owner (DATABASE_ADMIN_URL), because the pipeline role may not truncate. Raises SettingsError,
    before anything is emptied, when that is not set. The pseudonym key (schema private) stays."""
    try:
        admin_url = settings.require("database_admin_url")
    except SettingsError as exc:
        raise SettingsError(f"--fresh empties the warehouse, an operator's action that connects as the owner: {exc}") from None
    conn = connect(admin_url)
    try:
        with transaction(conn) as cur:
            cur.execute(RUN_TABLES_SQL)
            tables = [sql.SQL(name) for (name,) in cur.fetchall()]
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables)))
    finally:
        conn.close()
    bootstrap = settings.require("kafka_bootstrap_servers")
    topics = {settings.transfers_topic: TRANSFER_PARTITIONS, settings.transfers_dlq_topic: 1,
              settings.adt_topic: ADT_PARTITIONS}
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    existing = admin.list_topics(timeout=10).topics
    doomed = [name for name in topics if name in existing]
    for future in (admin.delete_topics(doomed, operation_timeout=30).values() if doomed else []):
        future.result()
    deadline = time.monotonic() + 60
    while True:  # a deleted topic's name is free again only once the controller has finished with it
        try:
            ensure_topics(bootstrap, topics)
            break
        except Exception:  # noqa: BLE001 - "marked for deletion" until then
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    for name in RUN_FOLDERS:
        shutil.rmtree(settings.data_dir / name, ignore_errors=True)
    log.info("warehouse, topics and run folders emptied")


def apply_retirements(settings: Settings, reached) -> int:
    """Record every retirement up to simulated instant `reached`; returns how many were new."""
    conn = connect(settings.require("database_url"))
    try:
        with transaction(conn) as cur:
            cur.execute(RETIREMENTS_SQL, {"reached": reached})
            return cur.rowcount
    finally:
        conn.close()


def writer_next_tick(settings: Settings) -> int:
    try:
        return json.loads((settings.data_dir / "state" / "batch_writer.json").read_text())["next_tick"]
    except (OSError, ValueError, KeyError):
        return 0


def run(settings: Settings, options: RunOptions, stop: threading.Event, on_poll: PollHook | None = None) -> dict:
    """Run (or resume) the window; returns the final status object. `on_poll`: see PollHook."""
    env = child_environment(settings, options.speed)
    if options.fresh:
        reset(settings)
    claim_run(settings, options)
    prepare_population(settings, options.people, env)
    log_dir = settings.data_dir / "logs"
    parts = Parts()
    progress = Progress(window_ticks(options.days, STREAM_INTERVAL))
    try:
        for name in PARTS if options.speed > 0 else PARTS[:-len(INGEST_PARTS)]:
            parts.start(name, part_args(name, settings, options), env, log_dir)
        parts.start(RELAY_PART, ["relay-adt", "--follow"], env, log_dir)
        watch(settings, options, parts, stop, env, log_dir, progress, on_poll)
        if stop.is_set():
            finish_run(settings, options, "stopped")
            return status_module.collect(settings, days=options.days)
        for name in ("producer", "writer"):
            if parts.processes[name].returncode != 0:
                raise RuntimeError(f"the {name} failed (exit {parts.processes[name].returncode}); "
                                   f"see {log_dir / (name + '.log')}")
        refresh = lambda: show(settings, options, progress)  # noqa: E731
        drain(settings, options, parts, env, log_dir, refresh, on_poll)
        drain_relay(parts, env, log_dir, refresh)
    finally:
        progress.close()
        parts.stop_all()
    apply_retirements(settings, settings.sim_start + timedelta(days=options.days))
    finish_run(settings, options, "finished")
    return status_module.collect(settings, days=options.days)


def watch(settings: Settings, options: RunOptions, parts: Parts, stop: threading.Event,
          env: dict[str, str], log_dir: Path, progress: "Progress", on_poll: PollHook | None = None) -> None:
    """Show progress until the producer and the writer are done (or `stop` is set).

    At speed 0 there is no cadence to follow, so batch_ingest runs pass after pass instead.
    `on_poll` runs first in every round, so a part it restarts counts as running.
    """
    reached = settings.sim_start
    while not stop.is_set():
        if on_poll is not None:
            on_poll(parts, reached)
        if not (parts.alive("producer") or parts.alive("writer")):
            break
        for name in INGEST_PARTS if options.speed == 0 else ():
            if not parts.alive(name):
                parts.start(name, part_args(name, settings, options), env, log_dir)
        reached = show(settings, options, progress)
        apply_retirements(settings, reached)
        stop.wait(POLL_EVERY_S)
    apply_retirements(settings, show(settings, options, progress))


class Progress:
    """The run's progress: a live bar on a terminal; elsewhere (`make full > log`, CI) the same
    figures as one plain log line at most every `every_s` seconds, so a long run is never silent."""

    def __init__(self, total: int, every_s: float = PLAIN_PROGRESS_EVERY_S, clock=time.monotonic):
        self.total, self.every_s, self.clock = total, every_s, clock
        self.bar = tqdm(total=total, desc="simulated 3-min ticks", unit="tick", disable=None)
        self.plain = self.bar.disable
        self._last_line = float("-inf")
        self._ended = False

    def update(self, ticks: int, figures: str) -> None:
        if not self.plain:
            self.bar.n = ticks
            self.bar.set_postfix_str(figures, refresh=True)
        elif self.clock() - self._last_line >= self.every_s or (ticks >= self.total and not self._ended):
            # The last tick gets its line at once; the drain after it, one every every_s.
            self._last_line, self._ended = self.clock(), ticks >= self.total
            log.info("tick %d/%d | %s", ticks, self.total, figures)

    def close(self) -> None:
        self.bar.close()


def show(settings: Settings, options: RunOptions, progress: Progress):
    """Refresh the progress from the status; returns the simulated instant the stream has reached."""
    current = status_module.collect(settings, days=options.days, progress_only=True)
    ticks = current["window"]["stream_ticks"]
    reached = settings.sim_start + ticks * STREAM_INTERVAL
    t, b = current["transfers"], current["batch"]
    progress.update(ticks, f"{reached:%Y-%m-%d %H:%M} SAST | events {t['events_stored']:,} (lag {t['consumer_lag']}) | "
                           f"files {b['files_loaded']:,}/{b['files_written']:,} | "
                           f"rows {b['rows_loaded']:,} | {b['bytes_processed'] / 1e9:.2f} GB")
    return reached


def wait_showing(processes: list[subprocess.Popen], refresh: Callable[[], object],
                 every_s: float = POLL_EVERY_S) -> None:
    """Wait until every process has exited, refreshing the progress meanwhile: the loaders'
    last passes can take minutes, and a log must not fall silent for them."""
    while any(process.poll() is None for process in processes):
        refresh()
        try:
            next(p for p in processes if p.poll() is None).wait(timeout=every_s)
        except (subprocess.TimeoutExpired, StopIteration):
            pass


def drain(settings: Settings, options: RunOptions, parts: Parts, env: dict[str, str], log_dir: Path,
          refresh: Callable[[], object], on_poll: PollHook | None = None) -> None:
    """After the last tick: load what is left in the landing folder and let the consumer catch up,
    refreshing the progress all along."""
    wait_showing([parts.processes[name] for name in INGEST_PARTS if parts.alive(name)], refresh)
    # A last pass by both loaders side by side takes whatever landed after their last passes.
    for name in INGEST_PARTS:
        parts.start(name, ["ingest-batches", "--days", str(options.days)], env, log_dir)
    wait_showing([parts.processes[name] for name in INGEST_PARTS], refresh)
    for name in INGEST_PARTS:
        if parts.processes[name].returncode != 0:
            raise RuntimeError(f"the last ingest pass failed; see {log_dir / (name + '.log')}")
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    end = settings.sim_start + timedelta(days=options.days)
    while time.monotonic() < deadline:
        if on_poll is not None:
            on_poll(parts, end)
        t = status_module.collect(settings, days=options.days)["transfers"]
        if t["consumer_lag"] == 0:
            return
        if not parts.alive("consumer"):
            raise RuntimeError(f"the consumer stopped early; see {log_dir / 'consumer.log'}")
        time.sleep(0.5)
    raise RuntimeError(f"the consumer did not catch up within {DRAIN_TIMEOUT_S} s")


def drain_relay(parts: Parts, env: dict[str, str], log_dir: Path, refresh: Callable[[], object]) -> None:
    """Once nothing more is stored: stop the following relay and run one pass that publishes
    every outbox row left, so the ADT topic's count is final."""
    parts.stop(RELAY_PART)
    parts.start(RELAY_PART, ["relay-adt", "--drain-timeout", str(DRAIN_TIMEOUT_S)], env, log_dir)
    wait_showing([parts.processes[RELAY_PART]], refresh)
    if parts.processes[RELAY_PART].returncode != 0:
        raise RuntimeError(f"the last ADT relay pass failed; see {log_dir / (RELAY_PART + '.log')}")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the window (default {WINDOW_DAYS})")
    parser.add_argument("--speed", type=float, default=None,
                        help="simulated seconds per wall second; 0 = as fast as possible (default: SIM_SPEED)")
    parser.add_argument("--target-size", default="5GB", help="total size of the window's record files (default 5GB)")
    parser.add_argument("--people", type=int, default=5_000_000, help="people to generate (default 5,000,000)")
    parser.add_argument("--fresh", action="store_true",
                        help="empty the warehouse (not reference data), the topics and the run folders first; "
                             "an operator's action, so it connects as DATABASE_ADMIN_URL")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.days < 1 or args.people < 1000 or (args.speed is not None and args.speed < 0):
        print(f"{prog or 'run'}: --days must be >= 1, --people >= 1000, --speed >= 0", file=sys.stderr)
        return 2
    try:
        settings = load()
        settings.require("database_url")
        settings.require("kafka_bootstrap_servers")
    except SettingsError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    options = RunOptions(days=args.days, speed=settings.sim_speed if args.speed is None else args.speed,
                         target_size=args.target_size, people=args.people, fresh=args.fresh)
    stop = stop_on_signals()
    started = time.monotonic()
    try:
        final = run(settings, options, stop)
    except RuntimeError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    print(status_module.render(final))
    print(f"{'stopped; run again to resume' if stop.is_set() else 'finished'} "
          f"after {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
