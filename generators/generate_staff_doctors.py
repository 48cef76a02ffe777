"""Generate staff.csv and doctors.csv from people.csv: nurses by SANC category, doctors with a grade
and (all but interns and community-service officers) an HPCSA speciality, allied health,
administration and support, each category with its own mix of women and men; retirements at 65
within the roster horizon, each with a replacement in the same post.

    python generators/generate_staff_doctors.py --people data/people.csv --out-dir data
    hospital generate-staff
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from core import settings as settings_module
from core.csv_writer import HashingWriter
from core.logs import configure_logging
from generators.cli_support import InputError, bounded_int, readable_file, report_errors, writable_file
from generators.horizon import DEFAULT_HORIZON_DAYS, Horizon
from generators.manifest import write_manifest
from generators.staff import DEFAULT_STAFF, DOCTOR_COLUMNS, STAFF_COLUMNS, build_workforce

log = logging.getLogger(__name__)
PEOPLE_NEEDED = ("person_id", "sex", "date_of_birth", "citizenship")
MIN_PEOPLE = 1_000


def read_people(path: Path) -> pd.DataFrame:
    """The columns the staff generator needs from people.csv; InputError if the file does not fit."""
    readable_file(path, "people file")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV ({exc})") from None
    missing = [c for c in PEOPLE_NEEDED if c not in header]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)} (is it a people.csv?)")
    try:
        # Dates parsed in C and citizenship as a category keep 5 M rows within a few hundred MB.
        people = pd.read_csv(path, usecols=["person_id", "sex", "date_of_birth", "citizenship"],
                             dtype={"person_id": "int64", "sex": "category", "citizenship": "category"},
                             parse_dates=["date_of_birth"], date_format="%Y-%m-%d")
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path} has malformed rows ({str(exc).splitlines()[0]})") from None
    if len(people) < MIN_PEOPLE:
        raise InputError(f"{path} has {len(people):,} people; the staff generator needs at least {MIN_PEOPLE:,}")
    if not pd.api.types.is_datetime64_any_dtype(people.date_of_birth) or people.date_of_birth.isna().any():
        raise InputError(f"{path}: date_of_birth must be YYYY-MM-DD in every row")
    return people


def write_table(frame: pd.DataFrame, columns, path: Path) -> tuple[int, str]:
    data = frame.to_csv(index=False, columns=list(columns), lineterminator="\n").encode("utf-8")
    with HashingWriter(path) as writer:
        writer.write(data, len(frame))
    return writer.rows, writer.sha256


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    defaults = settings_module.load()
    parser = argparse.ArgumentParser(
        prog=prog, description="Generate staff.csv and doctors.csv from people.csv (every staff member is a "
        "person of working age; doctors carry a grade and, beyond interns and community service, an HPCSA "
        "speciality; retirements at 65 within the "
        "roster horizon get a replacement). Same --seed, same bytes.")
    parser.add_argument("--people", type=Path, default=defaults.data_dir / "people.csv",
                        help="people.csv to draw staff from (default DATA_DIR/people.csv)")
    parser.add_argument("--staff", type=bounded_int(1, 200_000), default=DEFAULT_STAFF,
                        help=f"staff in post (default {DEFAULT_STAFF:,} for a ~3,000-bed hospital)")
    parser.add_argument("--horizon-days", type=bounded_int(1, 3650), default=DEFAULT_HORIZON_DAYS,
                        help=f"days from SIM_START in which retirements are replaced (default {DEFAULT_HORIZON_DAYS})")
    parser.add_argument("--seed", type=bounded_int(0, 2**63 - 1), default=defaults.seed,
                        help=f"random seed (default SEED, now {defaults.seed})")
    parser.add_argument("--out-dir", type=Path, default=defaults.data_dir,
                        help="folder for staff.csv and doctors.csv (default DATA_DIR)")
    return parser


def generate(args: argparse.Namespace) -> None:
    """Write staff.csv, doctors.csv and their manifest as `args` asks."""
    staff_out = writable_file(args.out_dir / "staff.csv")
    doctors_out = writable_file(args.out_dir / "doctors.csv")
    horizon = Horizon(settings_module.load().sim_start, args.horizon_days)
    people = read_people(args.people)
    staff, doctors = build_workforce(people, args.staff, args.seed, horizon.start_date, horizon.end_date)
    files = {staff_out: write_table(staff, STAFF_COLUMNS, staff_out),
             doctors_out: write_table(doctors, DOCTOR_COLUMNS, doctors_out)}
    write_manifest(args.out_dir / "staff.manifest.json", "generate-staff", args.seed, files,
                   {"staff": args.staff, "horizon_days": args.horizon_days, "people": str(args.people.name),
                    "sim_start": horizon.start.isoformat()})
    log.info("wrote %s (%d rows) and %s (%d rows)", staff_out, len(staff), doctors_out, len(doctors))


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configure_logging()
    return report_errors(parser.prog, lambda: generate(args))


if __name__ == "__main__":
    sys.exit(main())
