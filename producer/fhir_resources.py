"""Warehouse rows -> FHIR R4 resources, as plain dicts ready for orjson. Pure functions, no I/O.

Each mapper takes one row as a dict (the columns its query in producer/fhir_export.py selects)
and returns a `Mapped`: the resources made from the row (none, one, or several) and the problems
found on the way, each an OperationOutcome issue naming the row. A problem never passes silently:

- text that FHIR cannot carry (a control character other than tab, CR, LF: R4 `string` forbids
  code points below 32) is left out of the resource and reported as a `warning` issue;
  surrounding whitespace is trimmed and an empty value is treated as absent (no issue);
- a row that cannot make its resource at all (an ICD-10 code that is not a code, a lab test
  without a LOINC code, a result in another unit than the one its LOINC code is sent in) makes
  no resource and an `error` issue.

Identifiers. South Africa has no HL7-registered URIs for its national numbers, so this project
defines them under IDENTIFIER_BASE (an `.example` host, which cannot belong to anyone):
`sa-id-number` (13-digit SA ID), `passport-number` (foreign nationals' passport), `hospital-number`
(this hospital's medical record number), `hpcsa-registration` (Health Professions Council of
South Africa number of a doctor), `persal-number` (the public service's staff number),
`facility-code`, `ward-code`, `department-code`, `admission-number`. Nurses' SANC (South African
Nursing Council) registration numbers are not held in the warehouse: a nurse carries her SANC
category as a qualification issued by the SANC, and her PERSAL number as her identifier.

Resource ids are the warehouse keys (`Patient/<patient_id>`, `Practitioner/<staff_id>`,
`Encounter/<admission_id>`, `Location/<ward_code>`, `Organization/<facility_code>`), prefixed
where one row makes several resources (`Observation/vs-<vital_sign_id>-hr`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from core.reference import HOSPITAL_FACILITY_CODE

# --- systems: the one place for every URI the export writes ------------------------------------

IDENTIFIER_BASE = "https://jhb-hospital.example/fhir/sid/"
CODE_SYSTEM_BASE = "https://jhb-hospital.example/fhir/CodeSystem/"
EXTENSION_BASE = "https://jhb-hospital.example/fhir/StructureDefinition/"

SA_ID_SYSTEM = IDENTIFIER_BASE + "sa-id-number"
PASSPORT_SYSTEM = IDENTIFIER_BASE + "passport-number"
HOSPITAL_NUMBER_SYSTEM = IDENTIFIER_BASE + "hospital-number"
HPCSA_SYSTEM = IDENTIFIER_BASE + "hpcsa-registration"
PERSAL_SYSTEM = IDENTIFIER_BASE + "persal-number"
FACILITY_SYSTEM = IDENTIFIER_BASE + "facility-code"
WARD_SYSTEM = IDENTIFIER_BASE + "ward-code"
DEPARTMENT_SYSTEM = IDENTIFIER_BASE + "department-code"
ADMISSION_SYSTEM = IDENTIFIER_BASE + "admission-number"
SPECIALITY_SYSTEM = CODE_SYSTEM_BASE + "hpcsa-speciality"
SANC_CATEGORY_SYSTEM = CODE_SYSTEM_BASE + "sanc-category"
DOCTOR_GRADE_SYSTEM = CODE_SYSTEM_BASE + "doctor-grade"
STAFF_CATEGORY_SYSTEM = CODE_SYSTEM_BASE + "staff-category"
LAB_TEST_SYSTEM = CODE_SYSTEM_BASE + "nhls-test-code"
BED_COUNT_EXTENSION = EXTENSION_BASE + "ward-bed-count"

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"  # WHO ICD-10 (not ICD-10-CM)
LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"

# --- vital signs: the one list of their LOINC codes and UCUM units ----------------------------
# Source: the FHIR R4 vital signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html) and the
# value set http://hl7.org/fhir/ValueSet/observation-vitalsignresult, units from
# http://hl7.org/fhir/ValueSet/ucum-vitals-common. The R4 oxygen saturation profile requires
# 2708-6 (Oxygen saturation in Arterial blood); a ward measures it by pulse oximetry, 59408-5,
# so SpO2 carries both codings (2708-6 first, as the profile asks).


@dataclass(frozen=True)
class VitalSign:
    key: str             # id suffix
    column: str          # clinical.vital_sign column
    loinc: tuple[tuple[str, str], ...]  # (code, display), the profile's code first
    unit: str            # UCUM code (also the human unit)


VITAL_SIGNS: tuple[VitalSign, ...] = (
    VitalSign("hr", "heart_rate_bpm", (("8867-4", "Heart rate"),), "/min"),
    VitalSign("rr", "respiratory_rate", (("9279-1", "Respiratory rate"),), "/min"),
    VitalSign("temp", "temperature_c", (("8310-5", "Body temperature"),), "Cel"),
    VitalSign("spo2", "spo2_percent", (("2708-6", "Oxygen saturation in Arterial blood"),
                                       ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")), "%"),
)
BLOOD_PRESSURE_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
PRESSURE_UNIT = "mm[Hg]"
VITAL_LOINC_CODES = frozenset({code for sign in VITAL_SIGNS for code, _ in sign.loinc}
                              | {BLOOD_PRESSURE_PANEL[0], SYSTOLIC[0], DIASTOLIC[0]})
VITAL_UCUM_UNITS = frozenset({sign.unit for sign in VITAL_SIGNS} | {PRESSURE_UNIT})

# Medication routes (clinical.medication.route) -> SNOMED CT route of administration.
ROUTES: dict[str, tuple[str, str]] = {
    "oral": ("26643006", "Oral route"), "iv": ("47625008", "Intravenous route"),
    "im": ("78421000", "Intramuscular route"), "sc": ("34206005", "Subcutaneous route"),
    "inhaled": ("447694001", "Respiratory tract route"), "topical": ("6064005", "Topical route"),
    "pr": ("37161004", "Rectal route"), "sl": ("37839007", "Sublingual route"),
}
# clinical.discharge.disposition -> discharge-disposition code
DISPOSITIONS: dict[str, tuple[str, str]] = {
    "home": ("home", "Home"), "transferred_out": ("other-hcf", "Other healthcare facility"),
    "died": ("exp", "Expired"), "against_medical_advice": ("aadvice", "Left against advice"),
    "absconded": ("oth", "Other"),
}
FLAGS: dict[str, str] = {"L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high"}
GENDERS = {"F": "female", "M": "male"}
# WHO ICD-10: a letter, two digits, optionally a dot and one or two more characters.
ICD10_FORMAT = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?")
# R4 `string`: no code point below 32 except tab, LF, CR.
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class Mapped:
    """What one row made: its resources and the OperationOutcome issues found on the way."""

    resources: list[dict] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)

    def warn(self, row_name: str, expression: str, diagnostics: str) -> None:
        self.issues.append(issue("warning", "value", f"{row_name}: {diagnostics}", expression))

    def fail(self, row_name: str, expression: str, diagnostics: str, code: str = "code-invalid") -> None:
        self.issues.append(issue("error", code, f"{row_name}: {diagnostics}", expression))


def issue(severity: str, code: str, diagnostics: str, expression: str) -> dict:
    return {"severity": severity, "code": code, "diagnostics": diagnostics, "expression": [expression]}


def operation_outcome(id_: str, issues: list[dict]) -> dict:
    """The OperationOutcome that carries one row's issues into the export's error file."""
    return {"resourceType": "OperationOutcome", "id": id_, "issue": issues}


def text(value: Any, out: Mapped, row_name: str, expression: str) -> str | None:
    """`value` as FHIR string: trimmed, None when empty; None (and a warning) when it holds a
    character R4 forbids."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    if FORBIDDEN_CHARACTERS.search(value):
        out.warn(row_name, expression, f"{expression.rsplit('.', 1)[-1]} holds a control character; left out")
        return None
    return value


