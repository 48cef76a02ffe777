"""Run manifests: what a generator wrote (rows and SHA-256 per file), with the seed, the version
and the fingerprint of the code and reference data that made it.

Deterministic (no timestamps), so the same seed also gives a byte-identical manifest. The
fingerprint lets `hospital prepare` tell files made by another version of the generators (other
columns, other draws) from files it can reuse.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from core import __version__


ROOT = Path(__file__).resolve().parent.parent
# What the population files are a function of, besides the seed and the parameters.
CODE_INPUTS = ("generators/*.py", "core/*.py", "core/reference/*.csv", "core/reference/clinical/*.csv")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 (16 hex digits) over the generators' and core's source and the reference CSVs."""
    digest = hashlib.sha256()
    for pattern in CODE_INPUTS:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def write_manifest(path: Path, generator: str, seed: int, files: dict[Path, tuple[int, str]],
                   parameters: dict[str, Any]) -> Path:
    """Write `path` (JSON) describing `files` ({path: (rows, sha256)}); returns the path."""
    document = {
        "generator": generator,
        "version": __version__,
        "code": code_fingerprint(),
        "seed": seed,
        "parameters": parameters,
        "files": {p.name: {"rows": rows, "sha256": digest} for p, (rows, digest) in files.items()},
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
