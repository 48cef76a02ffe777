"""docs/build_brief.py: builds a PDF (read back with pypdf, a published parser), the
PDF states the measured figures of docs/results.json, and the committed project_brief.pdf is what
`make brief` builds from the current sources."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
RESULTS = json.loads((ROOT / "docs" / "results.json").read_text())


def build(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "docs/build_brief.py", "--out", str(out), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def brief(tmp_path_factory) -> tuple[Path, int]:
    """The PDF built once for this module, and the page count the builder reported."""
    out = tmp_path_factory.mktemp("brief") / "brief.pdf"
    result = build(out)
    assert result.returncode == 0, result.stderr
    return out, int(re.search(r"\((\d+) pages\)", result.stdout).group(1))


def page_count(path: Path) -> int:
    return len(PdfReader(path).pages)


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_builds_a_pdf_with_every_section(brief):
    path, pages = brief
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert page_count(path) == pages >= 5


def test_the_pdf_states_the_measured_figures(brief):
    text = " ".join(pdf_text(brief[0]).split())
    full, generation = RESULTS["full_run"], RESULTS["generation"]
    minutes, seconds = divmod(full["wall_s"], 60)
    for figure in (f"{minutes} min {seconds} s", f"{full['people']:,}", f"{full['events_stored']:,}",
                   f"{full['rows_loaded']:,}", f"{full['files_loaded']:,}", str(full["gb_loaded"]),
                   str(generation["ratio"]), str(RESULTS["batch"]["ratio_one_loader"]),
                   str(RESULTS["batch"]["ratio_two_loaders"]), str(RESULTS["batch"]["full_window_measured"]["loader_s"]),
                   RESULTS["chaos"]["verdict"][:40]):
        assert figure in text, figure
    for heading in ("Architecture", "Data model", "How the 9-day window works", "Guarantees", "Measured results"):
        assert heading in text, heading


def test_committed_brief_is_built_from_the_current_sources(brief):
    assert (ROOT / "project_brief.pdf").read_bytes() == brief[0].read_bytes(), \
        "project_brief.pdf is stale: run `make brief` and commit it"


def test_an_unknown_placeholder_is_a_clear_error(tmp_path):
    source = tmp_path / "brief.md"
    source.write_text("# Title\n\nWe loaded {{full_run.no_such_figure:,}} rows.\n")
    result = build(tmp_path / "out.pdf", "--source", str(source))
    assert result.returncode == 1
    assert "full_run.no_such_figure" in result.stderr and "results.json" in result.stderr
    assert not (tmp_path / "out.pdf").exists()


def test_help():
    result = subprocess.run([sys.executable, "docs/build_brief.py", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0 and "usage:" in result.stdout and "--out" in result.stdout
