"""Write the hospital's patient-record files into the landing folder, one batch every 15 simulated minutes.

Each tick of the window writes one CSV per record kind that has rows (admission, discharge,
diagnosis, vital_sign, lab_result, medication; see core/batch_files.py), each written as
`*.tmp` and renamed when complete, so a loader never sees half a file. The population (patients,
wards, staff on shift, ICD-10 codes) is read from the warehouse, so load it first
(`hospital load-population`). `--target-size` sizes the whole window (default 5GB over 864 ticks,
about 6 MB a tick).

The writer keeps its place in DATA_DIR/state/batch_writer.json and the census it started from
(who was in which bed at the window start) in batch_writer.census.npz beside it: the stream
consumer moves patients between wards in the warehouse while the run goes on, so a restarted
writer must not read the census again. A stopped run continues at the next tick and writes the
same bytes an uninterrupted run would have.

    python producer/batch_writer.py --target-size 50MB
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import threading
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.atomic_write import replacing, write_atomically
from core.batch_files import KINDS, BatchFolders, file_name
from core.clock import BATCH_INTERVAL, WINDOW_DAYS, SimClock, tick_time, window_ticks
from core.logs import configure_logging
from core.settings import Settings, load
from core.shutdown import stop_on_signals
from core.sizes import parse_size
from database.connection import connect_with_retry
from generators.clinical_records import (Census, DutyRoster, Population, csv_bytes, step_census, tick_id_base,
                                       tick_records, ward_eligibility)

log = logging.getLogger(__name__)

DEFAULT_TARGET_BYTES = 5 * 10**9
# Vital signs fill each tick's byte budget; the other kinds come to a few per cent of it.
VITAL_ROW_BYTES = 86  # when no trial row can be made


class PopulationMissing(RuntimeError):
    """The warehouse has no wards or patients to write records about."""


def _frame(cur, query: str, params: tuple) -> pd.DataFrame:
    """A query's result through COPY (fast and compact for a million patients)."""
    buffer = io.BytesIO()
    cur.copy_expert(cur.mogrify(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", params).decode(),
                    buffer)
    buffer.seek(0)
    return pd.read_csv(buffer, keep_default_na=False, dtype=str)


def load_population(settings: Settings, start: datetime, end: datetime) -> Population:
    """Patients (with sex and age), wards, staff and roster, and ICD-10 codes from the warehouse."""
    conn = connect_with_retry(settings=settings)  # PostgreSQL may be restarting as a run starts
    try:
        with conn.cursor() as cur:
            patients = _frame(cur, """
                SELECT pt.patient_id, pt.person_id, p.sex,
                       (%s::date - p.date_of_birth) / 365.2425 AS age_years,
                       coalesce(pt.chronic_conditions, '') AS chronic_conditions,
                       coalesce(pt.current_ward_code, '') AS current_ward_code,
                       coalesce(extract(epoch FROM pt.current_ward_since - %s)::text, '') AS since_s,
                       coalesce(pt.current_primary_icd10, '') AS primary_icd10
                FROM core.patient pt JOIN core.person p ON p.person_id = pt.person_id
                ORDER BY pt.patient_id""", (start.date(), start))
            wards = _frame(cur, "SELECT ward_code, ward_type, bed_count, department_code FROM reference.ward "
                                "WHERE bed_count > 0 ORDER BY ward_code", ())
            staff = _frame(cur, """
                SELECT staff_id, staff_category, coalesce(home_ward_code, '') AS home_ward_code, department_code
                FROM core.staff
                WHERE staff_category IN ('doctor', 'nurse') AND hire_date <= %s
                  AND (retirement_date IS NULL OR retirement_date > %s)
                ORDER BY staff_id""", (end.date(), start.date()))
            roster = _frame(cur, """
                SELECT sa.ward_code, sa.staff_id, (s.staff_category = 'doctor')::integer AS is_doctor,
                       extract(epoch FROM sa.shift_start) AS shift_start, extract(epoch FROM sa.shift_end) AS shift_end
                FROM core.staff_assignment sa JOIN core.staff s ON s.staff_id = sa.staff_id
                WHERE sa.shift_end > %s AND sa.shift_start < %s AND s.staff_category IN ('doctor', 'nurse')
                ORDER BY sa.shift_start, sa.staff_id""", (start, end))
            icd = _frame(cur, """
                SELECT icd10_code, coalesce(sex_restriction, '') AS sex, coalesce(min_age_years, -1) AS min_age,
                       coalesce(max_age_years, 999) AS max_age
                FROM reference.icd10_code ORDER BY icd10_code""", ())
        conn.rollback()
    finally:
        conn.close()
    if wards.empty or patients.empty or staff.empty or icd.empty:
        raise PopulationMissing("the warehouse has no wards, patients, doctors/nurses or ICD-10 codes: "
                                "load the population first (hospital load-population)")
    return Population(
        patient_id=patients.patient_id.astype(np.int64).to_numpy(),
        person_id=patients.person_id.astype(np.int64).to_numpy(),
        female=(patients.sex == "F").to_numpy(),
        age_years=patients.age_years.astype(float).to_numpy(),
        ward_code=wards.ward_code.to_numpy(dtype=str), ward_type=wards.ward_type.to_numpy(dtype=str),
        ward_beds=wards.bed_count.astype(np.int64).to_numpy(),
        icd10_code=icd.icd10_code.to_numpy(dtype=str), icd10_sex=icd.sex.to_numpy(dtype=str),
        icd10_min_age=icd.min_age.astype(np.int64).to_numpy(), icd10_max_age=icd.max_age.astype(np.int64).to_numpy(),
        duty=_duty_roster(wards, staff, roster),
        **window_census(patients, wards.ward_code, icd.icd10_code))


def window_census(patients: pd.DataFrame, ward_codes: pd.Series, icd10_codes: pd.Series) -> dict[str, np.ndarray]:
    """Population's chronic conditions and the census at the window start from the patients' columns
    chronic_conditions, current_ward_code, since_s (seconds from the window start to
    current_ward_since; '' when not in a bed) and primary_icd10 (the stay's primary diagnosis, ''
    when not known: the writer then draws one). A patient in a ward without beds counts as not in one."""
    index = {code: i for i, code in enumerate(ward_codes)}
    ward = patients.current_ward_code.map(index).fillna(-1).astype(np.int64).to_numpy()
    since = pd.to_numeric(patients.since_s.replace("", None), errors="coerce").fillna(0.0).to_numpy(dtype=float)
    code_index = {code: i for i, code in enumerate(icd10_codes)}
    primary = patients.primary_icd10.map(code_index).fillna(-1).astype(np.int64).to_numpy()
    return {"chronic_conditions": patients.chronic_conditions.to_numpy(dtype=str), "census_ward": ward,
            "census_since_s": np.minimum(since, 0.0), "census_primary": np.where(ward >= 0, primary, -1)}


def _duty_roster(wards: pd.DataFrame, staff: pd.DataFrame, roster: pd.DataFrame) -> DutyRoster:
    ward_index = {code: i for i, code in enumerate(wards.ward_code)}
    ids = staff.staff_id.astype(np.int64).to_numpy()

    def fallback(category: str) -> list[np.ndarray]:
        of_kind = (staff.staff_category == category).to_numpy()
        groups = []
        for code, department in zip(wards.ward_code, wards.department_code):
            for mask in (of_kind & (staff.home_ward_code == code).to_numpy(),
                         of_kind & (staff.department_code == department).to_numpy(), of_kind,
                         np.ones(len(ids), bool)):
                if mask.any():
                    groups.append(ids[mask])
                    break
        return groups

    roster = roster[roster.ward_code.isin(ward_index)]
    return DutyRoster(
        ward_codes=wards.ward_code.to_numpy(dtype=str),
        fallback_nurses=fallback("nurse"), fallback_doctors=fallback("doctor"),
        roster_ward=roster.ward_code.map(ward_index).astype(np.int64).to_numpy(),
        roster_staff=roster.staff_id.astype(np.int64).to_numpy(),
        roster_is_doctor=(roster.is_doctor == "1").to_numpy(),
        roster_start=roster.shift_start.astype(float).to_numpy(),
        roster_end=roster.shift_end.astype(float).to_numpy())


def census_rng(seed: int, tick: int) -> np.random.Generator:
    return np.random.default_rng([seed, tick, 1])


def records_rng(seed: int, tick: int) -> np.random.Generator:
    return np.random.default_rng([seed, tick, 2])


def trial_tick(pop: Population, eligible: list[np.ndarray], seed: int, start: datetime) -> tuple[float, int]:
    """(average bytes of a vital-sign row, bytes of every other kind in a tick) with this population,
    measured on a trial of tick 1 (tick 0 admits the whole starting census at once, so is not typical);
    the same for every run with this population and seed."""
    first = step_census(pop, Census(), eligible, 0, tick_id_base(start), census_rng(seed, 0))[2]
    second = tick_time(start, BATCH_INTERVAL, 1)
    leaving, offsets, after = step_census(pop, first, eligible, 1, tick_id_base(second), census_rng(seed, 1))
    trial = tick_records(pop, first, leaving, offsets, after, 1, second, 2000, records_rng(seed, 1))
    others = sum(len(csv_bytes(KINDS[name], columns)) for name, columns in trial.tables.items()
                 if name != "vital_sign")
    columns = trial.tables.get("vital_sign")
    if not columns:
        return float(VITAL_ROW_BYTES), others
    header = len(",".join(KINDS["vital_sign"].header)) + 1
    return (len(csv_bytes(KINDS["vital_sign"], columns)) - header) / len(columns[0]), others


@dataclass
class WriteResult:
    ticks: int = 0
    files: int = 0
    bytes: int = 0
    rows: int = 0


# The Population fields that the warehouse changes during a run (core.patient's current ward,
# since when and the stay's diagnosis, which the stream consumer updates).
CENSUS_FIELDS = ("census_ward", "census_since_s", "census_primary")


class WriterState:
    """The writer's place in the window, kept in a small JSON file written atomically, and the
    census it started from (CENSUS_FIELDS, with the patient ids they align with) in an .npz file."""

    def __init__(self, path: Path, key: dict):
        self.path, self.key = path, key
        self.census_path = path.with_suffix(".census.npz")

    def saved_census(self, patient_id: np.ndarray) -> dict[str, np.ndarray] | None:
        """The census saved for this window and these patients, or None."""
        try:
            with zipfile.ZipFile(self.census_path) as archive, np.load(self.census_path, allow_pickle=False) as saved:
                if archive.testzip() is not None or str(saved["key"]) != json.dumps(self.key, sort_keys=True) \
                        or not np.array_equal(saved["patient_id"], patient_id):
                    return None
                return {name: saved[name] for name in CENSUS_FIELDS}
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):  # missing, torn or of another layout
            return None

    def save_census(self, pop: Population) -> None:
        with replacing(self.census_path) as tmp, tmp.open("wb") as handle:
            np.savez(handle, key=np.array(json.dumps(self.key, sort_keys=True)), patient_id=pop.patient_id,
                     **{name: getattr(pop, name) for name in CENSUS_FIELDS})

    def next_tick(self) -> int:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return 0
        return saved.get("next_tick", 0) if saved.get("key") == self.key else 0

    def save(self, next_tick: int) -> None:
        write_atomically(self.path, json.dumps({"key": self.key, "next_tick": next_tick}).encode("utf-8"))


