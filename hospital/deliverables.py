"""`hospital deliverables` (behind `make deliverables`): the zip the project's checklist asks for.

    hospital deliverables                                # CSVs from $DATA_DIR, else data/full
    hospital deliverables --data-dir data/demo           # the demo run's CSVs instead

The zip holds, at its root: the generated CSVs (people.csv, hospital_patients.csv, staff.csv,
doctors.csv, assigned_staff.csv) from the data folder; docker-compose.yml, init_db.sql, README.md,
project_brief.pdf and requirements.txt from the repo; and every .py file under core/,
producer/, consumer/, database/ and generators/, with their folders kept (core/ because every
script imports it), and core/reference/*.csv, the reference data the generators read. Everything is checked before
anything is written: if a file is missing, the command names each one and how to make it, and
exits 1 without writing the zip.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.atomic_write import replacing

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = "data/full"
DEFAULT_OUT = "dist/hospital-pipeline-deliverables.zip"

GENERATED_CSVS = ("people.csv", "hospital_patients.csv", "staff.csv", "doctors.csv", "assigned_staff.csv")
REPO_FILES = ("docker-compose.yml", "init_db.sql", "README.md", "project_brief.pdf", "requirements.txt")
SCRIPT_FOLDERS = ("core", "producer", "consumer", "database", "generators")
REFERENCE_FOLDER = "core/reference"  # the CSVs the generators read, beside core's code

# Deflate level 1: the CSVs are most of the bytes. On the full run's 737 MB people.csv level 1 took
# 9.7 s for 246 MB, the default level 6 took 29 s for 209 MB: a third of the time for 18% more bytes.
COMPRESSLEVEL = 1


class MissingFiles(Exception):
    """Some deliverables do not exist; the message names each one and how to make it."""


@dataclass(frozen=True)
class Member:
    source: Path
    arcname: str


def how_to_make(name: str) -> str:
    if name == "project_brief.pdf":
        return "run `make brief` first"
    return f"part of the repo: restore it with `git checkout -- {name}`"


def collect(data_dir: Path, root: Path = REPO_ROOT) -> list[Member]:
    """Every member of the zip, in order; raises MissingFiles naming all that are absent."""
    members = [Member(data_dir / name, name) for name in GENERATED_CSVS]
    members += [Member(root / name, name) for name in REPO_FILES]
    problems = []
    csvs = [name for name in GENERATED_CSVS if not (data_dir / name).is_file()]
    if csvs:
        problems.append(f"{', '.join(csvs)} not in {data_dir}: run `make full` first (or `make demo`, "
                        "then `make deliverables DATA_DIR=data/demo`)")
    problems += [f"{name}: {how_to_make(name)}" for name in REPO_FILES if not (root / name).is_file()]
    for folder in SCRIPT_FOLDERS:
        scripts = sorted(p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts)
        if not scripts:
            problems.append(f"{folder}/*.py: no scripts in {root / folder}")
        members += [Member(p, p.relative_to(root).as_posix()) for p in scripts]
    reference = sorted((root / REFERENCE_FOLDER).glob("*.csv"))
    if not reference:
        problems.append(f"{REFERENCE_FOLDER}/*.csv: no reference data in {root / REFERENCE_FOLDER}")
    members += [Member(p, p.relative_to(root).as_posix()) for p in reference]
    if problems:
        raise MissingFiles("missing deliverables:\n" + "\n".join(f"  {line}" for line in problems))
    return members


def write_zip(members: list[Member], out: Path) -> None:
    """Write the zip to `out` atomically (core.atomic_write: a .tmp file renamed into place)."""
    with replacing(out) as partial:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as archive:
            for member in members:
                archive.write(member.source, member.arcname)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR") or DEFAULT_DATA_DIR),
                        help=f"folder holding the generated CSVs (default: $DATA_DIR, else {DEFAULT_DATA_DIR})")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"the zip to write (default {DEFAULT_OUT})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    name = prog or "deliverables"
    try:
        members = collect(args.data_dir)
    except MissingFiles as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    started = time.monotonic()
    write_zip(members, args.out)
    size_in = sum(m.source.stat().st_size for m in members)
    print(f"{name}: wrote {args.out} ({len(members)} files, {size_in / 1e6:,.1f} MB in, "
          f"{args.out.stat().st_size / 1e6:,.1f} MB zipped) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
