"""The contract of the patient-record batch files: record kinds, their columns, names and folders.

One CSV file per record kind per 15-minute batch, UTF-8, RFC 4180, a header row, "\\n" line ends,
empty field = NULL. The header names the kind (its first column is `<kind>_id`), so a file keeps
its meaning whatever it is called. Timestamps are ISO 8601 with the SAST offset
(2026-03-02T07:15:04+02:00); a record's warehouse partition is the SAST day of its event time.

Folders under DATA_DIR: `landing/` (writers put `*.tmp`, then rename to `*.csv`), `archive/`
(loaded files), `archive/duplicate/` (files whose bytes were already loaded), `quarantine/`
(files that could not be read at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.settings import Settings

CSV_SUFFIX = ".csv"


@dataclass(frozen=True)
class Column:
    """One column of a record file.

    kind: id (bigint record id), bigint, int, numeric, text, timestamp, or choice (one of `choices`).
    ref: what the value must exist in: patient, person, staff, ward, icd10 (checked on load).
    """

    name: str
    kind: str
    nullable: bool = False
    ref: str | None = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class RecordKind:
    name: str
    table: str
    columns: tuple[Column, ...]
    event_time: str  # the timestamp column whose SAST day is the record's partition

    @property
    def id_column(self) -> str:
        return self.columns[0].name

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


ADMISSION = RecordKind("admission", "clinical.admission", (
    Column("admission_id", "id"),
    Column("patient_id", "bigint", ref="patient"),
    Column("person_id", "bigint", ref="person"),
    Column("ward_code", "text", ref="ward"),
    Column("admitted_at", "timestamp"),
    Column("admission_type", "choice", choices=("emergency", "elective", "transfer_in", "maternity")),
    Column("attending_staff_id", "bigint", ref="staff"),
), event_time="admitted_at")

DISCHARGE = RecordKind("discharge", "clinical.discharge", (
    Column("discharge_id", "id"),
    Column("admission_id", "bigint"),
    Column("patient_id", "bigint", ref="patient"),
    Column("ward_code", "text", ref="ward"),
    Column("discharged_at", "timestamp"),
    Column("disposition", "choice",
           choices=("home", "transferred_out", "died", "absconded", "against_medical_advice")),
    Column("discharging_staff_id", "bigint", ref="staff"),
), event_time="discharged_at")

DIAGNOSIS = RecordKind("diagnosis", "clinical.diagnosis", (
    Column("diagnosis_id", "id"),
    Column("admission_id", "bigint"),
    Column("patient_id", "bigint", ref="patient"),
    Column("icd10_code", "text", ref="icd10"),
    Column("diagnosis_role", "choice", choices=("primary", "secondary", "external_cause")),
    Column("diagnosed_at", "timestamp"),
    Column("diagnosing_staff_id", "bigint", ref="staff"),
), event_time="diagnosed_at")

VITAL_SIGN = RecordKind("vital_sign", "clinical.vital_sign", (
    Column("vital_sign_id", "id"),
    Column("patient_id", "bigint", ref="patient"),
    Column("ward_code", "text", ref="ward"),
    Column("measured_at", "timestamp"),
    Column("heart_rate_bpm", "int", nullable=True, low=20, high=250),
    Column("systolic_mmhg", "int", nullable=True, low=40, high=300),
    Column("diastolic_mmhg", "int", nullable=True, low=20, high=200),
    Column("respiratory_rate", "int", nullable=True, low=4, high=80),
    Column("temperature_c", "numeric", nullable=True, low=30, high=45),
    Column("spo2_percent", "int", nullable=True, low=40, high=100),
    Column("recorded_by_staff_id", "bigint", ref="staff"),
), event_time="measured_at")

LAB_RESULT = RecordKind("lab_result", "clinical.lab_result", (
    Column("lab_result_id", "id"),
    Column("patient_id", "bigint", ref="patient"),
    Column("ward_code", "text", ref="ward"),
    Column("test_code", "text"),
    Column("test_name", "text"),
    Column("result_value", "numeric", nullable=True),
    Column("result_unit", "text", nullable=True),
    Column("abnormal_flag", "choice", nullable=True, choices=("L", "H", "LL", "HH")),
    Column("resulted_at", "timestamp"),
    Column("ordering_staff_id", "bigint", ref="staff"),
), event_time="resulted_at")

MEDICATION = RecordKind("medication", "clinical.medication", (
    Column("medication_id", "id"),
    Column("patient_id", "bigint", ref="patient"),
    Column("ward_code", "text", ref="ward"),
    Column("drug_name", "text"),
    Column("dose", "text"),
    Column("route", "choice", choices=("oral", "iv", "im", "sc", "inhaled", "topical", "pr", "sl")),
    Column("administered_at", "timestamp"),
    Column("administered_by_staff_id", "bigint", ref="staff"),
), event_time="administered_at")

KINDS: dict[str, RecordKind] = {kind.name: kind for kind in
                                (ADMISSION, DISCHARGE, DIAGNOSIS, VITAL_SIGN, LAB_RESULT, MEDICATION)}
KIND_BY_HEADER: dict[tuple[str, ...], RecordKind] = {kind.header: kind for kind in KINDS.values()}


def file_name(kind: RecordKind, tick_instant: datetime, tick: int) -> str:
    """`vital_sign_20260302T0715_t0029.csv`: kind, the batch's SAST start, its tick number."""
    return f"{kind.name}_{tick_instant.strftime('%Y%m%dT%H%M')}_t{tick:04d}{CSV_SUFFIX}"


@dataclass(frozen=True)
class BatchFolders:
    landing: Path
    archive: Path
    duplicate: Path
    quarantine: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> "BatchFolders":
        return cls.under(settings.data_dir)

    @classmethod
    def under(cls, data_dir: Path) -> "BatchFolders":
        return cls(landing=data_dir / "landing", archive=data_dir / "archive",
                   duplicate=data_dir / "archive" / "duplicate", quarantine=data_dir / "quarantine")

    def create(self) -> None:
        for folder in (self.landing, self.archive, self.duplicate, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)


def complete_files(landing: Path) -> list[Path]:
    """Files ready to load: `*.csv` in the landing folder (never `*.tmp`), oldest name first."""
    if not landing.is_dir():
        return []
    return sorted(path for path in landing.iterdir()
                  if path.is_file() and path.suffix == CSV_SUFFIX)
