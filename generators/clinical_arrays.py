"""The clinical model (core/clinical_model.py) compiled to numpy arrays for one population.

Codes are indexes into the population's ICD-10 list (Population.icd10_code), wards indexes into
its ward list, conditions bits of a uint64 mask (bit i = row i of conditions.csv). Built once per
population (ClinicalArrays.of caches it on the population).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import clinical_model as model
from core import reference
from core.csv_writer import check_plain, csv_fields

SEX_ANY, SEX_F, SEX_M = 0, 1, 2
FALLBACK_CODE = "R50.9"       # fever, unspecified: only if no case-mix row fits (never for the wards' rules)
FALLBACK_CAUSE = "X59.9"      # exposure to unspecified factor: only if no external-cause row fits
TICKS_PER_DAY = 96


def _sex(values) -> np.ndarray:
    return np.array([{"*": SEX_ANY, "F": SEX_F, "M": SEX_M}[s] for s in values], np.int8)


@dataclass
class Weighted:
    """Rows with an age band, a sex and a weight, to draw from with `pick`."""

    min_age: np.ndarray
    max_age: np.ndarray
    sex: np.ndarray
    weight: np.ndarray

    def fits(self, age: np.ndarray, female: np.ndarray) -> np.ndarray:
        """(len(age) x rows) bool: the rows each patient's age (years) and sex fit."""
        sex_ok = (self.sex == SEX_ANY) | ((self.sex == SEX_F) == female[:, None])
        return sex_ok & (self.min_age <= age[:, None]) & (age[:, None] < self.max_age)


