"""The hospital's patient records, simulated 15 minutes at a time, vectorised with numpy.

A census of who lies in which bed moves forward one batch tick at a time: patients are
discharged (length of stay by ward type) and admitted (to keep each ward near its target
occupancy, choosing patients the ward's rule admits: core/wards.py, the one rule the census and
the transfer planner use too). From the census each tick yields admissions with their WHO ICD-10 diagnoses,
discharges, and, for every patient in a bed during the tick and only while they are in it,
vital signs, lab results and medications, recorded by staff on shift in that ward.

Reproducible: the census step of tick n draws only from rng(seed, n, 1), the records from
rng(seed, n, 2), so a restart at tick k replays the census of ticks < k and then writes the
same bytes as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from core.batch_files import KINDS, RecordKind
from core.csv_writer import encode_columns
from core.settings import SAST
from core.wards import rule_for

TICK_SECONDS = 15 * 60
ID_EPOCH = datetime(2000, 1, 1, tzinfo=SAST)
ID_SEQUENCE_SPAN = 10_000_000  # record id = tick number since ID_EPOCH * span + sequence

# Mean length of stay (days) and target bed occupancy by ward type.
LENGTH_OF_STAY_DAYS = {"icu": 6.0, "high_care": 4.0, "maternity": 2.5, "neonatal": 8.0, "paediatric": 4.0,
                       "emergency": 0.5, "theatre": 0.3, "psychiatric": 14.0}
DEFAULT_LENGTH_OF_STAY_DAYS = 5.0
TARGET_OCCUPANCY = 0.85
DISPOSITIONS = (("home", 0.86), ("transferred_out", 0.06), ("died", 0.04), ("absconded", 0.02),
                ("against_medical_advice", 0.02))

# (code, name, unit, low, high): NHLS-style tests with adult reference ranges.
LAB_TESTS = (("HB", "Haemoglobin", "g/dL", 12.0, 17.0), ("WCC", "White cell count", "x10^9/L", 4.0, 11.0),
             ("PLT", "Platelets", "x10^9/L", 150.0, 450.0), ("NA", "Sodium", "mmol/L", 135.0, 145.0),
             ("K", "Potassium", "mmol/L", 3.5, 5.1), ("CREAT", "Creatinine", "umol/L", 60.0, 110.0),
             ("GLU", "Glucose (random)", "mmol/L", 3.9, 7.8), ("CRP", "C-reactive protein", "mg/L", 0.0, 10.0),
             ("LACT", "Lactate", "mmol/L", 0.5, 2.2), ("CD4", "CD4 count", "cells/uL", 500.0, 1500.0))
# (drug, dose, route): Essential Medicines List items given on the wards.
MEDICINES = (("Paracetamol", "1 g", "oral"), ("Amoxicillin", "500 mg", "oral"), ("Ceftriaxone", "1 g", "iv"),
             ("Morphine", "10 mg", "sc"), ("Enoxaparin", "40 mg", "sc"), ("Metformin", "500 mg", "oral"),
             ("Enalapril", "10 mg", "oral"), ("Salbutamol", "5 mg", "inhaled"), ("Insulin soluble", "10 units", "sc"),
             ("Tenofovir/lamivudine/dolutegravir", "1 tablet", "oral"), ("Ibuprofen", "400 mg", "oral"),
             ("Omeprazole", "20 mg", "oral"), ("Furosemide", "40 mg", "iv"), ("Hydrocortisone", "100 mg", "iv"),
             ("Glyceryl trinitrate", "0.4 mg", "sl"), ("Metronidazole", "500 mg", "iv"),
             ("Isoniazid", "300 mg", "oral"), ("Silver sulfadiazine", "1 application", "topical"))
MATERNITY_MEDICINES = (("Oxytocin", "10 IU", "im"), ("Magnesium sulfate", "4 g", "iv"), ("Ferrous sulfate", "200 mg", "oral"))

# The three digit decimal strings of small numbers, and one decimal place for 0.0-99.9: a lookup
# is far faster than formatting each value.
_SMALL = np.array([str(i) for i in range(1000)])
_TENTHS = np.array([f"{i / 10:.1f}" for i in range(1000)])


@dataclass
class Population:
    """What the writer needs from the warehouse, as arrays (one element per row)."""

    patient_id: np.ndarray
    person_id: np.ndarray
    female: np.ndarray          # bool
    age_years: np.ndarray       # at the window start, fractional (days / 365.2425)
    ward_code: np.ndarray       # str
    ward_type: np.ndarray       # str
    ward_beds: np.ndarray
    icd10_code: np.ndarray      # str
    icd10_sex: np.ndarray       # '', 'F' or 'M'
    icd10_min_age: np.ndarray   # -1 when none
    icd10_max_age: np.ndarray   # 999 when none
    duty: "DutyRoster"


@dataclass
class DutyRoster:
    """Who is on shift in each ward. From the shift roster (core.staff_assignment) where it covers
    the instant, otherwise the staff whose home ward or department it is."""

    ward_codes: np.ndarray
    fallback_nurses: list[np.ndarray]
    fallback_doctors: list[np.ndarray]
    roster_ward: np.ndarray        # ward index per roster row
    roster_staff: np.ndarray
    roster_is_doctor: np.ndarray
    roster_start: np.ndarray       # seconds since the epoch (float)
    roster_end: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def on_shift(self, instant: datetime) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(nurses per ward, doctors per ward) on duty at `instant`; never empty lists."""
        t = instant.timestamp()
        # Shifts change at 07:00 and 19:00 SAST (05:00 and 17:00 UTC): one answer per shift.
        key = int((t - 5 * 3600) // 43200)
        if key in self._cache:
            return self._cache[key]
        covering = (self.roster_start <= t) & (t < self.roster_end)
        nurses, doctors = [], []
        for w in range(len(self.ward_codes)):
            here = covering & (self.roster_ward == w)
            rostered_doctors = self.roster_staff[here & self.roster_is_doctor]
            rostered_nurses = self.roster_staff[here & ~self.roster_is_doctor]
            nurses.append(rostered_nurses if len(rostered_nurses) else self.fallback_nurses[w])
            doctors.append(rostered_doctors if len(rostered_doctors) else self.fallback_doctors[w])
        self._cache = {key: (nurses, doctors)}
        return nurses, doctors


@dataclass
class Census:
    """Patients in a bed now: indexes into the Population's patient arrays."""

    patient: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    admission_id: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ward: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    admitted_s: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))  # seconds since window start
    in_bed: np.ndarray | None = None  # bool per patient of the population