def ref(kind: str, key: Any) -> dict:
    return {"reference": f"{kind}/{key}"}


def coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, "display": display} if display else {"system": system, "code": code}


def concept(system: str, code: str, display: str | None = None) -> dict:
    return {"coding": [coding(system, code, display)]}


def _compact(resource: dict) -> dict:
    """Drop keys whose value is None or empty (FHIR forbids empty elements)."""
    return {key: value for key, value in resource.items() if value is not None and value != [] and value != {}}


# --- directory: organisations, locations, practitioners --------------------------------------

def organization(row: dict) -> Mapped:
    """reference.facility -> Organization (the hospital itself and the facilities it refers to)."""
    out, name = Mapped(), f"reference.facility {row['facility_code']}"
    out.resources.append(_compact({
        "resourceType": "Organization", "id": row["facility_code"], "active": True,
        "identifier": [{"system": FACILITY_SYSTEM, "value": row["facility_code"]}],
        "type": [concept(ORGANIZATION_TYPE, "prov", "Healthcare Provider")],
        "name": text(row["facility_name"], out, name, "Organization.name"),
        "address": [_compact({"city": text(row["city"], out, name, "Organization.address.city"),
                              "state": text(row["province"], out, name, "Organization.address.state"),
                              "country": "ZA"})],
    }))
    return out


