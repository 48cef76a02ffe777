"""The person digit checks, three ways: what each formulation costs over the people in the warehouse.

    python bench/bench_person_checks.py              # needs a loaded warehouse (make full, or hospital prepare)
    python bench/bench_person_checks.py --repeats 5

COPY evaluates core.person's check constraints on every row of people.csv, so their cost is part of
the population load. For the three "only digits" tests (ID number, phone number, postal code) this
times three formulations that let exactly the same values through:
  regex    the anchored regular expressions first used: x ~ '^[0-9]{13}$'
  ltrim    a length test and ltrim(x, '0123456789') = ''
  current  a length test and x !~ '[^0-9]' (init_db.sql)
Each is a count over core.person in one backend (no parallel workers, no JIT), less the same scan
without the test; the median of --repeats runs is printed, for each column and in total.

Last line: BENCH person_checks regex_s=... ltrim_s=... current_s=... ratio=... (regex_s / current_s)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from core.logs import configure_logging
from core.settings import load
from database.connection import connect

# column -> formulation -> the WHERE condition (each true for exactly the same values)
FORMULATIONS: dict[str, dict[str, str]] = {
    "sa_id_number": {
        "regex": "sa_id_number ~ '^[0-9]{13}$'",
        "ltrim": "length(sa_id_number) = 13 AND ltrim(sa_id_number, '0123456789') = ''",
        "current": "length(sa_id_number) = 13 AND sa_id_number !~ '[^0-9]'",
    },
    "phone_number": {
        "regex": "phone_number ~ '^\\+27[0-9]{9}$'",
        "ltrim": "length(phone_number) = 12 AND left(phone_number, 3) = '+27' "
                 "AND ltrim(substr(phone_number, 4), '0123456789') = ''",
        "current": "length(phone_number) = 12 AND phone_number LIKE '+27%' AND substr(phone_number, 4) !~ '[^0-9]'",
    },
    "postal_code": {
        "regex": "postal_code ~ '^[0-9]{4}$'",
        "ltrim": "length(postal_code) = 4 AND ltrim(postal_code, '0123456789') = ''",
        "current": "length(postal_code) = 4 AND postal_code !~ '[^0-9]'",
    },
}


def timed_count(cur, condition: str) -> tuple[float, int]:
    started = time.perf_counter()
    cur.execute(f"SELECT count(*) FROM core.person WHERE {condition}")  # conditions from the constant above
    return time.perf_counter() - started, cur.fetchone()[0]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each count; the median is kept (default 3)")
    args = parser.parse_args(argv)
    configure_logging()
    conn = connect(load().database_url)
    totals = {"regex": 0.0, "ltrim": 0.0, "current": 0.0}
    try:
        with conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 0")
            cur.execute("SET jit = off")
            people = timed_count(cur, "true")[1]
            if people == 0:
                print(f"{parser.prog}: error: core.person is empty: run `make full` or `hospital prepare` first",
                      file=sys.stderr)
                return 1
            for column, ways in FORMULATIONS.items():
                bare = f"{column} IS NULL OR {column} IS NOT NULL"
                samples: dict[str, list[float]] = {way: [] for way in ways}
                passed: dict[str, set[int]] = {way: set() for way in ways}
                for _ in range(args.repeats):
                    scan_s = timed_count(cur, bare)[0]
                    for way, condition in ways.items():
                        seconds, count = timed_count(cur, condition)
                        samples[way].append(seconds - scan_s)
                        passed[way].add(count)
                counts = set().union(*passed.values())
                if len(counts) != 1:
                    raise RuntimeError(f"{column}: the formulations let different numbers of rows through: {passed}")
                medians = {way: max(0.0, statistics.median(values)) for way, values in samples.items()}
                for way, seconds in medians.items():
                    totals[way] += seconds
                print(f"{column}: " + ", ".join(f"{way} {seconds:.2f} s" for way, seconds in medians.items())
                      + f" ({counts.pop():,} of {people:,} rows pass)")
    finally:
        conn.close()
    print(f"BENCH person_checks regex_s={totals['regex']:.2f} ltrim_s={totals['ltrim']:.2f} "
          f"current_s={totals['current']:.2f} ratio={totals['regex'] / max(totals['current'], 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
