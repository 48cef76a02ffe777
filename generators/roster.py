"""The 12-hour shift roster (assigned_staff.csv).

Ward doctors and nurses work in four teams on one 28-day rota of 14 twelve-hour shifts (day 07:00-19:00,
night 19:00-07:00), team t running the pattern 7*t days later. The pattern was chosen (by a search over
all 28-day patterns) so that on every day exactly one team works the day shift and one the night shift
(each weekday position holds one D and one N over the four weeks), and so that for every staff member:
  - at least 12 hours of rest between shifts;
  - at most 4 shifts (48 h: 45 ordinary + 3 overtime, within BCEA's 10 h overtime) in any 7 days, and
    exactly 14 shifts (168 h: 42 h a week on average, under 45) in any 28 days;
  - at least 36 consecutive hours off in any 7 days.
Each ward puts at least its minimum cover in every team, so every shift is covered. A staff member who
retires works only shifts that end before 00:00 on the retirement date; the replacement works the same
team's shifts from then on, with covers_for_staff_id naming the retiree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core import reference
from core.csv_writer import encode_arrays, int_bytes, iso_dates, masked
from generators.horizon import Horizon

ASSIGNMENT_COLUMNS = ("staff_assignment_id", "staff_id", "ward_code", "shift_date", "shift_kind",
                      "shift_start", "shift_end", "covers_for_staff_id")
ROTA_PATTERN = "DDNoNooNooDoDDoNoNoNNooDoDoo"
ROTA_DAYS = len(ROTA_PATTERN)
TEAMS = 4
TEAM_OFFSET_DAYS = 7
SHIFT_START_MINUTE = {"D": 7 * 60, "N": 19 * 60}
SHIFT_MINUTES = 12 * 60


def team_schedule(horizon: Horizon) -> pd.DataFrame:
    """Every (team, shift) of the horizon: team, day (days since epoch), kind 'D'/'N'."""
    first = np.datetime64(horizon.first_shift_date, "D").astype(np.int64)
    last = np.datetime64(horizon.end_date, "D").astype(np.int64)
    days = np.arange(first, last)
    rows = []
    pattern = np.frombuffer(ROTA_PATTERN.encode(), dtype="S1")
    for team in range(TEAMS):
        kinds = pattern[(days - first + TEAM_OFFSET_DAYS * team) % ROTA_DAYS]
        working = kinds != b"o"
        rows.append(pd.DataFrame({"team": team, "day": days[working], "kind": kinds[working].astype(str)}))
    return pd.concat(rows, ignore_index=True)


def assign_teams(staff: pd.DataFrame) -> pd.Series:
    """Rota team per rostered staff member (ward doctors and nurses), indexed by staff_id.

    Within a ward and category, staff take teams in turn (registered nurses first, so each team has
    one when the ward has four); a replacement takes the team of the person they replace.
    """
    rostered = staff[staff.home_ward_code.notna() & staff.staff_category.isin(["doctor", "nurse"])]
    originals = rostered[rostered.replaces_staff_id.isna()].copy()
    originals["rn_last"] = originals.sanc_category != "registered_nurse"
    originals = originals.sort_values(["home_ward_code", "staff_category", "rn_last", "staff_id"])
    originals["team"] = originals.groupby(["home_ward_code", "staff_category"]).cumcount() % TEAMS
    team = dict(zip(originals.staff_id, originals.team))
    for row in rostered[rostered.replaces_staff_id.notna()].sort_values("staff_id").itertuples():
        team[row.staff_id] = team[int(row.replaces_staff_id)]
    return pd.Series(team, name="team").rename_axis("staff_id")


def _day_number(dates: pd.Series) -> np.ndarray:
    """ISO date strings (or empty) as days since the epoch; missing -> a far-future sentinel."""
    parsed = pd.to_datetime(dates, format="%Y-%m-%d", errors="coerce")
    values = parsed.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(parsed.isna(), np.iinfo(np.int32).max, values)


def build_roster(staff: pd.DataFrame, horizon: Horizon) -> pd.DataFrame:
    """One row per (staff member, shift) over the horizon, ordered by shift start, ward, staff_id.

    Columns: staff_id, ward_code, day, kind, start_minute, covers_for_staff_id (wall-clock SAST minutes).
    """
    teams = assign_teams(staff)
    people = staff.set_index("staff_id").loc[teams.index]
    frame = pd.DataFrame({
        "staff_id": teams.index.to_numpy(), "team": teams.to_numpy(),
        "ward_code": people.home_ward_code.to_numpy(),
        "hired_minute": _day_number(people.hire_date) * 1440,
        "retires_minute": _day_number(people.retirement_date) * 1440,
        "replaces": people.replaces_staff_id.to_numpy(),
    })
    retires = dict(zip(frame.staff_id, frame.retires_minute))
    frame["takes_over_minute"] = [retires[int(r)] if pd.notna(r) else np.iinfo(np.int64).min
                                  for r in frame.replaces]
    shifts = team_schedule(horizon).merge(frame, on="team")
    start = shifts.day.to_numpy() * 1440 + shifts.kind.map(SHIFT_START_MINUTE).to_numpy()
    end = start + SHIFT_MINUTES
    keep = ((start >= shifts.hired_minute.to_numpy()) & (end <= shifts.retires_minute.to_numpy())
            & (end > shifts.takes_over_minute.to_numpy()))
    shifts = shifts.assign(start_minute=start)[keep]
    shifts = shifts.sort_values(["start_minute", "ward_code", "staff_id"], kind="stable").reset_index(drop=True)
    return shifts[["staff_id", "ward_code", "day", "kind", "start_minute", "replaces"]].rename(
        columns={"replaces": "covers_for_staff_id"})


def check_cover(roster: pd.DataFrame, staff: pd.DataFrame, horizon: Horizon) -> list[str]:
    """Wards and shifts below their minimum cover (empty when all are met)."""
    wards = reference.wards().set_index("ward_code")
    category = staff.set_index("staff_id").staff_category
    counts = (roster.assign(category=roster.staff_id.map(category))
              .groupby(["ward_code", "day", "kind", "category"]).size().unstack("category", fill_value=0))
    schedule = team_schedule(horizon)[["day", "kind"]].drop_duplicates()
    full = pd.MultiIndex.from_tuples([(w, d, k) for w in wards.index for d, k in schedule.itertuples(index=False)],
                                     names=["ward_code", "day", "kind"])
    counts = counts.reindex(full, fill_value=0)
    problems = []
    for kind, suffix in (("D", "day"), ("N", "night")):
        part = counts.xs(kind, level="kind")
        ward_codes = part.index.get_level_values("ward_code")
        for role, column in (("doctor", f"min_doctors_{suffix}"), ("nurse", f"min_nurses_{suffix}")):
            have = part.get(role, pd.Series(0, index=part.index)).to_numpy()
            need = wards.loc[ward_codes, column].to_numpy()
            for (ward, day), h, n in zip(part.index[have < need], have[have < need], need[have < need]):
                problems.append(f"{ward} {np.datetime64(int(day), 'D')} {suffix}: {h} {role}s, needs {n}")
    return problems


def encode_roster(roster: pd.DataFrame) -> bytes:
    """assigned_staff.csv data lines (no header); shift times ISO 8601 with +02:00."""
    n = len(roster)
    start = roster.start_minute.to_numpy()
    covers = roster.covers_for_staff_id.to_numpy()
    has_cover = pd.notna(covers)
    covers_text = masked(int_bytes(np.where(has_cover, covers, 0).astype(np.int64)), has_cover) if n else \
        np.zeros(0, dtype="S1")
    fields = [
        [int_bytes(np.arange(1, n + 1))], [int_bytes(roster.staff_id.to_numpy())],
        [roster.ward_code.to_numpy().astype("S")], [iso_dates(roster.day.to_numpy())],
        [np.where(roster.kind.to_numpy() == "D", b"day", b"night").astype("S5")],
        [_iso(start)], [_iso(start + SHIFT_MINUTES)], [covers_text],
    ]
    return encode_arrays(fields, n) if n else b""


def _iso(minutes: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(minutes.astype("datetime64[m]"), unit="m").astype("S16")
    return np.strings.add(text, b":00+02:00")
