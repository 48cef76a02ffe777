"""`hospital prune`: drop the clinical day partitions before a day, as an operator.

    hospital prune --before 2026-03-02 --dry-run     # what would go, with row counts; drops nothing
    hospital prune --before 2026-03-02               # drop them

The pipeline never drops data: its role can create day partitions but not drop them. Dropping
old days is this command, and it connects as DATABASE_ADMIN_URL (the warehouse's owner). Each
partition dropped is recorded in ops.partition_drop (table, day, rows, the ledger files whose
records it held, when, by whom), so a file the ledger calls loaded but whose rows are gone is
explained. --dry-run runs the same drop and rolls it back, so the counts it prints are exact.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date

import psycopg2

from core.settings import Settings, SettingsError, load
from database.connection import connect

DROP_SQL = """
SELECT dropped_table, dropped_partition, dropped_day, dropped_rows, cardinality(dropped_file_ids)
FROM ops.drop_day_partitions_before(%s)
"""


@dataclass(frozen=True)
class DroppedPartition:
    table: str       # clinical.<kind>
    partition: str   # clinical.<kind>_YYYYMMDD
    day: date
    rows: int
    files: int       # ledger files whose records it held


def prune(settings: Settings, before: date, *, dry_run: bool = False) -> list[DroppedPartition]:
    """Drop every clinical day partition of a day before `before`, as the owner (DATABASE_ADMIN_URL),
    and return what was dropped. dry_run: the same, rolled back. Raises SettingsError without the
    admin URL, psycopg2 errors from the database (a day it refuses, for one)."""
    conn = connect(settings.require("database_admin_url"))
    try:
        with conn.cursor() as cur:
            cur.execute(DROP_SQL, (before,))
            dropped = [DroppedPartition(*row) for row in cur.fetchall()]
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
        return dropped
    finally:
        conn.close()


def iso_day(text: str) -> date:
    """An argparse type: a calendar day as YYYY-MM-DD (so no 'infinity', no far-off words)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text!r}") from None


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--before", type=iso_day, required=True, metavar="YYYY-MM-DD",
                        help="first day to keep: partitions of earlier days are dropped")
    parser.add_argument("--dry-run", action="store_true",
                        help="show what would be dropped, with exact row counts, and drop nothing")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        dropped = prune(load(), args.before, dry_run=args.dry_run)
    except SettingsError as exc:
        print(f"{parser.prog}: dropping partitions is an operator's action and needs the owner's "
              f"connection: {exc}", file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(f"{parser.prog}: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    verb = "would drop" if args.dry_run else "dropped"
    for part in dropped:
        print(f"{verb} {part.partition}: {part.rows:,} rows from {part.files:,} files")
    rows = sum(p.rows for p in dropped)
    print(f"{verb} {len(dropped)} partitions before {args.before.isoformat()}, {rows:,} rows"
          + ("" if args.dry_run or not dropped else "; recorded in ops.partition_drop"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
