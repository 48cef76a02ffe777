"""The hospital's registered patients (hospital_patients.csv), drawn from the people, and the
ward census at the simulation start (who is in which bed when the 9-day window opens, and the
primary diagnosis of each stay under way, drawn as the batch records draw a stay's)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core import reference
from core.csv_writer import encode_arrays, int_bytes, iso_dates, masked, zero_padded
from core.wards import rule_for
from generators.clinical_records import Population, draw_stays

log = logging.getLogger(__name__)

PATIENT_COLUMNS = ("patient_id", "hospital_number", "person_id", "registration_date", "blood_group",
                   "chronic_conditions", "current_ward_code", "current_ward_since", "current_primary_icd10")
# Registered patients of a Chris Hani Baragwanath-sized hospital: ~12% of a 5 M catchment.
DEFAULT_PATIENT_SHARE = 0.12
DEFAULT_MAX_PATIENTS = 600_000
# South African National Blood Service donor distribution (approximate, percent).
BLOOD_GROUPS = (b"O+", b"A+", b"B+", b"AB+", b"O-", b"A-", b"B-", b"AB-")
BLOOD_WEIGHTS = np.array([39.0, 32.0, 12.0, 3.0, 6.0, 6.0, 1.5, 0.5])
OCCUPANCY = (0.80, 0.90)
EARLIEST_REGISTRATION = np.datetime64("2000-01-01", "D").astype(np.int64)
# How likely a medical-scheme member is to be a registered patient, relative to an uninsured person
# of the same age, sex and area. Estimate: GHS 2018 finds about 84% of South Africans without scheme
# cover and relying on public health care, and members use private hospitals except mostly for
# trauma and emergencies; a quarter puts the hospital's insured share at about 3-8% (INSURED_PATIENT_BAND).
INSURED_PATIENT_WEIGHT = 0.25
INSURED_PATIENT_BAND = (0.02, 0.09)


@dataclass(frozen=True)
class Chronic:
    """A chronic condition: WHO ICD-10 code, sex it applies to (None: both), and prevalence by age."""
    code: str
    sex: str | None
    ages: tuple[tuple[int, int, float], ...]  # (from age, to age exclusive, probability)


# Prevalence among the hospital's patients (estimates; HIV ~ 20% of adult patients in Soweto).
CHRONIC_CONDITIONS = (
    Chronic("B24", None, ((15, 65, 0.20), (1, 15, 0.02), (65, 120, 0.06))),
    Chronic("I10", None, ((20, 30, 0.02), (30, 45, 0.08), (45, 60, 0.25), (60, 120, 0.45))),
    Chronic("E11.9", None, ((30, 45, 0.03), (45, 60, 0.10), (60, 120, 0.18))),
    Chronic("E10.9", None, ((1, 120, 0.004),)),
    Chronic("J45.9", None, ((2, 120, 0.06),)),
    Chronic("J44.9", None, ((45, 60, 0.03), (60, 120, 0.06))),
    Chronic("I50.9", None, ((50, 60, 0.02), (60, 120, 0.05))),
    Chronic("N18.9", None, ((45, 120, 0.03),)),
    Chronic("G40.9", None, ((1, 120, 0.01),)),
    Chronic("F20.9", None, ((18, 120, 0.006),)),
    Chronic("E78.5", None, ((40, 120, 0.06),)),
    Chronic("E66.9", None, ((18, 120, 0.05),)),
    Chronic("M17.9", None, ((50, 120, 0.06),)),
    Chronic("E03.9", "F", ((30, 120, 0.02),)),
    Chronic("M06.9", "F", ((30, 120, 0.01),)),
    Chronic("N40", "M", ((50, 120, 0.08),)),
    Chronic("C61", "M", ((55, 120, 0.01),)),
    Chronic("C50.9", "F", ((40, 120, 0.005),)),
)


def default_patient_count(people: int) -> int:
    return min(DEFAULT_MAX_PATIENTS, int(round(people * DEFAULT_PATIENT_SHARE)))


def _age_years(birth_day: np.ndarray, at_day: int) -> np.ndarray:
    return (at_day - birth_day.astype(np.int64)) / 365.2425


def select_patients(rng: np.random.Generator, birth_day: np.ndarray, male: np.ndarray, soweto: np.ndarray,
                    insured: np.ndarray, count: int, ref_day: int) -> np.ndarray:
    """Indices of `count` distinct people, favouring the catchment (Soweto), the uninsured, infants,
    the old and women of child-bearing age (weighted sampling without replacement, exponential keys)."""
    age = _age_years(birth_day, ref_day)
    weight = np.where(soweto, 3.0, 1.0) * np.where(insured, INSURED_PATIENT_WEIGHT, 1.0)
    # Babies born here are registered at birth, so infants are over-represented.
    weight *= np.where(age < 1, 8.0, np.where(age < 13, 1.3, np.where(age >= 60, 2.0, 1.0)))
    weight *= np.where(~male & (age >= 15) & (age < 50), 1.6, 1.0)
    keys = rng.exponential(size=len(weight)) / weight
    chosen = np.argpartition(keys, count - 1)[:count] if count < len(keys) else np.arange(len(keys))
    return np.sort(chosen)


def ward_census(rng: np.random.Generator, age: np.ndarray, male: np.ndarray,
                sim_start_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: ward index (-1 if not admitted) and minutes before SIM_START of admission.

    Each ward is filled to 80-90% of its beds with patients its rule admits (core/wards.py), while
    enough remain.
    """
    wards = reference.wards()
    ward_index = np.full(len(age), -1, dtype=np.int32)
    # Fill the wards with the narrowest intake first (newborns, mothers, children), then the rest.
    priority = wards.ward_type.map({"neonatal": 0, "maternity": 1, "paediatric": 2}).fillna(3)
    for w in np.argsort(priority.to_numpy(), kind="stable"):
        ward = wards.iloc[w]
        low, high = int(np.ceil(ward.bed_count * OCCUPANCY[0])), int(np.floor(ward.bed_count * OCCUPANCY[1]))
        target = int(rng.integers(low, max(low, high) + 1))
        # Born before the window's first day: the census holds only patients admitted before it opens.
        candidates = np.flatnonzero(rule_for(ward.ward_code).fits(age, male) & (age > 0) & (ward_index < 0))
        if len(candidates) < target:
            log.warning("ward %s: only %d fitting patients for %d beds", ward.ward_code, len(candidates), target)
        take = rng.choice(candidates, size=min(target, len(candidates)), replace=False)
        ward_index[take] = w
    # Time already spent in the ward: exponential, mean 4 days, at most 60 days, not before birth.
    minutes = np.minimum(rng.exponential(4 * 24 * 60, len(age)), 60 * 24 * 60).astype(np.int64) + 1
    return ward_index, minutes


