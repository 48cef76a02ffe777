"""Vectorised generation of synthetic Gauteng residents (people.csv), chunk by chunk.

Each chunk of CHUNK_ROWS people is drawn from its own random stream (seed, chunk index), so the
output depends only on the seed and the row count, never on timing or worker count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from core import reference
from core.csv_writer import check_plain, encode_arrays, int_bytes, iso_dates, masked, zero_padded
from core.phone import SUBSCRIBER_SPAN, make_unique_phone_numbers
from core.sa_id import make_sa_ids, unique_sequences, yymmdd_of

PEOPLE_COLUMNS = (
    "person_id", "sa_id_number", "first_name", "last_name", "sex", "date_of_birth", "citizenship",
    "passport_number", "passport_country", "phone_number", "email", "street_address", "suburb", "city", "province",
    "postal_code", "medical_aid", "guardian_person_id",
)
CHUNK_ROWS = 250_000
MAX_ROWS = 50_000_000  # beyond this the SA ID sequence space per birth date runs short

# Gauteng age structure by 5-year band, 0-4 ... 95-99 (percent; Census 2022: median ~30,
# under-15 ~24%, 60+ ~8.5%).
AGE_BAND_WEIGHTS = np.array([8.3, 8.0, 7.7, 7.5, 8.3, 10.0, 10.6, 9.6, 7.6, 5.8, 4.5, 3.6,
                             3.0, 2.2, 1.5, 0.9, 0.5, 0.25, 0.1, 0.05])
# Name groups (first_names.csv / surnames.csv). South Africans draw theirs by their suburb's mix
# (suburbs.csv names_* columns, from Census 2011 population group and home language); foreign
# nationals mostly carry their passport country's (passport_countries.csv name_group: Sotho names
# for Lesotho and Botswana, Nguni for Eswatini, "foreign", the region's other countries, for most).
NAME_GROUPS = ("nguni", "sotho", "tsonga_venda", "afrikaans", "english", "indian", "foreign")
FOREIGN_NAME_SHARE = 0.85  # foreign nationals with their country's names; the rest take the suburb's mix
# Foreign nationals by suburb: suburbs.csv foreign_share is the share of all residents. Migrants are
# mostly of working age, so people 20-49 are WORKING_AGE_FOREIGN_FACTOR times as likely to be one as
# older people and teenagers (3 to 1, estimate: Census 2022 finds migrants concentrated in working
# ages, no ratio to hand); young children take their guardian's citizenship. The two factors are set
# so that a suburb's share over all ages comes out at its foreign_share (Gauteng's age structure).
WORKING_AGE_FOREIGN_FACTOR = 1.26
OTHER_AGE_FOREIGN_FACTOR = 0.42
PERMANENT_RESIDENT_SHARE = 0.012
# A foreign national's chance of medical-scheme cover, relative to a South African in the same suburb
# (estimate: GHS does not publish it by citizenship; few undocumented migrants have formal jobs).
FOREIGN_AID_FACTOR = 0.3
# Children under this age have no phone of their own: their phone_number is their guardian's
# (estimate: few primary-school children own a phone).
CHILD_PHONE_AGE = 12
# Each child under CHILD_PHONE_AGE lives in a guardian's household: same address, phone and medical
# scheme, and usually the same surname. Who the guardian is (male?, years older: low, high):
# South African children live with their mother far more than with their father, and one in five
# with neither parent, mostly with a grandmother (GHS 2018 as summarised by the South African Child
# Gauge: about 43% with the mother only, 34% with both parents, 3% with the father only, 20% with
# neither). The guardian is the mother for the mother-only and most two-parent households, the
# father for the father-only and a few two-parent ones, a grandmother for most of the rest; the
# shares and age gaps are estimates built on those figures.
GUARDIAN_KINDS = {
    "mother": (False, 18, 46),
    "father": (True, 20, 56),
    "grandmother": (False, 36, 76),
}
GUARDIAN_KIND_SHARES = (0.74, 0.06, 0.20)
# Children with their guardian's surname (estimate: children born outside marriage take their
# mother's surname unless the father is registered (Births and Deaths Registration Act s10), so a
# mother's or grandmother's surname is the child's more often than not, but not always).
GUARDIAN_SURNAME_SHARE = 0.8
ADULT_AGE = 18
# E-mail local parts end in a number that is a bijection of person_id (an affine map modulo 10^8,
# 10^8 > MAX_ROWS), so no two people share an address, whatever their names.
EMAIL_NUMBER_MODULUS = 100_000_000
EMAIL_NUMBER_FACTOR = 48_271  # coprime with 10^8
EMAIL_NUMBER_OFFSET = 9_157_331
CITIZENSHIPS = (b"citizen", b"permanent_resident", b"foreign_national")
EMAIL_DOMAINS = (b"gmail.com", b"gmail.com", b"gmail.com", b"yahoo.com", b"outlook.com", b"icloud.com",
                 b"webmail.co.za", b"mweb.co.za", b"vodamail.co.za", b"telkomsa.net", b"hotmail.com")
PASSPORT_LETTERS = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXYZ", dtype=np.uint8)


@dataclass
class Weighted:
    """Values (an 'S' array) with cumulative probabilities, for fast vectorised draws."""
    values: np.ndarray
    cumulative: np.ndarray

    @classmethod
    def of(cls, values: list[str], weights, what: str) -> "Weighted":
        encoded = [v.encode("utf-8") for v in values]
        check_plain(encoded, what)
        w = np.asarray(weights, dtype=float)
        cumulative = np.cumsum(w / w.sum())
        cumulative[-1] = 1.0
        return cls(np.array(encoded, dtype=f"S{max(map(len, encoded))}"), cumulative)

    def draw_index(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.searchsorted(self.cumulative, rng.random(n), side="right")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.values[self.draw_index(rng, n)]


def _email_form(values: np.ndarray) -> np.ndarray:
    """Lower case, without spaces, hyphens or apostrophes, for the local part of an e-mail address."""
    cleaned = [v.decode().lower().replace(" ", "").replace("-", "").replace("'", "").encode() for v in values]
    return np.array(cleaned)  # as wide as the longest: lower() can lengthen a name's UTF-8 bytes


def _widest(arrays) -> str:
    """The 'S' dtype that holds every value of `arrays` whole: a narrower one would cut longer
    names short, mid-character if need be, without a word."""
    return f"S{max(a.dtype.itemsize for a in arrays)}"


class PeopleModel:
    """Reference lists turned into arrays, built once per process."""

    def __init__(self) -> None:
        first = reference.table("first_names.csv")
        last = reference.table("surnames.csv")
        self.groups = list(NAME_GROUPS)
        self.first: dict[tuple[int, int], Weighted] = {}
        self.first_email: dict[tuple[int, int], np.ndarray] = {}
        self.last: dict[int, Weighted] = {}
        self.last_email: dict[int, np.ndarray] = {}
        for g, group in enumerate(self.groups):
            for s, sex in enumerate("FM"):
                rows = first[(first.name_group == group) & (first.sex == sex)]
                self.first[g, s] = Weighted.of(rows.first_name.tolist(), rows.weight, "first names")
                self.first_email[g, s] = _email_form(self.first[g, s].values)
            rows = last[last.name_group == group]
            self.last[g] = Weighted.of(rows.surname.tolist(), rows.weight, "surnames")
            self.last_email[g] = _email_form(self.last[g].values)
        suburbs = reference.table("suburbs.csv")
        self.suburb = Weighted.of(suburbs.suburb.tolist(), suburbs.weight, "suburbs")
        self.city = np.array([c.encode() for c in suburbs.city])
        self.province = np.array([p.encode() for p in suburbs.province])
        self.postal_code = np.array([p.encode() for p in suburbs.postal_code], dtype="S4")
        check_plain(list(self.city) + list(self.province), "suburbs")
        self.aid_share = suburbs.medical_aid_share.astype(float).to_numpy()
        self.foreign_share = suburbs.foreign_share.astype(float).to_numpy()
        if not ((self.foreign_share >= 0) & (self.foreign_share * WORKING_AGE_FOREIGN_FACTOR <= 1)).all():
            raise ValueError("suburbs.csv: foreign_share must lie in [0, 1 / WORKING_AGE_FOREIGN_FACTOR]")
        self.group_cumulative = _suburb_group_cumulative(suburbs)
        self._streets_by_suburb(suburbs.suburb.tolist(), reference.table("streets.csv"))
        countries = reference.table("passport_countries.csv")
        self.country = Weighted.of(countries.country_code.tolist(), countries.share_percent.astype(float),
                                   "passport countries")
        unknown = set(countries.name_group) - set(NAME_GROUPS)
        if unknown:
            raise ValueError(f"passport_countries.csv names unknown name groups: {sorted(unknown)}")
        self.country_group = np.array([NAME_GROUPS.index(g) for g in countries.name_group])
        schemes = reference.table("medical_schemes.csv")
        self.scheme = Weighted.of(schemes.scheme_name.tolist(), schemes.weight, "medical schemes")
        self.domains = np.array(EMAIL_DOMAINS)
        self.age_bands = AGE_BAND_WEIGHTS / AGE_BAND_WEIGHTS.sum()

    def _streets_by_suburb(self, suburbs: list[str], streets) -> None:
        """Streets as one array grouped by suburb (in suburbs.csv order), with each suburb's first
        index and count; a suburb takes every streets.csv row that names it."""
        unknown = set(streets.suburb) - set(suburbs)
        if unknown:
            raise ValueError(f"streets.csv names suburbs not in suburbs.csv: {sorted(unknown)[:3]}")
        by_suburb = streets.groupby("suburb", sort=False).street_name.agg(list).to_dict()
        lists = [by_suburb.get(name, []) for name in suburbs]
        self.street_count = np.array([len(names) for names in lists], dtype=np.int64)
        if (self.street_count == 0).any():
            raise ValueError(f"suburbs without streets in streets.csv: {suburbs[int(np.argmin(self.street_count))]}")
        self.street_first = np.concatenate([[0], np.cumsum(self.street_count)[:-1]])
        flat = [name for names in lists for name in names]
        self.street = Weighted.of(flat, np.ones(len(flat)), "streets")

    def draw_street(self, rng: np.random.Generator, suburb_index: np.ndarray) -> np.ndarray:
        """A street of each person's suburb, uniformly among the suburb's streets."""
        pick = (rng.random(len(suburb_index)) * self.street_count[suburb_index]).astype(np.int64)
        return self.street.values[self.street_first[suburb_index] + pick]

    def draw_group(self, rng: np.random.Generator, suburb_index: np.ndarray) -> np.ndarray:
        """A South African name group (index into NAME_GROUPS) by each person's suburb mix."""
        u = rng.random(len(suburb_index))
        return (u[:, None] >= self.group_cumulative[suburb_index]).sum(axis=1)


