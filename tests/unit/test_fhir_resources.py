"""The pure mappers of producer/fhir_resources.py: warehouse rows in, FHIR R4 dicts out.

Every resource made here is parsed by fhirclient's R4 models in strict mode (unknown elements,
wrong types, bad date formats and missing required elements all raise), a parser the mappers
never import.
"""

from __future__ import annotations

import importlib
from datetime import date, datetime, timedelta, timezone

import orjson
import pytest

from core.reference import table
from producer import fhir_resources as fr

SAST = timezone(timedelta(hours=2))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=SAST)
LAB_TESTS = {row["test_code"]: row for row in table("lab_tests.csv").to_dict("records")}


def strict(resource: dict) -> dict:
    """Round-trip through orjson (what the exporter writes) and parse strictly; returns the JSON."""
    data = orjson.loads(orjson.dumps(resource))
    module = importlib.import_module(f"fhirclient.models.{data['resourceType'].lower()}")
    getattr(module, data["resourceType"])(data, strict=True)
    return data


def person(**changes) -> dict:
    row = {"patient_id": 7, "hospital_number": "CH00000007", "sa_id_number": "8001015009087",
           "passport_number": None, "first_name": "Thandeka", "last_name": "Dlamini", "sex": "F",
           "date_of_birth": date(1980, 1, 1), "phone_number": "+27821234567", "email": "t@example.org",
           "street_address": "12 Vilakazi Street", "suburb": "Orlando West", "city": "Johannesburg",
           "province": "Gauteng", "postal_code": "1804", "medical_aid": None}
    return {**row, **changes}


def test_a_citizen_patient_carries_hospital_number_and_sa_id_with_their_systems():
    mapped = fr.patient(person())
    assert mapped.issues == []
    resource = strict(mapped.resources[0])
    systems = {i["system"]: i["value"] for i in resource["identifier"]}
    assert systems == {fr.HOSPITAL_NUMBER_SYSTEM: "CH00000007", fr.SA_ID_SYSTEM: "8001015009087"}
    assert resource["name"] == [{"use": "official", "family": "Dlamini", "given": ["Thandeka"]}]
    assert resource["gender"] == "female" and resource["birthDate"] == "1980-01-01"
    assert resource["address"][0]["postalCode"] == "1804" and resource["address"][0]["country"] == "ZA"
    assert {t["system"] for t in resource["telecom"]} == {"phone", "email"}


def test_a_foreign_national_is_identified_by_passport_and_empty_fields_are_left_out():
    mapped = fr.patient(person(sa_id_number=None, passport_number="A1234567", email="  ", suburb=""))
    resource = strict(mapped.resources[0])
    assert {i["system"] for i in resource["identifier"]} == {fr.HOSPITAL_NUMBER_SYSTEM, fr.PASSPORT_SYSTEM}
    assert [t["system"] for t in resource["telecom"]] == ["phone"]
    assert "district" not in resource["address"][0] and mapped.issues == []


def test_a_control_character_leaves_the_field_out_with_a_warning_and_quotes_survive():
    mapped = fr.patient(person(first_name="Bad\x07Name", last_name='O\'Neil "Zoë"\nMkhize'))
    resource = strict(mapped.resources[0])
    assert resource["name"][0] == {"use": "official", "family": 'O\'Neil "Zoë"\nMkhize'}
    [issue] = mapped.issues
    assert issue["severity"] == "warning" and issue["expression"] == ["Patient.name.given"]
    assert "core.patient 7" in issue["diagnostics"]
    strict(fr.operation_outcome("Patient-1", mapped.issues))


def test_coverage_names_the_scheme_as_payor_and_is_absent_without_medical_aid():
    resource = strict(fr.coverage(person(medical_aid="Bonitas Medical Fund")).resources[0])
    assert resource["payor"] == [{"display": "Bonitas Medical Fund"}]
    assert resource["beneficiary"] == {"reference": "Patient/7"}
    assert fr.coverage(person(medical_aid=" ")).resources == []


def stay(**changes) -> dict:
    row = {"admission_id": 100, "patient_id": 7, "ward_code": "W03", "admitted_at": T0, "admission_type": "emergency",
           "attending_staff_id": 5, "discharged_at": None, "disposition": None, "discharging_staff_id": None,
           "discharge_ward_code": None, "ward_type": "general", "transfer_wards": None, "transfer_times": None,
           "transfer_sources": None, "in_scope": True}
    return {**row, **changes}


