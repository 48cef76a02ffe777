"""The hospital's patient records, simulated 15 minutes at a time, vectorised with numpy.

A census of who lies in which bed moves forward one batch tick at a time. It opens with the
patients in a bed when the window opens (core.patient.current_ward_code, as hospital_patients.csv
left them; or, for a population without a census, wards filled to their target occupancy with
stays already under way). Patients are discharged (length of stay by case-mix group) and admitted
(to keep each ward near its target occupancy, choosing patients the ward's rule admits:
core/wards.py; a patient with a chronic condition that brings people to that ward is likelier to
be chosen). Every stay is drawn diagnosis first (the clinical model, core/clinical_model.py and
core/reference/clinical/): its primary diagnosis from the ward's case mix for the patient's age
and sex, or from one of the patient's chronic conditions; the chronic conditions coded as
secondaries; an external cause for an injury. From the diagnoses follow the stay's medicines
(regimens dosed for age and weight), lab tests and their values, and vital signs by age band and
condition, recorded by staff on shift in that ward, only while the patient is in the bed.

Stays that began before the window get their admission row (and diagnoses: the primary the
census gave the stay, core.patient.current_primary_icd10) in tick 0's files,
stamped at the window's first instant (the warehouse window starts there; the true start is
core.patient.current_ward_since), so every discharge has its admission. Tick 0 admits no more new
patients than any other tick.

Reproducible: the census step of tick n (discharges, admissions and each new stay's diagnoses and
its random key) draws only from rng(seed, n, 1), the records from rng(seed, n, 2); what a stay
carries from tick to tick (its baseline vital signs, how they drift, its lab values' level) is a
hash of the stay's key, so a restart at tick k replays the census of ticks < k and then writes the
same bytes as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

from core.batch_files import KINDS, RecordKind
from core.clinical_model import ADMISSION_TYPES, DISPOSITIONS
from core.csv_writer import csv_fields, encode_arrays, formatted, header_line, int_bytes, zero_padded
from core.settings import SAST
from core.wards import rule_for
from generators.clinical_arrays import TICKS_PER_DAY, ClinicalArrays, mask_bits, pick

TICK_SECONDS = 15 * 60
ID_EPOCH = datetime(2000, 1, 1, tzinfo=SAST)
ID_SEQUENCE_SPAN = 10_000_000  # record id = tick number since ID_EPOCH * span + sequence
TARGET_OCCUPANCY = 0.85
MIN_STAY_S = 60  # a stay lasts at least a minute: a discharge comes after its admission

# How a stay's vital signs move: a fixed offset of the stay (its baseline), a slow swing over hours
# and a small reading-to-reading noise, each in units of the age band's standard deviation.
VITAL_BASELINE_SD = 0.6
VITAL_SWING_SD = 0.35
VITAL_NOISE_SD = 0.08
VITAL_SWING_HOURS = (4.0, 12.0)
TEMPERATURE_MISSING = 0.03  # not taken at every round
# Vital signs kept inside what a bedside monitor can show (and the record contract's ranges).
VITAL_LIMITS = ((30, 230), (50, 250), (6, 80), (33.0, 42.5), (60, 100))
# A stay's lab values: its own level (hash of its key) and a test-to-test noise, in spread units.
LAB_LEVEL_SD = 0.85
LAB_NOISE_SD = 0.5
DIAGNOSED_WITHIN_S = 300  # diagnoses are recorded within 5 minutes of the admission

# The decimal text of numbers below 100,000 (vital signs, staff ids), and with one decimal place for
# 0.0-99.9: a lookup is far faster than formatting each value.
_SMALL = int_bytes(np.arange(100_000))
_TENTHS = np.array([f"{i / 10:.1f}".encode("ascii") for i in range(1000)])


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
    chronic_conditions: np.ndarray | None = None  # str per patient: ';'-separated ICD-10 codes (may be '')
    census_ward: np.ndarray | None = None         # ward index per patient in a bed at the window start, else -1
    census_since_s: np.ndarray | None = None      # when that stay began, seconds since the window start (<= 0)
    census_primary: np.ndarray | None = None      # that stay's primary diagnosis (ICD-10 code index), -1 if not known
    _cache: dict = field(default_factory=dict, repr=False)


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
    _boundaries: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Every instant at which some shift starts or ends, sorted: between two neighbours the same
        # rows cover every instant (nurses change at 07:00 and 19:00, doctors at 08:00 and 16:00).
        self._boundaries = np.unique(np.concatenate([self.roster_start, self.roster_end]))

    def on_shift(self, instant: datetime) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(nurses per ward, doctors per ward) on duty at `instant`; never empty lists."""
        t = instant.timestamp()
        # One answer per span between shift boundaries ([start, end) holds, hence side="right").
        key = int(np.searchsorted(self._boundaries, t, side="right"))
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
    """Stays under way now: indexes into the Population's patient arrays, one element per stay."""

    patient: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    admission_id: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ward: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    admitted_s: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))  # seconds since window start
    primary: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))       # ICD-10 code index
    coded: np.ndarray = field(default_factory=lambda: np.empty((0, 0), bool))        # chronic conditions coded
    mask: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))         # the stay's conditions
    key: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))          # the stay's random key
    in_bed: np.ndarray | None = None  # bool per patient of the population

    def take(self, rows) -> dict:
        return {name: getattr(self, name)[rows] for name in STAY_FIELDS}


