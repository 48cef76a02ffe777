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


SUBSCRIBER_LOW, SUBSCRIBER_SPAN = 2_000_000, 8_000_000  # subscriber numbers 2000000-9999999
SUBSCRIBER_FACTOR = 1_234_567  # coprime with SUBSCRIBER_SPAN (2^9 * 5^6): the map below is a bijection
UNIQUE_UP_TO = SUBSCRIBER_SPAN


def make_phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` E.164 numbers ('+27' + 2-digit prefix + 7 digits) as an 'S12' array (independent draws:
    two may coincide)."""
    return _e164(_prefixes(rng, n), rng.integers(SUBSCRIBER_LOW, SUBSCRIBER_LOW + SUBSCRIBER_SPAN, n))


def make_unique_phone_numbers(rng: np.random.Generator, keys: np.ndarray, offset: int) -> np.ndarray:
    """One E.164 number per key ('S12'), distinct for distinct non-negative keys below UNIQUE_UP_TO:
    the prefix is drawn by weight, the subscriber number is an affine bijection of the key modulo
    SUBSCRIBER_SPAN (shifted by `offset`, say a seed), so no two keys share a subscriber number."""
    subscriber = (keys.astype(np.int64) * SUBSCRIBER_FACTOR + offset) % SUBSCRIBER_SPAN + SUBSCRIBER_LOW
    return _e164(_prefixes(rng, len(keys)), subscriber)


def _prefixes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two-digit national prefixes: mobile (MOBILE_SHARE) or landline, each by its weights."""
    mobile = np.array(MOBILE_PREFIXES)[rng.choice(len(MOBILE_PREFIXES), n, p=_norm(MOBILE_WEIGHTS))]
    landline = np.array(LANDLINE_PREFIXES)[rng.choice(len(LANDLINE_PREFIXES), n, p=_norm(LANDLINE_WEIGHTS))]
    return np.where(rng.random(n) < MOBILE_SHARE, mobile, landline)


def _e164(prefix: np.ndarray, subscriber: np.ndarray) -> np.ndarray:
    """'+27' + prefix + 7-digit subscriber number as 'S12'. Subscriber numbers starting 0 or 1 are
    unusual, so callers keep the first subscriber digit 2-9."""
    n = len(prefix)
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
