"""`hospital chaos`: the 9-day run under fire, then a verdict on whether anything was lost.

    hospital chaos                                   # what `make chaos` runs: 20,000 people, 150 MB
    hospital chaos --seed 7 --days 3 --speed 7200    # a smaller, repeatable one

The run is `hospital run` itself (hospital/run.py), in a database, topics and data folder of its
own (default: database hospital_chaos, topics chaos-patient-transfers[.dlq], data/chaos), all
emptied first. At seeded random simulated instants inside the window it

  - kills the consumer, batch_ingest, the producer and the batch writer with SIGKILL and starts
    each again (they resume: consumer offsets live in PostgreSQL, the ledger knows the files, the
    producer and writer keep their place in the data folder),
  - restarts PostgreSQL with `pg_ctl restart -m immediate` (every connection cut, WAL replayed),
  - kills the Kafka broker with SIGKILL and starts it again,

and right after each, sends its share of a corpus of bad inputs (hospital/chaos_corpus.py):
malformed transfer events onto the topic, bad files into the landing folder. A part that dies
on its own meanwhile (a service outage it did not ride out) is started again and counted.

At the end (hospital/chaos_verdict.py) every message on the topic must be stored or quarantined,
every landed file loaded once, quarantined or set aside as bytes loaded before, every loaded file
must reconcile row for row, nothing may be stored twice, and every bad input must have met its
expected fate. The last line printed is the verdict:

    CHAOS PASS events produced=... stored=... quarantined=... lost=0 files landed=... ... kills=4 ...

and the exit status is 1 when it says CHAOS FAIL. Only the local services of `make up` can be
restarted, so PostgreSQL and Kafka must be the ones this checkout started; both are running again
when the command ends, whatever happened.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from core.atomic_write import write_atomically
from core.batch_files import BatchFolders
from core.clock import WINDOW_DAYS
from core.kafka_config import producer_config
from core.settings import SAST, Settings, SettingsError, load
from core.shutdown import stop_on_signals
from database.connection import connect_with_retry
from database.schema import recreate_database, with_database
from hospital import run as run_module
from hospital.chaos_corpus import (CASE_HEADER, RESENT_CASES, BadEvent, BadFile, archived_sample, bad_events,
                                   bad_files, load_refs)
from hospital.chaos_verdict import Verdict, judge
from hospital.local import LocalServices, ServiceError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
FAULTS = ("kill consumer", "kill ingest", "kill producer", "kill writer", "restart postgresql", "restart kafka")
# Faults fall between these fractions of the window: late enough that every part has started
# and files have been loaded, early enough that the run is still going when the last one comes.
FIRST_FAULT, LAST_FAULT = 0.1, 0.6
SAMPLE_WAIT_S = 120
DELIVERY_TIMEOUT_S = 150
# Where `hospital chaos` runs, apart from everything else (emptied at every start).
DATABASE, TOPIC, GROUP, DATA_DIR = "hospital_chaos", "chaos-patient-transfers", "chaos-transfer-upserter", "data/chaos"


@dataclass(frozen=True)
class Fault:
    at: datetime   # simulated instant
    action: str    # one of FAULTS


def plan(seed: int, start: datetime, days: int) -> list[Fault]:
    """Every fault once, in a random order at random minutes of the window (the same for the same seed)."""
    rng = random.Random(seed)
    span_min = timedelta(days=days) // timedelta(minutes=1)
    instants = sorted(start + timedelta(minutes=int(span_min * rng.uniform(FIRST_FAULT, LAST_FAULT)))
                      for _ in FAULTS)
    return [Fault(at, action) for at, action in zip(instants, rng.sample(FAULTS, len(FAULTS)))]


@dataclass
class Chaos:
    """The run's poll hook (hospital.run.PollHook): fires the faults that are due and sends each
    one's share of the bad inputs, and starts again any part that has died on its own."""

    settings: Settings
    options: run_module.RunOptions
    services: LocalServices
    faults: list[Fault]
    fired: int = 0
    kills: int = 0
    service_restarts: int = 0
    crashes: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    events: list[BadEvent] = field(default_factory=list)   # sent so far
    files: list[BadFile] = field(default_factory=list)     # dropped so far
    corpus: tuple[list[BadEvent], list[BadFile]] | None = None

    def __post_init__(self) -> None:
        self.env = run_module.child_environment(self.settings, self.options.speed)
        self.log_dir = self.settings.data_dir / "logs"

    def __call__(self, parts: run_module.Parts, reached: datetime) -> None:
        self.revive(parts)
        while self.fired < len(self.faults) and self.faults[self.fired].at <= reached:
            fault = self.faults[self.fired]
            log.warning("chaos at %s SAST: %s", fault.at.astimezone(SAST).strftime("%Y-%m-%d %H:%M"), fault.action)
            self.fire(fault.action, parts)
            self.send(self.fired)
            self.fired += 1
            self.revive(parts)

    def fire(self, action: str, parts: run_module.Parts) -> None:
        verb, target = action.split(" ", 1)
        started = time.monotonic()
        if verb == "kill":
            pid = parts.kill(target)
            if pid is None:
                self.missed.append(f"{action}: it was not running")
                return
            self.kills += 1
            log.warning("chaos: kill -9 %s (pid %d); starting it again", target, pid)
            self.start(parts, target)
        elif target == "postgresql":
            self.services.postgres.restart(mode="immediate")
            self.service_restarts += 1
            log.warning("chaos: PostgreSQL restarted (immediate) in %.1f s", time.monotonic() - started)
        else:
            pid = self.services.kafka.kill()
            self.services.kafka.start()
            self.service_restarts += 1
            log.warning("chaos: Kafka broker (pid %s) killed and started again in %.1f s", pid,
                        time.monotonic() - started)

    def start(self, parts: run_module.Parts, name: str) -> None:
        parts.start(name, run_module.part_args(name, self.settings, self.options), self.env, self.log_dir)

    def revive(self, parts: run_module.Parts) -> None:
        """Start again a part that exited without finishing its work (a consumer never finishes)."""
        for name, process in list(parts.processes.items()):
            code = process.poll()
            if code is None or (code == 0 and name != "consumer"):
                continue
            self.crashes.append(f"{name} (exit {code})")
            log.warning("chaos: the %s died on its own (exit %s; see %s); starting it again", name, code,
                        self.log_dir / f"{name}.log")
            self.start(parts, name)

    # -- bad inputs -------------------------------------------------------------------------------

    def send(self, n: int) -> None:
        if self.corpus is None:  # built at the first fault: the population is loaded and files archived by now
            refs = corpus_refs(self.settings, self.options)
            self.corpus = bad_events(refs), bad_files(refs, self.loaded_sample())
        events, files = share(n, len(self.faults), *self.corpus)
        send_events(self.settings, events)
        self.events.extend(events)
        landing = BatchFolders.from_settings(self.settings).landing
        for case in files:
            if case.file_name.endswith(".csv"):
                write_atomically(landing / case.file_name, case.data)
            else:  # left as it is: not a complete record file
                (landing / case.file_name).write_bytes(case.data)
            self.files.append(case)
        log.info("chaos: sent %d bad events and %d bad files", len(events), len(files))

    def loaded_sample(self) -> Path:
        """A vital-sign file of the writer's that is loaded and archived (waits for one)."""
        archive = BatchFolders.from_settings(self.settings).archive
        deadline = time.monotonic() + SAMPLE_WAIT_S
        while time.monotonic() < deadline:
            conn = connect_with_retry(settings=self.settings)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT file_name FROM ops.file_ledger WHERE status = 'loaded' "
                                "AND file_kind = 'vital_sign' AND rows_loaded >= 5 ORDER BY file_id LIMIT 20")
                    names = [row[0] for row in cur.fetchall()]
            finally:
                conn.close()
            sample = archived_sample(archive, names)
            if sample is not None:
                return sample
            time.sleep(1)
        raise RuntimeError(f"no vital-sign file with rows was loaded within {SAMPLE_WAIT_S} s of the first fault; "
                           f"see {self.log_dir / 'ingest.log'} and {self.log_dir / 'writer.log'}")