STAY_FIELDS = ("patient", "admission_id", "ward", "admitted_s", "primary", "coded", "mask", "key")


@dataclass
class TickRecords:
    """The columns of each record kind for one tick (kind name -> one 'S' array per column, each
    element the text of one CSV field; see core/csv_writer.py)."""

    tables: dict[str, list[np.ndarray]]

    def rows(self, kind: str) -> int:
        columns = self.tables.get(kind)
        return len(columns[0]) if columns else 0


@dataclass
class PopulationText:
    """The CSV text of the population's values, made once: what the record columns index into."""

    patient_id: np.ndarray
    person_id: np.ndarray
    ward_code: np.ndarray
    icd10_code: np.ndarray

    @classmethod
    def of(cls, pop: "Population") -> "PopulationText":
        cached = pop._cache.get("text")
        if cached is None:
            cached = pop._cache["text"] = cls(int_bytes(pop.patient_id), int_bytes(pop.person_id),
                                              csv_fields(pop.ward_code.tolist()), csv_fields(pop.icd10_code.tolist()))
        return cached


def _choices(values) -> np.ndarray:
    """Fixed words (roles, dispositions, flags) as CSV field text, to index into."""
    return csv_fields(list(values))


ROLES = ("primary", "external_cause", "secondary")
_ROLE_TEXT = _choices(ROLES)
_ADMISSION_TEXT = _choices(ADMISSION_TYPES)
_DISPOSITION_TEXT = _choices(DISPOSITIONS)
FLAGS = ("", "L", "H", "LL", "HH")
_FLAG_TEXT = _choices(FLAGS)


