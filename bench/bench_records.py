"""Benchmark the batch-record writer: MB/s against a plain csv.writer loop over the same records,
and, with --baseline, ticks per second against another checkout's writer, side by side.

The writer writes the window's first ticks at the full window's density (--target-size 5GB: about
6 MB and 75,000 records a tick, as `make full` writes them) for a generated population (people.csv
and its patients, staff and roster, made once by this checkout's generators; no service is
needed: the warehouse's population is read from the CSVs as bench/output_digests.py does), in a
process of its own with its checkout first on the import path. Its MB/s counts everything: the
census, drawing the records, encoding and writing the files.

The csv.writer baseline is what the simplest writer would spend on encoding alone: the same
records, read back from the files (not timed) as Python rows, written to files of the same names
by `csv.writer(...).writerows`, one file per kind and tick. `ratio` is the writer's MB/s over it:
above 1, the whole writer is faster than a plain csv.writer loop would be only to write its rows.
Ends with exactly one line:
    BENCH records mb_per_s=... csv_writer_mb_per_s=... ratio=... [baseline_ticks_per_s=... checkout_ratio=...]

    python bench/bench_records.py                       # the writer against csv.writer
    python bench/bench_records.py --baseline /tmp/old   # and against another checkout's writer
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))  # bench/ holds output_digests, the shared population loader

import output_digests  # noqa: E402  (after the path entry above)


def _time_writer(folder: Path, ticks: int, target: str) -> dict:
    """Run the checkout's writer over `ticks` ticks of the population in `folder`; seconds and rows."""
    writer = output_digests._first_module("producer.batch_writer")
    settings = output_digests._first_module("core.settings").load()
    writer.load_population = lambda _settings, start, end: output_digests._writer_population(folder, start, end)
    parse_size = output_digests._first_module("core.sizes").parse_size
    def run(max_ticks: int):
        began = time.perf_counter()
        result = writer.write_window(settings, target_bytes=parse_size(target), days=9, max_ticks=max_ticks,
                                     restart=True)
        return time.perf_counter() - began, result

    # The ticks after the first, timed apart from what a run does once (reading the population, the
    # trial tick, the first tick's carried-over census): a window has 864 ticks.
    first_seconds, first = run(1)
    for path in (settings.data_dir / "landing").glob("*.csv"):
        path.unlink()
    seconds, result = run(ticks + 1)
    landing = settings.data_dir / "landing"
    for path in landing.glob("*_t0000.csv"):
        path.unlink()
    return {"seconds": seconds - first_seconds, "rows": result.rows - first.rows, "bytes": result.bytes - first.bytes,
            "csv_writer_seconds": _time_csv_writer(landing)}


def _time_csv_writer(landing: Path) -> float:
    """Seconds a plain csv.writer loop takes to write the records of the files in `landing` again."""
    tables = {}
    for path in sorted(landing.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            tables[path.name] = list(csv.reader(handle))
    with tempfile.TemporaryDirectory(prefix="bench-csv-writer-") as out:
        began = time.perf_counter()
        for name, rows in tables.items():
            with open(Path(out) / name, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, lineterminator="\n").writerows(rows)
        return time.perf_counter() - began


def _measure(checkout: Path, folder: Path, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONDONTWRITEBYTECODE="1",
               DATA_DIR=str(folder / f"data-{checkout.name}"), SIM_START=output_digests.SIM_START,
               SIM_SPEED="0", SEED=str(args.seed),
               DATABASE_URL="postgresql://bench@stand-in:1/none", KAFKA_BOOTSTRAP_SERVERS="stand-in:1")
    command = [sys.executable, str(HERE), "--time", str(folder), "--ticks", str(args.ticks),
               "--target-size", args.target_size]
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measuring {checkout} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout whose writer to time side by side")
    parser.add_argument("--people", type=int, default=300000,
                        help="people to generate: enough patients to fill the wards (default %(default)s)")
    parser.add_argument("--ticks", type=int, default=96, help="writer ticks, 96 = one day (default %(default)s)")
    parser.add_argument("--target-size", default="5GB",
                        help="the whole window's size, which sets a tick's density (default %(default)s, as make full)")
    parser.add_argument("--seed", type=int, default=20260302, help="SEED (default %(default)s)")
    parser.add_argument("--time", type=Path, help=argparse.SUPPRESS)  # the measuring process
    args = parser.parse_args(argv)
    if args.time:
        print(json.dumps(_time_writer(args.time, args.ticks, args.target_size)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-records-") as scratch:
        folder = Path(scratch)
        os.environ.update(SIM_START=output_digests.SIM_START, SEED=str(args.seed))
        output_digests._generate_population(folder, args.seed, args.people)
        mine = _measure(HERE.parent.parent, folder, args)
        theirs = _measure(args.baseline.resolve(), folder, args) if args.baseline else None
    mb_per_s = mine["bytes"] / 1e6 / mine["seconds"]
    csv_writer_mb_per_s = mine["bytes"] / 1e6 / mine["csv_writer_seconds"]
    line = (f"BENCH records mb_per_s={mb_per_s:.1f} csv_writer_mb_per_s={csv_writer_mb_per_s:.1f} "
            f"rows_per_s={mine['rows'] / mine['seconds']:.0f} rows={mine['rows']} mb={mine['bytes'] / 1e6:.0f} "
            f"ratio={mb_per_s / csv_writer_mb_per_s:.2f}")
    if theirs:
        ticks_per_s, baseline = args.ticks / mine["seconds"], args.ticks / theirs["seconds"]
        line += (f" ticks_per_s={ticks_per_s:.2f} baseline_ticks_per_s={baseline:.2f} "
                 f"baseline_rows={theirs['rows']} checkout_ratio={ticks_per_s / baseline:.2f}")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