def hospital_site(facility_code: str, facility_name: str) -> Mapped:
    """The hospital's site: the root of the Location tree (site -> department -> ward)."""
    return Mapped([{"resourceType": "Location", "id": f"site-{facility_code}", "status": "active",
                    "name": facility_name, "mode": "instance",
                    "physicalType": concept(LOCATION_TYPE, "si", "Site"),
                    "managingOrganization": ref("Organization", facility_code)}])


def department_location(row: dict) -> Mapped:
    """reference.department -> Location, a wing of the hospital site holding the department's wards."""
    out, name = Mapped(), f"reference.department {row['department_code']}"
    out.resources.append(_compact({
        "resourceType": "Location", "id": f"dept-{row['department_code']}", "status": "active",
        "identifier": [{"system": DEPARTMENT_SYSTEM, "value": row["department_code"]}],
        "name": text(row["department_name"], out, name, "Location.name"), "mode": "instance",
        "physicalType": concept(LOCATION_TYPE, "wi", "Wing"),
        "managingOrganization": ref("Organization", HOSPITAL_FACILITY_CODE),
        "partOf": ref("Location", f"site-{HOSPITAL_FACILITY_CODE}"),
    }))
    return out


def ward_location(row: dict) -> Mapped:
    """reference.ward -> Location (physicalType ward), its bed count in an extension, part of its department."""
    out, name = Mapped(), f"reference.ward {row['ward_code']}"
    out.resources.append(_compact({
        "resourceType": "Location", "id": row["ward_code"], "status": "active",
        "extension": [{"url": BED_COUNT_EXTENSION, "valueInteger": int(row["bed_count"])}],
        "identifier": [{"system": WARD_SYSTEM, "value": row["ward_code"]}],
        "name": text(row["ward_name"], out, name, "Location.name"), "mode": "instance",
        "type": [{"text": row["ward_type"]}],
        "physicalType": concept(LOCATION_TYPE, "wa", "Ward"),
        "managingOrganization": ref("Organization", HOSPITAL_FACILITY_CODE),
        "partOf": ref("Location", f"dept-{row['department_code']}"),
    }))
    return out


def _human_name(row: dict, out: Mapped, row_name: str, kind: str) -> list[dict]:
    family = text(row["last_name"], out, row_name, f"{kind}.name.family")
    given = text(row["first_name"], out, row_name, f"{kind}.name.given")
    name = _compact({"use": "official", "family": family, "given": [given] if given else None})
    return [name] if len(name) > 1 else []


