"""Load the patient-record files that have landed into the warehouse, each file exactly once.

For every complete file (`*.csv`, never `*.tmp`) in the landing folder, one transaction:
claim it in ops.file_ledger by SHA-256 -> COPY it into a temporary staging table -> validate
in SQL -> insert the good rows into the day-partitioned clinical table and the bad ones, with
reasons, into ops.rejected_row -> claim the ids of the rows inserted (no other file of the kind
may hold them) -> complete the ledger row (rows_read = rows_loaded + rows_rejected). After the
commit the file moves to archive/. A file that cannot be read at all
(empty, wrong header, not UTF-8, truncated, ragged columns) is recorded as quarantined and moves
to quarantine/; a file whose bytes were taken before moves to archive/duplicate/. If the process
dies before the commit nothing of the file is kept and the next pass loads it again.

    python database/batch_ingest.py                 # load what has landed, then exit
    python database/batch_ingest.py --follow        # a pass every 15 simulated minutes
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg2
import psycopg2.errors
from tqdm import tqdm

from database.batch_files import KIND_BY_HEADER, KINDS, BatchFolders, RecordKind, complete_files
from database.batch_merge import (RULE_KINDS, clean_insert_sql, create_stage_sql, merge_sql, reference_columns,
                                  reference_probe_sql, stage_table, staged_id_ranges_sql, staged_ids_sql,
                                  window_days)
from database.bulk_copy import copy_csv
from database.connection import connect_with_retry
from database.ledger import claim, claim_record_ids, record_loaded, record_quarantined, sha256_file
from hospital.clock import BATCH_INTERVAL, SimClock, tick_count, tick_time
from hospital.settings import SAST, Settings, load
from hospital.shutdown import stop_on_signals

log = logging.getLogger(__name__)

WINDOW_DAYS = 9
PARTITION_DAYS_AHEAD = 1
HEADER_LIMIT_BYTES = 64 * 1024
# Fault injection for tests and chaos runs: when set to a path, the loader writes that file
# once a file's rows are merged, then waits to be killed, before committing.
PAUSE_BEFORE_COMMIT_ENV = "HOSPITAL_BATCH_PAUSE_BEFORE_COMMIT"
# A careful merge whose id claim loses to another loader's commit merges again; each retry
# sees one more file, so this bounds nothing a real run reaches.
CLAIM_ATTEMPTS = 3
# A lost connection (PostgreSQL restarted) is opened again within this deadline, and the pass
# that lost it runs again, up to PASS_ATTEMPTS times in a row.
RECONNECT_DEADLINE_S = 120
PASS_ATTEMPTS = 5


class Unreadable(Exception):
    """The file cannot be read as a record file at all; it goes to quarantine."""


@dataclass(frozen=True)
class Window:
    """The days whose records the warehouse keeps (inclusive)."""

    first_day: date
    last_day: date

    @property
    def start_instant(self) -> datetime:
        """Midnight SAST at the start of the first day."""
        return datetime.combine(self.first_day, datetime.min.time(), tzinfo=SAST)

    @property
    def end_instant(self) -> datetime:
        """Midnight SAST after the last day (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(), tzinfo=SAST)

    @classmethod
    def rolling(cls, start: datetime, days: int = WINDOW_DAYS, as_of: datetime | None = None) -> "Window":
        """The `days` days up to `as_of`, never before `start`. Up to the run's last day at least:
        a writer whose clock runs ahead of this loader's must not see its rows rejected."""
        start_day = start.astimezone(SAST).date()
        last_day = start_day + timedelta(days=days - 1)
        as_of_day = as_of.astimezone(SAST).date() if as_of is not None else last_day
        return cls(max(start_day, as_of_day - timedelta(days=days - 1)), max(as_of_day, last_day))


@dataclass
class PassResult:
    loaded: int = 0
    quarantined: int = 0
    duplicates: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    bytes: int = 0
    busy: list[Path] = field(default_factory=list)


def prepare_partitions(conn, window: Window) -> None:
    """Day partitions for the window and a day ahead exist; older ones are dropped."""
    with conn.cursor() as cur:
        cur.execute("SELECT ops.ensure_day_partitions(%s, %s)",
                    (window.first_day, window.last_day + timedelta(days=PARTITION_DAYS_AHEAD)))
        cur.execute("SELECT ops.drop_day_partitions_before(%s)", (window.first_day,))
    conn.commit()


