"""SA identity, phone and retirement rules, checked against published validators."""

from datetime import date

import numpy as np
import phonenumbers
import pytest
from stdnum.za import idnr

from hypothesis import given, settings, strategies as st

from core.phone import UNIQUE_UP_TO, make_phone_numbers, make_unique_phone_numbers
from core.sa_id import make_sa_id, make_sa_ids, sex_of
from generators.staff import retirement_date


@pytest.mark.parametrize("born, sequence, citizenship", [
    (date(1990, 5, 17), 1234, "citizen"), (date(2001, 1, 1), 5000, "permanent_resident"),
    (date(1926, 12, 31), 9999, "citizen"), (date(2024, 2, 29), 0, "citizen")])
def test_scalar_id_passes_stdnum_and_encodes_its_inputs(born, sequence, citizenship):
    number = make_sa_id(born, sequence, citizenship)
    assert idnr.is_valid(number)
    assert number[:6] == born.strftime("%y%m%d")
    assert sex_of(number) == ("F" if sequence < 5000 else "M")
    assert number[10] == ("0" if citizenship == "citizen" else "1")


def test_vectorised_ids_pass_stdnum():
    rng = np.random.default_rng(5)
    days = rng.integers(-20_000, 20_000, 5_000).astype("datetime64[D]")
    yymmdd = np.array([int(d.astype(object).strftime("%y%m%d")) for d in days])
    ids = make_sa_ids(yymmdd, rng.integers(0, 10_000, 5_000), rng.integers(0, 2, 5_000))
    assert all(idnr.is_valid(i.decode()) for i in ids)


def test_phone_numbers_are_valid_south_african_numbers():
    numbers = make_phone_numbers(np.random.default_rng(3), 5_000)
    for raw in numbers:
        parsed = phonenumbers.parse(raw.decode())
        assert phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "ZA"


@settings(max_examples=50, deadline=None)
@given(keys=st.sets(st.integers(0, UNIQUE_UP_TO - 1), min_size=1, max_size=300), offset=st.integers(0, 2**40),
       seed=st.integers(0, 2**32))
def test_unique_phone_numbers_differ_for_distinct_keys_and_stay_valid(keys, offset, seed):
    numbers = make_unique_phone_numbers(np.random.default_rng(seed), np.array(sorted(keys)), offset)
    assert len(set(numbers.tolist())) == len(keys)
    for raw in numbers[:20]:
        parsed = phonenumbers.parse(raw.decode())
        assert phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == "ZA"


@pytest.mark.parametrize("born, retires", [
    (date(1961, 7, 1), date(2026, 7, 1)),     # birthday on the 1st: that day
    (date(1961, 7, 2), date(2026, 8, 1)),     # otherwise the 1st of the next month
    (date(1961, 12, 15), date(2027, 1, 1)),   # across the year end
    (date(1960, 2, 29), date(2025, 3, 1)),    # leap-day birthday
])
def test_retirement_date_follows_public_service_act_s16(born, retires):
    assert retirement_date(born) == retires
