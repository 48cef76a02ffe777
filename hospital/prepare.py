"""`hospital prepare`: generate the population files that are missing, then load them.

    hospital prepare --people 100000

Each generator writes a manifest (rows, seed, parameters, the fingerprint of the code that made
it); a file is made again only when its manifest is missing or records other parameters, another
window start or other code (files of an older version of the generators are never loaded into a
newer schema), so a second `prepare` only checks and loads
(loading is idempotent). `hospital run` and the compose file's one-shot `population` job use it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import Settings, SettingsError, load
from generators.manifest import code_fingerprint


def run_command(args: list[str], env: dict[str, str]) -> None:
    """Run one `hospital` command to completion; raise RuntimeError if it fails."""
    result = subprocess.run([sys.executable, "-m", "hospital", *args], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"`hospital {' '.join(args)}` failed with exit code {result.returncode}")


def manifest_matches(path: Path, **expected) -> bool:
    """True if a generator's manifest exists and records the expected parameters and seed."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("code") != code_fingerprint():
        return False
    parameters = dict(manifest.get("parameters", {}), seed=manifest.get("seed"))
    return all(parameters.get(key) == value for key, value in expected.items())


# The population tables that need only people.csv and hospital_patients.csv: they load while the
# staff and the roster are generated (one core generates, the database loads on the other).
PEOPLE_TABLES = "core.person,core.patient"
STAFF_TABLES = "core.staff,core.doctor,core.staff_assignment"


def prepare_population(settings: Settings, people: int, env: dict[str, str]) -> None:
    """Generate the CSVs that are missing or were made with other parameters, and load them: the
    people and patients as soon as they are written, beside the staff and roster generation."""
    data = settings.data_dir
    if not manifest_matches(data / "people.manifest.json", rows=people, seed=settings.seed,
                            sim_start=settings.sim_start.isoformat()):
        run_command(["generate-people", "--rows", str(people)], env)
        for stale in ("staff.manifest.json", "assigned_staff.manifest.json"):
            (data / stale).unlink(missing_ok=True)
    people_load = subprocess.Popen([sys.executable, "-m", "hospital", "load-population", "--tables", PEOPLE_TABLES],
                                   env=env)
    try:
        if not manifest_matches(data / "staff.manifest.json", seed=settings.seed):
            run_command(["generate-staff"], env)
            (data / "assigned_staff.manifest.json").unlink(missing_ok=True)
        if not manifest_matches(data / "assigned_staff.manifest.json", seed=settings.seed):
            run_command(["assign-staff"], env)
    finally:
        if people_load.wait() != 0:
            raise RuntimeError(f"`hospital load-population --tables {PEOPLE_TABLES}` failed with exit code "
                               f"{people_load.returncode}")
    run_command(["load-population", "--tables", STAFF_TABLES], env)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=5_000_000, help="people to generate (default 5,000,000)")
    args = parser.parse_args(argv)
    try:
        settings = load()
        prepare_population(settings, args.people, dict(os.environ))
    except (SettingsError, RuntimeError) as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
