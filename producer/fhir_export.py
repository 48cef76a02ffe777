"""Export the warehouse as FHIR R4 Bulk Data: one NDJSON file per resource type and a manifest.json.

    hospital export-fhir                                   # everything, into DATA_DIR/fhir
    hospital export-fhir --since 2026-03-02 --until 2026-03-03 --out /tmp/day1
    hospital export-fhir --patients 17,42,311              # or --patients ids.txt

The output follows the Bulk Data `$export` format: `Patient.ndjson`, `Encounter.ndjson`, ... (one
resource a line, UTF-8) and `manifest.json` with transactionTime, request, requiresAccessToken
(false), output (type, url, count per file) and error. Each `url` is a path relative to the
manifest's folder, not an absolute file:// URL: the export is a folder to be copied, zipped or
served, and a relative path stays right wherever it goes. Rows that could not be exported whole
are never dropped in silence: each makes one OperationOutcome in OperationOutcome.ndjson, listed
under `error` (a field left out of a resource is a `warning` issue, a row that made no resource
an `error` issue).

What a slice holds. `--since` / `--until` (ISO times, SAST when no offset is given) select the
Encounters whose stay overlaps [since, until): an admission before `until` not discharged before
`since`. Then Conditions, Observations and MedicationAdministrations of those Encounters, and their
Patients with those Patients' Coverage and chronic Conditions. `--patients` selects patients
(and, with times, narrows the Encounters to theirs) and everything of theirs. The directory
(Organization, Location, Practitioner, PractitionerRole) is small and referenced by every part,
so it is exported whole in every slice. A vital sign, result or medicine belongs to the Encounter
of the same patient whose stay holds its time; one outside every known stay has no Encounter
reference and is only in exports that are not sliced by time.

Admissions and transfers. Admissions and discharges come from the batch files; transfers from the
Kafka stream; the two are simulated apart and need not agree. An Encounter's period and status
come from the admission and its discharge only. Its location history is the admission ward, then
every completed transfer of the patient to a ward inside the stay, in event-time order, as the
stream stored it: when a transfer leaves from another ward than the history had reached (or the
discharge names another ward than the last place) the history is kept as stored and the mismatch
is counted; completed transfers inside no stay are in no Encounter and are counted too. Both
counts are in the manifest's `extension`.

Memory stays bounded: every query runs in a server-side (named) cursor read FETCH_ROWS rows at a
time, each resource is serialised with orjson and written as it is made. All types are read in one
REPEATABLE READ snapshot; with --workers N the types are exported by N processes that import it
(measured slower on two shared cores: Observations are nine resources in ten, so default 1).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import shlex
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import orjson
import psycopg2
from tqdm import tqdm

from core.atomic_write import write_atomically
from core.logs import configure_logging
from core.reference import HOSPITAL_FACILITY_CODE, table
from core.settings import SAST, Settings, load
from core.shutdown import stop_on_signals
from database.connection import connect
from producer import fhir_resources as fr

log = logging.getLogger(__name__)

FETCH_ROWS = 5_000          # rows per round trip of a named cursor: the memory bound of a query
WRITE_BUFFER_BYTES = 1 << 20
PROGRESS_LOG_S = 5.0        # a log line this often when stderr is not a terminal
ERROR_FILE = "OperationOutcome.ndjson"
MANIFEST = "manifest.json"
STATS_EXTENSION = fr.EXTENSION_BASE + "bulk-export-reconciliation"
DUMP = orjson.OPT_APPEND_NEWLINE

# The export's types, in the order the manifest lists them.
RESOURCE_TYPES = ("Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Coverage",
                  "Encounter", "Condition", "Observation", "MedicationAdministration")


@dataclass(frozen=True)
class Slice:
    """What to export: times bound the Encounters, ids the patients; all None = everything."""

    since: datetime | None = None
    until: datetime | None = None
    patients: tuple[int, ...] | None = None

    @property
    def by_time(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def sliced(self) -> bool:
        return self.by_time or self.patients is not None

    def params(self) -> dict:
        return {"since": self.since, "until": self.until,
                "patients": list(self.patients) if self.patients is not None else None}


# --- the queries ------------------------------------------------------------------------------
# Each names its scope with {scope}: a directory query has none; `patient` queries are narrowed to
# the patients in scope, `clinical` ones to the Encounters in scope (time slices) or the patients.

STAY_TABLE = """
CREATE TEMP TABLE fhir_stay ON COMMIT DROP AS
SELECT a.admission_id, a.patient_id, a.ward_code, a.admitted_at, a.admission_type, a.attending_staff_id,
       d.discharged_at, d.disposition, d.discharging_staff_id, d.ward_code AS discharge_ward_code,
       (%(until)s::timestamptz IS NULL OR a.admitted_at < %(until)s::timestamptz)
       AND (%(since)s::timestamptz IS NULL OR d.discharged_at IS NULL OR d.discharged_at >= %(since)s::timestamptz)
       AND (%(patients)s::bigint[] IS NULL OR a.patient_id = ANY(%(patients)s::bigint[])) AS in_scope
