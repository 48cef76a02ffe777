"""A Faker provider for South Africa: SA ID numbers, SA phone numbers, and Johannesburg names,
addresses and medical schemes from the project's reference data.

    from faker import Faker
    from generators.faker_sa import SouthAfricaProvider

    fake = Faker()
    fake.add_provider(SouthAfricaProvider)
    fake.sa_id_number(sex="F", date_of_birth=date(1990, 5, 17))   # '9005170000089'-like, Luhn-valid

Every draw comes from the Faker instance's own random generator, so `Faker.seed(n)` (or
`fake.seed_instance(n)`) makes the values reproducible. The rules are the project's own:
core/sa_id.py for the ID layout (YYMMDD SSSS C A Z), core/phone.py for the number blocks, and
core/reference for names (weighted by name group and sex), suburbs with their postal codes,
streets and medical schemes. No Faker locale has South African IDs or phone blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from faker.providers import BaseProvider

from core import reference
from core.phone import LANDLINE_PREFIXES, LANDLINE_WEIGHTS, MOBILE_PREFIXES, MOBILE_WEIGHTS
from core.sa_id import CITIZEN_DIGIT, FEMALE_SEQUENCES, MALE_SEQUENCES, make_sa_id

SEXES = ("F", "M")
# An SA ID holds two digits of the year, and a reader (python-stdnum among them) takes the latest
# century that does not put the year after this one: birth years within the last 99 years read
# back unambiguously, so drawn ages stop at 98.
MAX_AGE_YEARS = 98
PERMANENT_RESIDENT_SHARE = 0.012  # of ID holders, as in generators/people.py


@dataclass(frozen=True)
class Weighted:
    """Values and their weights, ready for random.choices."""

    values: tuple[str, ...]
    weights: tuple[int, ...]


@lru_cache(maxsize=None)
def first_names(sex: str, name_group: str | None) -> Weighted:
    frame = reference.table("first_names.csv")
    frame = frame[(frame.sex == sex) & ((frame.name_group == name_group) if name_group else True)]
    return _weighted(frame, "first_name", f"first names for sex {sex!r} and name group {name_group!r}")


@lru_cache(maxsize=None)
def surnames(name_group: str | None) -> Weighted:
    frame = reference.table("surnames.csv")
    frame = frame[(frame.name_group == name_group) if name_group else frame.name_group.notna()]
    return _weighted(frame, "surname", f"surnames for name group {name_group!r}")


@lru_cache(maxsize=None)
def name_groups() -> tuple[str, ...]:
    return tuple(sorted(set(reference.table("surnames.csv").name_group)))


def _weighted(frame, column: str, what: str) -> Weighted:
    if frame.empty:
        raise ValueError(f"no {what} in the reference data (name groups: {', '.join(name_groups())})")
    return Weighted(tuple(frame[column]), tuple(int(w) for w in frame.weight))


class SouthAfricaProvider(BaseProvider):
    """South African identity, phone and address values for Faker (`fake.add_provider(...)`)."""

    def _pick(self, weighted: Weighted) -> str:
        return self.generator.random.choices(weighted.values, weights=weighted.weights)[0]

    # -- identity -------------------------------------------------------------------------------

    def sa_sex(self) -> str:
        """'F' or 'M', one half each."""
        return self.generator.random.choice(SEXES)

    def sa_date_of_birth(self, minimum_age: int = 0, maximum_age: int = MAX_AGE_YEARS) -> date:
        """A birth date between `minimum_age` and `maximum_age` years before today (at most 98)."""
        if not 0 <= minimum_age <= maximum_age <= MAX_AGE_YEARS:
            raise ValueError(f"ages must satisfy 0 <= minimum_age <= maximum_age <= {MAX_AGE_YEARS}, "
                             f"got {minimum_age} and {maximum_age}")
        today = date.today()
        earliest = _years_before(today, maximum_age + 1) + timedelta(days=1)
        latest = _years_before(today, minimum_age)
        return earliest + timedelta(days=self.generator.random.randint(0, (latest - earliest).days))

    def sa_id_number(self, sex: str | None = None, date_of_birth: date | None = None,
                     citizenship: str | None = None) -> str:
        """A valid 13-digit SA ID number: the given (or a drawn) birth date, sex ('F' or 'M') and
        citizenship ('citizen' or 'permanent_resident'), a sequence in the sex's range, and the
        Luhn check digit."""
        sex = sex or self.sa_sex()
        if sex not in SEXES:
            raise ValueError(f"sex must be 'F' or 'M', got {sex!r}")
        if citizenship is None:
            citizenship = ("permanent_resident" if self.generator.random.random() < PERMANENT_RESIDENT_SHARE
                           else "citizen")
        if citizenship not in CITIZEN_DIGIT:
            raise ValueError(f"citizenship must be one of {', '.join(CITIZEN_DIGIT)}, got {citizenship!r}")
        sequences = FEMALE_SEQUENCES if sex == "F" else MALE_SEQUENCES
        sequence = self.generator.random.randrange(sequences.start, sequences.stop)
        return make_sa_id(date_of_birth or self.sa_date_of_birth(), sequence, citizenship)

    # -- phones ----------------------------------------------------------------------------------

    def sa_mobile_number(self) -> str:
        """A South African mobile number in E.164 (+27 and a carrier block: 060-069, 071-079, 081-084)."""
        prefix = self.generator.random.choices(MOBILE_PREFIXES, weights=MOBILE_WEIGHTS)[0]
        return self._e164(prefix)

    def sa_landline_number(self) -> str:
        """A Johannesburg landline in E.164: the 011 area or its 010 overlay."""
        prefix = self.generator.random.choices(LANDLINE_PREFIXES, weights=LANDLINE_WEIGHTS)[0]
        return self._e164(prefix)

    def _e164(self, prefix: int) -> str:
        # Subscriber numbers starting 0 or 1 are unusual; the first subscriber digit is 2-9.
        return f"+27{prefix}{self.generator.random.randint(2_000_000, 9_999_999)}"

    # -- names and places ------------------------------------------------------------------------

    def sa_name_group(self) -> str:
        """One of the name groups of the reference data (e.g. nguni, sotho_tswana, afrikaans)."""
        return self.generator.random.choice(name_groups())

    def sa_first_name(self, sex: str | None = None, name_group: str | None = None) -> str:
        """A first name of the given (or a drawn) sex, weighted as in the reference data."""
        return self._pick(first_names(sex or self.sa_sex(), name_group))

    def sa_last_name(self, name_group: str | None = None) -> str:
        """A surname, weighted as in the reference data, optionally of one name group."""
        return self._pick(surnames(name_group))

    def sa_suburb(self) -> dict[str, str]:
        """A Johannesburg-area suburb, weighted by population: suburb, city, province, postal_code."""
        frame = reference.table("suburbs.csv")
        row = frame.iloc[self.generator.random.choices(range(len(frame)), weights=tuple(frame.weight))[0]]
        return {key: str(row[key]) for key in ("suburb", "city", "province", "postal_code")}

    def sa_postal_code(self) -> str:
        """The street-delivery postal code of a drawn suburb."""
        return self.sa_suburb()["postal_code"]

    def sa_street_address(self, suburb: str | None = None) -> str:
        """A house number and a street, e.g. '1432 Vilakazi Street': a street of `suburb` when given
        (streets.csv), else of any suburb."""
        streets = reference.table("streets.csv")
        if suburb is not None:
            streets = streets[streets.suburb == suburb]
            if streets.empty:
                raise ValueError(f"no streets for suburb {suburb!r} in streets.csv")
        street = self.generator.random.choice(tuple(streets.street_name))
        return f"{self.generator.random.randint(1, 4999)} {street}"

    def sa_address(self) -> str:
        """One line: street address, suburb, city, postal code (the street is one of the suburb's)."""
        place = self.sa_suburb()
        street = self.sa_street_address(place["suburb"])
        return f"{street}, {place['suburb']}, {place['city']}, {place['postal_code']}"

    def sa_medical_scheme(self) -> str:
        """A registered South African medical scheme, weighted by its approximate membership."""
        frame = reference.table("medical_schemes.csv")
        return self._pick(Weighted(tuple(frame.scheme_name), tuple(frame.weight)))


def _years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February for 29 February in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