def _suburb_group_cumulative(suburbs) -> np.ndarray:
    """Per suburb, the cumulative shares of the South African name groups (all but "foreign"),
    as a (suburbs, groups - 1) array whose last column is 1."""
    columns = [f"names_{g}" for g in NAME_GROUPS if g != "foreign"]
    weights = suburbs[columns].astype(float).to_numpy()
    if (weights < 0).any() or (weights.sum(axis=1) <= 0).any():
        raise ValueError("suburbs.csv: every suburb needs non-negative name-group weights with a positive sum")
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cumulative[:, -1] = 1.0
    return cumulative


@dataclass
class ChunkSummary:
    """What later generators need about each person, kept compactly for all rows."""
    person_id: np.ndarray      # int64
    birth_day: np.ndarray      # int32, days since 1970-01-01
    male: np.ndarray           # bool
    citizenship: np.ndarray    # uint8 index into CITIZENSHIPS
    soweto: np.ndarray         # bool: lives in a Soweto postal code (18xx), the hospital's catchment
    insured: np.ndarray        # bool: belongs to a medical scheme


@dataclass
class PeopleChunk:
    """One chunk of people as columns ('S' byte-string arrays unless said otherwise), before encoding."""
    person_id: np.ndarray      # int64
    sa_id: np.ndarray          # empty for foreign nationals
    first: np.ndarray
    last: np.ndarray
    male: np.ndarray           # bool
    birth_day: np.ndarray      # int32, days since 1970-01-01
    citizenship: np.ndarray    # uint8 index into CITIZENSHIPS
    passport: np.ndarray       # empty unless foreign
    passport_country: np.ndarray  # ISO 3166-1 alpha-3 of the passport, empty exactly when passport is
    phone: np.ndarray
    email: list[np.ndarray]    # the parts of first.last + number @ domain, each empty without e-mail
    house: np.ndarray
    street: np.ndarray
    suburb_index: np.ndarray   # int index into the model's suburbs
    scheme: np.ndarray         # empty without medical-scheme cover
    guardian_person_id: np.ndarray  # the guardian's person_id for children under CHILD_PHONE_AGE, else empty