def read_header(path: Path) -> RecordKind:
    """The record kind a file's header names; raises Unreadable for a file that cannot be one.

    Reads only the first line and the last byte: the rows themselves are checked by COPY."""
    size = path.stat().st_size
    if size == 0:
        raise Unreadable("empty file")
    with path.open("rb") as handle:
        first = handle.readline(HEADER_LIMIT_BYTES)
        handle.seek(size - 1)
        last_byte = handle.read(1)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"header is not UTF-8: {exc}") from None
    header = tuple(next(csv.reader(io.StringIO(text)), []))
    kind = KIND_BY_HEADER.get(header)
    if kind is None:
        raise Unreadable(f"wrong header: {','.join(header)[:300]!r} is not the header of a record kind")
    if last_byte != b"\n":
        raise Unreadable("truncated: the file does not end with a line end")
    return kind


def _move(path: Path, folder: Path, tag: str) -> Path | None:
    """Move a file into `folder`, keeping its name unless one is there already. None if it is gone."""
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{tag}{path.suffix}"
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None  # another worker moved it first
    return target


def _pause_before_commit() -> None:
    marker = os.environ.get(PAUSE_BEFORE_COMMIT_ENV)
    if not marker:
        return
    Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    log.warning("paused before commit (%s is set); waiting to be killed", PAUSE_BEFORE_COMMIT_ENV)
    while True:
        time.sleep(1)


def load_file(conn, path: Path, folders: BatchFolders, window: Window, worker: str,
              result: PassResult, *, wait: bool = False) -> None:
    """Take one file: load it, quarantine it, or set it aside as a duplicate. Adds to `result`."""
    try:
        sha256, size = sha256_file(path)
    except FileNotFoundError:
        return
    try:
        kind, problem = read_header(path), None
    except Unreadable as exc:
        kind, problem = None, str(exc)
    except FileNotFoundError:
        return
    with conn.cursor() as cur:
        try:
            taken = claim(cur, sha256, path.name, size, worker, wait=wait)
            if taken.busy:
                conn.rollback()
                result.busy.append(path)
                return
            if taken.done_status is not None:
                conn.rollback()
                _set_aside(path, taken, folders, sha256, result)
                return
            counts = None
            if problem is None:
                counts, problem = _stage_and_merge(cur, kind, path, taken.file_id, window)
            if problem is not None:
                record_quarantined(cur, taken.file_id, kind.name if kind else None, problem)
                conn.commit()
                _move(path, folders.quarantine, sha256[:12])
                result.quarantined += 1
                log.warning("%s: quarantined: %s", path.name, problem)
                return
            rows_read, rows_loaded, rows_rejected = counts
            record_loaded(cur, taken.file_id, kind.name, rows_read, rows_loaded, rows_rejected)
            _pause_before_commit()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    _move(path, folders.archive, sha256[:12])
    result.loaded += 1
    result.rows_read += rows_read
    result.rows_loaded += rows_loaded
    result.rows_rejected += rows_rejected
    result.bytes += size
    if rows_rejected:
        log.info("%s: %d rows loaded, %d rejected", path.name, rows_loaded, rows_rejected)


def _set_aside(path: Path, taken, folders: BatchFolders, sha256: str, result: PassResult) -> None:
    """A file whose bytes were taken before. Under the name it was taken with, it is that file
    (its loader committed but died before moving it, or another worker is moving it now): it
    joins the others of its status. Under another name it is a duplicate delivery."""
    if taken.done_status == "quarantined":
        folder = folders.quarantine
    else:
        folder = folders.archive if taken.file_name == path.name else folders.duplicate
    if _move(path, folder, sha256[:12]) is not None and folder is folders.duplicate:
        result.duplicates += 1
        log.info("%s: these bytes were loaded before as %s; moved to %s", path.name, taken.file_name, folder)


def _params(file_id: int, window: Window, **extra) -> dict:
    return {"file_id": file_id, "window_start": window.start_instant, "window_end": window.end_instant,
            "days": window_days(window.first_day, window.last_day), **extra}


def _stage(cur, table: str, kind: RecordKind, path: Path) -> int:
    """Empty the session's staging table and COPY the file into it; returns the rows copied."""
    cur.execute(f"TRUNCATE {table}")
    return copy_csv(cur, table, path, columns=kind.header)


def _stage_and_merge(cur, kind: RecordKind, path: Path, file_id: int,
                     window: Window) -> tuple[tuple[int, int, int] | None, str | None]:
    """COPY the file into staging, validate, merge and claim the ids merged. Returns
    ((read, loaded, rejected), None), or (None, the error) when PostgreSQL cannot read the
    file as CSV at all.

    Fast path first: a typed staging table and a merge that trusts the file's ids. If COPY
    meets a value it cannot parse, the file repeats an id, or another file holds one of its
    ids (the claim fails), the work is rolled back to a savepoint and the file is staged again
    as text and checked value by value (careful path)."""
    params = _params(file_id, window, kind=kind.name)
    cur.execute("SAVEPOINT fast_path")
    try:
        counts = _fast_path(cur, kind, path, params)
    except (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.errors.DeadlockDetected) as exc:
        log.debug("%s: fast path failed (%s); checking every value", path.name, " ".join(str(exc).split())[:200])
        counts = None
    if counts is not None:
        cur.execute("RELEASE SAVEPOINT fast_path")
        return counts, None
    cur.execute("ROLLBACK TO SAVEPOINT fast_path")
    return _careful_path(cur, kind, path, params)