def generate_patients(seed: int, person_id: np.ndarray, birth_day: np.ndarray, male: np.ndarray,
                      soweto: np.ndarray, insured: np.ndarray, count: int,
                      sim_start: datetime) -> tuple[bytes, int]:
    """hospital_patients.csv data lines (no header) for `count` patients, and the number admitted."""
    rng = np.random.default_rng([seed, 2])
    start_day = int(np.datetime64(sim_start.date(), "D").astype(np.int64))
    chosen = select_patients(rng, birth_day, male, soweto, insured, count, start_day)
    birth = birth_day[chosen].astype(np.int64)
    is_male = male[chosen]
    age = _age_years(birth, start_day)

    ward_index, minutes_in = ward_census(rng, age, is_male, start_day)
    admitted = ward_index >= 0
    start_minute = start_day * 1440 + (sim_start.hour * 60 + sim_start.minute)
    since_minute = np.maximum(start_minute - minutes_in, birth * 1440 + 60)
    since_day = since_minute // 1440

    # Registered between 2000 (or birth) and the day before admission / the window start.
    # (A baby born on the window's first day registers that day.)
    latest = np.maximum(np.where(admitted, since_day, start_day - 1), birth)
    earliest = np.minimum(np.maximum(birth, EARLIEST_REGISTRATION), latest)
    registration = earliest + (rng.random(count) * (latest - earliest + 1)).astype(np.int64)
    registration = np.minimum(registration, latest)

    # Patient numbers follow registration order; hospital numbers are random and unique.
    order = np.lexsort((chosen, registration))
    chosen, birth, is_male, age = chosen[order], birth[order], is_male[order], age[order]
    ward_index, since_minute, registration = ward_index[order], since_minute[order], registration[order]
    admitted = ward_index >= 0
    hospital_number = rng.choice(90_000_000, size=count, replace=False) + 10_000_000

    blood = np.array(BLOOD_GROUPS)[rng.choice(len(BLOOD_GROUPS), count, p=BLOOD_WEIGHTS / BLOOD_WEIGHTS.sum())]
    chronic = chronic_conditions(rng, age, is_male)
    # Its own random stream, so the columns above are the same whatever the diagnoses draw.
    primary = census_diagnoses(np.random.default_rng([seed, 2, 1]), ward_index, age, is_male, chronic)

    ward_codes = np.array([c.encode() for c in reference.wards().ward_code] + [b""])
    since = masked(iso_minutes(since_minute), admitted)
    fields = [
        [int_bytes(np.arange(1, count + 1))], [b"CH", zero_padded(hospital_number, 8)],
        [int_bytes(person_id[chosen])], [iso_dates(registration)], [blood], [chronic],
        [ward_codes[ward_index]], [since], [primary],
    ]
    return encode_arrays(fields, count), int(admitted.sum())


