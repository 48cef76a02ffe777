"""`make full` (or `make demo`) from scratch in this checkout and in another, one after the other.

    git worktree add /tmp/baseline 33ec020
    python bench/compare_full_run.py --baseline /tmp/baseline             # make full, about 8 minutes
    python bench/compare_full_run.py --baseline /tmp/baseline --target demo

For each checkout, baseline first: its services are stopped and started by its own `make`, its
DATA_DIR (data/full or data/demo) is deleted so that everything is generated again, and
`make <target> RUN_ARGS=--fresh` runs with its output kept in a log beside this script's temporary
folder. The phases come from lines every release writes: the first progress line of `hospital
run` (the population is generated and loaded by then), the writer's last line in DATA_DIR/logs
(its files are all written), and the end of `make`. A checkout needs `make setup` once (its
.venv); the machine must be otherwise idle, and nothing else may use the services' ports.

Checked afterwards: each run's final status has every event stored and every row read loaded.
Last line: BENCH full_run wall_s=... baseline_wall_s=... ratio=... (ratio: the baseline's wall
time over this checkout's, above 1 when this checkout is faster)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
DATA_DIRS = {"full": "data/full", "demo": "data/demo"}


@dataclass
class Run:
    """One from-scratch run: wall time, its three phases in seconds, and its final status."""

    wall_s: float
    prepare_s: float
    writer_s: float
    after_writer_s: float
    status: dict


def stamp(line: str) -> float | None:
    """The epoch seconds of a log line's leading timestamp (the project's log format), or None."""
    found = STAMP.match(line)
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(found.group(2)) / 1000


def first_stamp(lines: list[str], needle: str) -> float:
    for line in lines:
        if needle in line and stamp(line) is not None:
            return stamp(line)
    raise RuntimeError(f"no log line with {needle!r}")


def last_status(output: str) -> dict:
    """The JSON object `make <target>` prints last (hospital status --json)."""
    start = output.rfind('{\n  "window"')
    if start < 0:
        raise RuntimeError("the run printed no status")
    return json.loads(output[start:output.rindex("}") + 1])


def run_once(checkout: Path, target: str, log_path: Path) -> Run:
    """`make <target> RUN_ARGS=--fresh` from scratch in `checkout`, its services stopped after."""
    data_dir = checkout / DATA_DIRS[target]
    shutil.rmtree(data_dir, ignore_errors=True)
    started = time.time()
    with log_path.open("w") as log:
        done = subprocess.run(["make", target, "RUN_ARGS=--fresh"], cwd=checkout, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    ended = time.time()
    subprocess.run(["make", "down"], cwd=checkout, capture_output=True, text=True)
    output = log_path.read_text(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"make {target} failed in {checkout} (exit {done.returncode}); see {log_path}")
    lines = output.splitlines()
    first_tick = first_stamp(lines, "hospital.run: tick ")
    writer_lines = (data_dir / "logs" / "writer.log").read_text(errors="replace").splitlines()
    writer_done = first_stamp(writer_lines, "batch_writer: wrote ")
    return Run(wall_s=ended - started, prepare_s=first_tick - started, writer_s=writer_done - first_tick,
               after_writer_s=ended - writer_done, status=last_status(output))


def check(run: Run, name: str) -> None:
    t, b = run.status["transfers"], run.status["batch"]
    if t["events_stored"] != t["events_produced"] or b["rows_loaded"] != b["rows_read"] or b["files_waiting"]:
        raise RuntimeError(f"{name}: the run did not finish whole: {t} {b}")


def describe(run: Run) -> str:
    b = run.status["batch"]
    return (f"{run.wall_s:6.1f} s: population ready after {run.prepare_s:.1f} s, the writer's files after "
            f"{run.writer_s:.1f} s more, the rest {run.after_writer_s:.1f} s; {b['files_loaded']:,} files, "
            f"{b['rows_loaded']:,} rows, {b['bytes_processed'] / 1e9:.2f} GB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout (with its .venv: `make setup`)")
    parser.add_argument("--target", choices=sorted(DATA_DIRS), default="full", help="the make target (default full)")
    args = parser.parse_args(argv)
    baseline = args.baseline.resolve()
    if not (baseline / "Makefile").is_file() or baseline == REPO:
        parser.error(f"{args.baseline} is not another checkout of this project")
    logs = Path(tempfile.mkdtemp(prefix="compare_full_run_"))
    subprocess.run(["make", "down"], cwd=REPO, capture_output=True, text=True)  # the ports are the baseline's now
    runs = {}
    for name, checkout in (("baseline", baseline), ("this checkout", REPO)):
        print(f"== {name}: make {args.target} RUN_ARGS=--fresh in {checkout} (log: {logs / (name.split()[0] + '.log')})",
              flush=True)
        runs[name] = run_once(checkout, args.target, logs / f"{name.split()[0]}.log")
        check(runs[name], name)
        print(f"   {describe(runs[name])}", flush=True)
    ours, theirs = runs["this checkout"], runs["baseline"]
    print(f"BENCH {args.target}_run wall_s={ours.wall_s:.1f} baseline_wall_s={theirs.wall_s:.1f} "
          f"prepare_s={ours.prepare_s:.1f} baseline_prepare_s={theirs.prepare_s:.1f} "
          f"writer_s={ours.writer_s:.1f} baseline_writer_s={theirs.writer_s:.1f} "
          f"after_writer_s={ours.after_writer_s:.1f} baseline_after_writer_s={theirs.after_writer_s:.1f} "
          f"ratio={theirs.wall_s / ours.wall_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
