"""What the person COPY's time is made of: parsing the CSV, and the check constraints.

    python bench/bench_copy_formats.py --data-dir data/full     # people.csv of make full (5 M people)
    python bench/bench_copy_formats.py --data-dir data/demo --repeat 3

The population load COPYs people.csv into core.person with its check constraints on, and that COPY
is most of the load. This times the same rows four ways, each COPY ... FREEZE into a table truncated
in its own transaction, as the load does, in a scratch database:
  csv             people.csv into a copy of core.person without its checks (LIKE core.person)
  csv_checked     people.csv into a copy with the checks (LIKE core.person INCLUDING CONSTRAINTS)
  binary          the same rows in PostgreSQL's binary COPY format, without the checks
  binary_checked  the binary rows, with the checks
The binary file is written by PostgreSQL itself (COPY ... TO STDOUT WITH (FORMAT binary)), so it
costs nothing to parse: binary against csv is what the best client-side CSV converter could save
the server, and *_checked against the plain COPY is what the checks cost in either format.
The fastest of --repeat runs of each is printed.

Last line: BENCH copy_formats csv_s=... csv_checked_s=... binary_s=... binary_checked_s=...
checks_s=... ratio=... (csv_checked_s / binary_checked_s)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from core.logs import configure_logging
from core.settings import load
from database.bulk_copy import COPY_CHUNK_BYTES, copy_csv
from database.connection import connect
from database.load_population import csv_columns
from database.schema import scratch_database, with_database

WAYS = ("csv", "csv_checked", "binary", "binary_checked")


def timed_copy(conn, table: str, people: Path, columns: list[str], binary: Path | None) -> float:
    """Seconds for TRUNCATE and COPY ... FREEZE of the people into `table`, committed."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {table}")  # names from this file
        if binary is None:
            copy_csv(cur, table, people, columns, freeze=True)
        else:
            with binary.open("rb") as handle:
                cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT binary, FREEZE)", handle,
                                size=COPY_CHUNK_BYTES)
    conn.commit()
    return time.perf_counter() - started


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data/full"),
                        help="folder with people.csv (default data/full)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each way, interleaved (default 2)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    people = args.data_dir / "people.csv"
    if not people.is_file():
        parser.error(f"{people} not found: generate it first (python generators/generate_people_data.py)")
    configure_logging()
    admin_url = load().require("database_admin_url")
    columns = csv_columns(people)

    with scratch_database(admin_url, prefix="hospital_bench_copy_formats") as name, \
            tempfile.TemporaryDirectory(prefix="bench_copy_formats_") as tmp:
        conn = connect(with_database(admin_url, name))
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE public.person_plain (LIKE core.person)")
            cur.execute("CREATE TABLE public.person_checked (LIKE core.person INCLUDING CONSTRAINTS)")
        conn.commit()
        timed_copy(conn, "public.person_plain", people, columns, None)
        binary = Path(tmp) / "people.bin"
        with conn.cursor() as cur, binary.open("wb") as handle:
            column_list = ", ".join(f'"{c}"' for c in columns)  # the file's own header, quoted
            cur.copy_expert(f"COPY public.person_plain ({column_list}) TO STDOUT WITH (FORMAT binary)", handle)
        conn.commit()
        print(f"people: {people} ({people.stat().st_size / 1e6:.0f} MB as CSV, "
              f"{binary.stat().st_size / 1e6:.0f} MB in binary)", flush=True)

        best = {way: float("inf") for way in WAYS}
        for run in range(1, args.repeat + 1):
            for way in WAYS:
                table = "public.person_checked" if way.endswith("checked") else "public.person_plain"
                seconds = timed_copy(conn, table, people, columns, binary if way.startswith("binary") else None)
                best[way] = min(best[way], seconds)
                print(f"run {run}: {way} {seconds:.1f} s", flush=True)
        conn.close()

    checks_s = ((best["csv_checked"] - best["csv"]) + (best["binary_checked"] - best["binary"])) / 2
    print(f"BENCH copy_formats csv_s={best['csv']:.2f} csv_checked_s={best['csv_checked']:.2f} "
          f"binary_s={best['binary']:.2f} binary_checked_s={best['binary_checked']:.2f} "
          f"checks_s={checks_s:.2f} ratio={best['csv_checked'] / best['binary_checked']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
