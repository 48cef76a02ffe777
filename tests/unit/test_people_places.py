"""people.csv by place and household: medical-scheme cover, surnames and foreign nationals by suburb,
streets and postal codes from the reference, unique e-mail addresses, children in a guardian's household
(address, phone, scheme, citizenship, mostly the surname), passports with an issuing country whose
names their holders mostly carry, and a public hospital's mostly uninsured patients.

The suburb groups below are named here, not read from suburbs.csv's profile column, and surname
traditions are looked up in surnames.csv, so the checks do not reuse the generator's own grouping.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, datetime

import phonenumbers
import pycountry
import pytest

from core import reference
from generators import generate_people_data
from generators.people import CHILD_PHONE_AGE

ROWS = 60_000
SIM_START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
SANDTON_TYPE = {"Sandton", "Bryanston", "Rosebank", "Houghton Estate", "Parktown", "Greenside", "Parkhurst",
                "Rivonia", "Sandringham", "Emmarentia"}
SOWETO_CORE = {"Orlando East", "Diepkloof", "Meadowlands", "Dobsonville", "Klipspruit", "Chiawelo", "Moroka",
               "Senaoane", "Naledi", "Jabulani", "Zola", "Emdeni", "Tladi", "Dlamini", "Mofolo", "Zondi", "Jabavu"}
INFORMAL = {"Diepsloot", "Orange Farm", "Ivory Park"}
INNER_CITY = {"Hillbrow", "Berea", "Yeoville", "Johannesburg Central", "Doornfontein", "Jeppestown", "Marshalltown"}
# Foreign nationals' share of residents. GCRO (as reported by Africa Check, 2017): international migrants
# about 26% of inner-city residents; Soweto's old townships and the informal settlements: estimates.
FOREIGN_BANDS = {"inner_city": (0.20, 0.38), "soweto_core": (0.005, 0.035), "informal": (0.06, 0.20)}
# Census 2022: about 3% of South Africa's residents are international migrants and half of them live in
# Gauteng (about 7-8% of its residents); the sample weights Soweto heavily.
CITY_FOREIGN_BAND = (0.04, 0.08)
# Children with their guardian's surname: the generator's estimate is 80%.
GUARDIAN_SURNAME_BAND = (0.70, 0.90)
# Children whose guardian is a woman 46 or more years older (a grandmother): South African Child Gauge
# (GHS 2018): about 20% of children live with neither parent, mostly with grandparents.
GRANDMOTHER_BAND = (0.08, 0.30)
# Passport countries whose people carry names of one tradition in surnames.csv (Lesotho's Sesotho,
# Zimbabwe's Shona and Ndebele among the region's names).
COUNTRY_SURNAMES = {"LSO": "sotho", "ZWE": "foreign"}
# Bands for medical-scheme cover (share of residents). GHS 2018: about 72% of white South Africans and
# about 10% of black Africans belong to a scheme; Gauteng about 25%.
AID_BANDS = {"sandton_type": (0.50, 0.80), "soweto_core": (0.07, 0.17), "informal": (0.01, 0.08)}
# Census 2011 Soweto: black African 98.5%, coloured 1.0%, white 0.1%, Indian/Asian 0.1%.
SOWETO_CORE_WESTERN_SURNAME_BAND = (0.005, 0.06)
# GHS: about 84% of South Africans rely on public health care; a public hospital's insured share is low.
PATIENT_INSURED_BAND = (0.02, 0.09)


def read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("places")
    assert generate_people_data.main(["--rows", str(ROWS), "--seed", "5", "--out", str(out / "people.csv"),
                                      "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def people(folder):
    return read(folder / "people.csv")


def age(person) -> float:
    return (SIM_START.date() - date.fromisoformat(person["date_of_birth"])).days / 365.2425


def aid_share(people, suburbs) -> float:
    rows = [p for p in people if p["suburb"] in suburbs]
    assert len(rows) > 400, suburbs
    return sum(p["medical_aid"] != "" for p in rows) / len(rows)


@pytest.mark.parametrize("group, suburbs", [("sandton_type", SANDTON_TYPE), ("soweto_core", SOWETO_CORE),
                                            ("informal", INFORMAL)])
def test_medical_aid_cover_follows_the_suburb(people, group, suburbs):
    low, high = AID_BANDS[group]
    assert low < aid_share(people, suburbs) < high


def test_sandton_has_several_times_the_cover_of_orlando_east_and_diepsloot(people):
    sandton = aid_share(people, {"Sandton", "Bryanston", "Rosebank"})
    assert sandton > 3 * aid_share(people, {"Orlando East"}) and sandton > 8 * aid_share(people, {"Diepsloot"})


def test_soweto_core_surnames_are_mostly_african(people):
    tradition = dict(zip(reference.table("surnames.csv").surname, reference.table("surnames.csv").name_group))
    core = [p for p in people if p["suburb"] in SOWETO_CORE and p["citizenship"] != "foreign_national"]
    western = sum(tradition[p["last_name"]] in ("english", "afrikaans", "indian") for p in core) / len(core)
    low, high = SOWETO_CORE_WESTERN_SURNAME_BAND
    assert low < western < high


def test_lenasia_is_mostly_indian_and_eldorado_park_mostly_afrikaans_or_english(people):
    tradition = dict(zip(reference.table("surnames.csv").surname, reference.table("surnames.csv").name_group))
    counts = {s: Counter(tradition[p["last_name"]] for p in people
                         if p["suburb"] == s and p["citizenship"] != "foreign_national")
              for s in ("Lenasia", "Eldorado Park")}
    assert counts["Lenasia"].most_common(1)[0][0] == "indian"
    eldorado = counts["Eldorado Park"]
    assert (eldorado["afrikaans"] + eldorado["english"]) / sum(eldorado.values()) > 0.6


def test_every_street_belongs_to_the_persons_suburb(people):
    streets = reference.table("streets.csv")
    pairs = set(zip(streets.street_name, streets.suburb))
    for p in people:
        house, street = p["street_address"].split(" ", 1)
        assert house.isdigit() and (street, p["suburb"]) in pairs, p["street_address"]
    assert len({p["street_address"].split(" ", 1)[1] for p in people if p["suburb"] == "Orlando West"}) >= 3


def test_postal_codes_equal_the_reference_street_codes(people):
    codes = dict(zip(reference.table("suburbs.csv").suburb, reference.table("suburbs.csv").postal_code))
    assert all(p["postal_code"] == codes[p["suburb"]] for p in people)
    assert {p["postal_code"] for p in people if p["suburb"] == "Diepkloof"} == {"1862"}


def test_every_email_address_is_unique(people):
    emails = [p["email"] for p in people if p["email"]]
    assert len(emails) > ROWS // 3
    assert len(set(emails)) == len(emails)
    assert all(e.count("@") == 1 and " " not in e for e in emails)


def test_young_children_live_in_a_guardians_household_and_adults_phones_are_their_own(people):
    by_id = {p["person_id"]: p for p in people}
    adults = [p for p in people if age(p) >= 18]
    adult_by_phone = {p["phone_number"]: p for p in adults}
    assert len(adult_by_phone) == len(adults)  # no two adults share a number
    children = [p for p in people if age(p) < CHILD_PHONE_AGE]
    assert len(children) > ROWS // 10
    for child in children:
        guardian = by_id[child["guardian_person_id"]]  # KeyError: no guardian, or one who is nobody
        # The phone finds the same adult: the column and the shared number agree.
        assert adult_by_phone[child["phone_number"]] is guardian
        assert (guardian["suburb"], guardian["street_address"], guardian["postal_code"], guardian["medical_aid"]) == \
            (child["suburb"], child["street_address"], child["postal_code"], child["medical_aid"])
        assert age(guardian) - age(child) >= 18
    assert all(p["guardian_person_id"] == "" for p in people if age(p) >= CHILD_PHONE_AGE)
    for p in adults:
        parsed = phonenumbers.parse(p["phone_number"])
        assert phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "ZA"
    older = [p for p in people if CHILD_PHONE_AGE <= age(p) < 18]
    assert all(p["phone_number"] not in adult_by_phone for p in older)


def households(people):
    by_id = {p["person_id"]: p for p in people}
    return [(p, by_id[p["guardian_person_id"]]) for p in people if p["guardian_person_id"]]


def test_most_children_carry_their_guardians_surname_but_not_all(people):
    pairs = households(people)
    share = sum(child["last_name"] == guardian["last_name"] for child, guardian in pairs) / len(pairs)
    low, high = GUARDIAN_SURNAME_BAND
    assert low < share < high


def test_guardians_are_mostly_mothers_and_often_grandmothers(people):
    pairs = households(people)
    men = sum(guardian["sex"] == "M" for _, guardian in pairs) / len(pairs)
    grandmothers = sum(guardian["sex"] == "F" and age(guardian) - age(child) >= 46 for child, guardian in pairs)
    assert men < 0.15
    low, high = GRANDMOTHER_BAND
    assert low < grandmothers / len(pairs) < high
    assert max(age(guardian) - age(child) for child, guardian in pairs) < 80


def test_children_of_foreign_nationals_are_foreign_nationals_of_the_same_country(people):
    pairs = households(people)
    foreign = [(c, g) for c, g in pairs if g["citizenship"] == "foreign_national"]
    assert len(foreign) > 100
    assert all(c["citizenship"] == "foreign_national" and c["passport_country"] == g["passport_country"]
               and c["passport_number"] != g["passport_number"] for c, g in foreign)
    assert all(c["citizenship"] != "foreign_national" for c, g in pairs if g["citizenship"] != "foreign_national")


def foreign_share(people, suburbs) -> float:
    rows = [p for p in people if p["suburb"] in suburbs]
    assert len(rows) > 400, suburbs
    return sum(p["citizenship"] == "foreign_national" for p in rows) / len(rows)


@pytest.mark.parametrize("group, suburbs", [("inner_city", INNER_CITY), ("soweto_core", SOWETO_CORE),
                                            ("informal", INFORMAL)])
def test_foreign_nationals_follow_the_suburb(people, group, suburbs):
    low, high = FOREIGN_BANDS[group]
    assert low < foreign_share(people, suburbs) < high


def test_the_inner_city_holds_many_times_soweto_cores_share_of_foreign_nationals(people):
    assert foreign_share(people, INNER_CITY) > 8 * foreign_share(people, SOWETO_CORE)
    low, high = CITY_FOREIGN_BAND
    assert low < sum(p["citizenship"] == "foreign_national" for p in people) / len(people) < high


def test_foreign_nationals_mostly_carry_names_of_their_passport_country(people):
    tradition = dict(zip(reference.table("surnames.csv").surname, reference.table("surnames.csv").name_group))
    for country, group in COUNTRY_SURNAMES.items():
        holders = [p for p in people if p["passport_country"] == country]
        assert len(holders) > 30, country
        assert sum(tradition[p["last_name"]] == group for p in holders) / len(holders) > 0.7, country


def test_passport_country_is_set_exactly_with_a_passport_and_is_iso_3166(people):
    assert all((p["passport_country"] != "") == (p["passport_number"] != "") for p in people)
    countries = Counter(p["passport_country"] for p in people if p["passport_country"])
    assert all(pycountry.countries.get(alpha_3=code) is not None for code in countries)
    assert "ZAF" not in countries
    total = sum(countries.values())
    assert countries.most_common(1)[0][0] == "ZWE" and 0.35 < countries["ZWE"] / total < 0.55
    reference_codes = set(reference.table("passport_countries.csv").country_code)
    assert set(countries) <= reference_codes


def test_public_hospital_patients_are_mostly_uninsured(folder, people):
    insured = {p["person_id"] for p in people if p["medical_aid"]}
    patients = read(folder / "hospital_patients.csv")
    share = sum(p["person_id"] in insured for p in patients) / len(patients)
    low, high = PATIENT_INSURED_BAND
    assert low < share < high
    assert share < 0.5 * len(insured) / len(people)
