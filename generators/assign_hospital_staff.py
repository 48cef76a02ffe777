"""Generate assigned_staff.csv: the shift roster of every ward doctor and nurse over the horizon
(default: the 9-day window plus a year): nurses on 12-hour days and nights, doctors on weekday
ordinary hours and after-hours calls (generators/roster.py), with retirements and the replacements
who take over.

    python generators/assign_hospital_staff.py --staff data/staff.csv --out data/assigned_staff.csv
    hospital assign-staff
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from core import settings as settings_module
from core.csv_writer import HashingWriter, header_line
from core.logs import configure_logging
from generators.cli_support import InputError, bounded_int, readable_file, report_errors, writable_file
from generators.horizon import DEFAULT_HORIZON_DAYS, Horizon
from generators.manifest import write_manifest
from generators.roster import ASSIGNMENT_COLUMNS, build_roster, check_cover, encode_roster
from generators.staff import STAFF_COLUMNS

log = logging.getLogger(__name__)


def read_staff(path: Path) -> pd.DataFrame:
    readable_file(path, "staff file")
    try:
        staff = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV ({exc})") from None
    missing = [c for c in STAFF_COLUMNS if c not in staff.columns]
    if missing:
        raise InputError(f"{path} lacks the column(s) {', '.join(missing)} (is it a staff.csv?)")
    if staff.empty:
        raise InputError(f"{path} has no staff rows")
    try:
        staff["staff_id"] = staff.staff_id.astype("int64")
        staff["replaces_staff_id"] = staff.replaces_staff_id.astype("Int64")
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} has a malformed staff id ({exc})") from None
    return staff


def check_horizon(staff_path: Path, horizon_days: int) -> None:
    """Retirements are only replaced within the staff generator's horizon: refuse a longer roster."""
    manifest = staff_path.with_name("staff.manifest.json")
    if manifest.is_file():
        generated_for = json.loads(manifest.read_text()).get("parameters", {}).get("horizon_days")
        if generated_for is not None and horizon_days > generated_for:
            raise InputError(f"--horizon-days {horizon_days} is longer than the {generated_for} days staff.csv "
                             "was generated for; regenerate staff with the same --horizon-days")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    defaults = settings_module.load()
    parser = argparse.ArgumentParser(
        prog=prog, description="Generate assigned_staff.csv: nurses on 12-hour day (07:00-19:00) and night "
        "(19:00-07:00) shifts, 14 per 28 days; doctors on weekday day shifts (08:00-16:00, not on public "
        "holidays) and calls (16:00-08:00 on weekdays, 24 h from 08:00 on weekends and holidays), at most "
        "24 h on duty at a stretch and a post-call day off; minimum cover on every ward at every hour, "
        "retirees replaced from their retirement date.")
    parser.add_argument("--staff", type=Path, default=defaults.data_dir / "staff.csv",
                        help="staff.csv from generate-staff (default DATA_DIR/staff.csv)")
    parser.add_argument("--out", type=Path, default=defaults.data_dir / "assigned_staff.csv",
                        help="roster CSV to write (default DATA_DIR/assigned_staff.csv)")
    parser.add_argument("--horizon-days", type=bounded_int(1, 3650), default=DEFAULT_HORIZON_DAYS,
                        help=f"days from SIM_START to roster (default {DEFAULT_HORIZON_DAYS}: the 9-day window + 1 year)")
    return parser


def assign(args: argparse.Namespace) -> None:
    """Write assigned_staff.csv and its manifest as `args` asks."""
    out = writable_file(args.out)
    staff = read_staff(args.staff)
    check_horizon(args.staff, args.horizon_days)
    horizon = Horizon(settings_module.load().sim_start, args.horizon_days)
    roster = build_roster(staff, horizon)
    problems = check_cover(roster, staff, horizon)
    if problems:
        raise InputError(f"{len(problems)} ward shifts lack minimum cover, first: {problems[0]}")
    with HashingWriter(out) as writer:
        writer.write(header_line(ASSIGNMENT_COLUMNS))
        writer.write(encode_roster(roster), len(roster))
    write_manifest(out.with_name(out.stem + ".manifest.json"), "assign-staff", 0,
                   {out: (writer.rows, writer.sha256)},
                   {"horizon_days": args.horizon_days, "sim_start": horizon.start.isoformat(),
                    "staff": args.staff.name})
    log.info("wrote %s: %d shifts for %d staff", out, len(roster), roster.staff_id.nunique())


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    configure_logging()
    return report_errors(parser.prog, lambda: assign(args))


if __name__ == "__main__":
    sys.exit(main())