def pick(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A column index per row of `weights` (rows x columns, >= 0), drawn by weight; -1 where a row is all 0."""
    if weights.shape[0] == 0:
        return np.empty(0, np.int64)
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1] if weights.shape[1] else np.zeros(len(weights))
    u = rng.random(len(weights)) * total
    chosen = (cumulative <= u[:, None]).sum(axis=1)
    return np.where(total > 0, np.minimum(chosen, weights.shape[1] - 1), -1)


def condition_bit(name: str) -> np.uint64:
    names = list(model.conditions())
    return np.uint64(1) << np.uint64(names.index(name))


def mask_bits(mask: np.ndarray) -> np.ndarray:
    """(len(mask) x 64) bool: the condition bits set in each mask."""
    return ((mask[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(bool)


def _condition_mask(names: list[str]) -> np.ndarray:
    """uint64 mask per entry of `names` ('*' or '' -> 0)."""
    return np.array([condition_bit(n) if n not in ("", "*") else 0 for n in names], np.uint64)


@dataclass
class ClinicalArrays:
    groups: list[str]
    ward_group: np.ndarray           # group index per ward
    los_days: np.ndarray             # mean length of stay per ward (days)
    disposition_cdf: np.ndarray      # wards x dispositions
    admission_cdf: np.ndarray        # wards x admission types
    mix: Weighted                    # case mix rows
    mix_group: np.ndarray
    mix_code: np.ndarray
    code_mask: np.ndarray            # conditions per ICD-10 code (uint64)
    code_injury: np.ndarray          # S/T codes
    fallback_code: int
    chronic: np.ndarray              # patients x comorbidity rows (bool)
    chronic_code: np.ndarray         # code index per comorbidity row
    chronic_mask: np.ndarray         # condition bit per comorbidity row (0: none)
    secondary_share: np.ndarray
    primary_share: np.ndarray
    primary_in_group: np.ndarray     # comorbidity rows x groups
    admission_boost: np.ndarray      # comorbidity rows x groups: admission weight - 1 where it applies
    primary_codes: list[np.ndarray]
    primary_weights: list[np.ndarray]
    external: Weighted
    external_code: np.ndarray
    code_external: np.ndarray        # codes x external rows: the injury prefix matches
    fallback_cause: int
    regimens: "Regimens"
    labs: "Labs"
    vitals: "Vitals"

    @classmethod
    def of(cls, pop) -> "ClinicalArrays":
        cached = pop._cache.get("clinical")
        if cached is None:
            cached = pop._cache["clinical"] = build(pop)
        return cached


@dataclass
class Regimens:
    mask: np.ndarray         # condition bit (0: any stay)
    groups: np.ndarray       # regimens x groups bool
    ages: Weighted           # age band (sex any), weight = doses per day
    drug: np.ndarray
    per_kg: np.ndarray       # bool
    amount: np.ndarray       # fixed dose, or dose per kg
    max_dose: np.ndarray
    unit: np.ndarray
    route: np.ndarray
    weight_age: dict         # sex 'F'/'M' -> (ages, median kg)

    # The CSV text of the record columns (core/csv_writer.py), indexed by regimen.
    @property
    def drug_text(self) -> np.ndarray:
        return csv_fields(self.drug.tolist())

    @property
    def route_text(self) -> np.ndarray:
        return csv_fields(self.route.tolist())

    @property
    def unit_text(self) -> np.ndarray:
        """Units follow the amount inside one field ("2 tablets"), so none may need quoting."""
        units = np.array([u.encode("utf-8") for u in self.unit.tolist()])
        check_plain(units.tolist(), "regimens.csv unit")
        return units

    def weight_kg(self, age: np.ndarray, female: np.ndarray) -> np.ndarray:
        """WHO median weight (kg) for age (years) and sex, interpolated between table rows."""
        f = np.interp(age, *self.weight_age["F"])
        m = np.interp(age, *self.weight_age["M"])
        return np.where(female, f, m)


@dataclass
class Labs:
    tests: list[str]
    names: np.ndarray
    units: np.ndarray
    panel_mask: np.ndarray   # per panel row
    panel_test: np.ndarray
    panel_per_day: np.ndarray
    value_test: np.ndarray   # per value row
    value_mask: np.ndarray
    value_min_age: np.ndarray
    value_max_age: np.ndarray
    value_log: np.ndarray
    centre: np.ndarray
    spread: np.ndarray
    floor: np.ndarray
    ceiling: np.ndarray
    range_test: np.ndarray   # per range row
    range_min_age: np.ndarray
    range_max_age: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass
class Vitals:
    band_min_age: np.ndarray
    mean: np.ndarray         # bands x 5 (heart rate, systolic, respiratory rate, temperature, SpO2)
    sd: np.ndarray
    shift: np.ndarray        # 64 x 5: what each condition bit adds


def _chronic_matrix(pop, codes: list[str]) -> np.ndarray:
    """patients x codes: True where the patient's chronic_conditions name the code."""
    out = np.zeros((len(pop.patient_id), len(codes)), bool)
    if pop.chronic_conditions is None:
        return out
    text = np.char.add(np.char.add(";", pop.chronic_conditions.astype(str)), ";")
    for k, code in enumerate(codes):
        out[:, k] = np.char.find(text, f";{code};") >= 0
    return out


def build(pop) -> ClinicalArrays:
    model.checked()
    code_index = {c: i for i, c in enumerate(pop.icd10_code.tolist())}
    known = lambda code: code_index[code]  # noqa: E731 - every model code is in the list (model.checked)
    group_of = model.ward_group()
    groups = sorted(set(group_of.values()))
    gi = {g: i for i, g in enumerate(groups)}
    ward_group = np.array([gi[group_of[str(w)]] for w in pop.ward_code])
    outcomes = model.table("ward_outcomes.csv").set_index("applies_to")
    # A ward-type row (icu, high_care) wins over the ward's case-mix group.
    outcomes = outcomes.loc[[t if t in outcomes.index else group_of[str(w)] for w, t in zip(pop.ward_code, pop.ward_type)]]
    mix_types = model.table("admission_mix.csv").set_index("case_mix_group").loc[groups]
    disposition_cdf = np.cumsum(outcomes[list(model.DISPOSITIONS)].to_numpy(), axis=1)
    admission_cdf = np.cumsum(mix_types[list(model.ADMISSION_TYPES)].to_numpy(), axis=1)[ward_group]

    names = list(model.conditions())
    prefixes = list(model.conditions().values())
    code_mask = np.zeros(len(pop.icd10_code), np.uint64)
    for bit, starts in enumerate(prefixes):
        hit = np.char.startswith(pop.icd10_code.astype(str)[:, None], np.array(starts)[None, :]).any(axis=1)
        code_mask[hit] |= np.uint64(1) << np.uint64(bit)
    first = np.array([c[:1] for c in pop.icd10_code.tolist()])

    mix = model.table("case_mix.csv")
    comorbid = model.table("comorbidity.csv")
    in_group = np.array([[g in row.primary_groups.split("|") for g in groups] for row in comorbid.itertuples()], bool)
    primary_codes, primary_weights = [], []
    for text in comorbid.primary_codes:
        pairs = model.weighted_codes(text)
        primary_codes.append(np.array([known(c) for c, _ in pairs], np.int64))
        primary_weights.append(np.array([w for _, w in pairs]))
    external = model.table("external_causes.csv")
    code_external = np.zeros((len(pop.icd10_code), len(external)), bool)
    for e, starts in enumerate(external.injury_prefix):
        code_external[:, e] = np.char.startswith(pop.icd10_code.astype(str)[:, None],
                                                 np.array(starts.split("|"))[None, :]).any(axis=1)
    return ClinicalArrays(
        groups=groups, ward_group=ward_group,
        los_days=outcomes.length_of_stay_days.to_numpy(),
        disposition_cdf=disposition_cdf, admission_cdf=admission_cdf,
        mix=Weighted(mix.min_age_years.to_numpy(), mix.max_age_years.to_numpy(), _sex(mix.sex), mix.weight.to_numpy()),
        mix_group=np.array([gi[g] for g in mix.case_mix_group]), mix_code=np.array([known(c) for c in mix.icd10_code]),
        code_mask=code_mask, code_injury=np.isin(first, ["S", "T"]),
        fallback_code=known(FALLBACK_CODE),
        chronic=_chronic_matrix(pop, comorbid.chronic_code.tolist()),
        chronic_code=np.array([known(c) for c in comorbid.chronic_code]),
        chronic_mask=_condition_mask(comorbid.condition.tolist()),
        secondary_share=comorbid.secondary_share.to_numpy(), primary_share=comorbid.primary_share.to_numpy(),
        primary_in_group=in_group, admission_boost=(comorbid.admission_weight.to_numpy() - 1)[:, None] * in_group,
        primary_codes=primary_codes, primary_weights=primary_weights,
        external=Weighted(external.min_age_years.to_numpy(), external.max_age_years.to_numpy(),
                          np.zeros(len(external), np.int8), external.weight.to_numpy()),
        external_code=np.array([known(c) for c in external.cause_code]), code_external=code_external,
        fallback_cause=known(FALLBACK_CAUSE),
        regimens=_regimens(groups), labs=_labs(names), vitals=_vitals(names))


def _regimens(groups: list[str]) -> Regimens:
    r = model.table("regimens.csv")
    weights = model.table("weight_for_age.csv")
    in_groups = np.array([[text == "*" or g in text.split("|") for g in groups] for text in r.case_mix_groups], bool)
    per_kg = (r.dose_rule == "per_kg").to_numpy()
    return Regimens(
        mask=_condition_mask(r.condition.tolist()), groups=in_groups,
        ages=Weighted(r.min_age_years.to_numpy(), r.max_age_years.to_numpy(), np.zeros(len(r), np.int8),
                      r.doses_per_day.to_numpy()),
        drug=r.drug_name.to_numpy(dtype=str), per_kg=per_kg,
        amount=np.where(per_kg, r.dose_per_kg.fillna(0).to_numpy(), r.dose.fillna(0).to_numpy()),
        max_dose=r.max_dose.to_numpy(), unit=r.unit.to_numpy(dtype=str), route=r.route.to_numpy(dtype=str),
        weight_age={s: (weights[weights.sex == s].age_years.to_numpy(), weights[weights.sex == s].median_kg.to_numpy())
                    for s in ("F", "M")})


def _labs(names: list[str]) -> Labs:
    tests = reference.table("lab_tests.csv")
    index = {t: i for i, t in enumerate(tests.test_code)}
    panels, values, ranges = (model.table(n) for n in ("lab_panels.csv", "lab_values.csv", "lab_ranges.csv"))
    return Labs(
        tests=tests.test_code.tolist(), names=tests.test_name.to_numpy(dtype=str), units=tests.unit.to_numpy(dtype=str),
        panel_mask=_condition_mask(panels.condition.tolist()), panel_test=panels.test_code.map(index).to_numpy(),
        panel_per_day=panels.per_day.to_numpy(),
        value_test=values.test_code.map(index).to_numpy(), value_mask=_condition_mask(values.condition.tolist()),
        value_min_age=values.min_age_years.to_numpy(), value_max_age=values.max_age_years.to_numpy(),
        value_log=(values.distribution == "lognormal").to_numpy(), centre=values.centre.to_numpy(),
        spread=values.spread.to_numpy(), floor=values.floor.to_numpy(), ceiling=values.ceiling.to_numpy(),
        range_test=ranges.test_code.map(index).to_numpy(), range_min_age=ranges.min_age_years.to_numpy(),
        range_max_age=ranges.max_age_years.to_numpy(), low=ranges.low.to_numpy(), high=ranges.high.to_numpy())


def _vitals(names: list[str]) -> Vitals:
    bands = model.table("vital_ranges.csv").sort_values("min_age_years")
    columns = list(model.VITALS)
    sds = list(model.VITAL_SDS)
    shift = np.zeros((64, len(columns)))
    for row in model.table("vital_shifts.csv").itertuples():
        shift[names.index(row.condition)] = [getattr(row, c) for c in columns]
    return Vitals(band_min_age=bands.min_age_years.to_numpy(), mean=bands[columns].to_numpy(),
                  sd=bands[sds].to_numpy(), shift=shift)
