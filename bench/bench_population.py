"""Population benchmark: load-population into an empty warehouse, against a plain COPY of the same files.

    python bench/bench_population.py                    # needs `make up`; uses its own scratch database
    python bench/bench_population.py --people 5000000
    python bench/bench_population.py --data-dir data/full   # CSVs already generated (not timed)

1. The generators write people.csv, hospital_patients.csv, staff.csv, doctors.csv and
   assigned_staff.csv for --people people into a temporary folder (not timed), unless --data-dir
   names a folder that has them.
2. Baseline, in a new scratch database: one connection COPYs each file into an empty copy of its
   table with the same columns and no index or constraint but NOT NULL, committing per file.
3. The loader, in the same scratch database: `load_population` as the pipeline role
   (DATABASE_URL) into the empty warehouse, reference tables and staff history included; the
   seconds of each table (its transaction, index and constraint rebuilds included) are printed.
4. Checked afterwards: every table holds its file's rows, and no rebuild is left pending.
Steps 2-4 run --repeat times, one after the other; copy_rows_per_s and rows_per_s are of the
fastest baseline and the fastest load.

Last line: BENCH population rows_per_s=... copy_rows_per_s=... runs=... ratio=...
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

from core.logs import configure_logging
from core.settings import load
from database.bulk_copy import copy_csv
from database.connection import connect
from database.load_population import GENERATED_TABLES, csv_columns, load_population
from database.schema import scratch_database, with_database
from generators import assign_hospital_staff, generate_people_data, generate_staff_doctors

log = logging.getLogger("bench.population")


def generate(folder: Path, people: int, seed: int) -> None:
    """The five population CSVs for `people` people, as `hospital prepare` makes them."""
    steps = [
        (generate_people_data.main, ["--rows", str(people), "--seed", str(seed), "--out", str(folder / "people.csv"),
                                     "--no-progress"]),
        (generate_staff_doctors.main, ["--people", str(folder / "people.csv"), "--out-dir", str(folder),
                                       "--seed", str(seed)]),
        (assign_hospital_staff.main, ["--staff", str(folder / "staff.csv"),
                                      "--out", str(folder / "assigned_staff.csv")]),
    ]
    for step, argv in steps:
        if step(argv) != 0:
            raise RuntimeError(f"generating the population failed at {step.__module__}")


def rows_of(path: Path) -> int:
    """Data rows of a generated CSV (one record per line: the generators quote no line breaks)."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def baseline_copy(admin_url: str, folder: Path) -> float:
    """Seconds to COPY every file into an unindexed, unconstrained copy of its table, one commit per file.

    Through the admin connection: the pipeline role may not create tables."""
    conn = connect(admin_url)
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA plain")
        for table in GENERATED_TABLES:
            cur.execute(f"CREATE TABLE plain.{table.split('.')[1]} (LIKE {table})")  # names from a constant
    conn.commit()
    started = time.perf_counter()
    for table, name in GENERATED_TABLES.items():
        with conn.cursor() as cur:
            copy_csv(cur, f"plain.{table.split('.')[1]}", folder / name, csv_columns(folder / name))
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def check_loaded(url: str, expected: dict[str, int]) -> None:
    conn = connect(url)
    with conn.cursor() as cur:
        for table, rows in expected.items():
            cur.execute(f"SELECT count(*) FROM {table}")  # names from a constant
            if cur.fetchone()[0] != rows:
                raise RuntimeError(f"{table} holds other rows than its file's {rows}")
        cur.execute("SELECT count(*) FROM ops.population_load")
        if cur.fetchone()[0]:
            raise RuntimeError("a rebuild is left pending in ops.population_load")
    conn.close()


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=500_000,
                        help="people to generate (default 500,000; the patients are 12%% of them, the staff "
                             "and roster a hospital's)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="use the CSVs already in this folder instead of generating them")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default SEED)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the plain COPY and the load, one after the other, each in a new scratch "
                             "database (default 3); the ratio is of the fastest of each, since a shared machine's "
                             "speed changes by tens of per cent from one minute to the next")
    args = parser.parse_args(argv)
    configure_logging()
    settings = load()
    admin_url = settings.require("database_admin_url")

    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench_population_") as tmp:
        folder = args.data_dir or Path(tmp)
        if args.data_dir is None:
            log.info("generating the population for %d people", args.people)
            generate(folder, args.people, args.seed if args.seed is not None else settings.seed)
        expected = {table: rows_of(folder / file) for table, file in GENERATED_TABLES.items()}
        rows = sum(expected.values())
        print(f"rows: {', '.join(f'{t} {n:,}' for t, n in expected.items())}")
        copies, loads = [], []
        for run in range(1, args.repeat + 1):
            copy_s, load_s, seconds = one_run(settings, admin_url, folder, expected)
            copies.append(copy_s)
            loads.append(load_s)
            print(f"run {run}: plain COPY {copy_s:.1f} s; load-population {load_s:.1f} s ("
                  + ", ".join(f"{t} {s:.1f}" for t, s in seconds.items() if t.startswith("core.")) + ")",
                  flush=True)

    rows_per_s, copy_rows_per_s = rows / min(loads), rows / min(copies)
    print(f"BENCH population rows_per_s={rows_per_s:.0f} copy_rows_per_s={copy_rows_per_s:.0f} "
          f"runs={args.repeat} ratio={rows_per_s / copy_rows_per_s:.2f}")
    return 0


def one_run(settings, admin_url: str, folder: Path, expected: dict[str, int]) -> tuple[float, float, dict[str, float]]:
    """The plain COPY, then the loader, in a new scratch database: (copy_s, load_s, seconds per table)."""
    with scratch_database(admin_url, prefix="hospital_bench_population") as name:
        copy_s = baseline_copy(with_database(admin_url, name), folder)
        local = dataclasses.replace(settings, database_url=with_database(settings.database_url, name))
        conn = connect(local.database_url)
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        load_population(conn, folder, seconds)
        load_s = time.perf_counter() - started
        conn.close()
        check_loaded(local.database_url, expected)
    return copy_s, load_s, seconds


if __name__ == "__main__":
    sys.exit(main())
