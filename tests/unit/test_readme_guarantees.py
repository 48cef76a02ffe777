"""The README's guarantees section names, for each guarantee, the tests that pin it: every test
it names must exist, so the section cannot promise what no test checks any more."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_FILES = {path.name: path for path in (ROOT / "tests").rglob("test_*.py")}


def guarantees_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### The guarantees")
    return readme[start:readme.index("\n## ", start)]


def named_tests() -> list[tuple[str, str | None]]:
    """(test file, test function or None) for each `file.py` and `file.py::test` or `::test`
    (the file named last) in the section."""
    named, current = [], None
    for file, function in re.findall(r"`(?:tests/\w+/)?(test_\w+\.py)?(?:::(test_\w+))?(?:\[\w+\])?`",
                                     guarantees_section()):
        if file:
            current = file
        if file or function:
            named.append((current, function or None))
    return named


def test_the_guarantees_name_their_tests():
    assert len(named_tests()) >= 20


def test_every_test_the_guarantees_name_exists():
    missing = []
    for file, function in named_tests():
        path = TEST_FILES.get(file)
        if path is None or (function and not re.search(rf"^def {function}\(", path.read_text(), re.M)):
            missing.append(f"{file}::{function}" if function else file)
    assert not missing, f"named in README.md's guarantees, not found: {missing}"
