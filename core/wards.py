"""The one ward-eligibility rule: which patients, by sex, age and condition, a ward may take.

The rule is data, core/reference/ward_eligibility.csv: each row names its wards, the sex they
take ('*' for both), an age band [min_age_years, max_age_years) and a condition ('*' for none),
with its source. Every ward of wards.csv is named by exactly one row (tests/unit/test_wards.py).
The census of hospital_patients.csv (generators/patients.py), the batch records' admissions
(generators/clinical_records.py) and the transfer planner (generators/transfers.py) all ask it.

A condition is a row of core/reference/clinical/conditions.csv (pregnancy: an O code; burns:
T20-T32 or T75.4), and a stay has it when its primary diagnosis is one of the row's codes
(`has_condition`, the one definition). A stay under way carries its primary diagnosis
(hospital_patients.csv's current_primary_icd10, the records' tick-0 diagnosis): the transfer
planner moves it into a condition ward only if it has the condition. A new stay has no diagnosis
yet: its diagnosis is drawn from the ward's case mix, and the case mix of a condition ward holds
only the condition's codes (core/clinical_model.checked), so sex and age decide its admission.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core import clinical_model, reference

NO_CONDITION = "*"


@dataclass(frozen=True)
class Eligibility:
    """Who one ward may take: `sex` is 'F', 'M' or '*'; ages in years, min inclusive, max exclusive;
    `condition` a condition of conditions.csv the stay must have, or '*'."""

    rule: str
    sex: str
    min_age_years: float
    max_age_years: float
    condition: str = NO_CONDITION

    def fits(self, age_years, male, primary_icd10=None):
        """True where a patient of `age_years` (years, fractional) and `male` (bool) may lie in the
        ward; scalars or numpy arrays of equal length. With `primary_icd10` (the primary diagnosis
        of the stay under way, '' or None for none) the stay must also have the ward's condition;
        without it the patient is one to be admitted here, diagnosed from the ward's case mix."""
        age = np.asarray(age_years, dtype=float)
        male = np.asarray(male, dtype=bool)
        fits = (age >= self.min_age_years) & (age < self.max_age_years)
        if self.sex != "*":
            fits &= male == (self.sex == "M")
        if primary_icd10 is not None and self.condition != NO_CONDITION:
            fits &= has_condition(self.condition, primary_icd10)
        return fits if fits.ndim else bool(fits)


def has_condition(condition: str, icd10_code):
    """Whether a stay whose primary diagnosis is `icd10_code` has `condition` (its code starts with
    one of the condition's prefixes in conditions.csv); a str, None, or a numpy array of str ('' or
    None: no diagnosis, so no condition). '*' is had by every stay."""
    if condition == NO_CONDITION:
        return True if np.ndim(icd10_code) == 0 else np.ones(len(icd10_code), bool)
    prefixes = clinical_model.conditions()[condition]
    if np.ndim(icd10_code) == 0:
        return bool(icd10_code) and str(icd10_code).startswith(prefixes)
    codes = np.asarray(icd10_code, dtype=str)
    return np.logical_or.reduce([np.strings.startswith(codes, p) for p in prefixes]) & (codes != "")


@lru_cache(maxsize=None)
def eligibility() -> dict[str, Eligibility]:
    """Ward code -> its rule; ValueError if a ward of wards.csv has no rule or two, or a rule names
    a condition conditions.csv does not define."""
    rules: dict[str, Eligibility] = {}
    known = set(clinical_model.conditions())
    for row in reference.table("ward_eligibility.csv").itertuples():
        if row.condition != NO_CONDITION and row.condition not in known:
            raise ValueError(f"ward_eligibility.csv: '{row.rule}' names the condition '{row.condition}', "
                             "which clinical/conditions.csv does not define")
        rule = Eligibility(row.rule, row.sex, float(row.min_age_years), float(row.max_age_years), row.condition)
        for ward in row.ward_codes.split("|"):
            if ward in rules:
                raise ValueError(f"ward_eligibility.csv: {ward} is named by '{rules[ward].rule}' and '{rule.rule}'")
            rules[ward] = rule
    missing = sorted(set(reference.wards().ward_code) - set(rules))
    if missing:
        raise ValueError(f"ward_eligibility.csv names no rule for {', '.join(missing)}")
    return rules


def rule_for(ward_code: str) -> Eligibility:
    """The rule of one ward (KeyError for a ward not in wards.csv)."""
    return eligibility()[ward_code]


def condition_of(ward_code: str) -> str:
    """The condition a stay needs to lie in the ward ('*': none; also for a ward without a rule)."""
    rule = eligibility().get(ward_code)
    return rule.condition if rule else NO_CONDITION