def test_an_open_stay_is_in_progress_with_its_last_place_active():
    row = stay(transfer_wards=["W04", "W05"], transfer_times=[T0 + timedelta(hours=2), T0 + timedelta(hours=5)],
               transfer_sources=["W03", "W04"])
    resource = strict(fr.encounter(row).resources[0])
    assert resource["status"] == "in-progress" and resource["class"]["code"] == "IMP"
    places = [(p["location"]["reference"], p["status"]) for p in resource["location"]]
    assert places == [("Location/W03", "completed"), ("Location/W04", "completed"), ("Location/W05", "active")]
    assert resource["location"][1]["period"] == {"start": "2026-03-02T10:00:00+02:00",
                                                 "end": "2026-03-02T13:00:00+02:00"}
    assert "end" not in resource["location"][2]["period"]
    assert fr.ward_mismatches(row) == 0


def test_a_discharged_emergency_stay_is_finished_and_mismatched_transfers_are_counted():
    row = stay(ward_type="emergency", discharged_at=T0 + timedelta(days=1), disposition="died",
               discharging_staff_id=6, discharge_ward_code="W09",
               transfer_wards=["W04"], transfer_times=[T0 + timedelta(hours=1)], transfer_sources=["W08"])
    resource = strict(fr.encounter(row).resources[0])
    assert resource["status"] == "finished" and resource["class"]["code"] == "EMER"
    assert [p["status"] for p in resource["location"]] == ["completed", "completed"]
    assert resource["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "exp"
    assert fr.ward_mismatches(row) == 2  # left from W08 (not W03), discharged from W09 (not W04)


def test_diagnoses_and_chronic_codes_become_icd10_conditions_and_bad_codes_errors():
    diagnosis = {"diagnosis_id": 9, "admission_id": 100, "patient_id": 7, "icd10_code": "J18.9",
                 "diagnosis_role": "primary", "diagnosed_at": T0, "diagnosing_staff_id": 5, "known_admission": True}
    resource = strict(fr.diagnosis_condition(diagnosis).resources[0])
    assert resource["code"]["coding"] == [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}]
    assert resource["encounter"] == {"reference": "Encounter/100"}
    assert "encounter" not in fr.diagnosis_condition({**diagnosis, "known_admission": False}).resources[0]
    assert strict(fr.chronic_condition({"patient_id": 7, "code": "I10", "position": 1}).resources[0])["id"] == "chronic-7-1"
    bad = fr.chronic_condition({"patient_id": 7, "code": "I1O", "position": 2})
    assert bad.resources == [] and bad.issues[0]["severity"] == "error"


def vital(**changes) -> dict:
    row = {"vital_sign_id": 3, "patient_id": 7, "measured_at": T0, "heart_rate_bpm": 88, "systolic_mmhg": 120,
           "diastolic_mmhg": 80, "respiratory_rate": 16, "temperature_c": 36.8, "spo2_percent": 97,
           "recorded_by_staff_id": 11, "admission_id": 100}
    return {**row, **changes}


def test_each_measured_vital_sign_is_one_observation_with_loinc_and_ucum():
    resources = [strict(r) for r in fr.vital_signs(vital()).resources]
    by_id = {r["id"]: r for r in resources}
    assert set(by_id) == {"vs-3-hr", "vs-3-rr", "vs-3-temp", "vs-3-spo2", "vs-3-bp"}
    assert by_id["vs-3-hr"]["valueQuantity"] == {"value": 88, "unit": "/min", "system": fr.UCUM_SYSTEM, "code": "/min"}
    assert by_id["vs-3-temp"]["valueQuantity"]["code"] == "Cel"
    assert [c["code"] for c in by_id["vs-3-spo2"]["code"]["coding"]] == ["2708-6", "59408-5"]
    assert [c["code"]["coding"][0]["code"] for c in by_id["vs-3-bp"]["component"]] == ["8480-6", "8462-4"]
    assert all(r["category"][0]["coding"][0]["code"] == "vital-signs" for r in resources)
    assert all(r["encounter"] == {"reference": "Encounter/100"} for r in resources)


def test_unmeasured_vital_signs_make_no_observation_and_half_a_pressure_keeps_its_half():
    resources = fr.vital_signs(vital(heart_rate_bpm=None, temperature_c=None, diastolic_mmhg=None,
                                     admission_id=None)).resources
    assert {r["id"] for r in resources} == {"vs-3-rr", "vs-3-spo2", "vs-3-bp"}
    pressure = strict(next(r for r in resources if r["id"] == "vs-3-bp"))
    assert [c["code"]["coding"][0]["code"] for c in pressure["component"]] == ["8480-6"]
    assert all("encounter" not in r for r in resources)
    assert fr.vital_signs(vital(heart_rate_bpm=None, systolic_mmhg=None, diastolic_mmhg=None, respiratory_rate=None,
                                temperature_c=None, spo2_percent=None)).resources == []


