"""South African identity numbers: YYMMDD SSSS C A Z (Identification Act 68 of 1997).

- YYMMDD  date of birth (the century is not encoded; keep the full date elsewhere)
- SSSS    sequence: 0000-4999 female, 5000-9999 male
- C       0 citizen, 1 permanent resident
- A       8 (since 1986)
- Z       Luhn check digit over the first 12 digits

Scalar helpers for clarity and tests, and vectorised ones (numpy) for generating millions.
"""

from __future__ import annotations

from datetime import date

import numpy as np

CITIZEN_DIGIT = {"citizen": 0, "permanent_resident": 1}
RACE_DIGIT = 8
FEMALE_SEQUENCES = range(0, 5000)
MALE_SEQUENCES = range(5000, 10000)


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit that makes `digits` + digit pass the Luhn test."""
    total = 0
    # Walking from the right, the digit next to the check digit is doubled.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def make_sa_id(date_of_birth: date, sequence: int, citizenship: str) -> str:
    """Build one 13-digit ID. `sequence` is 0-9999 (below 5000 means female)."""
    if not 0 <= sequence <= 9999:
        raise ValueError(f"sequence must be 0-9999, got {sequence}")
    body = f"{date_of_birth:%y%m%d}{sequence:04d}{CITIZEN_DIGIT[citizenship]}{RACE_DIGIT}"
    return body + str(luhn_check_digit(body))


def sex_of(sa_id: str) -> str:
    """'F' or 'M' from the sequence digits."""
    return "F" if int(sa_id[6:10]) < 5000 else "M"


def luhn_check_digits(body: np.ndarray) -> np.ndarray:
    """Vectorised Luhn digits for an (n, 12) uint8 array of digit values (not ASCII)."""
    digits = body.astype(np.int16)
    # Positions 1, 3, ..., 11 (0-based) are doubled: they sit an odd distance left of the check digit.
    doubled = digits[:, 1::2] * 2
    doubled -= 9 * (doubled > 9)
    total = digits[:, 0::2].sum(axis=1) + doubled.sum(axis=1)
    return ((10 - total % 10) % 10).astype(np.uint8)


def make_sa_ids(yymmdd: np.ndarray, sequence: np.ndarray, citizen_digit: np.ndarray) -> np.ndarray:
    """Vectorised IDs as an 'S13' array.

    `yymmdd` int (0-991231), `sequence` int 0-9999, `citizen_digit` 0 or 1; all of one length.
    """
    n = len(yymmdd)
    digits = np.empty((n, 13), dtype=np.uint8)
    value = yymmdd.astype(np.int64) * 10_000 + sequence.astype(np.int64)
    for column in range(9, -1, -1):
        digits[:, column] = value % 10
        value //= 10
    digits[:, 10] = citizen_digit
    digits[:, 11] = RACE_DIGIT
    digits[:, 12] = luhn_check_digits(digits[:, :12])
    digits += ord("0")
    return digits.view("S13").ravel()


def sequence_slots(seed: int) -> np.ndarray:
    """A fixed random order of the 5,000 sequence numbers of one sex, so that the sequences handed
    out look random yet never repeat (see `unique_sequences`)."""
    return np.random.default_rng([seed, 0xA11D]).permutation(5000)


def yymmdd_of(birth_day: np.ndarray) -> np.ndarray:
    """The YYMMDD digits (as an int, 0-991231) of dates given as days since 1970-01-01."""
    dob = birth_day.astype("datetime64[D]")
    years = dob.astype("datetime64[Y]")
    months = dob.astype("datetime64[M]")
    return ((years.astype(np.int64) + 1970) % 100) * 10_000 \
        + (months - years.astype("datetime64[M]")).astype(np.int64) * 100 + 100 \
        + (dob - months.astype("datetime64[D]")).astype(np.int64) + 1


def rank_within(cell: np.ndarray) -> np.ndarray:
    """Each element's 0-based rank among the elements of equal value, in array order."""
    n = len(cell)
    order = np.argsort(cell, kind="stable")
    sorted_cell = cell[order]
    starts = np.flatnonzero(np.r_[True, sorted_cell[1:] != sorted_cell[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return rank


def unique_sequences(yymmdd: np.ndarray, male: np.ndarray, slots: np.ndarray, chunk_index: int,
                     n_chunks: int) -> np.ndarray:
    """SSSS sequence numbers (0-4999 female, 5000-9999 male) unique within each (YYMMDD, sex)
    across all `n_chunks` chunks generated with the same `slots` (`sequence_slots(seed)`).

    Within a chunk the k-th person of a (YYMMDD, sex) cell takes slot k * n_chunks + chunk_index,
    so chunks never collide; the slot is rotated by a multiplicative hash of the cell (Knuth's
    2,654,435,761), which keeps the mapping one-to-one within a cell while varying it between
    cells, and looked up in the seeded permutation. Raises ValueError when a cell would need more
    than 5,000 numbers."""
    sex = male.astype(np.int64)
    cell = yymmdd * 2 + sex
    slot = rank_within(cell) * n_chunks + chunk_index
    if len(slot) and slot.max() >= 5000:
        raise ValueError("too many people share a birth date and sex for unique SA ID numbers; use fewer rows")
    return slots[(slot + cell * 2_654_435_761) % 5000] + 5000 * sex