def tick_id_base(instant: datetime) -> int:
    return int((instant - ID_EPOCH) // timedelta(minutes=15)) * ID_SEQUENCE_SPAN


def ward_eligibility(pop: Population) -> list[np.ndarray]:
    """For each ward, the indexes of the patients its rule admits (core/wards.py: the same rule as
    the census and the transfer planner) by sex and age: a new stay's diagnosis is drawn from the
    ward's case mix, which in a condition ward (maternity, burns) holds only the condition's codes."""
    return [np.flatnonzero(rule_for(str(code)).fits(pop.age_years, ~pop.female)) for code in pop.ward_code]


# ---------------------------------------------------------------------------------------------
# Hashes of a stay's key: what stays the same for a stay from tick to tick
# ---------------------------------------------------------------------------------------------
def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread uint64 per input (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hashed_uniform(key: np.ndarray, salt: int) -> np.ndarray:
    """A uniform in (0, 1) per key, the same for the same (key, salt)."""
    with np.errstate(over="ignore"):
        mixed = _mix64(key.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15))
    return ((mixed >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def hashed_normal(key: np.ndarray, salt: int) -> np.ndarray:
    """A standard normal per key (Box-Muller over two hashed uniforms)."""
    u1, u2 = hashed_uniform(key, 2 * salt + 1), hashed_uniform(key, 2 * salt + 2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


# ---------------------------------------------------------------------------------------------
# The census: stays, drawn diagnosis first
# ---------------------------------------------------------------------------------------------
def _code_fits(pop: Population, code: np.ndarray, female: np.ndarray, age: np.ndarray) -> np.ndarray:
    """ICD-10 sex and age limits (completed years) of `code` for each patient."""
    years = np.floor(age)
    sex = pop.icd10_sex[code]
    return (((sex == "") | ((sex == "F") == female)) & (pop.icd10_min_age[code] <= years)
            & (years <= pop.icd10_max_age[code]))


def draw_stays(pop: Population, patient: np.ndarray, ward: np.ndarray, rng: np.random.Generator,
               known: np.ndarray | None = None) -> dict:
    """Each new stay's primary diagnosis, coded chronic conditions, condition mask and key.

    Primary: for each chronic condition the patient has whose admissions come to this ward's
    group, with its primary_share the admission is for it (a code of its primary_codes); else a
    code of the group's case mix fitting the patient's age band and sex. Where `known` (a code
    index per stay, -1: none) holds one, the stay keeps it (the census's diagnosis of a stay under
    way); the draws are the same either way, so the other stays do not change."""
    clin = ClinicalArrays.of(pop)
    n = len(patient)
    group = clin.ward_group[ward]
    female, age = pop.female[patient], pop.age_years[patient]
    chronic = clin.chronic[patient]
    primary = np.full(n, -1, np.int64)
    for k in range(len(clin.chronic_code)):
        fires = rng.random(n) < clin.primary_share[k]
        choice = clin.primary_codes[k][pick(np.broadcast_to(clin.primary_weights[k], (n, len(clin.primary_codes[k]))),
                                            rng)] if len(clin.primary_codes[k]) else np.zeros(n, np.int64)
        rows = (primary < 0) & chronic[:, k] & clin.primary_in_group[k, group] & fires
        rows &= _code_fits(pop, choice, female, age)
        primary[rows] = choice[rows]
    fits = clin.mix.fits(age, female) & (clin.mix_group[None, :] == group[:, None])
    chosen = pick(fits * clin.mix.weight, rng)
    from_mix = (primary < 0) & (chosen >= 0)
    primary[from_mix] = clin.mix_code[chosen[from_mix]]
    primary[primary < 0] = clin.fallback_code
    if known is not None:
        primary = np.where(known >= 0, known, primary)
    coded = chronic & (rng.random(chronic.shape) < clin.secondary_share)
    mask = clin.code_mask[primary] | np.bitwise_or.reduce(
        np.where(coded, clin.chronic_mask, np.uint64(0)), axis=1, initial=np.uint64(0))
    key = rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64).astype(np.uint64)
    return {"primary": primary, "coded": coded, "mask": mask, "key": key}


def _weighted_candidates(pop: Population, candidates: np.ndarray, group: int, wanted: int,
                         rng: np.random.Generator) -> np.ndarray:
    """About 2 x `wanted` distinct candidates, each accepted with its admission weight for the group
    (1 + admission_weight - 1 for every chronic condition that brings people to it) over the largest."""
    clin = ClinicalArrays.of(pop)
    boost = clin.admission_boost[:, group]
    largest = 1.0 + boost.sum()
    drawn = candidates[rng.integers(0, len(candidates), int(wanted * 2 * largest) + 4)]
    weight = 1.0 + clin.chronic[drawn] @ boost
    return np.unique(drawn[rng.random(len(drawn)) * largest < weight])


def _opening(pop: Population, eligible: list[np.ndarray], in_bed: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stays under way when the window opens: (patient, ward, admitted seconds since the start,
    <= 0, primary diagnosis as a code index or -1 where draw_stays is to draw one).

    The census of the population when it has one, with the diagnoses it gave its stays; otherwise
    each ward filled to its target occupancy with stays whose time so far is exponential with the
    ward's mean length of stay."""
    if pop.census_ward is not None:
        patient = np.flatnonzero(pop.census_ward >= 0)
        known = pop.census_primary[patient] if pop.census_primary is not None else np.full(len(patient), -1)
        return (patient, pop.census_ward[patient].astype(np.int64), np.minimum(pop.census_since_s[patient], 0.0),
                known.astype(np.int64))
    clin = ClinicalArrays.of(pop)
    patients, wards = [], []
    for w, candidates in enumerate(eligible):
        wanted = int(round(pop.ward_beds[w] * TARGET_OCCUPANCY))
        if wanted == 0 or len(candidates) == 0:
            continue
        drawn = np.unique(candidates[rng.integers(0, len(candidates), wanted * 2 + 4)])
        drawn = rng.permutation(drawn[~in_bed[drawn]])[:wanted]
        in_bed[drawn] = True
        patients.append(drawn)
        wards.append(np.full(len(drawn), w))
    patient = np.concatenate(patients) if patients else np.empty(0, np.int64)
    ward = np.concatenate(wards) if wards else np.empty(0, np.int64)
    return patient, ward, -rng.exponential(clin.los_days[ward] * 86400.0) - MIN_STAY_S, np.full(len(patient), -1)


def step_census(pop: Population, census: Census, eligible: list[np.ndarray], tick: int, id_base: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Census]:
    """Move the census over tick `tick`.

    Returns (discharged: bool per census row before the step, discharge offsets in seconds within
    the tick, the census after the step with this tick's admissions appended at its end; at tick 0
    the stays under way at the window's opening come first among them)."""
    clin = ClinicalArrays.of(pop)
    if census.in_bed is None:
        census.in_bed = np.zeros(len(pop.patient_id), bool)
    tick_start = tick * TICK_SECONDS
    p_leave = TICK_SECONDS / (clin.los_days * 86400.0)
    leaving = rng.random(len(census.patient)) < p_leave[census.ward]
    earliest = np.maximum(census.admitted_s - tick_start + MIN_STAY_S, 0)
    offsets = np.minimum(earliest + rng.random(len(census.patient)) * TICK_SECONDS, TICK_SECONDS - 1)
    leaving &= earliest < TICK_SECONDS - 1
    stay = ~leaving
    new_patient, new_ward, new_admitted, known = [], [], [], []
    if tick == 0 and len(census.patient) == 0:
        patient, ward, since, primary = _opening(pop, eligible, census.in_bed, rng)
        census.in_bed[patient] = True
        new_patient.append(patient), new_ward.append(ward), new_admitted.append(since), known.append(primary)
    occupied = np.bincount(np.concatenate([census.ward[stay], *new_ward]).astype(np.int64),
                           minlength=len(pop.ward_code))
    for w, candidates in enumerate(eligible):
        target = pop.ward_beds[w] * TARGET_OCCUPANCY
        wanted = rng.poisson(max(target * p_leave[w] + 0.05 * (target - occupied[w]), 0.0))
        wanted = min(wanted, int(pop.ward_beds[w]) - occupied[w])
        if wanted <= 0 or len(candidates) == 0:
            continue
        drawn = _weighted_candidates(pop, candidates, clin.ward_group[w], wanted, rng)
        drawn = rng.permutation(drawn[~census.in_bed[drawn]])[:wanted]
        census.in_bed[drawn] = True
        new_patient.append(drawn)
        new_ward.append(np.full(len(drawn), w))
        new_admitted.append(tick_start + rng.random(len(drawn)) * (TICK_SECONDS - 2 * MIN_STAY_S))
    # Beds free only now: a patient discharged in this tick is not admitted again in it (the new
    # stay would begin before the old one ended).
    census.in_bed[census.patient[leaving]] = False
    patient = np.concatenate(new_patient).astype(np.int64) if new_patient else np.empty(0, np.int64)
    ward = np.concatenate(new_ward).astype(np.int64) if new_ward else np.empty(0, np.int64)
    admitted = np.concatenate(new_admitted).astype(np.float64) if new_admitted else np.empty(0)
    # The opening stays come first and keep the census's diagnoses; this tick's admissions draw theirs.
    known = np.concatenate([*known, np.full(len(patient) - sum(map(len, known)), -1)]).astype(np.int64)
    drawn = draw_stays(pop, patient, ward, rng, known)
    new = {"patient": patient, "admission_id": id_base + 1 + np.arange(len(patient)), "ward": ward,
           "admitted_s": admitted, **drawn}
    kept = census.take(stay)
    if len(census.coded) == 0:
        kept["coded"] = np.zeros((0, clin.chronic.shape[1]), bool)
    after = Census(**{name: np.concatenate([kept[name], new[name]]) for name in STAY_FIELDS}, in_bed=census.in_bed)
    return leaving, offsets, after
def _ints(values: np.ndarray) -> np.ndarray:
    """Non-negative integers as CSV text: small ones looked up, others by core.csv_writer.int_bytes."""
    values = np.asarray(values)
    if len(values) and values.min() >= 0 and values.max() < len(_SMALL):
        return _SMALL[values]
    return int_bytes(values)


def _ids(id_base: int, n: int) -> np.ndarray:
    """The record ids of a tick's n rows of one kind, id_base + 1 .. id_base + n: the tick number's
    digits, then the sequence zero-padded to ID_SEQUENCE_SPAN's width (id_base is a multiple of it)."""
    if n >= ID_SEQUENCE_SPAN:
        raise ValueError(f"{n} records of one kind in a tick: ids allow {ID_SEQUENCE_SPAN - 1}")
    prefix = str(id_base // ID_SEQUENCE_SPAN).encode("ascii")
    digits = len(str(ID_SEQUENCE_SPAN)) - 1
    return np.strings.add(prefix, zero_padded(1 + np.arange(n), digits))


def _timestamps(instant: datetime, offsets_s: np.ndarray) -> np.ndarray:
    """ISO timestamps with the SAST offset for whole-second offsets within the tick."""
    return _tick_stamps(instant)[np.clip(offsets_s.astype(np.int64), 0, TICK_SECONDS - 1)]


@lru_cache(maxsize=2)
def _tick_stamps(instant: datetime) -> np.ndarray:
    """The timestamp of every second of the tick starting at `instant` (made once per tick, not per kind)."""
    local = instant.astimezone(SAST)
    return np.array([(local + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S+02:00").encode("ascii")
                     for s in range(TICK_SECONDS)])


def _pick_staff(groups: list[np.ndarray], ward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One of the ward's staff (groups[ward]) per row, drawn ward by ward in ward order."""
    staff = np.zeros(len(ward), np.int64)
    by_ward = np.argsort(ward.astype(np.int16), kind="stable")  # each ward's rows in row order (a radix sort)
    wards, first = np.unique(ward[by_ward], return_index=True)
    for w, rows in zip(wards, np.split(by_ward, first[1:])):
        pool = groups[w]
        staff[rows] = pool[rng.integers(0, len(pool), len(rows))]
    return staff



def _by_cdf(cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An index per row of `cdf` (rows x options, cumulative probabilities), drawn by them."""
    u = rng.random(len(cdf))
    return np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1) if len(cdf) else np.empty(0, np.int64)


# ---------------------------------------------------------------------------------------------
# Records of one tick
# ---------------------------------------------------------------------------------------------
def _diagnoses(pop: Population, adm: dict, adm_offset: np.ndarray, rng: np.random.Generator):
    """The diagnoses of new stays: (stay row, code index, role index into ROLES) in row order, primary first, then
    the external cause of an injury, then the coded chronic conditions the primary does not cover."""
    clin = ClinicalArrays.of(pop)
    n = len(adm["patient"])
    primary = adm["primary"]
    rows = [np.arange(n)]
    codes = [primary]
    roles = [np.zeros(n, np.int64)]
    injured = np.flatnonzero(clin.code_injury[primary])
    if len(injured):
        fits = clin.external.fits(pop.age_years[adm["patient"][injured]], pop.female[adm["patient"][injured]])
        chosen = pick((fits & clin.code_external[primary[injured]]) * clin.external.weight, rng)
        cause = np.where(chosen >= 0, clin.external_code[np.maximum(chosen, 0)], clin.fallback_cause)
        rows.append(injured), codes.append(cause), roles.append(np.ones(len(injured), np.int64))
    covered = (clin.chronic_mask[None, :] & clin.code_mask[primary][:, None]) != 0
    secondary = adm["coded"] & ~covered & (clin.chronic_code[None, :] != primary[:, None])
    stay, k = np.nonzero(secondary)
    rows.append(stay), codes.append(clin.chronic_code[k]), roles.append(np.full(len(stay), 2, np.int64))
    row, code, role = np.concatenate(rows), np.concatenate(codes), np.concatenate(roles)
    order = np.argsort(row, kind="stable")
    row, code, role = row[order], code[order], role[order]
    offset = np.minimum(adm_offset[row] + 30 + rng.random(len(row)) * DIAGNOSED_WITHIN_S, TICK_SECONDS - 1)
    return row, code, role, offset


def tick_records(pop: Population, before: Census, leaving: np.ndarray, leave_offset: np.ndarray,
                 after: Census, tick: int, instant: datetime, vital_rows: int,
                 rng: np.random.Generator) -> TickRecords:
    """All records of tick `tick` (starting at `instant`), with about `vital_rows` vital signs."""
    clin = ClinicalArrays.of(pop)
    text = PopulationText.of(pop)
    id_base = tick_id_base(instant)
    tick_start = tick * TICK_SECONDS
    nurses, doctors = pop.duty.on_shift(instant)
    n_new = len(after.patient) - int((~leaving).sum())
    new = slice(len(after.patient) - n_new, len(after.patient))
    adm = after.take(new)
    tables: dict[str, list[np.ndarray]] = {}

    # Admissions and their diagnoses (stays under way at the window's opening: at its first instant).
    adm_offset = np.maximum(adm["admitted_s"] - tick_start, 0.0)
    if n_new:
        adm_type = _ADMISSION_TEXT[_by_cdf(clin.admission_cdf[adm["ward"]], rng)]
        tables["admission"] = [_ints(adm["admission_id"]), text.patient_id[adm["patient"]],
                               text.person_id[adm["patient"]], text.ward_code[adm["ward"]],
                               _timestamps(instant, adm_offset), adm_type,
                               _ints(_pick_staff(doctors, adm["ward"], rng))]
        rows, codes, roles, offset = _diagnoses(pop, adm, adm_offset, rng)
        tables["diagnosis"] = [_ids(id_base, len(rows)), _ints(adm["admission_id"][rows]),
                               text.patient_id[adm["patient"][rows]], text.icd10_code[codes],
                               _ROLE_TEXT[roles], _timestamps(instant, offset),
                               _ints(_pick_staff(doctors, adm["ward"][rows], rng))]

    # Discharges end a stay; nothing of the stay is recorded after them.
    out = np.flatnonzero(leaving)
    if len(out):
        order = out[np.argsort(leave_offset[out], kind="stable")]
        disposition = _DISPOSITION_TEXT[_by_cdf(clin.disposition_cdf[before.ward[order]], rng)]
        tables["discharge"] = [_ids(id_base, len(order)), _ints(before.admission_id[order]),
                               text.patient_id[before.patient[order]], text.ward_code[before.ward[order]],
                               _timestamps(instant, leave_offset[order]), disposition,
                               _ints(_pick_staff(doctors, before.ward[order], rng))]

    # Everyone in a bed during the tick, and the part of the tick they were in it.
    stays = {name: np.concatenate([getattr(before, name), adm[name]]) for name in ("patient", "ward", "mask", "key")}
    start = np.concatenate([np.zeros(len(before.patient)), adm_offset])
    end = np.concatenate([np.where(leaving, leave_offset, TICK_SECONDS - 1), np.full(n_new, TICK_SECONDS - 1.0)])
    if len(stays["patient"]) == 0:
        return TickRecords(tables)
    share = np.maximum(end - start, 0) / TICK_SECONDS
    span = (start, end, share)
    tables["vital_sign"] = _vital_signs(pop, stays, span, vital_rows, nurses, id_base, instant, tick_start, rng)
    labs = _lab_results(pop, stays, span, doctors, id_base, instant, rng)
    if labs:
        tables["lab_result"] = labs
    meds = _medications(pop, stays, span, nurses, id_base, instant, rng)
    if meds:
        tables["medication"] = meds
    return TickRecords(tables)


def _spread(share: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Split `total` rows over patients in proportion to their share of the tick."""
    if total <= 0 or share.sum() == 0:
        return np.zeros(len(share), np.int64)
    exact = share / share.sum() * total
    counts = np.floor(exact).astype(np.int64)
    counts += rng.random(len(share)) < (exact - counts)
    return counts


def _event_rows(counts, start, end, rng):
    """Row -> stay index and time offset for `counts` events per stay, ordered by time."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = start[owner] + rng.random(len(owner)) * (end[owner] - start[owner])
    order = np.argsort(offset, kind="stable")
    return owner[order], offset[order]


def _age_band(bounds: np.ndarray, age: np.ndarray) -> np.ndarray:
    return np.maximum(np.searchsorted(bounds, age, side="right") - 1, 0)


def _vital_signs(pop, stays, span, total, nurses, id_base, instant, tick_start, rng):
    """Vital signs: the age band's mean, the stay's conditions' shifts, the stay's own baseline and a
    slow swing (hashes of its key, so a stay's readings follow each other across ticks), a little noise."""
    vitals = ClinicalArrays.of(pop).vitals
    text = PopulationText.of(pop)
    start, end, share = span
    owner, offset = _event_rows(_spread(share, total, rng), start, end, rng)
    n = len(owner)
    key = stays["key"]
    stay_band = _age_band(vitals.band_min_age, pop.age_years[stays["patient"]])
    shift = mask_bits(stays["mask"]).astype(np.float64) @ vitals.shift
    hours = (tick_start + offset) / 3600.0
    values = []
    for v, (low, high) in enumerate(VITAL_LIMITS):
        # What is the stay's own (its level, the amplitude and period of its swing) is made once per
        # stay, then spread over its rows.
        sd = vitals.sd[stay_band, v]
        level = vitals.mean[stay_band, v] + shift[:, v] + sd * VITAL_BASELINE_SD * hashed_normal(key, v)
        period = VITAL_SWING_HOURS[0] + (VITAL_SWING_HOURS[1] - VITAL_SWING_HOURS[0]) * hashed_uniform(key, 10 + v)
        swing = np.sin(2 * np.pi * (hours / period[owner] + hashed_uniform(key, 20 + v)[owner]))
        value = level[owner] + (sd * VITAL_SWING_SD)[owner] * swing + (sd * VITAL_NOISE_SD)[owner] * rng.standard_normal(n)
        values.append(np.clip(value, low, high))
    heart, systolic, resp, temp, spo2 = values
    diastolic = np.clip(systolic * 0.62 + rng.normal(0, 3, n), 25, 140)
    temperature = _TENTHS[np.round(temp * 10).astype(np.int64)]
    temperature[rng.random(n) < TEMPERATURE_MISSING] = b""
    as_int = lambda x: np.round(x).astype(np.int64)  # noqa: E731
    return [_ids(id_base, n), text.patient_id[stays["patient"][owner]],
            text.ward_code[stays["ward"][owner]], _timestamps(instant, offset), _ints(as_int(heart)),
            _ints(as_int(systolic)), _ints(as_int(diastolic)), _ints(as_int(resp)), temperature,
            _ints(as_int(spo2)), _ints(_pick_staff(nurses, stays["ward"][owner], rng))]


def _applies(mask_of_rows: np.ndarray, stay_mask: np.ndarray) -> np.ndarray:
    """(stays x rows) bool: a row for any stay (mask 0) or for a condition the stay has."""
    return (mask_of_rows[None, :] == 0) | ((mask_of_rows[None, :] & stay_mask[:, None]) != 0)


def _lab_results(pop, stays, span, doctors, id_base, instant, rng):
    """Lab tests the stay's conditions call for, values conditioned on them and on the stay's level."""
    labs = ClinicalArrays.of(pop).labs
    start, end, share = span
    per_day = _applies(labs.panel_mask, stays["mask"]) * labs.panel_per_day
    owner, offset = _event_rows(rng.poisson(per_day.sum(axis=1) / TICKS_PER_DAY * share), start, end, rng)
    n = len(owner)
    if n == 0:
        return None
    test = labs.panel_test[pick(per_day[owner], rng)]
    mask, age = stays["mask"][owner], pop.age_years[stays["patient"][owner]]
    row = np.full(n, -1, np.int64)
    for r in range(len(labs.value_test) - 1, -1, -1):  # the first matching row of lab_values.csv wins
        hit = ((labs.value_test[r] == test) & (labs.value_min_age[r] <= age) & (age < labs.value_max_age[r])
               & ((labs.value_mask[r] == 0) | ((mask & labs.value_mask[r]) != 0)))
        row[hit] = r
    row = np.maximum(row, 0)
    z = LAB_LEVEL_SD * hashed_normal(stays["key"][owner], 100 + test) + LAB_NOISE_SD * rng.standard_normal(n)
    value = np.where(labs.value_log[row], labs.centre[row] * np.exp(labs.spread[row] * z),
                     labs.centre[row] + labs.spread[row] * z)
    value = np.round(np.clip(value, labs.floor[row], labs.ceiling[row]), 1)
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    for r in range(len(labs.range_test)):
        hit = (labs.range_test[r] == test) & (labs.range_min_age[r] <= age) & (age < labs.range_max_age[r])
        low[hit], high[hit] = labs.low[r], labs.high[r]
    width = high - low
    flag = np.zeros(n, np.int64)  # index into FLAGS
    flag[value < low] = FLAGS.index("L")
    flag[value > high] = FLAGS.index("H")
    flag[value < low - width / 2] = FLAGS.index("LL")
    flag[value > high + width] = FLAGS.index("HH")
    text = PopulationText.of(pop)
    return [_ids(id_base, n), text.patient_id[stays["patient"][owner]],
            text.ward_code[stays["ward"][owner]], csv_fields(labs.tests)[test],
            csv_fields(labs.names.tolist())[test], formatted(value, "%.1f"), csv_fields(labs.units.tolist())[test],
            _FLAG_TEXT[flag], _timestamps(instant, offset), _ints(_pick_staff(doctors, stays["ward"][owner], rng))]


def dose_amount(per_kg: np.ndarray, amount: np.ndarray, max_dose: np.ndarray, weight_kg: np.ndarray) -> np.ndarray:
    """The dose of each administration: fixed, or `amount` per kg of weight, capped at `max_dose`,
    rounded down to what can be drawn up (whole units from 10, tenths from 1, hundredths below)."""
    dose = np.where(per_kg, np.minimum(amount * weight_kg, max_dose), amount)
    step = np.where(dose >= 10, 1.0, np.where(dose >= 1, 0.1, 0.01))
    return np.where(per_kg, np.floor(dose / step + 1e-9) * step, dose)


def _medications(pop, stays, span, nurses, id_base, instant, rng):
    """Doses of the regimens of the stay's conditions, for its age and group, dosed by weight."""
    clin = ClinicalArrays.of(pop)
    reg = clin.regimens
    start, end, share = span
    patient = stays["patient"]
    age, female = pop.age_years[patient], pop.female[patient]
    applies = (_applies(reg.mask, stays["mask"]) & reg.groups[:, clin.ward_group[stays["ward"]]].T
               & reg.ages.fits(age, female))
    per_day = applies * reg.ages.weight
    owner, offset = _event_rows(rng.poisson(per_day.sum(axis=1) / TICKS_PER_DAY * share), start, end, rng)
    n = len(owner)
    if n == 0:
        return None
    regimen = pick(per_day[owner], rng)
    weight = reg.weight_kg(age[owner], female[owner])
    amount = dose_amount(reg.per_kg[regimen], reg.amount[regimen], reg.max_dose[regimen], weight)
    unit = reg.unit_text[regimen]
    unit = np.where((unit == b"tablet") & (amount != 1), b"tablets", unit)
    dose = np.strings.add(np.strings.add(formatted(np.round(amount, 2), "%g"), b" "), unit)
    text = PopulationText.of(pop)
    return [_ids(id_base, n), text.patient_id[patient[owner]],
            text.ward_code[stays["ward"][owner]], reg.drug_text[regimen], dose,
            reg.route_text[regimen], _timestamps(instant, offset), _ints(_pick_staff(nurses, stays["ward"][owner], rng))]


def csv_bytes(kind: RecordKind, columns: list[np.ndarray]) -> bytes:
    """The bytes of one record file of `kind`: its header and the rows of `columns` (core/csv_writer.py)."""
    return header_line(kind.header) + encode_arrays([[column] for column in columns], len(columns[0]))


ALL_KINDS = tuple(KINDS.values())
