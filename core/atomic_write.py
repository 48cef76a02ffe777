"""The one way the project replaces a file: write `<name>.tmp` beside it, then rename.

A rename within a folder is atomic, so a reader sees the old file or the whole new one, never
half of it; the landing folder's readers skip `*.tmp` files, which are still being written."""

from __future__ import annotations

import os
from pathlib import Path

TMP_SUFFIX = ".tmp"


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through `path.tmp` and a rename; creates the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with tmp.open("wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return path
