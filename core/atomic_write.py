"""The one way the project replaces a file: write `<name>.tmp` beside it, then rename.

A rename within a folder is atomic, so a reader sees the old file or the whole new one, never
half of it; the landing folder's readers skip `*.tmp` files, which are still being written."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

TMP_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    """Where `path` is written before the rename: `<name>.tmp` in the same folder."""
    return path.with_name(path.name + TMP_SUFFIX)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield the temporary path to write `path`'s new content to; on a clean exit rename it onto
    `path`, on an exception remove it and leave `path` as it was. Creates the folder if needed.
    For writers that need a file name (zipfile, a streaming writer) rather than bytes in hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through `path.tmp` and a rename; creates the folder if needed."""
    with replacing(path) as tmp:
        with tmp.open("wb") as handle:
            handle.write(data)
    return path
