"""Generate people.csv (synthetic Gauteng residents with valid SA IDs) and hospital_patients.csv.

    python generators/generate_people_data.py --rows 1000 --out data/people.csv
    hospital generate-people --rows 5000000
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import settings as settings_module
from core.csv_writer import HashingWriter, header_line
from core.logs import configure_logging
from core.sa_id import sequence_slots
from core.settings import SAST
from generators.cli_support import InputError, bounded_int, report_errors, writable_file
from generators.manifest import write_manifest
from generators.patients import PATIENT_COLUMNS, default_patient_count, generate_patients
from generators.people import (CHUNK_ROWS, MAX_ROWS, PEOPLE_COLUMNS, ChunkSummary, PeopleModel,
                               generate_chunk)

log = logging.getLogger(__name__)

_worker_model: PeopleModel | None = None


def _init_worker() -> None:
    global _worker_model
    _worker_model = PeopleModel()


def _chunk_job(job: tuple) -> tuple[bytes, ChunkSummary, int]:
    seed, index, n_chunks, first_id, n, day, slots = job
    data, summary = generate_chunk(_worker_model, seed, index, n_chunks, first_id, n, day, slots)
    return data, summary, n


def write_people(rows: int, seed: int, out: Path, sim_start, workers: int = 1,
                 progress: bool = True) -> tuple[tuple[int, str], ChunkSummary]:
    """Write people.csv; return ((rows, sha256), summary of every person for later generators)."""
    n_chunks = max(1, -(-rows // CHUNK_ROWS))
    slots = sequence_slots(seed)
    day = sim_start.astimezone(SAST).date()
    jobs = [(seed, i, n_chunks, 1 + i * CHUNK_ROWS, min(CHUNK_ROWS, rows - i * CHUNK_ROWS), day, slots)
            for i in range(n_chunks)]
    summaries: list[ChunkSummary] = []
    with HashingWriter(out) as writer, tqdm(total=rows, unit="rows", desc="people", disable=not progress,
                                            unit_scale=True) as bar:
        writer.write(header_line(PEOPLE_COLUMNS))
        if workers > 1 and n_chunks > 1:
            context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
            with context.Pool(workers, initializer=_init_worker) as pool:
                for data, summary, n in pool.imap(_chunk_job, jobs):
                    writer.write(data, n)
                    summaries.append(summary)
                    bar.update(n)
        else:
            _init_worker()
            for job in jobs:
                data, summary, n = _chunk_job(job)
                writer.write(data, n)
                summaries.append(summary)
                bar.update(n)
    merged = ChunkSummary(*(np.concatenate([getattr(s, f) for s in summaries])
                            for f in ChunkSummary.__dataclass_fields__))
    return (writer.rows, writer.sha256), merged


def write_patients(summary: ChunkSummary, count: int, seed: int, out: Path, sim_start) -> tuple[int, str]:
    data, admitted = generate_patients(seed, summary.person_id, summary.birth_day, summary.male,
                                       summary.soweto, summary.insured, count, sim_start.astimezone(SAST))
    with HashingWriter(out) as writer:
        writer.write(header_line(PATIENT_COLUMNS))
        writer.write(data, count)
    log.info("wrote %s: %d patients, %d in a ward at %s", out, count, admitted, sim_start.isoformat())
    return writer.rows, writer.sha256


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    defaults = settings_module.load()
    parser = argparse.ArgumentParser(
        prog=prog, description="Generate people.csv (synthetic Gauteng residents with valid SA ID numbers, "
        "phones, addresses, medical aid) and hospital_patients.csv (registered patients and the ward census "
        "at SIM_START). Same --seed, same bytes.")
    parser.add_argument("--rows", type=bounded_int(1, MAX_ROWS), default=5_000_000,
                        help="number of people (default 5,000,000; at most 50,000,000)")
    parser.add_argument("--seed", type=bounded_int(0, 2**63 - 1), default=defaults.seed,
                        help=f"random seed (default SEED from the environment, now {defaults.seed})")
    parser.add_argument("--out", type=Path, default=defaults.data_dir / "people.csv",
                        help="people CSV to write (default DATA_DIR/people.csv)")
    parser.add_argument("--patients", type=bounded_int(0, MAX_ROWS), default=None,
                        help="registered patients to draw (default 12%% of --rows, at most 600,000; 0: none)")
    parser.add_argument("--patients-out", type=Path, default=None,
                        help="patients CSV to write (default: hospital_patients.csv beside --out)")
    parser.add_argument("--workers", type=bounded_int(1, 64), default=min(2, os.cpu_count() or 1),
                        help="processes generating chunks in parallel (default: 2, or 1 on one core)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def generate(args: argparse.Namespace) -> None:
    """Write people.csv, hospital_patients.csv and their manifest as `args` asks."""
    sim_start = settings_module.load().sim_start
    patients = default_patient_count(args.rows) if args.patients is None else args.patients
    if patients > args.rows:
        raise InputError(f"--patients {patients:,} is more than --rows {args.rows:,}")
    out = writable_file(args.out)
    patients_out = writable_file(args.patients_out or out.with_name("hospital_patients.csv"))
    started = time.perf_counter()
    people_file, summary = write_people(args.rows, args.seed, out, sim_start, args.workers,
                                        progress=not args.no_progress)
    log.info("wrote %s: %d people in %.1f s", out, args.rows, time.perf_counter() - started)
    files = {out: people_file}
    if patients:
        files[patients_out] = write_patients(summary, patients, args.seed, patients_out, sim_start)
    manifest = write_manifest(out.with_name(out.stem + ".manifest.json"), "generate-people", args.seed, files,
                              {"rows": args.rows, "patients": patients, "sim_start": sim_start.isoformat()})
    log.info("manifest %s", manifest)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configure_logging()
    return report_errors(parser.prog, lambda: generate(args))


if __name__ == "__main__":
    sys.exit(main())