def share(n: int, faults: int, events: list[BadEvent], files: list[BadFile]) -> tuple[list[BadEvent], list[BadFile]]:
    """Fault n's share of the corpus (of `faults` faults): every faults-th case. The files that
    resend loaded records all go with the last fault."""
    early = [f for f in files if f.name not in RESENT_CASES]
    late = [f for f in files if f.name in RESENT_CASES] if n == faults - 1 else []
    return events[n::faults], early[n::faults] + late


def corpus_refs(settings: Settings, options: run_module.RunOptions):
    """The warehouse rows the corpus is built around; its day is the window's second (or only) day."""
    day = (settings.sim_start.astimezone(SAST) + timedelta(days=min(1, options.days - 1))).date()
    conn = connect_with_retry(settings=settings)
    try:
        return load_refs(conn, day=day, window_start=settings.sim_start, window_days=options.days,
                         seed=settings.seed)
    finally:
        conn.close()


def send_events(settings: Settings, events: list[BadEvent]) -> None:
    """Produce the events as they are (raw bytes, a case header each); fail unless all are acknowledged."""
    failures = []
    producer = Producer(producer_config(settings))
    for event in events:
        for _ in range(event.copies):
            producer.produce(settings.transfers_topic, key=event.key, value=event.value,
                             headers=[(CASE_HEADER, event.name.encode())],
                             on_delivery=lambda err, msg: err and failures.append(str(err)))
            producer.poll(0)
    if producer.flush(DELIVERY_TIMEOUT_S) or failures:
        raise RuntimeError(f"bad events were not delivered to {settings.transfers_topic}: {failures[:3]}")


