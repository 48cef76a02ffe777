"""The batch file contract and the record simulation, without any service.

Files are read back with the csv module (not with the code that wrote them)."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import numpy as np
import pytest

from core import reference
from core.batch_files import KINDS, complete_files
from core.settings import SAST
from core.sizes import parse_size
from database.batch_ingest import Window
from database.batch_merge import (RULE_KINDS, clean_insert_sql, create_stage_sql, merge_sql, reference_probe_sql,
                                  window_days)
from database.record_file import Unreadable, open_records, read_landed
from generators.clinical_records import (TICK_SECONDS, Census, DutyRoster, Population, csv_bytes, step_census,
                                       tick_id_base, tick_records, ward_eligibility)

START = datetime(2026, 3, 2, tzinfo=SAST)


@pytest.mark.parametrize("text, expected", [("5GB", 5 * 10**9), ("500MB", 500 * 10**6), ("750k", 750_000),
                                            ("123", 123), ("1.5G", 1_500_000_000)])
def test_sizes_parse_in_decimal_units(text, expected):
    assert parse_size(text) == expected


def test_only_complete_csv_files_are_offered(tmp_path):
    for name in ("b.csv", "a.csv", "c.csv.tmp", "notes.txt"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in complete_files(tmp_path)] == ["a.csv", "b.csv"]


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_header_names_the_record_kind_with_or_without_a_byte_order_mark(tmp_path):
    header = ",".join(KINDS["vital_sign"].header).encode()
    for prefix in (b"", b"\xef\xbb\xbf"):
        records = open_records(read_landed(_write(tmp_path, "any-name.csv", prefix + header + b"\n")))
        assert records.kind is KINDS["vital_sign"] and records.body == b""


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"\xef\xbb\xbf", "empty file"),
    (b"patient,when,what\n1,2,3\n", "wrong header"),
    (b"\xff\xfe" + b"vital_sign_id\n", "not UTF-8"),
])
def test_files_that_cannot_be_record_files_are_unreadable(tmp_path, data, message):
    with pytest.raises(Unreadable, match=message):
        open_records(read_landed(_write(tmp_path, "bad.csv", data)))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_has_sql_for_both_paths(kind):
    record_kind = KINDS[kind]
    assert "batch_stage" in create_stage_sql(record_kind, typed=True)
    for careful in (False, True):
        statement = merge_sql(record_kind, careful=careful)
        assert record_kind.table in statement and "%(file_id)s" in statement
    assert "EXISTS" in reference_probe_sql(record_kind)
    if kind not in RULE_KINDS:
        assert clean_insert_sql(record_kind).lstrip().startswith(f"INSERT INTO {record_kind.table}")


@pytest.mark.parametrize("module", ["producer.batch_writer", "database.batch_ingest"])
def test_each_batch_command_has_help(module, capsys):
    main = __import__(module, fromlist=["main"]).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"], prog="hospital x")
    assert exit_info.value.code == 0 and "usage: hospital x" in capsys.readouterr().out


def test_the_rolling_window_is_nine_days_up_to_as_of():
    assert Window.rolling(START) == Window(START.date(), START.date() + timedelta(days=8))
    later = Window.rolling(START, as_of=START + timedelta(days=12, hours=3))
    assert later == Window(START.date() + timedelta(days=4), START.date() + timedelta(days=12))
    days = window_days(START.date(), START.date() + timedelta(days=8))
    assert len(days) == 11 and days[0] == "2026-03-01" and days[-1] == "2026-03-11"


# ---------------------------------------------------------------------------------------------
# The simulation, on a made-up population
# ---------------------------------------------------------------------------------------------
def reference_codes() -> dict[str, np.ndarray]:
    """The ICD-10 columns of Population from core/reference/icd10_codes.csv, as the warehouse holds them."""
    icd = reference.icd10_codes().sort_values("icd10_code")
    return {"icd10_code": icd.icd10_code.to_numpy(dtype=str),
            "icd10_sex": icd.sex_restriction.fillna("").to_numpy(dtype=str),
            "icd10_min_age": icd.min_age_years.astype(float).fillna(-1).astype(np.int64).to_numpy(),
            "icd10_max_age": icd.max_age_years.astype(float).fillna(999).astype(np.int64).to_numpy()}


def _population(size: int = 600) -> Population:
    rng = np.random.default_rng(7)
    wards = np.array(["W03", "W39", "W22", "W48"])  # a medical, a maternity, a surgical and a paediatric ward
    return Population(
        patient_id=np.arange(1, size + 1) + 10_000, person_id=np.arange(1, size + 1),
        female=rng.random(size) < 0.5, age_years=rng.uniform(0, 95, size),
        ward_code=wards, ward_type=np.array(["general", "maternity", "general", "paediatric"]),
        ward_beds=np.array([40, 20, 30, 12]), **reference_codes(),
        duty=DutyRoster(ward_codes=wards, fallback_nurses=[np.array([1, 2]), np.array([3]), np.array([4]), np.array([5])],
                        fallback_doctors=[np.array([11]), np.array([12]), np.array([13]), np.array([14, 15])],
                        roster_ward=np.empty(0, np.int64), roster_staff=np.empty(0, np.int64),
                        roster_is_doctor=np.empty(0, bool), roster_start=np.empty(0), roster_end=np.empty(0)))


def _simulate(pop: Population, ticks: int, seed: int = 1) -> dict[str, list[dict]]:
    """Run the census and records for `ticks` ticks; parse every file back with the csv module."""
    rows: dict[str, list[dict]] = defaultdict(list)
    census = Census()
    eligible = ward_eligibility(pop)
    for n in range(ticks):
        instant = START + n * timedelta(seconds=TICK_SECONDS)
        before = census
        leaving, offsets, census = step_census(pop, census, eligible, n, tick_id_base(instant),
                                               np.random.default_rng([seed, n, 1]))
        records = tick_records(pop, before, leaving, offsets, census, n, instant, 300,
                               np.random.default_rng([seed, n, 2]))
        for kind, columns in records.tables.items():
            rows[kind] += list(csv.DictReader(io.StringIO(csv_bytes(KINDS[kind], columns).decode("utf-8"))))
    return rows


@pytest.fixture(scope="module")
def simulated():
    pop = _population()
    return pop, _simulate(pop, 96)  # one simulated day


def test_no_record_of_a_stay_falls_outside_admission_and_discharge(simulated):
    _, rows = simulated
    stays = defaultdict(list)  # patient -> [(admitted, discharged or None)]
    discharged = {r["admission_id"]: datetime.fromisoformat(r["discharged_at"]) for r in rows["discharge"]}
    for r in rows["admission"]:
        stays[r["patient_id"]].append((datetime.fromisoformat(r["admitted_at"]), discharged.get(r["admission_id"])))
    assert discharged, "a simulated day has discharges"
    for kind, column in (("vital_sign", "measured_at"), ("lab_result", "resulted_at"),
                         ("medication", "administered_at")):
        assert rows[kind]
        for r in rows[kind]:
            when = datetime.fromisoformat(r[column])
            assert any(a <= when and (d is None or when <= d) for a, d in stays[r["patient_id"]]), (kind, r)


def test_a_patient_has_one_bed_at_a_time(simulated):
    _, rows = simulated
    discharged = {r["admission_id"]: r["discharged_at"] for r in rows["discharge"]}
    by_patient = defaultdict(list)
    for r in rows["admission"]:
        by_patient[r["patient_id"]].append((r["admitted_at"], discharged.get(r["admission_id"], "9999")))
    for stays in by_patient.values():
        stays.sort()
        for (_, end), (start, _) in zip(stays, stays[1:]):
            assert end <= start


def test_diagnoses_fit_the_patient_and_injuries_have_an_external_cause(simulated):
    pop, rows = simulated
    female = dict(zip(map(str, pop.patient_id), pop.female))
    age = dict(zip(map(str, pop.patient_id), pop.age_years))
    external = {r["admission_id"] for r in rows["diagnosis"]
                if r["diagnosis_role"] == "external_cause" and r["icd10_code"][0] in "VWXY"}
    codes = {r["icd10_code"][0] for r in rows["diagnosis"]}
    assert {"O", "S", "T"} & codes and external
    for r in rows["diagnosis"]:
        code, patient = r["icd10_code"], r["patient_id"]
        if code.startswith("O"):
            assert female[patient] and 12 <= age[patient] <= 50
        if code in ("N40",):
            assert not female[patient] and age[patient] >= 40
        if code[0] in "ST":
            assert r["admission_id"] in external


def test_record_ids_are_unique_per_kind(simulated):
    _, rows = simulated
    for kind, records in rows.items():
        ids = [r[KINDS[kind].id_column] for r in records]
        assert len(ids) == len(set(ids)), kind


def test_the_same_seed_gives_the_same_records():
    pop = _population(200)
    assert _simulate(pop, 6, seed=3) == _simulate(pop, 6, seed=3)
    assert _simulate(pop, 6, seed=3) != _simulate(pop, 6, seed=4)


def test_admissions_follow_the_ward_rule(simulated):
    """Restated from the rule's sources: maternity W39 takes women of 15-49, the paediatric ward W48
    children from 29 days to 12, the medical W03 and surgical W22 wards patients of 13 and over."""
    pop, rows = simulated
    index = {int(pid): i for i, pid in enumerate(pop.patient_id)}
    admits = {"W39": lambda female, age: female and 15 <= age < 50, "W48": lambda female, age: 28 / 365.2425 < age < 13,
              "W03": lambda female, age: age >= 13, "W22": lambda female, age: age >= 13}
    seen = Counter()
    for r in rows["admission"]:
        i = index[int(r["patient_id"])]
        assert admits[r["ward_code"]](bool(pop.female[i]), float(pop.age_years[i])), r
        seen[r["ward_code"]] += 1
    assert set(seen) == set(admits)  # every ward admitted someone