FROM (SELECT DISTINCT ON (admission_id) * FROM clinical.admission ORDER BY admission_id, admitted_at) a
LEFT JOIN (SELECT DISTINCT ON (admission_id) admission_id, discharged_at, disposition, discharging_staff_id, ward_code
           FROM clinical.discharge ORDER BY admission_id, discharged_at) d USING (admission_id);
CREATE UNIQUE INDEX ON fhir_stay (admission_id);
CREATE INDEX ON fhir_stay (patient_id, admitted_at);
ANALYZE fhir_stay;
CREATE TEMP TABLE fhir_patient_scope ON COMMIT DROP AS
SELECT patient_id FROM core.patient
WHERE (%(patients)s::bigint[] IS NULL OR patient_id = ANY(%(patients)s::bigint[]))
  AND (NOT %(by_time)s OR patient_id IN (SELECT patient_id FROM fhir_stay WHERE in_scope));
ALTER TABLE fhir_patient_scope ADD PRIMARY KEY (patient_id);
ANALYZE fhir_patient_scope;
"""

# The stay (of the same patient) whose period holds a clinical row's time, latest admission first.
STAY_OF = """LEFT JOIN LATERAL (
    SELECT s.admission_id, s.in_scope FROM fhir_stay s
    WHERE s.patient_id = x.patient_id AND s.admitted_at <= x.{when}
      AND (s.discharged_at IS NULL OR x.{when} <= s.discharged_at)
    ORDER BY s.admitted_at DESC LIMIT 1) st ON true"""

PATIENT_SCOPE = "x.patient_id IN (SELECT patient_id FROM fhir_patient_scope)"


@dataclass(frozen=True)
class Source:
    """One query feeding one resource type, and the mapper of its rows."""

    name: str
    sql: str
    mapper: Callable[[dict], fr.Mapped]
    scope: str = "directory"   # directory | patient | clinical | stay


def _lab_tests() -> dict[str, dict]:
    return {row["test_code"]: row for row in table("lab_tests.csv").to_dict("records")}


def _lab_mapper() -> Callable[[dict], fr.Mapped]:
    tests = _lab_tests()
    return lambda row: fr.lab_result(row, tests)


def _site(row: dict) -> fr.Mapped:
    return fr.hospital_site(row["facility_code"], row["facility_name"])


STAFF_SQL = """SELECT st.staff_id, st.persal_number, st.staff_category, st.job_title, st.sanc_category,
       st.department_code, st.home_ward_code, st.hire_date, st.retirement_date,
       (st.retirement_date IS NULL OR st.retirement_date > current_date) AS active,
       pe.first_name, pe.last_name, pe.sex, pe.date_of_birth,
       d.hpcsa_number, d.grade, d.speciality_code, sp.speciality_name
