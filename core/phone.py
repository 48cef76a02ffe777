"""South African phone numbers (closed numbering plan: 0 + 9 digits; E.164 +27 + 9 digits).

Mobile prefixes are the ones with carrier blocks (070 and 077 have none); landlines are
Johannesburg's 011 and its 010 overlay.
"""

from __future__ import annotations

import numpy as np

MOBILE_PREFIXES = (60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 72, 73, 74, 75, 76, 78, 79, 81, 82, 83, 84)
# Rough weights: 07x and 08x blocks are older and fuller than 06x.
MOBILE_WEIGHTS = (2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 6, 6, 6, 6, 5, 5, 6, 6, 5, 6, 5, 4)
LANDLINE_PREFIXES = (11, 10)
LANDLINE_WEIGHTS = (8, 2)
MOBILE_SHARE = 0.88


def make_phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` E.164 numbers ('+27' + 2-digit prefix + 7 digits) as an 'S12' array."""
    mobile = np.array(MOBILE_PREFIXES)[rng.choice(len(MOBILE_PREFIXES), n, p=_norm(MOBILE_WEIGHTS))]
    landline = np.array(LANDLINE_PREFIXES)[rng.choice(len(LANDLINE_PREFIXES), n, p=_norm(LANDLINE_WEIGHTS))]
    prefix = np.where(rng.random(n) < MOBILE_SHARE, mobile, landline)
    # Subscriber numbers starting 0 or 1 are unusual; keep the first subscriber digit 2-9.
    subscriber = rng.integers(2_000_000, 10_000_000, n)
    national = prefix.astype(np.int64) * 10_000_000 + subscriber
    digits = np.empty((n, 12), dtype=np.uint8)
    digits[:, 0] = ord("+")
    digits[:, 1] = ord("2")
    digits[:, 2] = ord("7")
    for column in range(11, 2, -1):
        digits[:, column] = national % 10 + ord("0")
        national //= 10
    return digits.view("S12").ravel()


def _norm(weights: tuple[int, ...]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()
