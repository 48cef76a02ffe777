"""Run manifests: what a generator wrote (rows and SHA-256 per file), with the seed and version.

Deterministic (no timestamps), so the same seed also gives a byte-identical manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core import __version__


def write_manifest(path: Path, generator: str, seed: int, files: dict[Path, tuple[int, str]],
                   parameters: dict[str, Any]) -> Path:
    """Write `path` (JSON) describing `files` ({path: (rows, sha256)}); returns the path."""
    document = {
        "generator": generator,
        "version": __version__,
        "seed": seed,
        "parameters": parameters,
        "files": {p.name: {"rows": rows, "sha256": digest} for p, (rows, digest) in files.items()},
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