FROM core.staff st JOIN core.person pe USING (person_id)
LEFT JOIN core.doctor d USING (staff_id) LEFT JOIN reference.speciality sp USING (speciality_code)
ORDER BY st.staff_id"""

PERSON_OF_PATIENT = "FROM core.patient x JOIN core.person pe USING (person_id)"


def sources() -> dict[str, list[Source]]:
    """Resource type -> the queries that make it."""
    return {
        "Organization": [Source("reference.facility", "SELECT * FROM reference.facility ORDER BY facility_code",
                                fr.organization)],
        "Location": [
            Source("hospital site", "SELECT facility_code, facility_name FROM reference.facility "
                   f"WHERE facility_code = '{HOSPITAL_FACILITY_CODE}'", _site),
            Source("reference.department", "SELECT * FROM reference.department ORDER BY department_code",
                   fr.department_location),
            Source("reference.ward", "SELECT * FROM reference.ward ORDER BY ward_code", fr.ward_location)],
        "Practitioner": [Source("core.staff", STAFF_SQL, fr.practitioner)],
        "PractitionerRole": [Source("core.staff", STAFF_SQL, fr.practitioner_role)],
        "Patient": [Source("core.patient", f"""SELECT x.patient_id, x.hospital_number, pe.sa_id_number,
            pe.passport_number, pe.first_name, pe.last_name, pe.sex, pe.date_of_birth, pe.phone_number, pe.email,
            pe.street_address, pe.suburb, pe.city, pe.province, pe.postal_code {PERSON_OF_PATIENT}
            WHERE {{scope}} ORDER BY x.patient_id""", fr.patient, "patient")],
        "Coverage": [Source("core.person.medical_aid", f"""SELECT x.patient_id, pe.medical_aid {PERSON_OF_PATIENT}
            WHERE pe.medical_aid IS NOT NULL AND {{scope}} ORDER BY x.patient_id""", fr.coverage, "patient")],
        "Encounter": [Source("clinical.admission", """SELECT s.*, w.ward_type, tr.*
            FROM fhir_stay s LEFT JOIN reference.ward w ON w.ward_code = s.ward_code
            LEFT JOIN LATERAL (
                SELECT array_agg(t.to_ward_code ORDER BY t.event_time, t.transfer_id) AS transfer_wards,
                       array_agg(t.event_time ORDER BY t.event_time, t.transfer_id) AS transfer_times,
                       array_agg(coalesce(t.from_ward_code, t.from_facility_code)
                                 ORDER BY t.event_time, t.transfer_id) AS transfer_sources
                FROM stream.transfer t
                WHERE t.patient_id = s.patient_id AND t.status = 'completed' AND t.to_ward_code IS NOT NULL
                  AND t.event_time > s.admitted_at AND (s.discharged_at IS NULL OR t.event_time < s.discharged_at)
            ) tr ON true
            WHERE {scope}""", fr.encounter, "stay")],
        "Condition": [
            Source("clinical.diagnosis", """SELECT x.diagnosis_id, x.admission_id, x.patient_id, x.icd10_code,
                x.diagnosis_role, x.diagnosed_at, x.diagnosing_staff_id, st.admission_id IS NOT NULL AS known_admission
                FROM clinical.diagnosis x LEFT JOIN fhir_stay st ON st.admission_id = x.admission_id
                WHERE {scope}""", fr.diagnosis_condition, "clinical"),
            Source("core.patient.chronic_conditions", """SELECT x.patient_id, c.code, c.position
                FROM core.patient x CROSS JOIN LATERAL
                     unnest(string_to_array(x.chronic_conditions, ';')) WITH ORDINALITY AS c(code, position)
                WHERE btrim(c.code) <> '' AND {scope} ORDER BY x.patient_id, c.position""",
                   fr.chronic_condition, "patient")],
        "Observation": [
            Source("clinical.vital_sign", f"""SELECT x.vital_sign_id, x.patient_id, x.measured_at, x.heart_rate_bpm,
                x.systolic_mmhg, x.diastolic_mmhg, x.respiratory_rate, x.temperature_c::float8 AS temperature_c,
                x.spo2_percent, x.recorded_by_staff_id, st.admission_id
                FROM clinical.vital_sign x {STAY_OF.format(when='measured_at')} WHERE {{scope}}""",
                   fr.vital_signs, "clinical"),
            Source("clinical.lab_result", f"""SELECT x.lab_result_id, x.patient_id, x.test_code, x.result_value::float8
                AS result_value, x.result_unit, x.abnormal_flag, x.resulted_at, x.ordering_staff_id, st.admission_id
                FROM clinical.lab_result x {STAY_OF.format(when='resulted_at')} WHERE {{scope}}""",
                   _lab_mapper(), "clinical")],
        "MedicationAdministration": [
            Source("clinical.medication", f"""SELECT x.medication_id, x.patient_id, x.drug_name, x.dose, x.route,
                x.administered_at, x.administered_by_staff_id, st.admission_id
                FROM clinical.medication x {STAY_OF.format(when='administered_at')} WHERE {{scope}}""",
                   fr.medication_administration, "clinical")],
    }


def scope_clause(scope: str, part: Slice) -> str:
    """The WHERE condition that narrows a query of the given scope to the slice."""
    if scope == "directory" or not part.sliced:
        return "TRUE"
    if scope == "stay":
        return "s.in_scope"
    if scope == "clinical" and part.by_time:
        return "st.in_scope IS TRUE"
    return PATIENT_SCOPE


# --- streaming --------------------------------------------------------------------------------

@dataclass
class TypeResult:
    """What exporting one resource type wrote."""

    resource_type: str
    count: int = 0
    problem_rows: int = 0
    ward_mismatches: int = 0
    encounters_with_mismatch: int = 0
    seconds: float = 0.0


class Progress:
    """Resources written: a tqdm bar on a terminal, else a log line every PROGRESS_LOG_S seconds."""

    def __init__(self, resource_type: str, bar: bool):
        self.resource_type, self.count, self.next_log = resource_type, 0, time.monotonic() + PROGRESS_LOG_S
        self.bar = tqdm(desc=resource_type, unit=" res", disable=not bar, leave=False) if bar else None

    def add(self, n: int) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.monotonic() >= self.next_log:
            log.info("%s: %d resources so far", self.resource_type, self.count)
            self.next_log = time.monotonic() + PROGRESS_LOG_S

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def rows(conn, sql: str, params: dict, fetch_rows: int, name: str) -> Iterator[dict]:
    """The rows of `sql` as dicts, through a named (server-side) cursor, `fetch_rows` at a time."""
    with conn.cursor(name=name) as cur:
        cur.itersize = fetch_rows
        cur.execute(sql, params)
        batch = cur.fetchmany(fetch_rows)
        columns = [column.name for column in cur.description] if cur.description else []
        while batch:
            for row in batch:
                yield dict(zip(columns, row))
            batch = cur.fetchmany(fetch_rows)


class ExportStopped(RuntimeError):
    """SIGINT or SIGTERM arrived: the export stops between two fetches and writes no manifest."""


def export_type(conn, resource_type: str, part: Slice, out_dir: Path, fetch_rows: int = FETCH_ROWS,
                bar: bool = False, stop: threading.Event | None = None) -> TypeResult:
    """Write `<type>.ndjson.part` and `<type>.errors.part` in `out_dir` from the open snapshot.
    Raises ExportStopped when `stop` is set (checked every `fetch_rows` rows)."""
    started, result = time.monotonic(), TypeResult(resource_type)
    progress = Progress(resource_type, bar)
    params = part.params()
    with (out_dir / f"{resource_type}.ndjson.part").open("wb", buffering=WRITE_BUFFER_BYTES) as out, \
            (out_dir / f"{resource_type}.errors.part").open("wb", buffering=WRITE_BUFFER_BYTES) as errors:
        for number, source in enumerate(sources()[resource_type]):
            sql = source.sql.replace("{scope}", scope_clause(source.scope, part))
            for index, row in enumerate(rows(conn, sql, params, fetch_rows, f"fhir_{resource_type.lower()}_{number}")):
                if stop is not None and index % fetch_rows == 0 and stop.is_set():
                    raise ExportStopped(f"stopped while exporting {resource_type}")
                mapped = source.mapper(row)
                for resource in mapped.resources:
                    out.write(orjson.dumps(resource, option=DUMP))
                if mapped.issues:
                    result.problem_rows += 1
                    outcome = fr.operation_outcome(f"{resource_type}-{result.problem_rows}", mapped.issues)
                    errors.write(orjson.dumps(outcome, option=DUMP))
                if source.scope == "stay":
                    mismatches = fr.ward_mismatches(row)
                    result.ward_mismatches += mismatches
                    result.encounters_with_mismatch += mismatches > 0
                result.count += len(mapped.resources)
                progress.add(len(mapped.resources))
    progress.close()
    result.seconds = time.monotonic() - started
    log.info("%s: %d resources, %d rows with problems, %.1f s", resource_type, result.count,
             result.problem_rows, result.seconds)
    return result


def open_snapshot(settings: Settings, part: Slice, snapshot: str | None = None):
    """A REPEATABLE READ connection with the stay and scope tables built; importing `snapshot`
    (pg_export_snapshot of another connection) when given, so every worker reads the same data."""
    conn = connect(settings.database_url, settings=settings)
    conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
    with conn.cursor() as cur:
        if snapshot:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot,))
        cur.execute(STAY_TABLE, {**part.params(), "by_time": part.by_time})
    return conn


def _worker(args: tuple) -> TypeResult:
    settings, part, snapshot, resource_type, out_dir, fetch_rows = args
    configure_logging()
    conn = open_snapshot(settings, part, snapshot)
    try:
        return export_type(conn, resource_type, part, out_dir, fetch_rows)
    finally:
        conn.rollback()
        conn.close()


def transfers_outside_stays(conn, part: Slice) -> int:
    """Completed transfers to a ward (of the patients in scope) that fall in no stay."""
    scope = "TRUE" if not part.sliced else "t.patient_id IN (SELECT patient_id FROM fhir_patient_scope)"
    with conn.cursor() as cur:
        cur.execute(f"""SELECT count(*) FROM stream.transfer t
            WHERE t.status = 'completed' AND t.to_ward_code IS NOT NULL AND {scope}
              AND NOT EXISTS (SELECT 1 FROM fhir_stay s WHERE s.patient_id = t.patient_id
                  AND t.event_time > s.admitted_at AND (s.discharged_at IS NULL OR t.event_time < s.discharged_at))""")
        return cur.fetchone()[0]


@dataclass
class ExportOptions:
    out_dir: Path
    part: Slice = field(default_factory=Slice)
    workers: int = 1
    fetch_rows: int = FETCH_ROWS
    progress: bool = False
    request: str = "hospital export-fhir"
    stop: threading.Event | None = None


def export(settings: Settings, options: ExportOptions) -> dict:
    """Export the slice into options.out_dir; returns the manifest it wrote (manifest.json last,
    so a folder with a manifest holds a finished export)."""
    out_dir = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [MANIFEST, ERROR_FILE, *(f"{t}.ndjson" for t in RESOURCE_TYPES)]:
        (out_dir / stale).unlink(missing_ok=True)
    try:
        return _export(settings, options)
    except BaseException:
        for part in out_dir.glob("*.part"):  # an export cut short leaves no half files behind
            part.unlink()
        raise


def _export(settings: Settings, options: ExportOptions) -> dict:
    out_dir = options.out_dir
    conn = open_snapshot(settings, options.part)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT now()")
            transaction_time = cur.fetchone()[0]
            if options.workers > 1:
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
        if options.workers > 1:
            jobs = [(settings, options.part, snapshot, t, out_dir, options.fetch_rows) for t in RESOURCE_TYPES]
            # spawn, not fork: a forked child must not inherit (and on exit close) this connection
            with ProcessPoolExecutor(options.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(_worker, jobs))
        else:
            results = [export_type(conn, t, options.part, out_dir, options.fetch_rows, options.progress, options.stop)
                       for t in RESOURCE_TYPES]
        outside = transfers_outside_stays(conn, options.part)
    finally:
        conn.rollback()
        conn.close()
    return _finish(out_dir, results, transaction_time, options, outside)


def _finish(out_dir: Path, results: list[TypeResult], transaction_time: datetime, options: ExportOptions,
            outside: int) -> dict:
    """Rename the parts into place, gather the error parts into one file, write the manifest."""
    output, problems = [], 0
    with (out_dir / f"{ERROR_FILE}.part").open("wb") as errors:
        for result in results:
            part_path = out_dir / f"{result.resource_type}.errors.part"
            with part_path.open("rb") as part:
                shutil.copyfileobj(part, errors)
            part_path.unlink()
            problems += result.problem_rows
            data = out_dir / f"{result.resource_type}.ndjson.part"
            if result.count:
                data.replace(out_dir / f"{result.resource_type}.ndjson")
                output.append({"type": result.resource_type, "url": f"{result.resource_type}.ndjson",
                               "count": result.count})
            else:
                data.unlink()
    error = []
    if problems:
        (out_dir / f"{ERROR_FILE}.part").replace(out_dir / ERROR_FILE)
        error.append({"type": "OperationOutcome", "url": ERROR_FILE, "count": problems})
    else:
        (out_dir / f"{ERROR_FILE}.part").unlink()
    encounters = next(r for r in results if r.resource_type == "Encounter")
    part = options.part
    manifest = {
        "transactionTime": transaction_time.isoformat(), "request": options.request,
        "requiresAccessToken": False, "output": output, "error": error,
        "extension": {STATS_EXTENSION: {
            "encounters_with_ward_mismatch": encounters.encounters_with_mismatch,
            "ward_mismatches": encounters.ward_mismatches, "transfers_outside_stays": outside,
            "since": part.since.isoformat() if part.since else None,
            "until": part.until.isoformat() if part.until else None,
            "patients": len(part.patients) if part.patients is not None else None}},
    }
    write_atomically(out_dir / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest


# --- the command ------------------------------------------------------------------------------

def parse_time(value: str) -> datetime:
    """An ISO 8601 date or time; SAST when it has no offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=SAST)