def generate_chunk(model: PeopleModel, seed: int, chunk_index: int, n_chunks: int, first_person_id: int,
                   n: int, reference_day: date, slots: np.ndarray) -> tuple[bytes, ChunkSummary]:
    """CSV lines (no header) for `n` people starting at `first_person_id`, and their summary.

    `reference_day` is the date ages are counted at (the simulation start); `slots` is
    `core.sa_id.sequence_slots(seed)`.
    """
    chunk = draw_chunk(model, seed, chunk_index, n_chunks, first_person_id, n, reference_day, slots)
    return encode_chunk(model, chunk), summarise(model, chunk)


def draw_chunk(model: PeopleModel, seed: int, chunk_index: int, n_chunks: int, first_person_id: int,
               n: int, reference_day: date, slots: np.ndarray) -> PeopleChunk:
    """Draw `n` people from the chunk's own random stream (seed, chunk index).

    Citizenship, names, streets and medical-scheme cover follow the person's suburb (suburbs.csv
    profiles); children under CHILD_PHONE_AGE live in a guardian's household (see `households`) and
    take the guardian's suburb, address, phone number, citizenship (and passport country), scheme
    (as a dependant) and, for GUARDIAN_SURNAME_SHARE of them, surname."""
    rng = np.random.default_rng([seed, 1, chunk_index])
    birth_day, age_years, male = _ages_and_sexes(model, rng, n, reference_day)
    person_id = np.arange(first_person_id, first_person_id + n, dtype=np.int64)

    suburb_index = model.suburb.draw_index(rng, n)
    child, guardian = households(rng, age_years, male)
    suburb_index[child] = suburb_index[guardian]
    citizenship = _citizenships(model, rng, suburb_index, age_years)
    citizenship[child] = np.where(citizenship[guardian] == 2, 2, citizenship[child])
    foreign = citizenship == 2
    country = model.country.draw_index(rng, n)
    country[child] = country[guardian]

    group = model.draw_group(rng, suburb_index)
    group = np.where(foreign & (rng.random(n) < FOREIGN_NAME_SHARE), model.country_group[country], group)
    group[child] = group[guardian]

    first, first_mail, last, last_mail = _names(model, rng, n, male, group)
    takes_surname = rng.random(len(child)) < GUARDIAN_SURNAME_SHARE
    named, namer = child[takes_surname], guardian[takes_surname]
    last[named], last_mail[named] = last[namer], last_mail[namer]

    yymmdd = yymmdd_of(birth_day)
    sequence = unique_sequences(yymmdd, male, slots, chunk_index, n_chunks)
    sa_id = masked(make_sa_ids(yymmdd, sequence, np.minimum(citizenship, 1)), ~foreign)

    letters = PASSPORT_LETTERS[rng.integers(0, len(PASSPORT_LETTERS), (n, 2))]
    passport = np.empty((n, 9), dtype=np.uint8)
    passport[:, :2] = letters
    passport[:, 2:] = zero_padded(rng.integers(0, 10_000_000, n), 7).view(np.uint8).reshape(n, 7)
    passport = masked(passport.view("S9").ravel(), foreign)
    passport_country = masked(model.country.values[country], foreign)

    phone = make_unique_phone_numbers(rng, person_id, seed % SUBSCRIBER_SPAN)
    phone[child] = phone[guardian]

    email = _emails(model, rng, person_id, age_years, first_mail, last_mail)

    house = int_bytes(np.minimum(rng.geometric(0.004, n), 9999))
    street = model.draw_street(rng, suburb_index)
    house[child], street[child] = house[guardian], street[guardian]

    # Medical scheme cover by suburb (suburbs.csv), far less for foreign nationals; children are
    # their guardian's dependants.
    insured = rng.random(n) < model.aid_share[suburb_index] * np.where(foreign, FOREIGN_AID_FACTOR, 1.0)
    scheme = masked(model.scheme.draw(rng, n), insured)
    scheme[child] = scheme[guardian]

    guardian_id = np.zeros(n, dtype=np.int64)
    guardian_id[child] = person_id[guardian]
    guardian_person_id = masked(int_bytes(guardian_id), guardian_id > 0)

    return PeopleChunk(person_id, sa_id, first, last, male, birth_day, citizenship, passport, passport_country,
                       phone, email, house, street, suburb_index, scheme, guardian_person_id)


