"""Load the reference CSVs and the generated population into the warehouse, idempotently.

    python database/load_population.py --data-dir data
    hospital load-population

Tables load in foreign-key order, each in its own transaction, as the pipeline role (DATABASE_URL).

An empty population table (core.person, core.patient, core.staff, core.doctor,
core.staff_assignment) is bulk loaded: `ops.begin_population_load` (init_db.sql; it runs with its
owner's rights, because the pipeline role has no DDL rights) drops the table's primary key, unique
constraints, secondary indexes and foreign keys, and the foreign keys of other tables that refer to
it (no row can refer to an empty table), recording their definitions, and truncates the empty
table; the file is COPYed with FREEZE (rows written frozen and all-visible) and only the check
constraints in place; then `ops.finish_population_load` builds each index once, the primary key
first, and adds each foreign key back, which checks the whole table with one query instead of one
lookup per row, and confirms every object came back exactly as recorded. All of it is one transaction: a file that breaks a constraint (a
duplicate ID number, a patient who is no person) is an error and rolls the table back to empty
with all its constraints, and the database refuses to commit a load that was begun and not
finished. A table that already has rows (a load run again, or interrupted between tables) gets
the file COPYed into a temporary staging table and merged with INSERT ... ON CONFLICT DO NOTHING,
so re-running adds nothing. Reference tables take a straight COPY when empty, the merge otherwise,
and so do the population tables of a warehouse whose schema predates the two functions.
Afterwards every staff member has a 'hired' row in core.staff_history.

Dropping a foreign key locks both its tables exclusively, so a bulk load cannot begin while
another session holds any lock on them: a psql session left inside a transaction after a
SELECT is enough. The load then waits LOCK_RETRY_S at a time, logging which sessions hold the
locks, and gives up after `lock_wait_s` with one line naming them; it never hangs silently.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import psycopg2
from psycopg2 import sql

from core import reference
from core import settings as settings_module
from core.logs import configure_logging
from core.settings import SettingsError
from database.bulk_copy import copy_csv
from database.connection import connect, transaction

log = logging.getLogger(__name__)

# warehouse table -> generated CSV file name, in foreign-key order (after the reference tables)
GENERATED_TABLES: dict[str, str] = {
    "core.person": "people.csv",
    "core.patient": "hospital_patients.csv",
    "core.staff": "staff.csv",
    "core.doctor": "doctors.csv",
    "core.staff_assignment": "assigned_staff.csv",
}

HIRED_HISTORY = """
INSERT INTO core.staff_history
    (staff_id, valid_from, valid_to, employment_status, job_title, department_code, home_ward_code, change_reason)
SELECT s.staff_id, s.hire_date::timestamp AT TIME ZONE 'Africa/Johannesburg', NULL, 'active',
       s.job_title, s.department_code, s.home_ward_code, 'hired'