def census_diagnoses(rng: np.random.Generator, ward_index: np.ndarray, age: np.ndarray, male: np.ndarray,
                     chronic: np.ndarray) -> np.ndarray:
    """The primary diagnosis (ICD-10 code as bytes; b'' when not in a bed) of each patient's stay
    under way at the window start, drawn diagnosis first as the batch records draw a new stay's
    (generators/clinical_records.draw_stays: from a chronic condition of the patient's that brings
    people to the ward's case-mix group, else from the group's case mix for the patient's age and
    sex). So the census is what the case mix says: maternity holds O codes, the burns unit burns;
    the records' tick-0 admissions carry these codes, and the transfer planner reads them."""
    admitted = np.flatnonzero(ward_index >= 0)
    wards = reference.wards()
    icd = reference.icd10_codes()
    codes = icd.icd10_code.to_numpy(dtype=str)
    # The records' Population of just the patients in a bed; drawing a diagnosis needs no roster.
    pop = Population(
        patient_id=admitted, person_id=admitted, female=~male[admitted], age_years=age[admitted],
        ward_code=wards.ward_code.to_numpy(dtype=str), ward_type=wards.ward_type.to_numpy(dtype=str),
        ward_beds=wards.bed_count.to_numpy(np.int64), icd10_code=codes,
        icd10_sex=icd.sex_restriction.fillna("").to_numpy(dtype=str),
        icd10_min_age=icd.min_age_years.astype(float).fillna(-1).astype(np.int64).to_numpy(),
        icd10_max_age=icd.max_age_years.astype(float).fillna(999).astype(np.int64).to_numpy(),
        duty=None, chronic_conditions=chronic[admitted].astype(str))
    drawn = draw_stays(pop, np.arange(len(admitted)), ward_index[admitted].astype(np.int64), rng)["primary"]
    encoded = np.char.encode(codes, "ascii")
    primary = np.zeros(len(ward_index), dtype=encoded.dtype)
    primary[admitted] = encoded[drawn]
    return primary


def chronic_conditions(rng: np.random.Generator, age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """';'-separated ICD-10 codes per patient, drawn independently by age and sex (may be empty)."""
    out = np.zeros(len(age), dtype="S1")
    for condition in CHRONIC_CONDITIONS:
        probability = np.zeros(len(age))
        for low, high, p in condition.ages:
            probability[(age >= low) & (age < high)] = p
        if condition.sex == "F":
            probability[male] = 0
        elif condition.sex == "M":
            probability[~male] = 0
        has = rng.random(len(age)) < probability
        code = (";" + condition.code).encode()
        out = np.where(has, np.strings.add(out, code), out)
    return np.strings.lstrip(out, b";")


def iso_minutes(minutes: np.ndarray) -> np.ndarray:
    """Minutes since the epoch (SAST wall clock) as 'YYYY-MM-DDTHH:MM:00+02:00'."""
    text = np.datetime_as_string(minutes.astype("datetime64[m]"), unit="m").astype("S16")
    return np.strings.add(text, b":00+02:00")