def _fast_path(cur, kind: RecordKind, path: Path, params: dict) -> tuple[int, int, int] | None:
    """Typed COPY, then either one plain insert (the usual file: every row good) or the merge
    that says which rows fail. None when the file repeats an id (the careful path ranks them)."""
    started = time.perf_counter()
    rows_read = _stage(cur, stage_table(kind, typed=True), kind, path)
    cur.execute(staged_ids_sql(kind))
    distinct, low, high = cur.fetchone()
    if distinct < rows_read:
        return None
    copied = time.perf_counter()
    cur.execute(reference_probe_sql(kind))
    joins = {name for name, bad in zip(reference_columns(kind), cur.fetchone()) if bad}
    probed = time.perf_counter()
    if not joins and kind.name not in RULE_KINDS:
        # No per-row joins and no reject pass. If a row fails a check after all, the insert
        # leaves it out, and the merge below runs instead to say why.
        cur.execute("SAVEPOINT clean_insert")
        cur.execute(clean_insert_sql(kind), params)
        if cur.rowcount == rows_read:
            claim_record_ids(cur, params["file_id"], kind.name, _id_ranges(cur, kind, rows_read, low, high))
            log.debug("%s: copy %.3f s, reference probe %.3f s, insert and claim %.3f s", path.name,
                      copied - started, probed - copied, time.perf_counter() - probed)
            return rows_read, rows_read, 0
        cur.execute("ROLLBACK TO SAVEPOINT clean_insert")
    cur.execute(merge_sql(kind, joins=joins), params)
    rows_read, rows_loaded, rows_rejected, record_ids = cur.fetchone()
    claim_record_ids(cur, params["file_id"], kind.name, record_ids)
    return rows_read, rows_loaded, rows_rejected


def _id_ranges(cur, kind: RecordKind, rows: int, low: int | None, high: int | None) -> str | None:
    """The staged ids as an int8multirange literal; None for a file without rows."""
    if rows == 0:
        return None
    if high - low + 1 == rows:  # unbroken, as the writer numbers them
        return f"{{[{low},{high}]}}"
    cur.execute(staged_id_ranges_sql(kind))
    return cur.fetchone()[0]


def _careful_path(cur, kind: RecordKind, path: Path,
                  params: dict) -> tuple[tuple[int, int, int] | None, str | None]:
    """Stage as text and check every value; rows with ids another file holds are rejected."""
    cur.execute("SAVEPOINT text_copy")
    try:
        _stage(cur, stage_table(kind, typed=False), kind, path)
    except psycopg2.DataError as exc:  # bad CSV, ragged rows, bytes that are not UTF-8
        cur.execute("ROLLBACK TO SAVEPOINT text_copy")
        return None, " ".join(str(exc).split())[:2000]
    for _ in range(CLAIM_ATTEMPTS):
        cur.execute("SAVEPOINT careful_merge")
        cur.execute(merge_sql(kind, careful=True), params)
        rows_read, rows_loaded, rows_rejected, record_ids = cur.fetchone()
        try:
            claim_record_ids(cur, params["file_id"], kind.name, record_ids)
        except (psycopg2.errors.ExclusionViolation, psycopg2.errors.DeadlockDetected):
            # Another loader committed some of these ids while this one merged (or the two
            # waited on each other): merge again, now seeing its claim, and reject those rows.
            cur.execute("ROLLBACK TO SAVEPOINT careful_merge")
            continue
        return (rows_read, rows_loaded, rows_rejected), None
    raise RuntimeError(f"{path.name}: could not claim its record ids after {CLAIM_ATTEMPTS} attempts")


def configure_session(conn) -> None:
    """Session settings for loading, and the session's staging tables.

    work_mem: room to hash-join and hold a file's checked rows in memory. temp_buffers: a 5 MB
    file's staged rows (about 7 MB) stay in memory instead of going through the kernel; it can
    only be set before the session first touches a temporary table. No JIT: the merge statements
    are planned per file from rough staging estimates, and compiling them costs more than it
    saves on a few tens of thousands of rows."""
    with conn.cursor() as cur:
        cur.execute("SET temp_buffers = '64MB'")
        cur.execute("SET work_mem = '64MB'")
        cur.execute("SET jit = off")
    conn.commit()
    prepare_staging(conn)


def prepare_staging(conn) -> None:
    """The session's staging tables exist (typed and text, for every kind); idempotent."""
    with conn.cursor() as cur:
        for kind in KINDS.values():
            cur.execute(create_stage_sql(kind, typed=True))
            cur.execute(create_stage_sql(kind, typed=False))
    conn.commit()


