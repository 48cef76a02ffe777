"""The clinical model: what a patient in a given ward is admitted with, and what follows from it.

All of it is data, core/reference/clinical/*.csv (sources.csv names where each table's figures
come from; bands.csv the validation bands with their reasoning). This module reads the tables,
checks that they hang together and hands them out as plain frames; the record generator
(generators/clinical_records.py) turns them into arrays.

Tables:
- ward_groups.csv: each ward of wards.csv belongs to one case-mix group.
- case_mix.csv: per group, age band [min, max) in years and sex ('*', 'F', 'M'): WHO ICD-10
  primary diagnoses with relative weights.
- conditions.csv: clinical conditions as ICD-10 code prefixes (what regimens, labs and vital-sign
  shifts are keyed on).
- comorbidity.csv: for each chronic condition of core.patient.chronic_conditions, the share of
  admissions that code it as a secondary diagnosis, the share admitted for it (primary) in its
  groups, with the primary codes and their weights, and how much likelier such a patient is to be
  admitted to those groups (admission_weight).
- external_causes.csv: for an injury code prefix and age band, the external causes (V01-Y98).
- regimens.csv: drugs by condition, age band and group; a fixed dose, or mg (or units, mL) per kg
  of the weight-for-age median, capped at max_dose; route and doses per day.
- weight_for_age.csv: WHO median weight by sex and age (interpolated between rows).
- lab_panels.csv, lab_values.csv, lab_ranges.csv: tests a condition calls for (orders per day),
  value distributions by condition and age, reference ranges by age.
- vital_ranges.csv, vital_shifts.csv: vital signs by age band; shifts a condition adds.
- ward_outcomes.csv: length of stay (days) and discharge dispositions per ward type (icu,
  high_care: these rows win) or case-mix group.
- admission_mix.csv: admission types per group.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from core import reference

CLINICAL_DIR = "clinical"
DISPOSITIONS = ("home", "transferred_out", "died", "absconded", "against_medical_advice")
ADMISSION_TYPES = ("emergency", "elective", "transfer_in", "maternity")
VITALS = ("heart_rate_bpm", "systolic_mmhg", "respiratory_rate", "temperature_c", "spo2_percent")
VITAL_SDS = ("heart_rate_sd", "systolic_sd", "respiratory_sd", "temperature_sd", "spo2_sd")
NUMERIC = {"min_age_years", "max_age_years", "weight", "secondary_share", "primary_share", "admission_weight",
           "dose_per_kg", "dose", "max_dose", "doses_per_day", "age_years", "median_kg", "per_day", "centre",
           "spread", "floor", "ceiling", "low", "high", "length_of_stay_days", *DISPOSITIONS, *ADMISSION_TYPES,
           *VITALS, *VITAL_SDS}


class ModelError(ValueError):
    """The clinical tables contradict each other or the reference data."""


def table(name: str) -> pd.DataFrame:
    """One clinical table, numbers as floats, empty cells as '' (text) or NaN (numbers)."""
    frame = pd.read_csv(reference.path(f"{CLINICAL_DIR}/{name}"), dtype=str, keep_default_na=False)
    for column in frame.columns:
        if column in NUMERIC:
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="raise").astype(float)
    return frame


def ward_group() -> dict[str, str]:
    """Ward code -> case-mix group; ModelError if a ward of wards.csv has none or two."""
    groups: dict[str, str] = {}
    for row in table("ward_groups.csv").itertuples():
        for ward in row.ward_codes.split("|"):
            if ward in groups:
                raise ModelError(f"ward_groups.csv: {ward} is in {groups[ward]} and {row.case_mix_group}")
            groups[ward] = row.case_mix_group
    missing = sorted(set(reference.wards().ward_code) - set(groups))
    if missing:
        raise ModelError(f"ward_groups.csv names no group for {', '.join(missing)}")
    return groups


@lru_cache(maxsize=None)
def conditions() -> dict[str, tuple[str, ...]]:
    """Condition name -> its ICD-10 code prefixes, in table order (at most 64: a bit each). Read
    once (the ward rule asks it per patient); callers must not change the dict."""
    frame = table("conditions.csv")
    if len(frame) > 64:
        raise ModelError("conditions.csv: at most 64 conditions (one bit each)")
    return {row.condition: tuple(row.icd10_prefixes.split("|")) for row in frame.itertuples()}


def conditions_of(code: str) -> set[str]:
    """The conditions an ICD-10 code belongs to."""
    return {name for name, prefixes in conditions().items() if code.startswith(prefixes)}


def weighted_codes(text: str) -> list[tuple[str, float]]:
    """'B20.0:30|B24:12' -> [('B20.0', 30.0), ('B24', 12.0)]."""
    if not text:
        return []
    return [(item.split(":")[0], float(item.split(":")[1])) for item in text.split("|")]


def band(name: str) -> tuple[float, float]:
    """(low, high) of one validation band of bands.csv."""
    rows = table("bands.csv").set_index("band")
    return float(rows.loc[name, "low"]), float(rows.loc[name, "high"])


@lru_cache(maxsize=None)
def checked() -> bool:
    """Check the tables against each other and the reference data; True, or ModelError."""
    groups = set(ward_group().values())
    known = set(reference.icd10_codes().icd10_code)
    names = set(conditions())
    ward_types = set(reference.wards().ward_type)
    for name, column, needed, allowed in (("case_mix.csv", "case_mix_group", groups, groups),
                                          ("ward_outcomes.csv", "applies_to", groups, groups | ward_types),
                                          ("admission_mix.csv", "case_mix_group", groups, groups)):
        found = set(table(name)[column])
        if not needed <= found <= allowed:
            raise ModelError(f"{name}: {sorted((needed - found) | (found - allowed))} do not match ward_groups.csv")
    codes = set(table("case_mix.csv").icd10_code) | set(table("external_causes.csv").cause_code)
    for text in table("comorbidity.csv").primary_codes:
        codes |= {code for code, _ in weighted_codes(text)}
    codes |= set(table("comorbidity.csv").chronic_code)
    if codes - known:
        raise ModelError(f"codes not in icd10_codes.csv: {', '.join(sorted(codes - known))}")
    for name in ("regimens.csv", "lab_panels.csv", "lab_values.csv", "vital_shifts.csv", "comorbidity.csv"):
        used = {c for c in table(name).condition if c not in ("", "*")}
        if used - names:
            raise ModelError(f"{name}: unknown conditions {', '.join(sorted(used - names))}")
    lab_codes = set(reference.table("lab_tests.csv").test_code)
    for name in ("lab_panels.csv", "lab_values.csv", "lab_ranges.csv"):
        if set(table(name).test_code) - lab_codes:
            raise ModelError(f"{name}: tests not in lab_tests.csv: {sorted(set(table(name).test_code) - lab_codes)}")
    _check_condition_wards()
    _check_rules_covered()
    outcomes = table("ward_outcomes.csv")
    if (abs(outcomes[list(DISPOSITIONS)].sum(axis=1) - 1) > 1e-6).any():
        raise ModelError("ward_outcomes.csv: dispositions of a group must add up to 1")
    mix = table("admission_mix.csv")
    if (abs(mix[list(ADMISSION_TYPES)].sum(axis=1) - 1) > 1e-6).any():
        raise ModelError("admission_mix.csv: admission types of a group must add up to 1")
    return True


def _check_rules_covered() -> None:
    """Every patient a ward's rule admits (ward_eligibility.csv: sex, age band) fits a case-mix row
    of the ward's group, so a stay in it is never left without a diagnosis. ModelError otherwise."""
    group_of = ward_group()
    mix = table("case_mix.csv")
    for row in reference.table("ward_eligibility.csv").itertuples():
        for group in {group_of[ward] for ward in row.ward_codes.split("|")}:
            for sex in ("F", "M") if row.sex == "*" else (row.sex,):
                rows = mix[(mix.case_mix_group == group) & mix.sex.isin(["*", sex])]
                reached = float(row.min_age_years)
                for low, high in sorted(zip(rows.min_age_years, rows.max_age_years)):
                    if low <= reached:
                        reached = max(reached, high)
                if reached < float(row.max_age_years):
                    raise ModelError(f"case_mix.csv: {group} has no row for sex {sex} at age {reached} "
                                     f"(its wards' rule '{row.rule}' admits {row.min_age_years}-{row.max_age_years})")


def _check_condition_wards() -> None:
    """A ward that takes only stays of a condition (ward_eligibility.csv's `condition`, core/wards.py)
    may be given only primary diagnoses of that condition: every code of its group's case mix and
    every chronic primary code admitted to its group. ModelError otherwise."""
    prefixes = conditions()
    group_of = ward_group()
    mix = table("case_mix.csv")
    comorbid = table("comorbidity.csv")
    for row in reference.table("ward_eligibility.csv").itertuples():
        if row.condition == "*":
            continue
        for group in {group_of[ward] for ward in row.ward_codes.split("|")}:
            codes = set(mix.icd10_code[mix.case_mix_group == group])
            for chronic in comorbid.itertuples():
                if group in chronic.primary_groups.split("|"):
                    codes |= {code for code, _ in weighted_codes(chronic.primary_codes)}
            outside = sorted(c for c in codes if not c.startswith(prefixes[row.condition]))
            if outside:
                raise ModelError(f"{group} takes only {row.condition} (ward_eligibility.csv) but may be given "
                                 f"{', '.join(outside)}")
