"""What the generator scripts share on the command line: argument checks that fail with one clear
line instead of a traceback, output paths that are known writable before long work starts."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable


class InputError(Exception):
    """Bad input from the user: reported as one line on stderr with a non-zero exit."""


def bounded_int(low: int, high: int):
    """An argparse type: an integer in [low, high] (underscores and commas allowed: 5_000_000)."""
    def parse(text: str) -> int:
        try:
            value = int(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, got {value:,}")
        return value
    return parse


def writable_file(path: Path) -> Path:
    """Create the parent folder if needed and check the file can be written; raise InputError if not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder for {path}: {exc.strerror}") from None
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a file")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path}: permission denied")
    return path


def readable_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist (generate it first)")
    if not os.access(path, os.R_OK):
        raise InputError(f"cannot read {what} {path}: permission denied")
    return path


def report_errors(prog: str, work: Callable[[], None]) -> int:
    """Run `work`; bad input becomes one line on stderr and exit 2, an OS error one line and exit 1,
    never a traceback. Returns 0 when the work succeeds."""
    try:
        work()
    except (InputError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0