def _citizenships(model: PeopleModel, rng: np.random.Generator, suburb_index: np.ndarray,
                  age_years: np.ndarray) -> np.ndarray:
    """Indices into CITIZENSHIPS: foreign nationals by their suburb's foreign_share, weighted by age
    (see WORKING_AGE_FOREIGN_FACTOR), permanent residents PERMANENT_RESIDENT_SHARE of the rest.
    Children under CHILD_PHONE_AGE are never drawn foreign here: they take their guardian's."""
    factor = np.where((age_years >= 20) & (age_years < 50), WORKING_AGE_FOREIGN_FACTOR,
                      np.where(age_years < CHILD_PHONE_AGE, 0.0, OTHER_AGE_FOREIGN_FACTOR))
    foreign_share = model.foreign_share[suburb_index] * factor
    u = rng.random(len(suburb_index))
    return np.where(u < foreign_share, 2, np.where(u < foreign_share + PERMANENT_RESIDENT_SHARE, 1, 0)).astype(np.uint8)


def households(rng: np.random.Generator, age_years: np.ndarray,
               male: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(children, their guardians): indices of the people under CHILD_PHONE_AGE and, for each, an adult
    of the same chunk: a mother, father or grandmother by GUARDIAN_KIND_SHARES, of that kind's sex and
    age gap, drawn uniformly among the chunk's people who fit (any adult if none does). A guardian
    may head several children. A chunk without adults (only possible in a tiny last chunk) leaves
    its children out."""
    child = np.flatnonzero(age_years < CHILD_PHONE_AGE)
    adults = np.flatnonzero(age_years >= ADULT_AGE)
    if not len(adults):
        return child[:0], child[:0]
    adults = adults[np.argsort(age_years[adults], kind="stable")]
    kind = np.searchsorted(np.cumsum(GUARDIAN_KIND_SHARES)[:-1], rng.random(len(child)), side="right")
    u = rng.random(len(child))
    guardian = adults[(u * len(adults)).astype(np.int64)]
    for k, (is_male, low_gap, high_gap) in enumerate(GUARDIAN_KINDS.values()):
        pool = adults[male[adults] == is_male]  # still sorted by age
        mine = np.flatnonzero(kind == k)
        if not len(pool) or not len(mine):
            continue
        child_age = age_years[child[mine]]
        low = np.searchsorted(age_years[pool], child_age + low_gap, side="left")
        high = np.searchsorted(age_years[pool], child_age + high_gap, side="left")
        pick = pool[np.minimum(low + (u[mine] * (high - low)).astype(np.int64), len(pool) - 1)]
        guardian[mine] = np.where(high > low, pick, guardian[mine])
    return child, guardian


def _emails(model: PeopleModel, rng: np.random.Generator, person_id: np.ndarray, age_years: np.ndarray,
            first_mail: np.ndarray, last_mail: np.ndarray) -> list[np.ndarray]:
    """E-mail parts for about 60% of people 16 and older: first.last + a number @ domain. The number
    is a bijection of person_id (see EMAIL_NUMBER_MODULUS), so every address is unique."""
    n = len(person_id)
    has_mail = (age_years >= 16) & (rng.random(n) < 0.6)
    number = (person_id * EMAIL_NUMBER_FACTOR + EMAIL_NUMBER_OFFSET) % EMAIL_NUMBER_MODULUS
    domain = masked(model.domains[rng.integers(0, len(model.domains), n)], has_mail)
    dot = masked(np.full(n, b".", dtype="S1"), has_mail)
    at = masked(np.full(n, b"@", dtype="S1"), has_mail)
    return [masked(first_mail, has_mail), dot, masked(last_mail, has_mail), masked(int_bytes(number), has_mail),
            at, domain]


def _ages_and_sexes(model: PeopleModel, rng: np.random.Generator, n: int,
                    reference_day: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth days (days since 1970-01-01), ages in years at `reference_day`, and male flags:
    a 5-year band by the age structure, then uniform within it; the sex ratio by age."""
    ref = np.datetime64(reference_day, "D").astype(np.int64)
    band = np.searchsorted(np.cumsum(model.age_bands), rng.random(n), side="right").clip(0, 19)
    age_days = ((band * 5 + rng.random(n) * 5) * 365.2425).astype(np.int64)
    birth_day = (ref - age_days).astype(np.int32)
    age_years = age_days / 365.2425
    male_share = np.where(age_years < 15, 0.505, np.where(age_years < 60, 0.51, 0.40))
    return birth_day, age_years, rng.random(n) < male_share


def _names(model: PeopleModel, rng: np.random.Generator, n: int, male: np.ndarray,
           group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First and last names (and their e-mail forms) from each person's name group (index into
    NAME_GROUPS)."""
    first = np.zeros(n, dtype=_widest(w.values for w in model.first.values()))
    first_mail = np.zeros(n, dtype=_widest(model.first_email.values()))
    last = np.zeros(n, dtype=_widest(w.values for w in model.last.values()))
    last_mail = np.zeros(n, dtype=_widest(model.last_email.values()))
    sex_index = male.astype(np.int64)
    for g in range(len(model.groups)):
        in_group = group == g
        count = int(in_group.sum())
        if not count:
            continue
        pick = model.last[g].draw_index(rng, count)
        last[in_group] = model.last[g].values[pick]
        last_mail[in_group] = model.last_email[g][pick]
        for s in (0, 1):
            mask = in_group & (sex_index == s)
            k = int(mask.sum())
            if k:
                pick = model.first[g, s].draw_index(rng, k)
                first[mask] = model.first[g, s].values[pick]
                first_mail[mask] = model.first_email[g, s][pick]
    return first, first_mail, last, last_mail


def encode_chunk(model: PeopleModel, chunk: PeopleChunk) -> bytes:
    """The chunk's people.csv lines (no header), columns in PEOPLE_COLUMNS order."""
    s = chunk.suburb_index
    fields = [
        [int_bytes(chunk.person_id)], [chunk.sa_id], [chunk.first], [chunk.last],
        [np.where(chunk.male, b"M", b"F").astype("S1")], [iso_dates(chunk.birth_day)],
        [np.array(CITIZENSHIPS)[chunk.citizenship]], [chunk.passport], [chunk.passport_country], [chunk.phone], chunk.email,
        [chunk.house, b" ", chunk.street], [model.suburb.values[s]], [model.city[s]],
        [model.province[s]], [model.postal_code[s]], [chunk.scheme], [chunk.guardian_person_id],
    ]
    return encode_arrays(fields, len(chunk.person_id))


def summarise(model: PeopleModel, chunk: PeopleChunk) -> ChunkSummary:
    """What the patient and staff generators need about the chunk's people."""
    soweto = np.char.startswith(model.postal_code[chunk.suburb_index], b"18")
    insured = chunk.scheme != b""
    return ChunkSummary(chunk.person_id, chunk.birth_day, chunk.male, chunk.citizenship, soweto, insured)
