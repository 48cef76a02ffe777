"""Benchmark people.csv generation against a row-by-row Faker loop producing the same columns.

Both run in this script on the same machine, one after the other, on --rows rows; the figure that
matters is the ratio (these machines are noisy). With --full-rows 5000000 it also times the full-scale
run in a subprocess and reports its seconds and the peak RSS of its whole process tree.
Ends with exactly one line:
    BENCH people rows_per_s=... faker_rows_per_s=... peak_rss_mb=... ratio=... [full_rows=... full_s=...]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from faker import Faker

from core.logs import configure_logging
from core.sa_id import make_sa_id
from core.settings import load
from generators.generate_people_data import write_people

log = logging.getLogger("bench.people")
SCHEMES = ["Discovery Health Medical Scheme", "Bonitas Medical Fund", "Momentum Medical Scheme", "Polmed"]


def faker_people(path: Path, rows: int, seed: int) -> None:
    """The baseline: one Faker call per field, one csv.writer call per row."""
    fake = Faker("en_GB")  # no Faker locale has SA IDs or SA phones; the SA ID comes from our scalar rule
    Faker.seed(seed)
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["person_id", "sa_id_number", "first_name", "last_name", "sex", "date_of_birth",
                         "citizenship", "passport_number", "phone_number", "email", "street_address", "suburb",
                         "city", "province", "postal_code", "medical_aid"])
        for person_id in range(1, rows + 1):
            sex = rnd.choice("FM")
            born = fake.date_of_birth(minimum_age=0, maximum_age=99)
            foreign = rnd.random() < 0.06
            citizenship = "foreign_national" if foreign else "citizen"
            sa_id = "" if foreign else make_sa_id(born, rnd.randrange(5000) + (5000 if sex == "M" else 0), citizenship)
            first = fake.first_name_female() if sex == "F" else fake.first_name_male()
            writer.writerow([person_id, sa_id, first, fake.last_name(), sex, born.isoformat(), citizenship,
                             fake.bothify("??#######").upper() if foreign else "", fake.numerify("+2782#######"),
                             fake.email(), fake.street_address().replace("\n", " "), fake.city(), "Johannesburg",
                             "Gauteng", fake.numerify("####"), rnd.choice(SCHEMES) if rnd.random() < 0.25 else ""])


class TreeRssSampler(threading.Thread):
    """Peak of the summed resident memory of a process and its descendants (Linux /proc), sampled."""

    def __init__(self, pid: int, interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval_s, self.peak_kb, self._stop_event = pid, interval_s, 0, threading.Event()

    def _tree(self, pid: int) -> list[int]:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return [pid]
        return [pid] + [p for c in children for p in self._tree(int(c))]

    def _rss_kb(self, pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kb = max(self.peak_kb, sum(self._rss_kb(p) for p in self._tree(self.pid)))
            time.sleep(self.interval_s)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kb // 1024


def time_full_scale(rows: int, folder: Path) -> tuple[float, int]:
    """Seconds and peak tree RSS (MB) of `generate_people_data --rows rows` run as its own process."""
    command = [sys.executable, "-m", "generators.generate_people_data", "--rows", str(rows), "--no-progress",
               "--out", str(folder / "people_full.csv"), "--patients", "0"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = TreeRssSampler(process.pid)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    if code:
        raise RuntimeError(f"full-scale run failed with exit code {code}")
    return seconds, peak


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows for the side-by-side run (default 200,000)")
    parser.add_argument("--faker-rows", type=int, default=None,
                        help="rows for the Faker baseline (default: --rows; rows/s is what is compared)")
    parser.add_argument("--full-rows", type=int, default=0,
                        help="also time a full run of this many rows in a subprocess (e.g. 5000000; default off)")
    parser.add_argument("--seed", type=int, default=20260302)
    args = parser.parse_args(argv)
    configure_logging()
    settings = load()
    with tempfile.TemporaryDirectory(prefix="bench_people_") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_people(args.rows, args.seed, folder / "people.csv", settings.sim_start,
                     workers=min(2, os.cpu_count() or 1), progress=False)
        ours = args.rows / (time.perf_counter() - started)
        log.info("vectorised: %.0f rows/s", ours)
        faker_rows = args.faker_rows or args.rows
        started = time.perf_counter()
        faker_people(folder / "faker.csv", faker_rows, args.seed)
        baseline = faker_rows / (time.perf_counter() - started)
        log.info("faker loop: %.0f rows/s", baseline)
        import resource
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024
        extra = ""
        if args.full_rows:
            seconds, peak = time_full_scale(args.full_rows, folder)
            extra = f" full_rows={args.full_rows} full_s={seconds:.1f}"
            log.info("full run: %d rows in %.1f s, peak tree RSS %d MB", args.full_rows, seconds, peak)
    print(f"BENCH people rows_per_s={ours:.0f} faker_rows_per_s={baseline:.0f} peak_rss_mb={peak} "
          f"ratio={ours / baseline:.1f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
