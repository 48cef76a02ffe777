"""A small, self-consistent hospital for the transfer stream when the generators have not run.

Six wards, a few other facilities, patients of whom half are admitted (the census at the window
start), four doctors per ward on a rota of 12-hour shifts that covers the whole window. Used by
the stream tests and bench/bench_stream.py against scratch databases; the real population comes
from generators/. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from psycopg2.extras import execute_values

from core.sa_id import make_sa_id
from core.settings import SAST

SPECIALITIES = (("IM", "Internal Medicine"), ("SURG", "Surgery"), ("PAED", "Paediatrics"),
                ("ANAES", "Anaesthesiology"))
# ward_code, ward_name, department_code, ward_type, speciality of its department
WARDS = (
    ("MED-A", "Medical Ward A", "MED", "general", "IM"),
    ("MED-B", "Medical Ward B", "MED", "general", "IM"),
    ("SURG-1", "Surgical Ward 1", "SURG", "general", "SURG"),
    ("ICU", "Intensive Care Unit", "CRIT", "icu", "ANAES"),
    ("HC-1", "High Care 1", "CRIT", "high_care", "ANAES"),
    ("PAED-1", "Paediatric Ward 1", "PAED", "paediatric", "PAED"),
)
DEPARTMENTS = (("MED", "Internal Medicine", "IM"), ("SURG", "General Surgery", "SURG"),
               ("CRIT", "Critical Care", "ANAES"), ("PAED", "Paediatrics", "PAED"))
FACILITIES = (
    ("CHBAH", "Chris Hani Baragwanath Academic Hospital", "academic_hospital"),
    ("HJH", "Helen Joseph Hospital", "regional_hospital"),
    ("RMMCH", "Rahima Moosa Mother and Child Hospital", "regional_hospital"),
    ("SBAH", "South Rand Hospital", "district_hospital"),
)
DOCTORS_PER_WARD = 4


def sa_id_number(born: date, female: bool, citizen: bool, serial: int) -> str:
    """A valid 13-digit SA ID (core.sa_id) with sequence `serial` mod 5000 of the person's sex."""
    sequence = (serial % 5000) + (0 if female else 5000)
    return make_sa_id(born, sequence, "citizen" if citizen else "permanent_resident")


# core.person's columns in the order _person gives them (named: a warehouse that gained
# passport_country later has it last).
PERSON_COLUMNS = ("person_id", "sa_id_number", "first_name", "last_name", "sex", "date_of_birth", "citizenship",
                  "passport_number", "passport_country", "phone_number", "email", "street_address", "suburb",
                  "city", "province", "postal_code", "medical_aid")


def _person(rng: random.Random, person_id: int, adult: bool) -> tuple:
    female = rng.random() < 0.5
    born = (date(1962, 1, 1) if adult else date(1940, 1, 1)) + timedelta(days=rng.randrange(365 * (35 if adult else 80)))
    foreign = rng.random() < 0.1
    sa_id = None if foreign else sa_id_number(born, female, rng.random() < 0.95, person_id)
    citizenship = "foreign_national" if foreign else ("citizen" if sa_id[10] == "0" else "permanent_resident")
    return (person_id, sa_id, f"First{person_id}", f"Last{person_id}", "F" if female else "M", born, citizenship,
            f"P{person_id:08d}" if foreign else None, "ZWE" if foreign else None, f"+2782{person_id:07d}", None,
            f"{person_id} Main Road", "Hillbrow", "Johannesburg", "Gauteng", "2001", None)


def build_population(conn, *, start: datetime, days: int, patients: int = 120, seed: int = 7) -> dict:
    """Insert the reference data, people, patients, doctors and their roster; commit.

    Half the patients are admitted (current_ward_code set, since before `start`). The roster
    covers [start - 1 day, start + days + 1 day). Returns counts of what it inserted.
    """
    rng = random.Random(seed)
    with conn.cursor() as cur:
        execute_values(cur, "INSERT INTO reference.speciality VALUES %s ON CONFLICT DO NOTHING", SPECIALITIES)
        execute_values(cur, "INSERT INTO reference.department VALUES %s ON CONFLICT DO NOTHING", DEPARTMENTS)
        execute_values(cur, "INSERT INTO reference.facility VALUES %s ON CONFLICT DO NOTHING",
                       [(code, name, kind, "Johannesburg", "Gauteng") for code, name, kind in FACILITIES])
        execute_values(cur, "INSERT INTO reference.ward VALUES %s ON CONFLICT DO NOTHING",
                       [(code, name, dept, kind, 30, 2, 1, 6, 4) for code, name, dept, kind, _ in WARDS])
        people = [_person(rng, pid, adult=False) for pid in range(1, patients + 1)]
        doctor_ids = list(range(patients + 1, patients + 1 + DOCTORS_PER_WARD * len(WARDS)))
        people += [_person(rng, pid, adult=True) for pid in doctor_ids]
        execute_values(cur, f"INSERT INTO core.person ({', '.join(PERSON_COLUMNS)}) VALUES %s", people)
        since = start - timedelta(days=2)
        execute_values(cur, """
            INSERT INTO core.patient (patient_id, hospital_number, person_id, registration_date, blood_group,
                                      chronic_conditions, current_ward_code, current_ward_since) VALUES %s""",
            [(pid, f"JHB{pid:07d}", pid, date(2020, 1, 1), "O+", None,
              WARDS[pid % len(WARDS)][0] if pid % 2 else None, since if pid % 2 else None)
             for pid in range(1, patients + 1)])
        staff, doctors, shifts = [], [], []
        for i, staff_id in enumerate(doctor_ids):
            ward = WARDS[i // DOCTORS_PER_WARD]
            staff.append((staff_id, staff_id, f"{staff_id:08d}", "doctor", "Medical Officer", None, ward[2],
                          ward[0], date(2015, 1, 1), None, None))
            doctors.append((staff_id, f"MP{staff_id:07d}", "medical_officer", ward[4], None))
        execute_values(cur, "INSERT INTO core.staff VALUES %s", staff)
        execute_values(cur, "INSERT INTO core.doctor VALUES %s", doctors)
        first_day = start.astimezone(SAST).date() - timedelta(days=1)
        for d in range(days + 2):
            day = first_day + timedelta(days=d)
            day_start = datetime.combine(day, time(7), tzinfo=SAST)
            for w, ward in enumerate(WARDS):
                team = doctor_ids[w * DOCTORS_PER_WARD:(w + 1) * DOCTORS_PER_WARD]
                # Two pairs alternate days: each doctor works one 12-hour shift every other day.
                day_doctor, night_doctor = team[(d % 2) * 2], team[(d % 2) * 2 + 1]
                for kind, who, begins in (("day", day_doctor, day_start),
                                          ("night", night_doctor, day_start + timedelta(hours=12))):
                    shifts.append((len(shifts) + 1, who, ward[0], day, kind, begins, begins + timedelta(hours=12),
                                   None))
        execute_values(cur, "INSERT INTO core.staff_assignment VALUES %s", shifts, page_size=5000)
    conn.commit()
    return {"patients": patients, "admitted": (patients + 1) // 2, "doctors": len(doctor_ids), "shifts": len(shifts)}