@dataclass
class TickRecords:
    """The text columns of each record kind for one tick (kind name -> list of str columns)."""

    tables: dict[str, list[list[str]]]

    def rows(self, kind: str) -> int:
        columns = self.tables.get(kind)
        return len(columns[0]) if columns else 0


def tick_id_base(instant: datetime) -> int:
    return int((instant - ID_EPOCH) // timedelta(minutes=15)) * ID_SEQUENCE_SPAN


def ward_eligibility(pop: Population) -> list[np.ndarray]:
    """For each ward, the indexes of the patients its rule admits (core/wards.py: the same rule as
    the census and the transfer planner)."""
    return [np.flatnonzero(rule_for(str(code)).fits(pop.age_years, ~pop.female)) for code in pop.ward_code]


def step_census(pop: Population, census: Census, eligible: list[np.ndarray], tick: int, id_base: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Census]:
    """Move the census over tick `tick`.

    Returns (discharged: bool per census row before the step, discharge offsets in seconds within
    the tick, the census after the step with this tick's admissions appended at its end)."""
    if census.in_bed is None:
        census.in_bed = np.zeros(len(pop.patient_id), bool)
    tick_start = tick * TICK_SECONDS
    los = np.array([LENGTH_OF_STAY_DAYS.get(str(t), DEFAULT_LENGTH_OF_STAY_DAYS) for t in pop.ward_type])
    p_leave = TICK_SECONDS / (los * 86400.0)
    leaving = rng.random(len(census.patient)) < p_leave[census.ward]
    earliest = np.maximum(census.admitted_s - tick_start + 60, 0)
    offsets = np.minimum(earliest + rng.random(len(census.patient)) * TICK_SECONDS, TICK_SECONDS - 1)
    leaving &= earliest < TICK_SECONDS - 1
    census.in_bed[census.patient[leaving]] = False
    stay = ~leaving
    occupied = np.bincount(census.ward[stay], minlength=len(pop.ward_code))
    new_patient, new_ward = [], []
    for w, candidates in enumerate(eligible):
        target = pop.ward_beds[w] * TARGET_OCCUPANCY
        if tick == 0:
            wanted = int(round(target))
        else:
            wanted = rng.poisson(max(target * p_leave[w] + 0.05 * (target - occupied[w]), 0.0))
        wanted = min(wanted, int(pop.ward_beds[w]) - occupied[w])
        if wanted <= 0 or len(candidates) == 0:
            continue
        drawn = np.unique(candidates[rng.integers(0, len(candidates), wanted * 2 + 4)])
        drawn = rng.permutation(drawn[~census.in_bed[drawn]])[:wanted]
        census.in_bed[drawn] = True
        new_patient.append(drawn)
        new_ward.append(np.full(len(drawn), w))
    new_patient = np.concatenate(new_patient) if new_patient else np.empty(0, np.int64)
    new_ward = np.concatenate(new_ward) if new_ward else np.empty(0, np.int64)
    new_admitted = tick_start + (0.0 if tick == 0 else rng.random(len(new_patient)) * (TICK_SECONDS - 120))
    after = Census(
        patient=np.concatenate([census.patient[stay], new_patient]),
        admission_id=np.concatenate([census.admission_id[stay], id_base + 1 + np.arange(len(new_patient))]),
        ward=np.concatenate([census.ward[stay], new_ward]),
        admitted_s=np.concatenate([census.admitted_s[stay], np.broadcast_to(new_admitted, len(new_patient))]),
        in_bed=census.in_bed)
    return leaving, offsets, after


# ---------------------------------------------------------------------------------------------
# Records of one tick
# ---------------------------------------------------------------------------------------------
def _ints(values: np.ndarray) -> list[str]:
    values = np.asarray(values)
    if len(values) and values.min() >= 0 and values.max() < len(_SMALL):
        return _SMALL[values].tolist()
    return list(map(str, values.tolist()))


def _timestamps(instant: datetime, offsets_s: np.ndarray) -> list[str]:
    """ISO timestamps with the SAST offset for whole-second offsets within the tick."""
    local = instant.astimezone(SAST)
    table = np.array([(local + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
                      for s in range(TICK_SECONDS)])
    return table[np.clip(offsets_s.astype(np.int64), 0, TICK_SECONDS - 1)].tolist()


def _pick_staff(groups: list[np.ndarray], ward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    staff = np.zeros(len(ward), np.int64)
    for w in np.unique(ward):
        rows = np.flatnonzero(ward == w)
        pool = groups[w]
        staff[rows] = pool[rng.integers(0, len(pool), len(rows))]
    return staff


def _code_pools(pop: Population) -> dict[str, np.ndarray]:
    first = np.array([c[:1] for c in pop.icd10_code])
    external = np.isin(first, list("VWXY"))
    injury = np.isin(first, ["S", "T"])
    pregnancy = first == "O"
    general = ~(external | injury | pregnancy | (first == "P") | (first == "Z") | (first == "U"))
    return {"general": np.flatnonzero(general), "injury": np.flatnonzero(injury),
            "external": np.flatnonzero(external), "pregnancy": np.flatnonzero(pregnancy)}


def pick_codes(pop: Population, pool: np.ndarray, female: np.ndarray, age: np.ndarray,
               rng: np.random.Generator, rounds: int = 8) -> np.ndarray:
    """An ICD-10 code index from `pool` that fits each patient's sex and age; -1 where none did."""
    chosen = np.full(len(female), -1, np.int64)
    if len(pool) == 0:
        return chosen
    for _ in range(rounds):
        todo = np.flatnonzero(chosen < 0)
        if len(todo) == 0:
            break
        candidate = pool[rng.integers(0, len(pool), len(todo))]
        sex = pop.icd10_sex[candidate]
        fits = ((sex == "") | ((sex == "F") == female[todo]))
        fits &= (pop.icd10_min_age[candidate] <= age[todo]) & (age[todo] <= pop.icd10_max_age[candidate])
        pregnancy = np.array([pop.icd10_code[c][:1] == "O" for c in candidate.tolist()], bool)
        fits &= ~pregnancy | (female[todo] & (age[todo] >= 12) & (age[todo] <= 50))
        chosen[todo[fits]] = candidate[fits]
    return chosen


def _diagnoses(pop, pools, adm_patient, adm_ward, adm_id, adm_offset, doctors, tick_rng):
    """Primary (and some secondary) diagnoses of new admissions; injuries with an external cause."""
    # ICD-10's age limits count completed years.
    female, age = pop.female[adm_patient], np.floor(pop.age_years[adm_patient])
    maternity = pop.ward_type[adm_ward] == "maternity"
    injured = (~maternity) & (tick_rng.random(len(adm_patient)) < 0.15) & (len(pools["external"]) > 0)
    primary = pick_codes(pop, pools["general"], female, age, tick_rng)
    for mask, pool in ((maternity, pools["pregnancy"]), (injured, pools["injury"])):
        rows = np.flatnonzero(mask)
        if len(rows) and len(pool):
            chosen = pick_codes(pop, pool, female[rows], age[rows], tick_rng)
            primary[rows[chosen >= 0]] = chosen[chosen >= 0]
    is_injury = np.array([pop.icd10_code[c][:1] in "ST" if c >= 0 else False for c in primary])
    external = pick_codes(pop, pools["external"], female, age, tick_rng)
    secondary = np.where(tick_rng.random(len(adm_patient)) < 0.4,
                         pick_codes(pop, pools["general"], female, age, tick_rng), -1)
    parts = []
    for codes, role, keep in ((primary, "primary", primary >= 0),
                              (external, "external_cause", is_injury & (external >= 0)),
                              (secondary, "secondary", (secondary >= 0) & (secondary != primary))):
        rows = np.flatnonzero(keep & ((role != "primary") | ~is_injury | (external >= 0)))
        parts.append((rows, codes[rows], role))
    rows = np.concatenate([p[0] for p in parts])
    codes = np.concatenate([p[1] for p in parts])
    roles = np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in parts])
    order = np.lexsort((rows,))
    rows, codes, roles = rows[order], codes[order], roles[order]
    offset = np.minimum(adm_offset[rows] + 30 + tick_rng.random(len(rows)) * 300, TICK_SECONDS - 1)
    return rows, codes, roles, offset


def tick_records(pop: Population, before: Census, leaving: np.ndarray, leave_offset: np.ndarray,
                 after: Census, tick: int, instant: datetime, vital_rows: int,
                 rng: np.random.Generator) -> TickRecords:
    """All records of tick `tick` (starting at `instant`), with about `vital_rows` vital signs."""
    id_base = tick_id_base(instant)
    tick_start = tick * TICK_SECONDS
    nurses, doctors = pop.duty.on_shift(instant)
    pools = _code_pools(pop)
    n_new = len(after.patient) - int((~leaving).sum())
    new = slice(len(after.patient) - n_new, len(after.patient))
    tables: dict[str, list[list[str]]] = {}

    # Admissions and their diagnoses.
    adm_patient, adm_ward, adm_id = after.patient[new], after.ward[new], after.admission_id[new]
    adm_offset = after.admitted_s[new] - tick_start
    maternity = pop.ward_type[adm_ward] == "maternity"
    adm_type = np.where(maternity, "maternity",
                        rng.choice(np.array(["emergency", "elective", "transfer_in"]), len(adm_id), p=[0.6, 0.3, 0.1]))
    if n_new:
        tables["admission"] = [_ints(adm_id), _ints(pop.patient_id[adm_patient]), _ints(pop.person_id[adm_patient]),
                               pop.ward_code[adm_ward].tolist(), _timestamps(instant, adm_offset), adm_type.tolist(),
                               _ints(_pick_staff(doctors, adm_ward, rng))]
        rows, codes, roles, offset = _diagnoses(pop, pools, adm_patient, adm_ward, adm_id, adm_offset, doctors, rng)
        if len(rows):
            tables["diagnosis"] = [_ints(id_base + 1 + np.arange(len(rows))), _ints(adm_id[rows]),
                                   _ints(pop.patient_id[adm_patient[rows]]), pop.icd10_code[codes].tolist(),
                                   roles.tolist(), _timestamps(instant, offset),
                                   _ints(_pick_staff(doctors, adm_ward[rows], rng))]

    # Discharges end a stay; nothing of the stay is recorded after them.
    out = np.flatnonzero(leaving)
    if len(out):
        order = out[np.argsort(leave_offset[out], kind="stable")]
        names = np.array([d for d, _ in DISPOSITIONS])
        tables["discharge"] = [_ints(id_base + 1 + np.arange(len(order))), _ints(before.admission_id[order]),
                               _ints(pop.patient_id[before.patient[order]]), pop.ward_code[before.ward[order]].tolist(),
                               _timestamps(instant, leave_offset[order]),
                               rng.choice(names, len(order), p=[p for _, p in DISPOSITIONS]).tolist(),
                               _ints(_pick_staff(doctors, before.ward[order], rng))]

    # Everyone in a bed during the tick, and the part of the tick they were in it.
    patient = np.concatenate([before.patient, adm_patient])
    ward = np.concatenate([before.ward, adm_ward])
    start = np.concatenate([np.zeros(len(before.patient)), adm_offset])
    end = np.concatenate([np.where(leaving, leave_offset, TICK_SECONDS - 1), np.full(n_new, TICK_SECONDS - 1.0)])
    if len(patient) == 0:
        return TickRecords(tables)
    share = np.maximum(end - start, 0) / TICK_SECONDS
    tables["vital_sign"] = _vital_signs(pop, patient, ward, start, end, share, vital_rows, nurses, id_base, instant, rng)
    labs = _lab_results(pop, patient, ward, start, end, share, doctors, id_base, instant, rng)
    if labs:
        tables["lab_result"] = labs
    meds = _medications(pop, patient, ward, start, end, share, nurses, id_base, instant, rng)
    if meds:
        tables["medication"] = meds
    return TickRecords(tables)


# Per patient per 15-minute tick in a bed: about 5 lab results and 10 doses of medicine a day.
# Vital signs take the rest of the target volume (bedside monitors report every minute or so).
LAB_RESULTS_PER_TICK = 0.05
MEDICATIONS_PER_TICK = 0.1


def _spread(share: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split `total` rows over patients in proportion to their share of the tick."""
    if total <= 0 or share.sum() == 0:
        return np.zeros(len(share), np.int64)
    exact = share / share.sum() * total
    counts = np.floor(exact).astype(np.int64)
    counts += rng.random(len(share)) < (exact - counts)
    return counts


def _event_rows(counts, start, end, rng):
    """Row -> patient index and time offset for `counts` events per patient, ordered by time."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = start[owner] + rng.random(len(owner)) * (end[owner] - start[owner])
    order = np.argsort(offset, kind="stable")
    return owner[order], offset[order]


def _vital_signs(pop, patient, ward, start, end, share, total, nurses, id_base, instant, rng):
    owner, offset = _event_rows(_spread(share, total, rng), start, end, rng)
    n = len(owner)
    heart = np.clip(rng.normal(84, 15, n), 35, 190).astype(np.int64)
    systolic = np.clip(rng.normal(124, 18, n), 70, 230).astype(np.int64)
    diastolic = np.clip(systolic * 0.62 + rng.normal(0, 6, n), 40, 140).astype(np.int64)
    resp = np.clip(rng.normal(18, 3.5, n), 8, 45).astype(np.int64)
    temp = _TENTHS[np.clip(rng.normal(369, 6, n), 340, 415).astype(np.int64)]
    temp[rng.random(n) < 0.03] = ""  # not taken at every round
    spo2 = np.clip(rng.normal(97, 2.5, n), 70, 100).astype(np.int64)
    return [_ints(id_base + 1 + np.arange(n)), _ints(pop.patient_id[patient[owner]]),
            pop.ward_code[ward[owner]].tolist(), _timestamps(instant, offset), _ints(heart), _ints(systolic),
            _ints(diastolic), _ints(resp), temp.tolist(), _ints(spo2),
            _ints(_pick_staff(nurses, ward[owner], rng))]


def _lab_results(pop, patient, ward, start, end, share, doctors, id_base, instant, rng):
    owner, offset = _event_rows(rng.poisson(LAB_RESULTS_PER_TICK * share), start, end, rng)
    n = len(owner)
    if n == 0:
        return None
    test = rng.integers(0, len(LAB_TESTS), n)
    low = np.array([t[3] for t in LAB_TESTS])[test]
    high = np.array([t[4] for t in LAB_TESTS])[test]
    width = high - low
    value = np.round(np.maximum(rng.normal((low + high) / 2, width / 2.5), 0), 1)
    flag = np.full(n, "", dtype=object)
    flag[value < low] = "L"
    flag[value > high] = "H"
    flag[value < low - width / 2] = "LL"
    flag[value > high + width] = "HH"
    return [_ints(id_base + 1 + np.arange(n)), _ints(pop.patient_id[patient[owner]]),
            pop.ward_code[ward[owner]].tolist(), [LAB_TESTS[t][0] for t in test], [LAB_TESTS[t][1] for t in test],
            [f"{v:.1f}" for v in value.tolist()], [LAB_TESTS[t][2] for t in test], flag.tolist(),
            _timestamps(instant, offset), _ints(_pick_staff(doctors, ward[owner], rng))]


def _medications(pop, patient, ward, start, end, share, nurses, id_base, instant, rng):
    owner, offset = _event_rows(rng.poisson(MEDICATIONS_PER_TICK * share), start, end, rng)
    n = len(owner)
    if n == 0:
        return None
    maternity = pop.ward_type[ward[owner]] == "maternity"
    drug = [MATERNITY_MEDICINES[i % len(MATERNITY_MEDICINES)] if m else MEDICINES[i % len(MEDICINES)]
            for i, m in zip(rng.integers(0, 1 << 30, n).tolist(), maternity.tolist())]
    return [_ints(id_base + 1 + np.arange(n)), _ints(pop.patient_id[patient[owner]]),
            pop.ward_code[ward[owner]].tolist(), [d[0] for d in drug], [d[1] for d in drug], [d[2] for d in drug],
            _timestamps(instant, offset), _ints(_pick_staff(nurses, ward[owner], rng))]


def csv_bytes(kind: RecordKind, columns: list[list[str]]) -> bytes:
    """The bytes of one record file of `kind`: its header and the rows of `columns`."""
    return encode_columns(kind.header, columns)


ALL_KINDS = tuple(KINDS.values())
