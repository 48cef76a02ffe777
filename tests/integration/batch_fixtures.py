"""A small hospital population for the batch tests, inserted straight into a test database.

It follows the column contracts of init_db.sql (reference.department/ward/icd10_code,
core.person/patient/staff) so the batch writer and loader can run before the real generators
and `hospital load-population` exist. Everything is fixed: the same rows every time.
"""

from __future__ import annotations

from datetime import date

from core import reference
from database.connection import connect

DEPARTMENTS = (("MED", "Internal Medicine"), ("OBG", "Obstetrics and Gynaecology"),
               ("SUR", "General Surgery"), ("PAE", "Paediatrics"))
# ward_code, name, department, type, beds
WARDS = (("W03", "Medical Ward 1", "MED", "general", 30), ("W39", "Labour Ward", "OBG", "maternity", 16),
         ("W22", "Surgical Ward 1", "SUR", "general", 20), ("W48", "Paediatric Ward", "PAE", "paediatric", 10))
# code, description, chapter, sex restriction, min age, max age
ICD10 = (("I10", "Essential (primary) hypertension", "IX", None, None, None),
         ("E11.9", "Type 2 diabetes mellitus without complications", "IV", None, None, None),
         ("J18.9", "Pneumonia, unspecified", "X", None, None, None),
         ("A15.0", "Tuberculosis of lung", "I", None, None, None),
         ("B20", "HIV disease resulting in infectious and parasitic diseases", "I", None, None, None),
         ("N39.0", "Urinary tract infection, site not specified", "XIV", None, None, None),
         ("K35.8", "Acute appendicitis, other and unspecified", "XI", None, None, None),
         ("N40", "Hyperplasia of prostate", "XIV", "M", 40, None),
         ("C53.9", "Malignant neoplasm of cervix uteri, unspecified", "II", "F", None, None),
         ("O80.0", "Spontaneous vertex delivery", "XV", "F", 12, 55),
         ("O24.4", "Diabetes mellitus arising in pregnancy", "XV", "F", 12, 55),
         ("S72.0", "Fracture of neck of femur", "XIX", None, None, None),
         ("S06.0", "Concussion", "XIX", None, None, None),
         ("T14.0", "Superficial injury of unspecified body region", "XIX", None, None, None),
         ("V43.5", "Car occupant injured in collision with car, driver, traffic accident", "XX", None, None, None),
         ("W19", "Unspecified fall", "XX", None, None, None),
         ("X99", "Assault by sharp object", "XX", None, None, None),
         ("Y04", "Assault by bodily force", "XX", None, None, None))


def icd10_rows():
    """The fixture's own codes, then the rest of core/reference/icd10_codes.csv (the codes the clinical
    model draws from, as `hospital load-population` loads them)."""
    own = {row[0] for row in ICD10}
    text = lambda value: value if isinstance(value, str) else None  # noqa: E731 - empty cells are NaN
    reference_rows = [(r.icd10_code, r.description, r.chapter, text(r.sex_restriction),
                       text(r.min_age_years) and int(r.min_age_years), text(r.max_age_years) and int(r.max_age_years))
                      for r in reference.icd10_codes().itertuples() if r.icd10_code not in own]
    return list(ICD10) + reference_rows


PERSONS = 400
PATIENTS = 300  # persons 1..300 are patients, 301..400 staff
PATIENT_ID_BASE = 100_000
STAFF_ID_BASE = 500_000


def person_rows():
    for i in range(1, PERSONS + 1):
        sex = "F" if i % 2 else "M"
        born = date(1940 + (i * 7) % 84, 1 + i % 12, 1 + i % 28)
        if i > PATIENTS:  # staff are of working age
            born = date(1965 + i % 35, 1 + i % 12, 1 + i % 28)
        yield (i, f"{i:013d}", f"Name{i}", f"Surname{i}", sex, born, "citizen",
               f"+2782{i:07d}", "2001", "Street 1", "Hillbrow", "Johannesburg", "Gauteng")


def load_batch_population(database_url: str) -> None:
    """Insert the fixture population into the database at `database_url` and commit."""
    conn = connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO reference.department (department_code, department_name) VALUES (%s, %s)",
                            DEPARTMENTS)
            cur.executemany(
                """INSERT INTO reference.ward (ward_code, ward_name, department_code, ward_type, bed_count,
                       min_doctors_day, min_doctors_night, min_nurses_day, min_nurses_night)
                   VALUES (%s, %s, %s, %s, %s, 2, 1, 4, 3)""", WARDS)
            cur.executemany(
                """INSERT INTO reference.icd10_code (icd10_code, description, chapter, sex_restriction,
                       min_age_years, max_age_years) VALUES (%s, %s, %s, %s, %s, %s)""", icd10_rows())
            cur.executemany(
                """INSERT INTO core.person (person_id, sa_id_number, first_name, last_name, sex, date_of_birth,
                       citizenship, phone_number, postal_code, street_address, suburb, city, province)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""", list(person_rows()))
            cur.executemany(
                """INSERT INTO core.patient (patient_id, hospital_number, person_id, registration_date, blood_group)
                   VALUES (%s, %s, %s, '2020-01-01', 'O+')""",
                [(PATIENT_ID_BASE + i, f"HN{i:06d}", i) for i in range(1, PATIENTS + 1)])
            staff = []
            for n, person in enumerate(range(PATIENTS + 1, PERSONS + 1)):
                ward, _, department, _, _ = WARDS[n % len(WARDS)]
                nurse = n % 5 < 3
                staff.append((STAFF_ID_BASE + n, person, f"P{person:07d}", "nurse" if nurse else "doctor",
                              "Professional Nurse" if nurse else "Medical Officer",
                              "registered_nurse" if nurse else None, department, ward))
            cur.executemany(
                """INSERT INTO core.staff (staff_id, person_id, persal_number, staff_category, job_title,
                       sanc_category, department_code, home_ward_code, hire_date)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '2015-01-01')""", staff)
        conn.commit()
    finally:
        conn.close()
