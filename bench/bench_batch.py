"""Batch benchmark: landing files -> warehouse with the real loader, against a plain COPY of the same files.

    python bench/bench_batch.py                       # needs `make up`; uses its own scratch database
    python bench/bench_batch.py --sample-size 1GB --workers 2

1. A scratch database gets a hospital-sized population (wards, patients, staff, ICD-10 codes)
   and the real writer writes a sample of the window at the default 5 GB density (about 6 MB a
   tick), into a temporary folder.
2. Baseline, same run: one connection COPYs every file into an empty, unindexed table of its
   kind (typed columns, no constraints), committing per file: copy_mb_per_s.
3. The loader: --workers `batch_ingest` processes side by side (as they would run on the
   machine's cores) take the same files through ledger, staging, validation and merge:
   mb_per_s = bytes / wall time from start to the last worker's exit (their start-up included).
   peak_rss_mb is the largest resident set of any loader process.
4. Checked afterwards: every file loaded once, rows loaded = rows written, none rejected.
   The time for the full --target-size window is extrapolated from mb_per_s.

Last line: BENCH batch mb_per_s=... copy_mb_per_s=... peak_rss_mb=... ratio=...
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core import reference
from core.batch_files import KIND_BY_HEADER, BatchFolders, complete_files
from core.clock import BATCH_INTERVAL, tick_count
from core.logs import configure_logging
from core.settings import load
from core.sizes import parse_size
from database.bulk_copy import copy_csv
from database.connection import connect
from database.load_population import load_table
from database.record_file import open_records, read_landed
from database.schema import scratch_database, with_database
from producer.batch_writer import DEFAULT_TARGET_BYTES, write_window

log = logging.getLogger("bench.batch")
REPO = Path(__file__).resolve().parents[1]

def build_population(admin_url: str, patients: int, staff: int) -> None:
    """The reference tables (wards.csv: 72 wards), `patients` patients and `staff` nurses and doctors, set-based."""
    persons = patients + staff
    conn = connect(admin_url)
    # The hospital's own reference tables (wards.csv and the rest): the writer draws admissions
    # by the ward rules of core/wards.py, which know only the real ward codes.
    for table, name in reference.WAREHOUSE_TABLES.items():
        load_table(conn, table, reference.path(name))
    with conn.cursor() as cur:
        cur.execute("""
            INSERT INTO core.person (person_id, sa_id_number, first_name, last_name, sex, date_of_birth, citizenship,
                                     phone_number, postal_code, street_address, suburb, city, province)
            SELECT g, lpad(g::text, 13, '0'), 'N', 'S', CASE WHEN g %% 2 = 0 THEN 'M' ELSE 'F' END,
                   date '1935-01-01' + (g * 7919 %% 32000), 'citizen', '+2782' || lpad((g %% 10000000)::text, 7, '0'),
                   '2001', 'Street', 'Soweto', 'Johannesburg', 'Gauteng'
            FROM generate_series(1, %s) g""", (persons,))
        cur.execute("""
            INSERT INTO core.patient (patient_id, hospital_number, person_id, registration_date, blood_group)
            SELECT 1000000 + g, 'HN' || g, g, '2020-01-01', 'O+' FROM generate_series(1, %s) g""", (patients,))
        cur.execute("""
            INSERT INTO core.staff (staff_id, person_id, persal_number, staff_category, job_title, sanc_category,
                                    department_code, home_ward_code, hire_date)
            SELECT 500000 + g, %s + g, 'P' || g, CASE WHEN g %% 3 = 0 THEN 'doctor' ELSE 'nurse' END, 'Clinician',
                   CASE WHEN g %% 3 = 0 THEN NULL ELSE 'registered_nurse' END,
                   w.department_code, w.ward_code, '2015-01-01'
            FROM generate_series(1, %s) g
            JOIN (SELECT ward_code, department_code, row_number() OVER (ORDER BY ward_code) - 1 AS n,
                         count(*) OVER () AS wards FROM reference.ward) w ON w.n = g %% w.wards""", (patients, staff))
        cur.execute("ANALYZE")
    conn.commit()
    conn.close()


def baseline_copy(url: str, files: list[Path]) -> float:
    """Seconds to COPY every file into an empty, unindexed table of its kind, one commit per file.

    Through the admin connection: the pipeline role may not create tables."""
    conn = connect(url)
    types = {"id": "bigint", "bigint": "bigint", "int": "integer", "numeric": "numeric",
             "timestamp": "timestamptz", "text": "text", "choice": "text"}
    with conn.cursor() as cur:
        for kind in KIND_BY_HEADER.values():
            columns = ", ".join(f"{c.name} {types[c.kind]}" for c in kind.columns)
            cur.execute(f"CREATE TABLE public.plain_{kind.name} ({columns})")
    conn.commit()
    started = time.perf_counter()
    for path in files:
        kind = open_records(read_landed(path)).kind
        with conn.cursor() as cur:
            copy_csv(cur, f"public.plain_{kind.name}", path)
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark so far (VmHWM; it restarts at exec, so the
    memory of the forking parent is not counted). 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def run_loaders(settings, data_dir: Path, workers: int) -> tuple[float, float]:
    """(wall seconds for `workers` batch_ingest processes side by side to take every file, the
    largest resident set any of them reached in MB, sampled every 50 ms while they ran)."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(data_dir), "SIM_SPEED": "0"}
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(workers)]  # a pipe could fill and block
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "database/batch_ingest.py"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
                 for log in logs]
    peak = 0.0
    while any(process.poll() is None for process in processes):
        peak = max([peak] + [_peak_rss_mb(process.pid) for process in processes if process.poll() is None])
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    for process, log_file in zip(processes, logs):
        log_file.seek(0)
        errors = log_file.read()
        log_file.close()
        if process.returncode != 0:
            raise RuntimeError(f"loader failed:\n{errors[-3000:]}")
    return elapsed, peak


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample-size", type=parse_size, default=parse_size("600MB"),
                        help="bytes of files to write and load (default 600MB, about 100 ticks)")
    parser.add_argument("--target-size", type=parse_size, default=DEFAULT_TARGET_BYTES,
                        help="the full window the sample is drawn from and extrapolated to (default 5GB)")
    parser.add_argument("--workers", type=int, default=2, help="loader processes side by side (default 2)")
    parser.add_argument("--patients", type=int, default=200_000, help="patients in the scratch population")
    parser.add_argument("--staff", type=int, default=4_000, help="nurses and doctors in the scratch population")
    args = parser.parse_args(argv)
    configure_logging()
    settings = load()
    ticks = math.ceil(args.sample_size / (args.target_size / tick_count(9 * BATCH_INTERVAL * 96, BATCH_INTERVAL)))

    with scratch_database(settings.require("database_admin_url"), prefix="hospital_bench_batch") as name, \
            tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        local = dataclasses.replace(settings, database_url=with_database(settings.database_url, name),
                                    data_dir=Path(tmp), sim_speed=0)
        build_population(with_database(settings.database_admin_url, name), args.patients, args.staff)
        log.info("writing %d ticks at the %.1f GB density", ticks, args.target_size / 1e9)
        written = write_window(local, target_bytes=args.target_size, max_ticks=ticks, restart=True)
        files = complete_files(BatchFolders.from_settings(local).landing)
        size = sum(p.stat().st_size for p in files)
        log.info("wrote %d files, %d rows, %.1f MB", len(files), written.rows, size / 1e6)

        copy_s = baseline_copy(with_database(settings.database_admin_url, name), files)
        load_s, peak_rss_mb = run_loaders(local, Path(tmp), args.workers)

        conn = connect(local.database_url)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0) "
                        "FROM ops.file_ledger WHERE status = 'loaded'")
            loaded_files, rows_loaded, rows_rejected = cur.fetchone()
        conn.close()
        if (loaded_files, rows_loaded, rows_rejected) != (len(files), written.rows, 0):
            raise RuntimeError(f"the loader did not take every row once: {loaded_files} files, "
                               f"{rows_loaded} rows loaded, {rows_rejected} rejected; wrote {written.rows} rows")

    mb_per_s, copy_mb_per_s = size / 1e6 / load_s, size / 1e6 / copy_s
    full_s = args.target_size / 1e6 / mb_per_s
    print(f"sample: {len(files)} files, {size / 1e6:.1f} MB, {written.rows} rows, {args.workers} loader(s)")
    print(f"plain COPY: {copy_s:.1f} s ({copy_mb_per_s:.1f} MB/s); loader: {load_s:.1f} s ({mb_per_s:.1f} MB/s)")
    print(f"full window ({args.target_size / 1e9:.1f} GB) at this rate: {full_s / 60:.1f} min of loader time")
    print(f"BENCH batch mb_per_s={mb_per_s:.1f} copy_mb_per_s={copy_mb_per_s:.1f} "
          f"peak_rss_mb={peak_rss_mb:.0f} ratio={mb_per_s / copy_mb_per_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
