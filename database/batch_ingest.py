"""Load the patient-record files that have landed into the warehouse, each file exactly once.

For every complete file (`*.csv`, never `*.tmp`) in the landing folder: read its bytes once
(database.record_file), and in one transaction claim it in ops.file_ledger by their SHA-256 ->
load it -> claim the ids of the rows inserted (no other file of the kind may hold them) ->
complete the ledger row, where the records counted by the loader itself (not by COPY)
= rows_loaded + rows_rejected. After the commit the file moves to archive/.

Loading takes the first of three ways that works, each under a savepoint:
1. direct: a simple file of a kind without row rules or outbox triggers is COPYed straight into the partition of
   its day; the table's constraints refuse a bad value, and its distinct ids and references,
   read from the bytes, are checked once each;
2. staged: the file is COPYed into a typed temporary table, checked and merged in SQL;
3. careful: it is read record by record, staged as text, and every row that fails goes to
   ops.rejected_row with its line number and reason, the good rows into the clinical table.
The first two take a file whole or not at all; the third says which rows fail and why.

A record that cannot be a row (a field too many or too few, bytes that are not UTF-8, a NUL,
a lone `\\.`) is rejected like a bad value, and the rest of the file loads. Only a file that
cannot be read as a record file at all (empty, no record header, too large) is recorded as
quarantined and moves to quarantine/, and so does a file whose load fails for a reason of its
own (the error is the reason); a file whose bytes were taken before moves to archive/duplicate/.
If the process dies before the commit nothing of the file is kept and the next pass loads it again.

    python database/batch_ingest.py                 # load what has landed, then exit
    python database/batch_ingest.py --follow        # a pass every 15 simulated minutes
"""

from __future__ import annotations

import argparse
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

import numpy as np
import psycopg2
import psycopg2.errors
from tqdm import tqdm

from core.atomic_write import write_atomically
from core.batch_files import KINDS, BatchFolders, RecordKind, complete_files
from core.clock import BATCH_INTERVAL, WINDOW_DAYS, SimClock, tick_time, window_ticks
from core.logs import configure_logging
from core.settings import SAST, Settings, load
from core.shutdown import stop_on_signals
from database.batch_merge import (OUTBOX_KINDS, RULE_KINDS, clean_insert_sql, create_stage_sql, day_partition,
                                  merge_sql, reference_columns, reference_probe_sql, reference_values_sql,
                                  stage_columns, stage_table, staged_id_ranges_sql, staged_ids_sql, window_days)
from database.bulk_copy import copy_csv
from database.connection import connect_with_retry, infrastructure_failure
from database.ledger import Claim, claim, claim_record_ids, record_loaded, record_quarantined, record_rejected
from database.record_file import (LandedFile, RecordFile, Unreadable, check_records, digits_to_ints, distinct,
                                  distinct_bytes, open_records, printable_name, read_landed)

log = logging.getLogger(__name__)

PARTITION_DAYS_AHEAD = 1
# A careful merge whose id claim loses to another loader's commit merges again; each retry
# sees one more file, so this bounds nothing a real run reaches.
CLAIM_ATTEMPTS = 3
# A lost connection (PostgreSQL restarted) is opened again within this deadline, and the pass
# that lost it runs again, up to PASS_ATTEMPTS times in a row.
RECONNECT_DEADLINE_S = 120
PASS_ATTEMPTS = 5


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
    """Day partitions for the window and a day ahead exist. Nothing is dropped here: a loader
    never removes data; dropping old days is an operator's decision (`hospital prune`)."""
    with conn.cursor() as cur:
        cur.execute("SELECT ops.ensure_day_partitions(%s, %s)",
                    (window.first_day, window.last_day + timedelta(days=PARTITION_DAYS_AHEAD)))
    conn.commit()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _settle(landed: LandedFile, folder: Path, tag: str) -> Path | None:
    """Put the file whose bytes were read into `folder` (archive, duplicate or quarantine), under
    its name unless that is taken. If a writer replaced the file under the same name meanwhile,
    the newcomer stays in landing for the next pass and the bytes read are written to `folder`
    instead, so `folder` holds what the ledger describes. None when another worker moved it first."""
    path = landed.path
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{tag}{path.suffix}"
    found = _identity(path)
    if found is None:
        return None  # another worker moved it first
    if found == landed.identity:
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return None  # another worker moved it in the same instant
        if _identity(target) == landed.identity:
            return target
        try:  # replaced in the instant between the check and the move: the newcomer goes back
            os.link(target, path)
            os.unlink(target)
        except FileExistsError:
            log.error("%s: replaced twice while being moved; %s holds the newer bytes", landed.name, target)
            return target
    if landed.too_large:
        log.warning("%s: replaced while being taken; the newcomer waits in landing", landed.name)
        return None
    log.warning("%s: replaced while being taken; the bytes taken go to %s, the newcomer waits in landing",
                landed.name, folder)
    return write_atomically(target, landed.data)