def ingest_pass(conn, folders: BatchFolders, window: Window, worker: str,
                stop: threading.Event | None = None) -> PassResult:
    """Load every complete file now in the landing folder. Files another worker holds are
    retried at the end, waiting for that worker, so each is settled before the pass returns."""
    folders.create()
    prepare_partitions(conn, window)
    prepare_staging(conn)
    result = PassResult()
    files = complete_files(folders.landing)
    for path in tqdm(files, desc="ingest", unit="file", disable=None):
        if stop is not None and stop.is_set():
            return result
        load_file(conn, path, folders, window, worker, result)
    busy, result.busy = result.busy, []
    for path in busy:
        if stop is not None and stop.is_set():
            break
        if path.exists():
            load_file(conn, path, folders, window, worker, result, wait=True)
    log.info("pass: %d files loaded (%d rows, %d rejected), %d quarantined, %d duplicates",
             result.loaded, result.rows_loaded, result.rows_rejected, result.quarantined, result.duplicates)
    return result


class Session:
    """The loader's connection to PostgreSQL, opened again whenever it was lost."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn = None

    def connection(self):
        if self.conn is None:
            self.conn = connect_with_retry(settings=self.settings, deadline_s=RECONNECT_DEADLINE_S)
            configure_session(self.conn)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def pass_surviving_outages(session: Session, folders: BatchFolders, window: Window, worker: str,
                           stop: threading.Event) -> PassResult:
    """An ingest pass that outlives a PostgreSQL restart: when the connection is lost, connect
    again and run the pass again. Safe because each file's work is one transaction: the file in
    hand when the connection went kept nothing (or committed, and its ledger row says so), and
    the files before it are in the ledger. Counts of the lost pass are not carried over."""
    attempt = 1
    while True:
        try:
            return ingest_pass(session.connection(), folders, window, worker, stop)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            session.close()
            if attempt == PASS_ATTEMPTS or stop.is_set():
                raise
            attempt += 1
            log.warning("lost PostgreSQL (%s); connecting again", " ".join(str(exc).split())[:200])


def run(settings: Settings, *, follow: bool = False, days: int = WINDOW_DAYS, as_of: datetime | None = None,
        first_tick: int = 0, stop: threading.Event | None = None) -> PassResult:
    """One pass (default), or with follow=True a pass at every 15-minute tick of the window."""
    stop = stop or threading.Event()
    folders = BatchFolders.from_settings(settings)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    session = Session(settings)
    try:
        if not follow:
            return pass_surviving_outages(session, folders, Window.rolling(settings.sim_start, days, as_of),
                                          worker, stop)
        # The clock starts at the first tick to run, so a resumed run does not wait out the ticks before it.
        clock = SimClock(tick_time(settings.sim_start, BATCH_INTERVAL, first_tick), settings.sim_speed)
        threading.Thread(target=lambda: (stop.wait(), clock.stop()), daemon=True).start()
        total = PassResult()
        ticks = tick_count(timedelta(days=days), BATCH_INTERVAL)
        for _, instant in clock.ticks(settings.sim_start, BATCH_INTERVAL, ticks, first=first_tick):
            done = pass_surviving_outages(session, folders, Window.rolling(settings.sim_start, days, instant),
                                          worker, stop)
            for name in ("loaded", "quarantined", "duplicates", "rows_read", "rows_loaded", "rows_rejected", "bytes"):
                setattr(total, name, getattr(total, name) + getattr(done, name))
            if stop.is_set():
                break
        return total
    finally:
        session.close()


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--follow", action="store_true",
                        help="run a pass at every 15-minute tick of the window on the simulated clock "
                             "(SIM_START, SIM_SPEED) instead of one pass")
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help="days in the rolling window (default 9)")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="simulated instant the window ends at (default: the window's last day)")
    parser.add_argument("--first-tick", type=int, default=0, help="with --follow: tick to start at (resume)")
    parser.add_argument("--data-dir", type=Path, default=None, help="override DATA_DIR")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each file's timings and path taken")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:
        log.setLevel(logging.DEBUG)
    settings = load()
    if args.data_dir is not None:
        from dataclasses import replace
        settings = replace(settings, data_dir=args.data_dir)
    as_of = args.as_of.replace(tzinfo=SAST) if args.as_of and args.as_of.tzinfo is None else args.as_of
    stop = stop_on_signals()  # finish the current file's transaction, then stop
    result = run(settings, follow=args.follow, days=args.days, as_of=as_of, first_tick=args.first_tick, stop=stop)
    log.info("done: %d files loaded, %d quarantined, %d duplicates; rows read %d = loaded %d + rejected %d",
             result.loaded, result.quarantined, result.duplicates,
             result.rows_read, result.rows_loaded, result.rows_rejected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