# -- the whole run ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChaosResult:
    verdict: Verdict
    chaos: Chaos
    seed: int

    @property
    def line(self) -> str:
        """The one-line verdict, with what the run went through."""
        c = self.chaos
        return self.verdict.line(kills=c.kills, service_restarts=c.service_restarts, crashed=len(c.crashes),
                                 seed=self.seed)


def local_services() -> LocalServices:
    """The services `make up` started for this checkout; fails clearly when they are not running."""
    services = LocalServices.from_environment(REPO_ROOT / ".local")
    if services.postgres.running_pid() is None or services.kafka.running_pid() is None:
        raise ServiceError("hospital chaos restarts the local PostgreSQL and Kafka that `make up` starts, "
                           "and they are not both running here: run `make up` first")
    return services


def ensure_running(services: LocalServices) -> None:
    """Leave both services running, whatever happened to them."""
    if services.postgres.running_pid() is None:
        services.postgres.start()
    services.kafka.start()  # returns once it answers, whether it was running or not


def run_chaos(settings: Settings, options: run_module.RunOptions, faults: list[Fault],
              stop: threading.Event, seed: int = 0) -> ChaosResult | None:
    """Run the window with `faults` (see plan) and judge it; None if `stop` ended it first.

    Fresh: the run's tables, topics and folders in `settings` are emptied first, so point them at
    a database, topics and data folder of the chaos run's own."""
    services = local_services()
    options = dataclasses.replace(options, fresh=True)
    chaos = Chaos(settings, options, services, faults)
    try:
        run_module.run(settings, options, stop, on_poll=chaos)
    finally:
        ensure_running(services)
    if stop.is_set():
        return None
    verdict = judge(settings, options.days, chaos.events, chaos.files)
    verdict.problem("faults that never happened", [f"{f.action} at {f.at:%Y-%m-%d %H:%M}"
                                                   for f in faults[chaos.fired:]] + chaos.missed)
    return ChaosResult(verdict, chaos, seed)


def chaos_settings(settings: Settings, database: str, data_dir: Path) -> Settings:
    """`settings` moved to a database (made again from init_db.sql), topics, group and data folder of their own."""
    admin = settings.require("database_admin_url")
    recreate_database(admin, database)
    return dataclasses.replace(
        settings, database_url=with_database(settings.require("database_url"), database),
        database_admin_url=with_database(admin, database),
        analyst_database_url=settings.analyst_database_url and with_database(settings.analyst_database_url, database),
        transfers_topic=TOPIC, transfers_dlq_topic=f"{TOPIC}.dlq", consumer_group=GROUP, data_dir=data_dir)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--people", type=int, default=20_000, help="people to generate (default 20,000)")
    parser.add_argument("--target-size", default="150MB", help="size of the window's record files (default 150MB)")
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the window (default {WINDOW_DAYS})")
    parser.add_argument("--speed", type=float, default=3600,
                        help="simulated seconds per wall second (default 3600: a day in 24 s)")
    parser.add_argument("--seed", type=int, help="seed of the fault schedule (default: a new one, printed)")
    parser.add_argument("--database", default=DATABASE,
                        help=f"database of the chaos run, dropped and made again first (default {DATABASE})")
    parser.add_argument("--data-dir", type=Path, default=Path(DATA_DIR),
                        help=f"data folder of the chaos run; its run folders are emptied first (default {DATA_DIR})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.days < 2 or args.people < 15_000 or args.speed <= 0:
        print(f"{prog or 'chaos'}: --days must be >= 2, --people >= 15,000 (the staff need them), "
              "--speed > 0 (faults happen at simulated instants)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    options = run_module.RunOptions(days=args.days, speed=args.speed, target_size=args.target_size,
                                    people=args.people)
    started = time.monotonic()
    try:
        local_services()
        settings = chaos_settings(load(), args.database, args.data_dir)
        faults = plan(seed, settings.sim_start, args.days)
        print(f"chaos seed {seed}: {args.days} days at {args.speed:g}x, {args.people:,} people, "
              f"{args.target_size}; database {args.database}, data in {args.data_dir}; faults (SAST):")
        for fault in faults:
            print(f"  {fault.at.astimezone(SAST):%Y-%m-%d %H:%M}  {fault.action}, then a share of the bad inputs")
        result = run_chaos(settings, options, faults, stop_on_signals(), seed)
    except (RuntimeError, SettingsError) as exc:  # ServiceError is a RuntimeError
        print(f"chaos: {exc}", file=sys.stderr)
        return 1
    if result is None:
        print("chaos: stopped before the end; no verdict", file=sys.stderr)
        return 1
    for problem in result.verdict.problems:
        print(f"  problem: {problem}")
    print(f"chaos: {time.monotonic() - started:.0f} s; crashes: {', '.join(result.chaos.crashes) or 'none'}")
    print(result.line)
    return 0 if result.verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
