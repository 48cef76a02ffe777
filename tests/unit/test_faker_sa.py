"""The Faker provider, checked by the published validators over 100,000 draws: every SA ID passes
python-stdnum and reads back the sex, birth date and citizenship asked for; every phone number
passes libphonenumber (phonenumbers) as a South African mobile or a Johannesburg fixed line."""

from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType, geocoder
from stdnum.za import idnr

from core import reference
from generators.faker_sa import MAX_AGE_YEARS, SouthAfricaProvider

DRAWS = 100_000


@pytest.fixture(scope="module")
def fake() -> Faker:
    faker = Faker()
    faker.add_provider(SouthAfricaProvider)
    faker.seed_instance(20260302)
    return faker


def test_drawn_id_numbers_pass_stdnum_and_read_back_what_was_drawn(fake):
    citizenships = set()
    for _ in range(DRAWS):
        sex = fake.sa_sex()
        born = fake.sa_date_of_birth()
        number = fake.sa_id_number(sex=sex, date_of_birth=born)
        assert idnr.is_valid(number), number
        assert idnr.get_birth_date(number) == born, number
        assert idnr.get_gender(number) == sex, number
        citizenships.add(idnr.get_citizenship(number))
    assert citizenships == {"citizen", "resident"}


@settings(max_examples=300, deadline=None)
@given(sex=st.sampled_from(["F", "M"]), citizenship=st.sampled_from(["citizen", "permanent_resident"]),
       born=st.dates(min_value=date(date.today().year - MAX_AGE_YEARS, 1, 1), max_value=date.today()))
def test_any_asked_for_identity_is_honoured(sex, citizenship, born):
    faker = Faker()
    faker.add_provider(SouthAfricaProvider)
    number = faker.sa_id_number(sex=sex, date_of_birth=born, citizenship=citizenship)
    assert idnr.is_valid(number)
    assert (idnr.get_gender(number), idnr.get_birth_date(number)) == (sex, born)
    assert idnr.get_citizenship(number) == {"citizen": "citizen", "permanent_resident": "resident"}[citizenship]


def test_mobile_numbers_are_valid_south_african_mobiles(fake):
    for _ in range(DRAWS):
        number = fake.sa_mobile_number()
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.region_code_for_number(parsed) == "ZA"
        assert phonenumbers.number_type(parsed) == PhoneNumberType.MOBILE, number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number


def test_landlines_are_valid_johannesburg_fixed_lines(fake):
    for _ in range(DRAWS):
        number = fake.sa_landline_number()
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) in (PhoneNumberType.FIXED_LINE,
                                                    PhoneNumberType.FIXED_LINE_OR_MOBILE), number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
        if number.startswith("+2711"):
            assert geocoder.description_for_number(parsed, "en") == "Johannesburg", number


def test_names_places_and_schemes_come_from_the_reference_data(fake):
    first = reference.table("first_names.csv")
    suburbs = reference.table("suburbs.csv")
    for _ in range(2_000):
        sex = fake.sa_sex()
        assert fake.sa_first_name(sex=sex) in set(first[first.sex == sex].first_name)
        assert fake.sa_last_name() in set(reference.table("surnames.csv").surname)
        place = fake.sa_suburb()
        assert place["postal_code"] in set(suburbs[suburbs.suburb == place["suburb"]].postal_code)
        assert fake.sa_medical_scheme() in set(reference.table("medical_schemes.csv").scheme_name)
    streets = reference.table("streets.csv")
    pairs = set(zip(streets.street_name, streets.suburb))
    for _ in range(500):
        house_and_street, suburb, _city, _code = fake.sa_address().split(", ")
        assert (house_and_street.split(" ", 1)[1], suburb) in pairs
    nguni = set(first[(first.name_group == "nguni") & (first.sex == "F")].first_name)
    assert {fake.sa_first_name(sex="F", name_group="nguni") for _ in range(200)} <= nguni


def test_the_same_seed_gives_the_same_values():
    def draws(seed):
        faker = Faker()
        faker.add_provider(SouthAfricaProvider)
        faker.seed_instance(seed)
        return [(faker.sa_id_number(), faker.sa_mobile_number(), faker.sa_address()) for _ in range(50)]
    assert draws(7) == draws(7) != draws(8)


@pytest.mark.parametrize("call, message", [
    (lambda f: f.sa_id_number(sex="X"), "sex must be"),
    (lambda f: f.sa_id_number(citizenship="foreign_national"), "citizenship must be"),
    (lambda f: f.sa_date_of_birth(maximum_age=120), "ages must satisfy"),
    (lambda f: f.sa_last_name(name_group="klingon"), "no surnames for name group"),
])
def test_impossible_requests_are_clear_errors(fake, call, message):
    with pytest.raises(ValueError, match=message):
        call(fake)