def parse_patients(value: str) -> tuple[int, ...]:
    """A comma list of patient ids, or the path of a file of ids (separated by commas or whitespace)."""
    path = Path(value)
    text = path.read_text(encoding="utf-8") if path.is_file() else value
    items = [item for item in text.replace(",", " ").split() if item]
    try:
        ids = tuple(sorted({int(item) for item in items}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"patient ids must be whole numbers (a comma list or a file): {value!r}") from None
    if not ids:
        raise argparse.ArgumentTypeError(f"no patient ids in {value!r}")
    return ids


def build_parser(prog: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                     epilog="\n".join(__doc__.splitlines()[2:5]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: DATA_DIR/fhir)")
    parser.add_argument("--since", type=parse_time, help="Encounters whose stay reaches this time or later "
                        "(ISO 8601; SAST if no offset), and what they reference")
    parser.add_argument("--until", type=parse_time, help="Encounters admitted before this time")
    parser.add_argument("--patients", type=parse_patients,
                        help="only these patients: comma-separated ids, or a file of ids")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes exporting resource types side by side (default 1)")
    parser.add_argument("--fetch-rows", type=int, default=FETCH_ROWS,
                        help=f"rows per server-side cursor fetch (default {FETCH_ROWS:,})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, log lines only")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.since and args.until and args.since >= args.until:
        parser.error("--since must be before --until")
    if args.workers < 1 or args.fetch_rows < 1:
        parser.error("--workers and --fetch-rows must be at least 1")
    configure_logging()
    settings = load()
    out_dir = args.out or settings.data_dir / "fhir"
    options = ExportOptions(out_dir=out_dir, part=Slice(args.since, args.until, args.patients),
                            workers=args.workers, fetch_rows=args.fetch_rows,
                            progress=not args.no_progress and sys.stderr.isatty(),
                            request=shlex.join([*(prog or "hospital export-fhir").split(), *argv]),
                            stop=stop_on_signals())
    try:
        manifest = export(settings, options)
    except ExportStopped as exc:
        print(f"{prog or 'export-fhir'}: {exc}; no manifest written, the folder holds no finished export",
              file=sys.stderr)
        return 1
    except psycopg2.OperationalError as exc:
        print(f"{prog or 'export-fhir'}: cannot read the warehouse: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog or 'export-fhir'}: cannot write {out_dir}: {exc}", file=sys.stderr)
        return 1
    total = sum(entry["count"] for entry in manifest["output"])
    errors = sum(entry["count"] for entry in manifest["error"])
    log.info("wrote %d resources in %d files to %s (%d rows with problems in %s)", total, len(manifest["output"]),
             out_dir, errors, ERROR_FILE if errors else "no error file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
