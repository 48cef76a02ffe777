"""Sizes as people write them: '5GB', '500MB', '750k', '123' (decimal units, an optional B)."""

from __future__ import annotations

import argparse
import re

UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(text: str) -> int:
    """'5GB', '500MB', '750k', '123' -> bytes (decimal units). Raises argparse.ArgumentTypeError,
    so it serves as an argparse `type` as it is."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtT]?)[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 5GB, 500MB)")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])
