"""The one ward-eligibility rule: which patients, by sex and age, a ward may take.

The rule is data, core/reference/ward_eligibility.csv: each row names its wards, the sex they
take ('*' for both) and an age band [min_age_years, max_age_years), with its source. Every ward of
wards.csv is named by exactly one row (tests/unit/test_wards.py). The census of
hospital_patients.csv (generators/patients.py), the batch records' admissions
(generators/clinical_records.py) and the transfer planner (generators/transfers.py) all ask it.
A patient's condition (pregnancy, a burn) is not part of the rule: the maternity band stands in
for pregnancy, and the records' diagnoses are drawn within it (core/clinical_model.py: every
case-mix row of a ward's group lies inside the ward's rule, tests/unit/test_clinical_model.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core import reference


@dataclass(frozen=True)
class Eligibility:
    """Who one ward may take: `sex` is 'F', 'M' or '*'; ages in years, min inclusive, max exclusive."""

    rule: str
    sex: str
    min_age_years: float
    max_age_years: float

    def fits(self, age_years, male):
        """True where a patient of `age_years` (years, fractional) and `male` (bool) may lie in the
        ward; scalars or numpy arrays of equal length."""
        age = np.asarray(age_years, dtype=float)
        male = np.asarray(male, dtype=bool)
        fits = (age >= self.min_age_years) & (age < self.max_age_years)
        if self.sex != "*":
            fits &= male == (self.sex == "M")
        return fits if fits.ndim else bool(fits)


@lru_cache(maxsize=None)
def eligibility() -> dict[str, Eligibility]:
    """Ward code -> its rule; ValueError if a ward of wards.csv has no rule or two."""
    rules: dict[str, Eligibility] = {}
    for row in reference.table("ward_eligibility.csv").itertuples():
        rule = Eligibility(row.rule, row.sex, float(row.min_age_years), float(row.max_age_years))
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