def practitioner(row: dict) -> Mapped:
    """core.staff + core.person (+ core.doctor) -> Practitioner with HPCSA or SANC qualification."""
    out, name = Mapped(), f"core.staff {row['staff_id']}"
    identifiers = [{"system": PERSAL_SYSTEM, "value": row["persal_number"]}]
    qualifications = []
    if row["hpcsa_number"]:
        identifiers.insert(0, {"system": HPCSA_SYSTEM, "value": row["hpcsa_number"]})
        qualifications.append({"identifier": [{"system": HPCSA_SYSTEM, "value": row["hpcsa_number"]}],
                               "code": concept(DOCTOR_GRADE_SYSTEM, row["grade"]),
                               "issuer": {"display": "Health Professions Council of South Africa"}})
    if row["sanc_category"]:
        qualifications.append({"code": concept(SANC_CATEGORY_SYSTEM, row["sanc_category"]),
                               "issuer": {"display": "South African Nursing Council"}})
    out.resources.append(_compact({
        "resourceType": "Practitioner", "id": str(row["staff_id"]), "identifier": identifiers,
        "active": row["active"], "name": _human_name(row, out, name, "Practitioner"), "gender": GENDERS.get(row["sex"]),
        "birthDate": row["date_of_birth"], "qualification": qualifications,
    }))
    return out


def practitioner_role(row: dict) -> Mapped:
    """core.staff (+ core.doctor) -> PractitionerRole at the hospital: job, speciality, home ward."""
    out, name = Mapped(), f"core.staff {row['staff_id']}"
    specialty = None
    if row["speciality_code"]:
        specialty = [concept(SPECIALITY_SYSTEM, row["speciality_code"], row["speciality_name"])]
    job = text(row["job_title"], out, name, "PractitionerRole.code.text")
    out.resources.append(_compact({
        "resourceType": "PractitionerRole", "id": str(row["staff_id"]),
        "active": row["active"],
        "period": _compact({"start": row["hire_date"], "end": row["retirement_date"]}),
        "practitioner": ref("Practitioner", row["staff_id"]),
        "organization": ref("Organization", HOSPITAL_FACILITY_CODE),
        "code": [_compact({"coding": [coding(STAFF_CATEGORY_SYSTEM, row["staff_category"])], "text": job})],
        "specialty": specialty,
        "location": [ref("Location", row["home_ward_code"]) if row["home_ward_code"]
                     else ref("Location", f"dept-{row['department_code']}")],
    }))
    return out


# --- patients -----------------------------------------------------------------------------------

def patient(row: dict) -> Mapped:
    """core.patient + core.person -> Patient: SA ID / passport / hospital number, name, gender,
    birth date, address, phone and e-mail."""
    out, name = Mapped(), f"core.patient {row['patient_id']}"
    identifiers = [{"use": "usual", "type": concept(V2_0203, "MR", "Medical record number"),
                    "system": HOSPITAL_NUMBER_SYSTEM, "value": text(row["hospital_number"], out, name, "Patient.identifier")}]
    if row["sa_id_number"]:
        identifiers.append({"use": "official", "type": concept(V2_0203, "NI", "National unique individual identifier"),
                            "system": SA_ID_SYSTEM, "value": row["sa_id_number"]})
    passport = text(row["passport_number"], out, name, "Patient.identifier")
    if passport:
        identifiers.append({"use": "official", "type": concept(V2_0203, "PPN", "Passport number"),
                            "system": PASSPORT_SYSTEM, "value": passport})
    line = text(row["street_address"], out, name, "Patient.address.line")
    address = _compact({"use": "home", "type": "physical", "line": [line] if line else None,
                        "district": text(row["suburb"], out, name, "Patient.address.district"),
                        "city": text(row["city"], out, name, "Patient.address.city"),
                        "state": text(row["province"], out, name, "Patient.address.state"),
                        "postalCode": row["postal_code"], "country": "ZA"})
    telecom = [{"system": "phone", "value": row["phone_number"], "use": "mobile"}]
    email = text(row["email"], out, name, "Patient.telecom.value")
    if email:
        telecom.append({"system": "email", "value": email, "use": "home"})
    out.resources.append(_compact({
        "resourceType": "Patient", "id": str(row["patient_id"]),
        "identifier": [i for i in identifiers if i["value"]], "active": True,
        "name": _human_name(row, out, name, "Patient"), "telecom": telecom,
        "gender": GENDERS.get(row["sex"], "unknown"), "birthDate": row["date_of_birth"],
        "address": [address], "managingOrganization": ref("Organization", HOSPITAL_FACILITY_CODE),
    }))
    return out