FROM core.staff s
ON CONFLICT (staff_id, valid_from) DO NOTHING
"""


def csv_columns(path: Path) -> list[str]:
    """The header's column names. Reads the first line only, as bytes: a file whose header is
    not UTF-8 is a clear error, whatever follows it (COPY checks the rows)."""
    with path.open("rb") as handle:
        first = handle.readline(64 * 1024)
    try:
        return next(csv.reader([first.decode("utf-8").rstrip("\r\n")]), [])
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the header is not UTF-8 ({exc.reason} at byte {exc.start})") from None


class LoadError(Exception):
    """A table could not be loaded from its file; the message is one line naming both."""


LOCK_RETRY_S = 10     # one wait for another session's locks before the load logs who holds them
LOCK_WAIT_S = 600     # all the waiting a table does before the load gives up


def load_table(conn, table: str, path: Path, lock_wait_s: float = LOCK_WAIT_S) -> int:
    """Load one CSV into `table`; returns the rows added (0 when all were already there).

    One transaction: on any error the table is as it was, constraints included. Raises LoadError
    (one line: the table, the file and PostgreSQL's message with its detail) when the data breaks
    a constraint or cannot be read, or when other sessions keep the table locked for
    `lock_wait_s`; errors of the service itself propagate as psycopg2 errors."""
    columns = csv_columns(path)
    give_up_at = time.monotonic() + lock_wait_s
    while True:
        try:
            with transaction(conn) as cur:
                if table in GENERATED_TABLES and _bulk_loads_here(cur, table):
                    return _bulk_or_merge(cur, table, path, columns, min(LOCK_RETRY_S, lock_wait_s))
                return _copy_or_merge(cur, table, path, columns)
        except psycopg2.errors.LockNotAvailable:
            holders = _lock_holders(conn)
            if time.monotonic() >= give_up_at:
                raise LoadError(f"{table}: waited {lock_wait_s:.0f} s for locks held by {holders}; end "
                                "those sessions or their open transactions and run the load again") from None
            log.warning("%s: waiting for locks held by %s (a session inside a transaction blocks the "
                        "bulk load)", table, holders)
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            raise LoadError(f"{table} from {path.name}: {_one_line(exc)}") from None


LOCK_HOLDERS = """
SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(a.usename::text, '?')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation IN (SELECT oid FROM pg_class WHERE relnamespace = 'core'::regnamespace)
  AND a.pid <> pg_backend_pid()
ORDER BY 1
"""


def _lock_holders(conn) -> str:
    """The other sessions holding locks on core tables: 'pid 123 (psql, user hospital), ...'."""
    with transaction(conn) as cur:
        cur.execute(LOCK_HOLDERS)
        rows = cur.fetchall()
    return ", ".join(f"pid {pid} ({app}, user {user})" for pid, app, user in rows) or "sessions now gone"


def _bulk_loads_here(cur, table: str) -> bool:
    """True if the warehouse has the bulk-load functions. One made by an init_db.sql older than
    them (a compose volume keeps its first schema) loads row by row, with a warning."""
    cur.execute("SELECT to_regprocedure('ops.begin_population_load(regclass)') IS NOT NULL")
    if cur.fetchone()[0]:
        return True
    log.warning("%s: this warehouse has no ops.begin_population_load (apply init_db.sql again for bulk "
                "loads); loading row by row", table)
    return False


def _bulk_or_merge(cur, table: str, path: Path, columns: list[str], lock_timeout_s: float) -> int:
    """A population table: the bulk load when it is empty, the merge when it has rows. Taking the
    locks the dropped keys need waits at most `lock_timeout_s` (LockNotAvailable), before any
    work that a retry would repeat."""
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout_s * 1000)}ms",))
    cur.execute("SELECT ops.begin_population_load(%s)", (table,))
    empty = cur.fetchone()[0]
    cur.execute("SELECT set_config('lock_timeout', '0', true)")
    if not empty:
        return _merge(cur, table, path, columns)
    rows = copy_csv(cur, table, path, columns, freeze=True)  # begin_population_load truncated it
    cur.execute("SELECT ops.finish_population_load(%s)", (table,))
    return rows


def _copy_or_merge(cur, table: str, path: Path, columns: list[str]) -> int:
    """A straight COPY into an empty table (its constraints checked row by row), else the merge."""
    cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(*table.split("."))))
    if cur.fetchone()[0]:
        return _merge(cur, table, path, columns)
    return copy_csv(cur, table, path, columns)


def _merge(cur, table: str, path: Path, columns: list[str]) -> int:
    """The idempotent path: COPY into a staging table, add only the rows not there yet."""
    target = sql.Identifier(*table.split("."))
    cur.execute(sql.SQL("CREATE TEMP TABLE load_stage (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP")
                .format(target))
    copy_csv(cur, "load_stage", path, columns)
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute(sql.SQL("INSERT INTO {} ({cols}) SELECT {cols} FROM load_stage ON CONFLICT DO NOTHING")
                .format(target, cols=column_list))
    return cur.rowcount


def _one_line(exc: psycopg2.Error) -> str:
    """PostgreSQL's message and its detail (the offending key, say) on one line."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = getattr(exc.diag, "message_detail", None)
    return f"{first} ({' '.join(detail.split())})" if detail else first


def load_population(conn, data_dir: Path, seconds: dict[str, float] | None = None,
                    tables: Sequence[str] | None = None, lock_wait_s: float = LOCK_WAIT_S) -> dict[str, int]:
    """Load reference tables, then the generated CSVs found in `data_dir`; returns rows added per table.
    `seconds`, if given, receives each table's wall time (its transaction, rebuilds included).
    `tables`: only these generated tables (default all; `hospital prepare` loads the people
    while it generates the staff). The staff history follows core.staff."""
    tables = list(GENERATED_TABLES) if tables is None else list(tables)
    unknown = [t for t in tables if t not in GENERATED_TABLES]
    if unknown:
        raise ValueError(f"no generated table {unknown[0]!r}; choose from {', '.join(GENERATED_TABLES)}")
    plan = [(table, reference.path(name)) for table, name in reference.WAREHOUSE_TABLES.items()]
    plan += [(table, data_dir / name) for table, name in GENERATED_TABLES.items() if table in tables]
    missing = [str(p) for t, p in plan if not p.is_file() and t in ("core.person",)]
    if missing:
        raise FileNotFoundError(f"{missing[0]} not found: run `hospital generate-people` first")
    added: dict[str, int] = {}
    for table, path in plan:
        if not path.is_file():
            log.warning("skipping %s: %s not found", table, path)
            continue
        started = time.perf_counter()
        added[table] = load_table(conn, table, path, lock_wait_s)
        elapsed = time.perf_counter() - started
        log.info("%s: %d rows added from %s in %.1f s", table, added[table], path.name, elapsed)
        if seconds is not None:
            seconds[table] = elapsed
    if "core.staff" in tables:
        started = time.perf_counter()
        with transaction(conn) as cur:
            cur.execute(HIRED_HISTORY)
            added["core.staff_history"] = cur.rowcount
        if seconds is not None:
            seconds["core.staff_history"] = time.perf_counter() - started
    return added


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    defaults = settings_module.load()
    parser = argparse.ArgumentParser(
        prog=prog, description="COPY the reference CSVs (core/reference) and the generated people.csv, "
        "hospital_patients.csv, staff.csv, doctors.csv and assigned_staff.csv into the warehouse as the "
        "pipeline role (DATABASE_URL). Safe to re-run: rows already loaded are skipped.")
    parser.add_argument("--data-dir", type=Path, default=defaults.data_dir,
                        help="folder with the generated CSVs (default DATA_DIR)")
    parser.add_argument("--tables", type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
                        default=None, metavar="T1,T2",
                        help=f"only these generated tables, in foreign-key order (default all: {', '.join(GENERATED_TABLES)})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        conn = connect(settings=settings_module.load())
    except (SettingsError, psycopg2.OperationalError) as exc:
        print(f"{parser.prog}: error: cannot connect to the warehouse: {str(exc).strip()}", file=sys.stderr)
        return 1
    try:
        added = load_population(conn, args.data_dir, tables=args.tables)
    except (FileNotFoundError, ValueError, LoadError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except psycopg2.Error as exc:
        print(f"{parser.prog}: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    log.info("loaded: %s", ", ".join(f"{t} +{n}" for t, n in added.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
