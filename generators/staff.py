"""The hospital's workforce (staff.csv, doctors.csv): who works where, in which role and grade,
when they were hired and when they retire (Public Service Act s16), with their replacements."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from core import reference

log = logging.getLogger(__name__)

STAFF_COLUMNS = ("staff_id", "person_id", "persal_number", "staff_category", "job_title", "sanc_category",
                 "department_code", "home_ward_code", "hire_date", "retirement_date", "replaces_staff_id")
DOCTOR_COLUMNS = ("staff_id", "hpcsa_number", "grade", "speciality_code", "subspeciality")
DEFAULT_STAFF = 6_800
RETIREMENT_AGE = 65
# Each ward holds four times its larger minimum cover of nurses and of doctors: the nurses' rota has
# four teams, and doctors need as many to keep cover while a ward's callers of one day are post-call
# the next, with no call two days running (generators.roster).
TEAMS = 4

# Share of the workforce by category (CHBAH: ~6,760 staff; doctors ~16%, nurses ~45%).
CATEGORY_SHARES = {"doctor": 0.16, "nurse": 0.45, "allied_health": 0.09, "administration": 0.14, "support": 0.16}
SANC_SHARES = {"registered_nurse": 0.48, "enrolled_nurse": 0.30, "enrolled_nursing_auxiliary": 0.22}
SANC_TITLES = {"registered_nurse": "Professional Nurse", "enrolled_nurse": "Enrolled Nurse",
               "enrolled_nursing_auxiliary": "Enrolled Nursing Auxiliary"}
# grade -> (share, youngest age, oldest age at SIM_START, job title)
GRADES = {
    "intern": (0.20, 23, 30, "Intern"),
    "community_service": (0.07, 24, 32, "Community Service Medical Officer"),
    "medical_officer": (0.19, 26, 65, "Medical Officer"),
    "registrar": (0.27, 27, 45, "Registrar"),
    "specialist": (0.21, 32, 65, "Specialist"),
    "principal_specialist": (0.05, 40, 65, "Principal Specialist"),
    "chief_specialist": (0.01, 48, 65, "Chief Specialist"),
}
SUBSPECIALITIES = {
    "MED": ("Cardiology", "Gastroenterology", "Nephrology", "Pulmonology", "Infectious Diseases",
            "Endocrinology", "Clinical Haematology", "Rheumatology"),
    "PAED": ("Neonatology", "Paediatric Cardiology", "Paediatric Neurology", "Paediatric Critical Care"),
    "SURG": ("Trauma Surgery", "Vascular Surgery", "Surgical Gastroenterology"),
    "ANAES": ("Critical Care",), "OBGYN": ("Maternal and Fetal Medicine", "Gynaecological Oncology"),
    "ORTHO": ("Spinal Surgery", "Hand Surgery"),
}
# (job title, department, share within category)
ALLIED = (("Physiotherapist", "REHAB", 0.2), ("Occupational Therapist", "REHAB", 0.1),
          ("Speech Therapist and Audiologist", "REHAB", 0.05), ("Dietitian", "REHAB", 0.07),
          ("Social Worker", "REHAB", 0.1), ("Clinical Psychologist", "PSYCH", 0.04),
          ("Pharmacist", "PHARM", 0.18), ("Pharmacist Assistant", "PHARM", 0.1), ("Radiographer", "RAD", 0.16))
ADMINISTRATION = (("Administration Clerk", "ADMIN", 0.35), ("Registry Clerk", "ADMIN", 0.2),
                  ("Data Capturer", "ADMIN", 0.12), ("Human Resources Practitioner", "ADMIN", 0.1),
                  ("Finance Clerk", "ADMIN", 0.1), ("Administration Officer", "ADMIN", 0.08),
                  ("Ward Clerk", "NURSADM", 0.05))
SUPPORT = (("Cleaner", "SUPPORT", 0.35), ("Porter", "SUPPORT", 0.2), ("Food Service Aid", "SUPPORT", 0.15),
           ("Security Officer", "SUPPORT", 0.1), ("Laundry Worker", "SUPPORT", 0.08),
           ("Artisan", "SUPPORT", 0.07), ("Driver", "SUPPORT", 0.05))
# Grades that carry no speciality: interns rotate and community-service officers serve a year
# before any specialist training (speciality_code NULL; ck_doctor_speciality_grade in init_db.sql).
GRADES_WITHOUT_SPECIALITY = ("intern", "community_service")
# Share of women by category (the rest are men). Nurses: SANC register statistics, about nine in
# ten nurses are women. Doctors by grade (estimate: women are about half of HPCSA-registered
# medical practitioners under 40 and about six in ten recent graduates, fewer among senior
# specialists). Allied health: estimate, the therapy and dietetics professions are mostly women,
# pharmacy and radiography about two thirds. Administration: estimate, public-service clerical
# posts are mostly held by women. Support: by job title (estimate): cleaning, food service and
# laundry mostly women; portering, security, artisans and drivers mostly men.
FEMALE_SHARE = {"nurse": 0.90, "allied_health": 0.75, "administration": 0.65}
DOCTOR_FEMALE_SHARE = {"intern": 0.62, "community_service": 0.60, "medical_officer": 0.52, "registrar": 0.48,
                       "specialist": 0.40, "principal_specialist": 0.33, "chief_specialist": 0.25}
SUPPORT_FEMALE_SHARE = {"Cleaner": 0.75, "Porter": 0.15, "Food Service Aid": 0.80, "Security Officer": 0.20,
                        "Laundry Worker": 0.80, "Artisan": 0.05, "Driver": 0.10}
AGE_RANGE = {"nurse": (22, 65), "allied_health": (23, 65), "administration": (20, 65), "support": (19, 65)}
MIN_HIRE_AGE = {"doctor": 23, "nurse": 21, "allied_health": 22, "administration": 19, "support": 18}


def retirement_date(birth: date) -> date:
    """Public Service Act s16: the 65th birthday if it falls on the 1st of a month, else the 1st of the
    following month (so a 29 February birthday retires on 1 March)."""
    year = birth.year + RETIREMENT_AGE
    if birth.day == 1:
        return date(year, birth.month, 1)
    return date(year + (birth.month == 12), birth.month % 12 + 1, 1)


@dataclass
class Slot:
    """One post: what a staff member does (a replacement inherits it whole)."""
    category: str
    job_title: str
    sanc: str | None
    department: str
    ward: str | None
    team: int | None
    grade: str | None = None
    speciality: str | None = None
    subspeciality: str | None = None


class PeoplePool:
    """People eligible for employment (citizens and permanent residents aged 18 or more who are not
    yet retired: under s16 a 65-year-old works until the 1st of the month after the birthday), by sex
    and age in whole years at the reference day, each handed out at most once, in a seeded random order."""

    def __init__(self, rng: np.random.Generator, people: pd.DataFrame, reference_day: date):
        eligible = people[people.citizenship != "foreign_national"]
        born = pd.to_datetime(eligible.date_of_birth)
        y, m, d = (born.dt.year.to_numpy(), born.dt.month.to_numpy(), born.dt.day.to_numpy())
        ref = reference_day
        age = ref.year - y - ((ref.month < m) | ((ref.month == m) & (ref.day < d)))
        retire_year = y + RETIREMENT_AGE + ((d != 1) & (m == 12))
        retire_month = np.where(d == 1, m, m % 12 + 1)
        retired = (retire_year * 100 + retire_month) * 100 + 1 <= (ref.year * 100 + ref.month) * 100 + ref.day
        keep = np.flatnonzero((age >= 18) & ~retired)
        keep = keep[rng.permutation(len(keep))]
        female = (eligible.sex == "F").to_numpy()
        self.rng = rng
        self.person_id = eligible.person_id.to_numpy()
        self.birth = (y, m, d)
        self.by_sex_age = {(bool(f), int(a)): list(keep[(age[keep] == a) & (female[keep] == f)])
                           for f in (False, True) for a in np.unique(age[keep])}

    def take(self, low: int, high: int, female: bool) -> tuple[int, date]:
        """A person aged low..high (inclusive), roughly uniform over ages that still have people, of
        the sex asked for (of the other sex only when none of it is left in the range)."""
        for sex in (female, not female):
            ages = [a for a in range(low, high + 1) if self.by_sex_age.get((sex, a))]
            if ages:
                break
        else:
            raise ValueError(f"people.csv has too few citizens aged {low}-{high} left to employ; "
                             "generate more people or ask for fewer staff")
        index = self.by_sex_age[sex, ages[int(self.rng.integers(len(ages)))]].pop()
        y, m, d = (int(part[index]) for part in self.birth)
        return int(self.person_id[index]), date(y, m, d)


def female_share(slot: "Slot") -> float:
    """The chance that the holder of `slot` is a woman (FEMALE_SHARE and its kin)."""
    if slot.category == "doctor":
        return DOCTOR_FEMALE_SHARE[slot.grade]
    if slot.category == "support":
        return SUPPORT_FEMALE_SHARE[slot.job_title]
    return FEMALE_SHARE[slot.category]


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _shares(rng: np.random.Generator, items, n: int) -> list:
    """`n` picks from (value..., share) tuples, in proportion to the shares (largest remainder), shuffled."""
    weights = np.array([item[-1] for item in items], dtype=float)
    exact = weights / weights.sum() * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts))[: n - counts.sum()]] += 1
    picks = [item for item, c in zip(items, counts) for _ in range(c)]
    return [picks[i] for i in rng.permutation(len(picks))]


def ward_slots(rng: np.random.Generator, doctors: int, nurses: int) -> list[Slot]:
    """Doctor and nurse posts: every ward-team gets its minimum cover first, the rest go to wards by beds.

    Raises ValueError when there are too few doctors or nurses to cover every ward on every shift.
    """
    wards = reference.wards()
    departments = reference.departments().set_index("department_code")
    need_doctors = wards[["min_doctors_day", "min_doctors_night"]].max(axis=1).to_numpy()
    need_nurses = wards[["min_nurses_day", "min_nurses_night"]].max(axis=1).to_numpy()
    if doctors < TEAMS * need_doctors.sum() or nurses < TEAMS * need_nurses.sum():
        raise ValueError(f"too few staff to cover the wards: need at least {TEAMS * need_doctors.sum()} doctors "
                         f"and {TEAMS * need_nurses.sum()} nurses (16% and 45% of --staff); raise --staff")
    slots: list[Slot] = []
    for kind, total, need in (("doctor", doctors, need_doctors), ("nurse", nurses, need_nurses)):
        # Ward doctors get 90% of the doctors (the rest are in radiology, pathology, outpatients).
        on_wards = total if kind == "nurse" else max(int(total * 0.9), TEAMS * int(need.sum()))
        per_team = {(w, t): int(need[w]) for w in range(len(wards)) for t in range(TEAMS)}
        extra = on_wards - TEAMS * int(need.sum())
        beds = wards.bed_count.to_numpy().astype(float)
        for w in rng.choice(len(wards), size=extra, p=beds / beds.sum()):
            per_team[int(w), int(rng.integers(TEAMS))] += 1
        for (w, t), count in per_team.items():
            ward = wards.iloc[w]
            for position in range(count):
                if kind == "doctor":
                    slots.append(Slot("doctor", "", None, ward.department_code, ward.ward_code, t,
                                      speciality=departments.loc[ward.department_code, "speciality_code"]))
                else:
                    # The first nurse of each team is a registered nurse (someone must be in charge).
                    slots.append(Slot("nurse", "", "registered_nurse" if position == 0 else None,
                                      ward.department_code, ward.ward_code, t))
        if kind == "doctor":
            for department in rng.choice(["RAD", "PATH", "FAMMED", "RAD", "FAMMED"], size=total - on_wards):
                slots.append(Slot("doctor", "", None, str(department), None, None,
                                  speciality=departments.loc[department, "speciality_code"]))
    return slots


def build_workforce(people: pd.DataFrame, staff_count: int, seed: int, sim_start: date,
                    horizon_end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """staff and doctors tables (columns STAFF_COLUMNS, DOCTOR_COLUMNS), replacements included."""
    rng = np.random.default_rng([seed, 3])
    counts = {c: int(round(staff_count * s)) for c, s in CATEGORY_SHARES.items()}
    slots = ward_slots(rng, counts["doctor"], counts["nurse"])
    _fill_nurse_categories(rng, [s for s in slots if s.category == "nurse"])
    _fill_doctor_grades(rng, [s for s in slots if s.category == "doctor"])
    for category, table in (("allied_health", ALLIED), ("administration", ADMINISTRATION), ("support", SUPPORT)):
        for title, department, _ in _shares(rng, table, counts[category]):
            slots.append(Slot(category, title, None, department, None, None))
    # Nursing management: a few registered nurses off the ward rota.
    for _ in range(max(1, counts["nurse"] // 40)):
        slots.append(Slot("nurse", "Nursing Manager", "registered_nurse", "NURSADM", None, None))

    pool = PeoplePool(rng, people, sim_start)
    staff_rows, doctor_rows = [], []
    persal = iter(rng.choice(90_000_000, size=2 * len(slots) + 10, replace=False) + 10_000_000)
    hpcsa = iter(rng.choice(9_000_000, size=2 * len(slots) + 10, replace=False) + 1_000_000)
    queue = [(slot, None, None) for slot in slots]  # (slot, replaces staff_id, hire date)
    while queue:
        slot, replaces, hired = queue.pop(0)
        staff_id = len(staff_rows) + 1
        low, high = _age_range(slot)
        if replaces is not None:
            high = min(high, 55)  # a replacement has years of service ahead
        person, birth = pool.take(low, min(high, max(low, high)), bool(rng.random() < female_share(slot)))
        if hired is None:
            hired = _hire_date(rng, slot, birth, sim_start)
        retires = retirement_date(birth)
        staff_rows.append((staff_id, person, f"{next(persal):08d}", slot.category, slot.job_title, slot.sanc,
                           slot.department, slot.ward, hired, retires if retires < horizon_end else None,
                           replaces))
        if slot.category == "doctor":
            doctor_rows.append((staff_id, f"MP{next(hpcsa):07d}", slot.grade, slot.speciality, slot.subspeciality))
        if retires < horizon_end:
            # The replacement starts the day before, to take the night shift that runs into retirement day.
            queue.append((slot, staff_id, retires - timedelta(days=1)))
    staff = pd.DataFrame(staff_rows, columns=list(STAFF_COLUMNS))
    staff["replaces_staff_id"] = staff.replaces_staff_id.astype("Int64")
    doctors = pd.DataFrame(doctor_rows, columns=list(DOCTOR_COLUMNS))
    log.info("workforce: %d staff (%d replacements), %d doctors", len(staff),
             staff.replaces_staff_id.notna().sum(), len(doctors))
    return staff, doctors


def _age_range(slot: Slot) -> tuple[int, int]:
    if slot.category == "doctor":
        return GRADES[slot.grade][1], GRADES[slot.grade][2]
    return AGE_RANGE[slot.category]


def _hire_date(rng: np.random.Generator, slot: Slot, birth: date, on: date) -> date:
    """Hired after reaching the minimum age for the role, within the last 35 years (interns: 2)."""
    earliest_age = MIN_HIRE_AGE[slot.category]
    if slot.grade in ("intern", "community_service", "registrar"):
        span = 365 * {"intern": 2, "community_service": 1, "registrar": 6}[slot.grade]
    else:
        span = min(35 * 365, max(1, (_age(birth, on) - earliest_age) * 365))
    return on - timedelta(days=int(rng.integers(1, span + 1)))


def _fill_nurse_categories(rng: np.random.Generator, slots: list[Slot]) -> None:
    open_slots = [s for s in slots if s.sanc is None]
    total = len(slots)
    wanted = {k: int(round(v * total)) for k, v in SANC_SHARES.items()}
    wanted["registered_nurse"] -= total - len(open_slots)
    picks = _shares(rng, [(k, max(0, v)) for k, v in wanted.items()], len(open_slots))
    for slot, (sanc, _) in zip(open_slots, picks):
        slot.sanc = sanc
    for slot in slots:
        slot.job_title = SANC_TITLES[slot.sanc]


def _fill_doctor_grades(rng: np.random.Generator, slots: list[Slot]) -> None:
    grades = _shares(rng, [(g, share) for g, (share, *_rest) in GRADES.items()], len(slots))
    for slot, (grade, _) in zip(slots, grades):
        slot.grade = grade
        slot.job_title = GRADES[grade][3]
        if grade in GRADES_WITHOUT_SPECIALITY:
            slot.speciality = None
        options = SUBSPECIALITIES.get(slot.speciality, ())
        if grade in ("specialist", "principal_specialist", "chief_specialist") and options and rng.random() < 0.4:
            slot.subspeciality = options[int(rng.integers(len(options)))]
