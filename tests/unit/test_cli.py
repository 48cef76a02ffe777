"""Every command has help text, as a `hospital` subcommand and as a script in the user's folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hospital.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for folder in ("generators", "producer", "consumer", "database", "bench")
                 for p in (ROOT / folder).glob("*.py")
                 if "if __name__ == \"__main__\":" in p.read_text())


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_a_clear_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "hospital", command, "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and len(result.stdout.splitlines()) >= 3


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_script_runs_as_a_file_with_help(script):
    result = subprocess.run([sys.executable, str(script.relative_to(ROOT)), "--help"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