def writer_state(settings: Settings, *, days: int, target_bytes: int) -> WriterState:
    """The writer's place in the window of these settings, days and size (0 for another window)."""
    return WriterState(settings.data_dir / "state" / "batch_writer.json",
                       {"start": settings.sim_start.isoformat(), "days": days, "seed": settings.seed,
                        "target_bytes": target_bytes})


def starting_population(settings: Settings, state: WriterState, end: datetime, *, fresh: bool,
                        first: int) -> Population:
    """The population, with the census this window started from: saved when the window was begun
    (or with `fresh`, now), so that every tick is drawn from the same census however often the
    writer is stopped and started."""
    pop = load_population(settings, settings.sim_start, end)
    saved = None if fresh else state.saved_census(pop.patient_id)
    if saved is not None:
        return replace(pop, _cache={}, **saved)
    if first > 0:
        log.warning("no census saved for this window in %s (an earlier release's state?): ticks %d on "
                    "start from the warehouse's census now, not the one the window began with",
                    state.census_path, first)
    state.save_census(pop)
    return pop


def write_window(settings: Settings, *, target_bytes: int = DEFAULT_TARGET_BYTES, days: int = WINDOW_DAYS,
                 max_ticks: int | None = None, restart: bool = False,
                 stop: threading.Event | None = None) -> WriteResult:
    """Write the window's batches from where the last run stopped (or from tick 0 with restart)."""
    stop = stop or threading.Event()
    start = settings.sim_start
    total_ticks = window_ticks(days, BATCH_INTERVAL)
    folders = BatchFolders.from_settings(settings)
    folders.create()
    state = writer_state(settings, days=days, target_bytes=target_bytes)
    first = 0 if restart else state.next_tick()
    pop = starting_population(settings, state, start + timedelta(days=days), fresh=restart, first=first)
    eligible = ward_eligibility(pop)
    census = Census()
    for n in range(first):  # replay the census up to where the last run stopped
        census = step_census(pop, census, eligible, n, tick_id_base(tick_time(start, BATCH_INTERVAL, n)),
                             census_rng(settings.seed, n))[2]
    row_bytes, other_bytes = trial_tick(pop, eligible, settings.seed, start)
    vital_rows = max(0, int((target_bytes / total_ticks - other_bytes) / row_bytes))
    if vital_rows == 0:
        log.warning("--target-size %d bytes leaves no room for vital signs (the other records of a tick take "
                    "about %d bytes); no vital-sign files will be written", target_bytes, other_bytes)
    last = total_ticks if max_ticks is None else min(total_ticks, first + max_ticks)
    clock = SimClock(tick_time(start, BATCH_INTERVAL, first), settings.sim_speed).stop_on(stop)
    result = WriteResult()
    log.info("writing ticks %d-%d of %d into %s (%d vital signs a tick)", first, last - 1, total_ticks,
             folders.landing, vital_rows)
    progress = tqdm(total=last - first, desc="write", unit="tick", disable=None)
    for n, instant in clock.ticks(start, BATCH_INTERVAL, last, first=first):
        before = census
        leaving, offsets, census = step_census(pop, census, eligible, n, tick_id_base(instant),
                                               census_rng(settings.seed, n))
        records = tick_records(pop, before, leaving, offsets, census, n, instant, vital_rows,
                               records_rng(settings.seed, n))
        for kind_name, columns in records.tables.items():
            if records.rows(kind_name) == 0:
                continue  # no file rather than a header alone: every such file would be the same bytes
            data = csv_bytes(KINDS[kind_name], columns)
            write_atomically(folders.landing / file_name(KINDS[kind_name], instant, n), data)
            result.files += 1
            result.bytes += len(data)
            result.rows += records.rows(kind_name)
        state.save(n + 1)
        result.ticks += 1
        progress.update(1)
        if stop.is_set():
            break
    progress.close()
    stop.set()
    return result


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-size", type=parse_size, default=DEFAULT_TARGET_BYTES,
                        help="total size of the window's files, e.g. 5GB (default) or 50MB for a demo")
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the window (default {WINDOW_DAYS}: {window_ticks(WINDOW_DAYS, BATCH_INTERVAL)} ticks)")
    parser.add_argument("--ticks", type=int, default=None, help="stop after this many ticks (default: to the end)")
    parser.add_argument("--restart", action="store_true", help="start again at tick 0 instead of resuming")
    parser.add_argument("--data-dir", type=Path, default=None, help="override DATA_DIR")
    args = parser.parse_args(argv)
    configure_logging()
    settings = load()
    if args.data_dir is not None:
        settings = replace(settings, data_dir=args.data_dir)
    stop = stop_on_signals()  # finish the tick being written, then stop
    try:
        result = write_window(settings, target_bytes=args.target_size, days=args.days, max_ticks=args.ticks,
                              restart=args.restart, stop=stop)
    except PopulationMissing as exc:
        log.error("%s", exc)
        return 1
    log.info("wrote %d ticks: %d files, %d rows, %.1f MB", result.ticks, result.files, result.rows,
             result.bytes / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