def coverage(row: dict) -> Mapped:
    """core.person.medical_aid of a patient -> Coverage; the scheme is the payor, by display (the
    warehouse holds a scheme's name, not a registration the payor could be identified by)."""
    out, name = Mapped(), f"core.patient {row['patient_id']}"
    scheme = text(row["medical_aid"], out, name, "Coverage.payor.display")
    if scheme:
        out.resources.append({
            "resourceType": "Coverage", "id": f"medical-aid-{row['patient_id']}", "status": "active",
            "type": {"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EHCPOL",
                                       "extended healthcare")], "text": "medical aid"},
            "beneficiary": ref("Patient", row["patient_id"]),
            "relationship": concept("http://terminology.hl7.org/CodeSystem/subscriber-relationship", "self"),
            "payor": [{"display": scheme}],
        })
    return out


# --- the stay ---------------------------------------------------------------------------------

def encounter(row: dict) -> Mapped:
    """clinical.admission (+ its clinical.discharge, + the patient's completed transfers inside the
    stay) -> Encounter. Class EMER for an admission to an emergency ward, IMP otherwise. Location
    history: the admission ward, then each transfer's destination ward in event-time order; every
    place but the last is `completed`, the last is `active` until the discharge ends the stay."""
    out = Mapped()
    end = row["discharged_at"]
    places = [(row["ward_code"], row["admitted_at"])]
    places += [(ward, at) for ward, at in zip(row["transfer_wards"] or (), row["transfer_times"] or ())]
    locations = []
    for index, (ward, start) in enumerate(places):
        last = index == len(places) - 1
        until = end if last else places[index + 1][1]
        locations.append({"location": ref("Location", ward),
                          "status": "completed" if not last or end is not None else "active",
                          "period": _compact({"start": start, "end": until})})
    participants = [{"type": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND",
                                      "attender")], "individual": ref("Practitioner", row["attending_staff_id"])}]
    if row["discharging_staff_id"] is not None:
        participants.append({"type": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "DIS",
                                               "discharger")],
                             "individual": ref("Practitioner", row["discharging_staff_id"])})
    emergency = row["ward_type"] == "emergency"
    hospitalization = {"admitSource": {"text": row["admission_type"]}}
    if row["disposition"]:
        code, display = DISPOSITIONS.get(row["disposition"], ("oth", "Other"))
        hospitalization["dischargeDisposition"] = {"coding": [coding(DISCHARGE_DISPOSITION, code, display)],
                                                   "text": row["disposition"]}
    out.resources.append({
        "resourceType": "Encounter", "id": str(row["admission_id"]),
        "identifier": [{"system": ADMISSION_SYSTEM, "value": str(row["admission_id"])}],
        "status": "finished" if end is not None else "in-progress",
        "class": coding(ACT_CODE, "EMER", "emergency") if emergency else coding(ACT_CODE, "IMP", "inpatient encounter"),
        "subject": ref("Patient", row["patient_id"]), "participant": participants,
        "period": _compact({"start": row["admitted_at"], "end": end}),
        "hospitalization": hospitalization, "location": locations,
        "serviceProvider": ref("Organization", HOSPITAL_FACILITY_CODE),
    })
    return out


def ward_mismatches(row: dict) -> int:
    """How many of an Encounter's transfers leave from another ward than the one the history had
    reached (the stream and the batch files are simulated apart), plus one if the discharge names
    another ward than the last place. Counted, never corrected."""
    current, mismatches = row["ward_code"], 0
    for source, target in zip(row["transfer_sources"] or (), row["transfer_wards"] or ()):
        mismatches += source != current
        current = target
    if row["discharge_ward_code"] is not None and row["discharge_ward_code"] != current:
        mismatches += 1
    return mismatches