@dataclass(frozen=True)
class Outcome:
    """What taking a file came to. `status`: loaded, quarantined, busy, or set_aside (its bytes
    were taken before, as `taken`)."""

    status: str
    counts: tuple[int, int, int] = (0, 0, 0)  # records, loaded, rejected
    problem: str | None = None
    taken: Claim | None = None


def load_file(conn, path: Path, folders: BatchFolders, window: Window, worker: str,
              result: PassResult, *, wait: bool = False) -> None:
    """Take one file: load it, quarantine it, or set it aside as a duplicate. Adds to `result`.

    Whatever goes wrong with this one file (a value PostgreSQL refuses, a name that is not UTF-8,
    too little memory for it) quarantines it with the error as the reason, and the pass goes on;
    only a lost connection propagates (the pass is run again)."""
    try:
        landed = read_landed(path)
    except FileNotFoundError:
        return  # another worker moved it first
    except OSError as exc:  # not readable by this process: nothing to hash, claim or move
        log.error("%s: cannot be read (%s); left in landing", printable_name(path), exc)
        return
    try:
        outcome = _take(conn, landed, window, worker, wait)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the others
        _rollback(conn)
        if infrastructure_failure(exc, conn):
            raise
        problem = f"failed while loading: {type(exc).__name__}: {' '.join(str(exc).split())}"[:2000]
        outcome = _quarantine_after_failure(conn, landed, worker, problem)
        if outcome is None:
            return
    except BaseException:
        _rollback(conn)
        raise
    _tally(landed, outcome, folders, result)


def _rollback(conn) -> None:
    if not conn.closed:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass


def _take(conn, landed: LandedFile, window: Window, worker: str, wait: bool) -> Outcome:
    """Claim the file and load or quarantine it, in one transaction (committed here)."""
    with conn.cursor() as cur:
        taken = claim(cur, landed.sha256, landed.name, landed.size, worker, wait=wait)
        if taken.busy or taken.done_status is not None:
            conn.rollback()
            return Outcome("busy" if taken.busy else "set_aside", taken=taken)
        try:
            records = open_records(landed)
        except Unreadable as exc:
            record_quarantined(cur, taken.file_id, None, str(exc))
            conn.commit()
            return Outcome("quarantined", problem=str(exc))
        counts = _stage_and_merge(cur, records, taken.file_id, window)
        if counts[0] != counts[1] + counts[2]:
            raise RuntimeError(f"{counts[0]} records counted but {counts[1]} loaded and {counts[2]} rejected")
        record_loaded(cur, taken.file_id, records.kind.name, *counts)
        conn.commit()
    return Outcome("loaded", counts=counts)


def _quarantine_after_failure(conn, landed: LandedFile, worker: str, problem: str) -> Outcome | None:
    """Record a file that failed while loading as quarantined, in a transaction of its own. None
    (the file stays in landing, for the next pass) if even that cannot be written."""
    try:
        with conn.cursor() as cur:
            taken = claim(cur, landed.sha256, landed.name, landed.size, worker, wait=True)
            if taken.done_status is not None:  # another worker settled it meanwhile
                conn.rollback()
                return Outcome("set_aside", taken=taken)
            record_quarantined(cur, taken.file_id, None, problem)
        conn.commit()
    except Exception as exc:  # noqa: BLE001
        _rollback(conn)
        if infrastructure_failure(exc, conn):
            raise
        log.error("%s: could not be recorded as quarantined (%s); left in landing", landed.name, exc)
        return None
    return Outcome("quarantined", problem=problem)


def _tally(landed: LandedFile, outcome: Outcome, folders: BatchFolders, result: PassResult) -> None:
    """Move the file where its outcome puts it, and count it."""
    tag = landed.sha256[:12]
    if outcome.status == "busy":
        result.busy.append(landed.path)
    elif outcome.status == "set_aside":
        _set_aside(landed, outcome.taken, folders, result)
    elif outcome.status == "quarantined":
        _settle(landed, folders.quarantine, tag)
        result.quarantined += 1
        log.warning("%s: quarantined: %s", landed.name, outcome.problem)
    else:
        _settle(landed, folders.archive, tag)
        records, loaded, rejected = outcome.counts
        result.loaded += 1
        result.rows_read += records
        result.rows_loaded += loaded
        result.rows_rejected += rejected
        result.bytes += landed.size
        if rejected:
            log.info("%s: %d rows loaded, %d rejected", landed.name, loaded, rejected)


