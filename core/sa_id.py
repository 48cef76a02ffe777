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