# --- conditions ---------------------------------------------------------------------------------

def _icd10(code: Any, out: Mapped, row_name: str) -> str | None:
    value = (code or "").strip()
    if ICD10_FORMAT.fullmatch(value):
        return value
    out.fail(row_name, "Condition.code", f"{value!r} is not a WHO ICD-10 code; no Condition made")
    return None


def diagnosis_condition(row: dict) -> Mapped:
    """clinical.diagnosis -> Condition (encounter-diagnosis), with its role in the stay as a note."""
    out = Mapped()
    code = _icd10(row["icd10_code"], out, f"clinical.diagnosis {row['diagnosis_id']}")
    if code:
        out.resources.append(_compact({
            "resourceType": "Condition", "id": f"dx-{row['diagnosis_id']}",
            "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
            "verificationStatus": concept(CONDITION_VERIFICATION, "confirmed", "Confirmed"),
            "category": [concept(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
            "code": {"coding": [coding(ICD10_SYSTEM, code)]},
            "subject": ref("Patient", row["patient_id"]),
            "encounter": ref("Encounter", row["admission_id"]) if row["known_admission"] else None,
            "recordedDate": row["diagnosed_at"], "recorder": ref("Practitioner", row["diagnosing_staff_id"]),
            "note": [{"text": f"diagnosis role: {row['diagnosis_role']}"}],
        }))
    return out


def chronic_condition(row: dict) -> Mapped:
    """One code of core.patient.chronic_conditions (';'-separated) -> Condition (problem-list-item)."""
    out = Mapped()
    code = _icd10(row["code"], out, f"core.patient {row['patient_id']} chronic_conditions")
    if code:
        out.resources.append({
            "resourceType": "Condition", "id": f"chronic-{row['patient_id']}-{row['position']}",
            "clinicalStatus": concept(CONDITION_CLINICAL, "active", "Active"),
            "category": [concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"coding": [coding(ICD10_SYSTEM, code)]},
            "subject": ref("Patient", row["patient_id"]),
        })
    return out


# --- observations -------------------------------------------------------------------------------

VITAL_CATEGORY = [concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]
LAB_CATEGORY = [concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")]


def _quantity(value: float | int, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM_SYSTEM, "code": unit}


def _observation(row: dict, id_: str, category: list, code: dict, performer_key: str, when_key: str) -> dict:
    resource = {"resourceType": "Observation", "id": id_, "status": "final", "category": category, "code": code,
                "subject": ref("Patient", row["patient_id"]), "effectiveDateTime": row[when_key],
                "performer": [ref("Practitioner", row[performer_key])]}
    if row["admission_id"] is not None:
        resource["encounter"] = ref("Encounter", row["admission_id"])
    return resource


def vital_signs(row: dict) -> Mapped:
    """clinical.vital_sign -> one vital-signs Observation per measured value (a NULL is not measured),
    blood pressure as the 85354-9 panel with systolic and diastolic components."""
    out, base = Mapped(), row["vital_sign_id"]
    for sign in VITAL_SIGNS:
        value = row[sign.column]
        if value is not None:
            code = {"coding": [coding(LOINC_SYSTEM, c, d) for c, d in sign.loinc], "text": sign.loinc[0][1]}
            resource = _observation(row, f"vs-{base}-{sign.key}", VITAL_CATEGORY, code,
                                    "recorded_by_staff_id", "measured_at")
            resource["meta"] = {"profile": [VITAL_SIGNS_PROFILE]}
            resource["valueQuantity"] = _quantity(value, sign.unit)
            out.resources.append(resource)
    components = [{"code": {"coding": [coding(LOINC_SYSTEM, *part)]}, "valueQuantity": _quantity(value, PRESSURE_UNIT)}
                  for part, value in ((SYSTOLIC, row["systolic_mmhg"]), (DIASTOLIC, row["diastolic_mmhg"]))
                  if value is not None]
    if components:
        resource = _observation(row, f"vs-{base}-bp", VITAL_CATEGORY,
                                {"coding": [coding(LOINC_SYSTEM, *BLOOD_PRESSURE_PANEL)], "text": "Blood pressure"},
                                "recorded_by_staff_id", "measured_at")
        resource["meta"] = {"profile": [VITAL_SIGNS_PROFILE]}
        resource["component"] = components
        out.resources.append(resource)
    return out


def lab_result(row: dict, lab_tests: dict[str, dict]) -> Mapped:
    """clinical.lab_result -> laboratory Observation coded in LOINC with its UCUM unit, from
    core/reference/lab_tests.csv (`lab_tests`: test_code -> its row). Interpretation from the flag;
    a missing value is a dataAbsentReason. A test with no LOINC code, or a value in another unit
    than the file's, makes no resource and an error issue."""
    out, name = Mapped(), f"clinical.lab_result {row['lab_result_id']}"
    test = lab_tests.get(row["test_code"])
    if test is None:
        out.fail(name, "Observation.code", f"test code {row['test_code']!r} has no LOINC code in lab_tests.csv")
        return out
    if row["result_value"] is not None and row["result_unit"] != test["unit"]:
        out.fail(name, "Observation.valueQuantity.unit",
                 f"unit {row['result_unit']!r} is not {test['unit']!r}, the unit of LOINC {test['loinc_code']}")
        return out
    code = {"coding": [coding(LOINC_SYSTEM, test["loinc_code"], test["loinc_display"]),
                       coding(LAB_TEST_SYSTEM, row["test_code"], test["test_name"])], "text": test["test_name"]}
    resource = _observation(row, f"lab-{row['lab_result_id']}", LAB_CATEGORY, code, "ordering_staff_id",
                            "resulted_at")
    resource["issued"] = row["resulted_at"]
    if row["result_value"] is None:
        resource["dataAbsentReason"] = concept(DATA_ABSENT, "unknown", "Unknown")
    else:
        resource["valueQuantity"] = _quantity(row["result_value"], test["ucum_unit"])
        flag = row["abnormal_flag"]
        resource["interpretation"] = [concept(INTERPRETATION, flag, FLAGS[flag]) if flag in FLAGS
                                      else concept(INTERPRETATION, "N", "Normal")]
    out.resources.append(resource)
    return out


# --- medicines ----------------------------------------------------------------------------------

def medication_administration(row: dict) -> Mapped:
    """clinical.medication -> MedicationAdministration (the drug by name, dose as text, route in
    SNOMED CT, the nurse as performer, the stay as context where one is known)."""
    out, name = Mapped(), f"clinical.medication {row['medication_id']}"
    route = ROUTES.get(row["route"])
    dosage = _compact({"text": text(row["dose"], out, name, "MedicationAdministration.dosage.text"),
                       "route": _compact({"coding": [coding(SNOMED_SYSTEM, *route)] if route else None,
                                          "text": row["route"]})})
    drug = text(row["drug_name"], out, name, "MedicationAdministration.medicationCodeableConcept.text")
    if drug is None:
        out.fail(name, "MedicationAdministration.medicationCodeableConcept", "no drug name; no resource made",
                 code="required")
        return out
    resource = {"resourceType": "MedicationAdministration", "id": str(row["medication_id"]), "status": "completed",
                "medicationCodeableConcept": {"text": drug}, "subject": ref("Patient", row["patient_id"]),
                "effectiveDateTime": row["administered_at"],
                "performer": [{"actor": ref("Practitioner", row["administered_by_staff_id"])}], "dosage": dosage}
    if row["admission_id"] is not None:
        resource["context"] = ref("Encounter", row["admission_id"])
    out.resources.append(resource)
    return out


Mapper = Callable[[dict], Mapped]