def _set_aside(landed: LandedFile, taken: Claim, folders: BatchFolders, result: PassResult) -> None:
    """A file whose bytes were taken before. Under the name it was taken with, it is that file
    (its loader committed but died before moving it, or another worker is moving it now): it
    joins the others of its status. Under another name it is a duplicate delivery."""
    if taken.done_status == "quarantined":
        folder = folders.quarantine
    else:
        folder = folders.archive if taken.file_name == landed.name else folders.duplicate
    if _settle(landed, folder, landed.sha256[:12]) is not None and folder is folders.duplicate:
        result.duplicates += 1
        log.info("%s: these bytes were loaded before as %s; moved to %s", landed.name, taken.file_name, folder)


def _params(file_id: int, window: Window, **extra) -> dict:
    return {"file_id": file_id, "window_start": window.start_instant, "window_end": window.end_instant,
            "days": window_days(window.first_day, window.last_day), **extra}


def _stage(cur, kind: RecordKind, csv_bytes: bytes, *, typed: bool) -> int:
    """Empty the session's staging table and COPY `csv_bytes` (no header) into it; returns the rows copied."""
    table = stage_table(kind, typed=typed)
    cur.execute(f"TRUNCATE {table}")
    return copy_csv(cur, table, io.BytesIO(csv_bytes), columns=stage_columns(kind, typed=typed), header=False)


def _stage_and_merge(cur, records: RecordFile, file_id: int, window: Window) -> tuple[int, int, int]:
    """Stage, validate, merge and claim the ids merged; returns (records, loaded, rejected), with
    records counted by database.record_file, not by COPY.

    Fast path first, for a simple file (one record per line): its bytes as they are, COPYed into
    a typed staging table, and a merge that trusts the file's ids. If COPY meets a value it
    cannot parse, copies fewer rows than there are records (it stops at a lone \\.), the file
    repeats an id, or another file holds one of its ids (the claim fails), the work is rolled
    back to a savepoint and the careful path reads it record by record."""
    kind = records.kind
    params = _params(file_id, window, kind=kind.name)
    if records.simple and kind.name not in RULE_KINDS + OUTBOX_KINDS:
        counts = _direct_path(cur, records, file_id, window)
        if counts is not None:
            return counts
    if records.simple:
        cur.execute("SAVEPOINT fast_path")
        try:
            counts = _fast_path(cur, records, params)
        except (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.errors.DeadlockDetected) as exc:
            log.debug("%s: fast path failed (%s); checking every record", kind.name,
                      " ".join(str(exc).split())[:200])
            counts = None
        if counts is not None:
            cur.execute("RELEASE SAVEPOINT fast_path")
            return counts
        cur.execute("ROLLBACK TO SAVEPOINT fast_path")
    return _careful_path(cur, records, params)


def _direct_path(cur, records: RecordFile, file_id: int, window: Window) -> tuple[int, int, int] | None:
    """The usual file, in one COPY: its bytes straight into the partition of its day, with no
    staging table. The table's constraints refuse any value the loader's checks refuse (init_db.sql),
    the file's distinct ids and referenced values are read from its bytes (numpy, no row loop)
    and each distinct reference is looked up once. None, with nothing kept, when the file is not
    one COPY can take whole: a bad value, a row of another day, a repeated id, an unknown
    reference, an id another file holds; the staging paths then find which rows fail and why."""
    kind = records.kind
    refs = reference_columns(kind)
    day = _first_day(records)
    fields = records.simple_fields([kind.id_column, *refs])
    if day is None or fields is None or not window.first_day <= day <= window.last_day:
        return None
    ids = digits_to_ints(fields[kind.id_column])
    if ids is None:
        return None
    rows, ids = len(ids), distinct(ids)
    # Each column's distinct referenced values, as text for PostgreSQL to read as COPY did.
    values = {name: [v.decode("utf-8", "surrogateescape") for v in distinct_bytes(fields[name])] for name in refs}
    if len(ids) != rows:
        return None
    cur.execute("SAVEPOINT direct_path")
    try:
        cur.execute("SELECT set_config('hospital.file_id', %s, true)", (str(file_id),))
        copied = copy_csv(cur, day_partition(kind, day), io.BytesIO(records.body), columns=kind.header, header=False)
        if copied == rows:  # COPY stops early at a lone \. line
            cur.execute(reference_values_sql(kind), values)
            if not any(cur.fetchone()):
                claim_record_ids(cur, file_id, kind.name, _ranges_literal(ids))
                cur.execute("RELEASE SAVEPOINT direct_path")
                return rows, rows, 0
    except (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.errors.DeadlockDetected,
            psycopg2.errors.UndefinedTable, psycopg2.errors.InsufficientPrivilege) as exc:
        log.debug("%s: direct load failed (%s); staging it", kind.name, " ".join(str(exc).split())[:200])
    cur.execute("ROLLBACK TO SAVEPOINT direct_path")
    return None