def lab(**changes) -> dict:
    row = {"lab_result_id": 4, "patient_id": 7, "test_code": "HB", "result_value": 9.1, "result_unit": "g/dL",
           "abnormal_flag": "L", "resulted_at": T0, "ordering_staff_id": 5, "admission_id": 100}
    return {**row, **changes}


def test_a_lab_result_is_coded_from_lab_tests_csv_with_its_interpretation():
    resource = strict(fr.lab_result(lab(), LAB_TESTS).resources[0])
    assert resource["code"]["coding"][0] == {"system": fr.LOINC_SYSTEM, "code": "718-7",
                                             "display": "Hemoglobin [Mass/volume] in Blood"}
    assert resource["valueQuantity"]["code"] == "g/dL"
    assert resource["interpretation"][0]["coding"][0]["code"] == "L"
    normal = strict(fr.lab_result(lab(abnormal_flag=None), LAB_TESTS).resources[0])
    assert normal["interpretation"][0]["coding"][0]["code"] == "N"
    absent = strict(fr.lab_result(lab(result_value=None, result_unit=None), LAB_TESTS).resources[0])
    assert "valueQuantity" not in absent and absent["dataAbsentReason"]["coding"][0]["code"] == "unknown"


@pytest.mark.parametrize("changes", [{"test_code": "NOPE"}, {"result_unit": "mg/dL"}])
def test_a_lab_result_without_loinc_or_in_another_unit_is_an_error_not_a_resource(changes):
    mapped = fr.lab_result(lab(**changes), LAB_TESTS)
    assert mapped.resources == [] and [i["severity"] for i in mapped.issues] == ["error"]


def test_a_medication_administration_has_dose_route_performer_and_context():
    row = {"medication_id": 8, "patient_id": 7, "drug_name": "Ceftriaxone", "dose": "1 g", "route": "iv",
           "administered_at": T0, "administered_by_staff_id": 12, "admission_id": 100}
    resource = strict(fr.medication_administration(row).resources[0])
    assert resource["medicationCodeableConcept"] == {"text": "Ceftriaxone"}
    assert resource["dosage"]["text"] == "1 g"
    assert resource["dosage"]["route"]["coding"][0]["code"] == "47625008"
    assert resource["context"] == {"reference": "Encounter/100"}
    assert "context" not in fr.medication_administration({**row, "admission_id": None}).resources[0]


def test_directory_rows_make_a_location_tree_under_the_hospital():
    ward = strict(fr.ward_location({"ward_code": "W03", "ward_name": "Ward 3 - Medical Ward 1", "department_code": "MED",
                                    "ward_type": "general", "bed_count": 56}).resources[0])
    assert ward["partOf"] == {"reference": "Location/dept-MED"}
    assert ward["extension"] == [{"url": fr.BED_COUNT_EXTENSION, "valueInteger": 56}]
    assert ward["physicalType"]["coding"][0]["code"] == "wa"
    department = strict(fr.department_location({"department_code": "MED", "department_name": "Medicine",
                                                "speciality_code": "MED"}).resources[0])
    assert department["partOf"] == {"reference": "Location/site-CHBAH"}
    strict(fr.hospital_site("CHBAH", "Chris Hani Baragwanath Academic Hospital").resources[0])


def test_doctors_carry_hpcsa_and_nurses_a_sanc_qualification():
    staff = {"staff_id": 1, "persal_number": "65362274", "staff_category": "doctor", "job_title": "Registrar",
             "sanc_category": None, "department_code": "MED", "home_ward_code": "W03", "hire_date": date(2020, 1, 1),
             "retirement_date": None, "active": True, "first_name": "Sipho", "last_name": "Nkosi", "sex": "M",
             "date_of_birth": date(1990, 5, 5), "hpcsa_number": "MP1234567", "grade": "registrar",
             "speciality_code": "MED", "speciality_name": "Internal Medicine"}
    doctor = strict(fr.practitioner(staff).resources[0])
    assert doctor["identifier"][0] == {"system": fr.HPCSA_SYSTEM, "value": "MP1234567"}
    role = strict(fr.practitioner_role(staff).resources[0])
    assert role["specialty"][0]["coding"][0]["code"] == "MED" and role["location"] == [{"reference": "Location/W03"}]
    nurse = {**staff, "staff_category": "nurse", "sanc_category": "registered_nurse", "hpcsa_number": None,
             "grade": None, "speciality_code": None, "speciality_name": None, "home_ward_code": None}
    resource = strict(fr.practitioner(nurse).resources[0])
    assert resource["qualification"][0]["code"]["coding"][0]["system"] == fr.SANC_CATEGORY_SYSTEM
    assert [i["system"] for i in resource["identifier"]] == [fr.PERSAL_SYSTEM]
    assert strict(fr.practitioner_role(nurse).resources[0])["location"] == [{"reference": "Location/dept-MED"}]
