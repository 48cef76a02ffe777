"""The Docker path and the local path in one clone: `cp .env.example .env` (the Docker section's
first step) leaves the local services' settings in charge, and a connection setting that the
server refuses is one line naming where it came from, never a psycopg2 traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import CONNECTION_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def hospital(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CONNECTION_SETTINGS and k != "DATA_DIR"}
    return subprocess.run([sys.executable, "-m", "hospital", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def clone(tmp_path):
    """A folder laid out like a clone after `make up`: the checkout's .local/env, no .env yet."""
    (tmp_path / ".local").mkdir()
    shutil.copy(ROOT / ".local" / "env", tmp_path / ".local" / "env")
    return tmp_path


def test_copied_env_example_keeps_the_local_services_working(clone):
    shutil.copy(ROOT / ".env.example", clone / ".env")
    result = hospital(clone, "status", "--json")
    assert result.returncode == 0, result.stderr
    assert "window" in json.loads(result.stdout)


def test_a_refused_password_is_one_line_naming_the_file_and_the_fix(clone, settings):
    wrong = settings.database_url.replace("hospital_ingest:", "hospital_ingest:CHANGE_ME", 1)
    (clone / ".env").write_text(f"DATABASE_URL={wrong}\n")
    result = hospital(clone, "status")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert f"DATABASE_URL (from {clone / '.env'})" in line
    assert 'password authentication failed for user "hospital_ingest"' in line
    assert "delete DATABASE_URL" in line and "CHANGE_ME placeholder" in line
    assert wrong.split("@")[0].split(":")[-1] not in line  # the password itself is never printed
