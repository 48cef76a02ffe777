"""Benchmark the batch-record writer of this checkout against another checkout's, side by side.

Both checkouts write the same ticks for the same generated population (people.csv and its
patients, staff and roster, made once by this checkout's generators, no service needed: the
warehouse's population is read from the CSVs as bench/output_digests.py does), each in a process
of its own with its checkout first on the import path, one after the other. The figure that
matters is the ratio of ticks per second (these machines are noisy). Without --baseline the
checkout is measured against itself. Ends with exactly one line:
    BENCH records ticks_per_s=... baseline_ticks_per_s=... rows_per_s=... ratio=...

    python bench/bench_records.py --baseline /work/main --people 20000 --ticks 96
"""

from __future__ import annotations

import argparse
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
    began = time.perf_counter()
    result = writer.write_window(settings, target_bytes=parse_size(target), days=9, max_ticks=ticks, restart=True)
    return {"seconds": time.perf_counter() - began, "rows": result.rows, "bytes": result.bytes}


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
    parser.add_argument("--baseline", type=Path, default=HERE.parent.parent,
                        help="the checkout to compare with (default: this one)")
    parser.add_argument("--people", type=int, default=20000, help="people to generate (default %(default)s)")
    parser.add_argument("--ticks", type=int, default=96, help="writer ticks, 96 = one day (default %(default)s)")
    parser.add_argument("--target-size", default="50MB", help="the window's size (default %(default)s)")
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
        theirs = _measure(args.baseline.resolve(), folder, args)
    ticks_per_s = args.ticks / mine["seconds"]
    baseline = args.ticks / theirs["seconds"]
    print(f"BENCH records ticks_per_s={ticks_per_s:.2f} baseline_ticks_per_s={baseline:.2f} "
          f"rows_per_s={mine['rows'] / mine['seconds']:.0f} rows={mine['rows']} baseline_rows={theirs['rows']} "
          f"ratio={ticks_per_s / baseline:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
