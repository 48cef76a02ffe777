"""The committed samples (make samples) are what the contracts say, checked by published validators."""

from __future__ import annotations

import csv
from pathlib import Path

import phonenumbers
import pytest
from stdnum.za import idnr

from core.batch_files import KINDS

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def rows(name: str) -> list[dict]:
    with (SAMPLES / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_sample_people_have_valid_sa_ids_or_passports_and_za_phone_numbers():
    people = rows("people.csv")
    assert len(people) == 1000
    for person in people:
        if person["citizenship"] == "foreign_national":
            assert person["sa_id_number"] == "" and person["passport_number"]
        else:
            assert idnr.is_valid(person["sa_id_number"]), person["sa_id_number"]
        number = phonenumbers.parse(person["phone_number"], None)
        assert phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "ZA"


@pytest.mark.parametrize("path", sorted((SAMPLES / "batch").glob("*.csv")), ids=lambda p: p.name)
def test_sample_batch_files_have_their_kinds_header(path):
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    kind = KINDS[header[0].removesuffix("_id")]  # the first column names the kind
    assert tuple(header) == kind.header and path.name.startswith(kind.name + "_")