def _first_day(records: RecordFile) -> date | None:
    """The date its first record's event time is written with: the partition the file is COPYed
    into. Rows of any other SAST day break that partition's bound, and the file is staged."""
    first = records.body[:records.body.find(b"\n")].split(b",")
    try:
        return date.fromisoformat(first[records.kind.header.index(records.kind.event_time)][:10].decode("ascii"))
    except (IndexError, UnicodeDecodeError, ValueError):
        return None


def _ranges_literal(ids: np.ndarray) -> str:
    """Sorted distinct ids as an int8multirange literal of their unbroken runs."""
    breaks = np.flatnonzero(np.diff(ids) != 1)
    lows = np.concatenate(([ids[0]], ids[breaks + 1]))
    highs = np.concatenate((ids[breaks], [ids[-1]]))
    return "{" + ",".join(f"[{low},{high}]" for low, high in zip(lows.tolist(), highs.tolist())) + "}"


def _fast_path(cur, records: RecordFile, params: dict) -> tuple[int, int, int] | None:
    """Typed COPY, then either one plain insert (the usual file: every row good) or the merge
    that says which rows fail. None when COPY did not take every record, or the file repeats an
    id (the careful path ranks them)."""
    kind = records.kind
    started = time.perf_counter()
    count = records.simple_count()
    rows_read = _stage(cur, kind, records.body, typed=True)
    if rows_read != count:
        log.warning("COPY took %d rows of %d records; reading the file record by record", rows_read, count)
        return None
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
            log.debug("%s: copy %.3f s, reference probe %.3f s, insert and claim %.3f s", kind.name,
                      copied - started, probed - copied, time.perf_counter() - probed)
            return rows_read, rows_read, 0
        cur.execute("ROLLBACK TO SAVEPOINT clean_insert")
    cur.execute(merge_sql(kind, joins=joins), params)
    staged, rows_loaded, rows_rejected, record_ids = cur.fetchone()
    claim_record_ids(cur, params["file_id"], kind.name, record_ids)
    return staged, rows_loaded, rows_rejected


def _id_ranges(cur, kind: RecordKind, rows: int, low: int | None, high: int | None) -> str | None:
    """The staged ids as an int8multirange literal; None for a file without rows."""
    if rows == 0:
        return None
    if high - low + 1 == rows:  # unbroken, as the writer numbers them
        return f"{{[{low},{high}]}}"
    cur.execute(staged_id_ranges_sql(kind))
    return cur.fetchone()[0]


def _careful_path(cur, records: RecordFile, params: dict) -> tuple[int, int, int]:
    """Read the file record by record: records that cannot be rows are rejected here, the rest
    are staged as text and every value is checked; rows with ids another file holds are rejected."""
    kind = records.kind
    checked = check_records(records)
    _stage(cur, kind, checked.clean, typed=False)
    for _ in range(CLAIM_ATTEMPTS):
        cur.execute("SAVEPOINT careful_merge")
        cur.execute(merge_sql(kind, careful=True), params)
        staged, rows_loaded, rows_rejected, record_ids = cur.fetchone()
        try:
            claim_record_ids(cur, params["file_id"], kind.name, record_ids)
        except (psycopg2.errors.ExclusionViolation, psycopg2.errors.DeadlockDetected):
            # Another loader committed some of these ids while this one merged (or the two
            # waited on each other): merge again, now seeing its claim, and reject those rows.
            cur.execute("ROLLBACK TO SAVEPOINT careful_merge")
            continue
        record_rejected(cur, params["file_id"], [(r.line_number, r.reason, r.raw) for r in checked.rejected])
        return checked.records, rows_loaded, rows_rejected + len(checked.rejected)
    raise RuntimeError(f"could not claim its record ids after {CLAIM_ATTEMPTS} attempts")


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
        clock = SimClock(tick_time(settings.sim_start, BATCH_INTERVAL, first_tick), settings.sim_speed).stop_on(stop)
        total = PassResult()
        ticks = window_ticks(days, BATCH_INTERVAL)
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
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the rolling window (default {WINDOW_DAYS})")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None,
                        help="simulated instant the window ends at (default: the window's last day)")
    parser.add_argument("--first-tick", type=int, default=0, help="with --follow: tick to start at (resume)")
    parser.add_argument("--data-dir", type=Path, default=None, help="override DATA_DIR")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each file's timings and path taken")
    args = parser.parse_args(argv)
    configure_logging()
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
