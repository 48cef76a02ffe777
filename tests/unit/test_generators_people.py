"""people.csv and hospital_patients.csv: contents checked with independent validators."""

from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime, timedelta

import phonenumbers
import pytest
from stdnum.za import idnr

from core import reference
from generators import generate_people_data
from generators.patients import PATIENT_COLUMNS
from generators.people import PEOPLE_COLUMNS

ROWS = 30_000
SIM_START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")


def read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("people")
    code = generate_people_data.main(["--rows", str(ROWS), "--seed", "11", "--out", str(folder / "people.csv"),
                                      "--no-progress"])
    assert code == 0
    return folder


@pytest.fixture(scope="module")
def people(generated):
    return read(generated / "people.csv")


@pytest.fixture(scope="module")
def patients(generated):
    return read(generated / "hospital_patients.csv")


def test_people_csv_has_the_contract_columns_and_rows(generated, people):
    header = (generated / "people.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == PEOPLE_COLUMNS
    assert len(people) == ROWS
    assert len({p["person_id"] for p in people}) == ROWS


def test_every_sa_id_is_valid_and_agrees_with_sex_birth_date_and_citizenship(people):
    seen = set()
    for p in people:
        if p["citizenship"] == "foreign_national":
            assert p["sa_id_number"] == "" and p["passport_number"] != ""
            continue
        number = p["sa_id_number"]
        assert idnr.is_valid(number), number
        born = date.fromisoformat(p["date_of_birth"])
        assert number[:6] == born.strftime("%y%m%d")
        assert (int(number[6:10]) < 5000) == (p["sex"] == "F")
        assert number[10] == {"citizen": "0", "permanent_resident": "1"}[p["citizenship"]]
        assert number[11] == "8"
        seen.add(number)
    assert len(seen) == sum(p["citizenship"] != "foreign_national" for p in people)


def test_every_phone_number_is_valid_for_south_africa(people):
    for p in people:
        parsed = phonenumbers.parse(p["phone_number"])
        assert phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "ZA"


def test_addresses_come_from_the_reference_suburbs(people):
    suburbs = {(s.suburb, s.city, s.postal_code) for s in reference.table("suburbs.csv").itertuples()}
    assert all((p["suburb"], p["city"], p["postal_code"]) in suburbs for p in people)


def test_population_shape_is_plausible_for_gauteng(people):
    n = len(people)
    ages = [(SIM_START.date() - date.fromisoformat(p["date_of_birth"])).days / 365.25 for p in people]
    assert 0.20 < sum(a < 15 for a in ages) / n < 0.28
    assert 0.06 < sum(a >= 60 for a in ages) / n < 0.11
    assert 0.45 < sum(p["sex"] == "M" for p in people) / n < 0.55
    # Gauteng is about 25% (GHS); suburbs.csv weights the hospital's catchment (Soweto) heavily,
    # where cover is lower, so the sample sits below the provincial figure.
    assert 0.13 < sum(p["medical_aid"] != "" for p in people) / n < 0.22
    assert 0.03 < sum(p["citizenship"] == "foreign_national" for p in people) / n < 0.10
    assert sum(p["citizenship"] == "permanent_resident" for p in people) > 0
    surnames = {p["last_name"] for p in people}
    assert {"Dlamini", "Nkosi", "Ndlovu", "Khumalo", "Mokoena"} <= surnames


def test_same_seed_gives_byte_identical_files(generated, tmp_path):
    assert generate_people_data.main(["--rows", str(ROWS), "--seed", "11", "--out", str(tmp_path / "people.csv"),
                                      "--no-progress", "--workers", "2"]) == 0
    for name in ("people.csv", "hospital_patients.csv", "people.manifest.json"):
        assert (tmp_path / name).read_bytes() == (generated / name).read_bytes(), name


def test_manifest_records_rows_and_sha256(generated):
    import json
    manifest = json.loads((generated / "people.manifest.json").read_text())
    assert manifest["seed"] == 11 and manifest["version"]
    entry = manifest["files"]["people.csv"]
    assert entry["rows"] == ROWS
    assert entry["sha256"] == hashlib.sha256((generated / "people.csv").read_bytes()).hexdigest()


def test_patients_are_people_with_unique_numbers(generated, people, patients):
    header = (generated / "hospital_patients.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == PATIENT_COLUMNS
    person_ids = {p["person_id"] for p in people}
    assert {p["person_id"] for p in patients} <= person_ids
    assert len({p["person_id"] for p in patients}) == len(patients)
    assert len({p["hospital_number"] for p in patients}) == len(patients)
    assert {p["blood_group"] for p in patients} <= {"O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-"}


def test_chronic_conditions_are_reference_icd10_codes_that_fit_age_and_sex(people, patients):
    codes = reference.icd10_codes().set_index("icd10_code")
    by_id = {p["person_id"]: p for p in people}
    for patient in patients:
        person = by_id[patient["person_id"]]
        age = (SIM_START.date() - date.fromisoformat(person["date_of_birth"])).days / 365.25
        for code in filter(None, patient["chronic_conditions"].split(";")):
            row = codes.loc[code]
            assert row.sex_restriction != row.sex_restriction or row.sex_restriction == person["sex"]
            assert row.min_age_years != row.min_age_years or age >= int(row.min_age_years)


def test_nobody_registers_before_birth_or_after_the_window_starts(people, patients):
    births = {p["person_id"]: date.fromisoformat(p["date_of_birth"]) for p in people}
    for patient in patients:
        registered = date.fromisoformat(patient["registration_date"])
        assert births[patient["person_id"]] <= registered <= SIM_START.date()


def admits(ward: str, info, sex: str, age: float) -> bool:
    """The ward rule, restated from its sources (core/reference/ward_eligibility.csv cites them)."""
    if info.ward_type == "maternity" or ward == "W47":  # obstetric high care too
        return sex == "F" and 15 <= age < 50
    if ward in ("W45", "W46"):  # gynaecology
        return sex == "F" and age >= 13
    if info.ward_type == "neonatal":
        return age < 0.25
    if ward in ("W02", "W59"):  # paediatric emergency and paediatric surgery take newborns too
        return age < 13
    if info.department_code == "PAED":  # paediatric wards and the paediatric ICU
        return 28 / 365.2425 < age < 13
    if info.ward_type == "psychiatric":
        return age >= 18
    if ward == "W72":  # the burns unit takes children and adults
        return age > 28 / 365.2425
    return age >= 13


def test_ward_census_fills_80_to_90_percent_of_beds_with_fitting_patients(people, patients):
    """Every patient in a ward fits its rule; each ward is 80-90% full, unless no patient who fits
    it is left outside a ward (the neonatal units at this small scale: 30,000 people)."""
    wards = reference.wards().set_index("ward_code")
    by_id = {p["person_id"]: p for p in people}
    occupied, outside = {}, []
    for patient in patients:
        ward = patient["current_ward_code"]
        person = by_id[patient["person_id"]]
        age = (SIM_START.date() - date.fromisoformat(person["date_of_birth"])).days / 365.2425
        if not ward:
            assert patient["current_ward_since"] == ""
            outside.append((person["sex"], age))
            continue
        since = datetime.fromisoformat(patient["current_ward_since"])
        assert since < SIM_START and since.utcoffset() == timedelta(hours=2)
        assert date.fromisoformat(patient["registration_date"]) <= since.date()
        assert admits(ward, wards.loc[ward], person["sex"], age), (ward, person["sex"], age)
        occupied[ward] = occupied.get(ward, 0) + 1
    for ward, info in wards.iterrows():
        share = occupied.get(ward, 0) / info.bed_count
        assert share <= 0.91, ward
        if share < 0.79:
            assert not any(age > 0 and admits(ward, info, sex, age) for sex, age in outside), ward


@pytest.mark.parametrize("argv, message", [
    (["--rows", "-5"], "--rows"), (["--rows", "999999999999"], "--rows"), (["--rows", "many"], "--rows")])
def test_bad_row_counts_fail_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate_people_data.main(argv)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unwritable_output_fails_with_one_line(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    code = generate_people_data.main(["--rows", "10", "--out", str(blocked / "people.csv"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_help_describes_the_command(capsys):
    with pytest.raises(SystemExit):
        generate_people_data.main(["--help"])
    assert "--rows" in capsys.readouterr().out


def _case_mix_read_apart():
    """(ward code -> case-mix group, group -> [(min age, max age, sex, code)], group -> {chronic
    code: its primary codes}) from core/reference/clinical/, read with the csv module."""
    def rows(name):
        with open(reference.path(f"clinical/{name}"), newline="") as f:
            return list(csv.DictReader(f))
    group_of = {w: r["case_mix_group"] for r in rows("ward_groups.csv") for w in r["ward_codes"].split("|")}
    mix = {}
    for r in rows("case_mix.csv"):
        mix.setdefault(r["case_mix_group"], []).append(
            (float(r["min_age_years"]), float(r["max_age_years"]), r["sex"], r["icd10_code"]))
    chronic = {}
    for r in rows("comorbidity.csv"):
        for group in filter(None, r["primary_groups"].split("|")):
            chronic.setdefault(group, {})[r["chronic_code"]] = {c.split(":")[0] for c in r["primary_codes"].split("|")}
    return group_of, mix, chronic


def test_each_stay_under_way_has_a_primary_diagnosis_its_wards_case_mix_gives(people, patients):
    """A patient in a bed has the primary diagnosis of a case-mix row of the ward's group that fits
    their age and sex, or of a chronic condition of theirs that brings people to that group; nobody
    else has one. Maternity holds pregnancies (O), the burns unit burns, psychiatry mental disorders."""
    group_of, mix, chronic = _case_mix_read_apart()
    by_id = {p["person_id"]: p for p in people}
    seen = {}
    for patient in patients:
        code, ward = patient["current_primary_icd10"], patient["current_ward_code"]
        if not ward:
            assert code == ""
            continue
        person = by_id[patient["person_id"]]
        age = (SIM_START.date() - date.fromisoformat(person["date_of_birth"])).days / 365.2425
        group = group_of[ward]
        from_mix = any(low <= age < high and sex in ("*", person["sex"]) and code == c for low, high, sex, c in mix[group])
        has = set(filter(None, patient["chronic_conditions"].split(";")))
        from_chronic = any(code in codes for chronic_code, codes in chronic.get(group, {}).items() if chronic_code in has)
        assert from_mix or from_chronic, (ward, person["sex"], age, code)
        seen.setdefault(group, []).append(code)
    assert all(c.startswith("O") for c in seen["maternity"]) and len(seen["maternity"]) > 20
    assert all(c[:3] in ("T21", "T30") or c.startswith("T75.4") for c in seen["burns"])
    assert all(c.startswith("F") for c in seen["psychiatric"])
    assert len(set(seen["medical"])) > 10  # drawn from the mix, not one code
