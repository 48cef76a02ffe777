"""The ward roster (assigned_staff.csv): nurses on a 12-hour rota, doctors on weekday days and calls.

Nurses work in four teams on one 28-day rota of 14 twelve-hour shifts (day 07:00-19:00, night
19:00-07:00), team t running the pattern 7*t days later. The pattern was chosen (by a search over
all 28-day patterns) so that on every day exactly one team works the day shift and one the night shift
(each weekday position holds one D and one N over the four weeks), and so that for every nurse
(Basic Conditions of Employment Act, BCEA, s9-s11, s15):
  - at least 12 hours of rest between shifts (s15(1)(a));
  - at most 4 shifts (48 h: 45 ordinary + 3 overtime, within s10's 10 h overtime) in any 7 days, and
    exactly 14 shifts (168 h: 42 h a week on average, under s9's 45) in any 28 days;
  - at least 36 consecutive hours off in any 7 days (s15(1)(b)).
Each ward puts at least its minimum cover in every team, so every shift is covered.

Doctors (interns to consultants) work ordinary hours on weekdays and do after-hours calls, paid as
commuted overtime; the figures are core/reference/duty_patterns.csv, each with its source:
  - a 'day' shift 08:00-16:00 on every weekday that is not a public holiday (core/public_holidays.py,
    Public Holidays Act 36 of 1994): 40 ordinary hours a week, as for every public servant, within
    BCEA s9's 45;
  - a 'call' 16:00-08:00 on those weekdays (after the day shift: 24 h of continuous duty) and
    08:00-08:00 on weekends and public holidays (24 h). Continuous duty never exceeds 24 h, the cap
    Western Cape Health set in 2017, below the 30 h the HPCSA internship rules allowed;
  - after a call, a post-call day: no ordinary shift the day the call ends and no call two days
    running, so at least 24 h of rest follow every call (an estimate, no national figure found);
  - calls go round the ward's doctors in turn (each ward doctor holds a call line; each day takes the
    next lines of the ward's queue), so a doctor does at most 8 calls in any 28 days and works
    on average at most 72 h a week over 28 days (40 ordinary hours and commuted overtime; the
    Gauteng options run up to "more than 20 h a week with approval").
  Weekday nights need the ward's min_doctors_night on call; weekends and holidays need
  max(min_doctors_day, min_doctors_night) on the 24-hour call, so daytime cover holds then too.
A staff member who retires works only shifts that end before 00:00 on the retirement date; the
replacement works the same slot's shifts (the nurse's team, the doctor's call line) from then on,
with covers_for_staff_id naming the retiree.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from core import reference
from core.csv_writer import encode_arrays, int_bytes, iso_dates, masked
from core.public_holidays import public_holidays
from generators.horizon import Horizon

ASSIGNMENT_COLUMNS = ("staff_assignment_id", "staff_id", "ward_code", "shift_date", "shift_kind",
                      "shift_start", "shift_end", "covers_for_staff_id")
ROTA_PATTERN = "DDNoNooNooDoDDoNoNoNNooDoDoo"
ROTA_DAYS = len(ROTA_PATTERN)
TEAMS = 4
TEAM_OFFSET_DAYS = 7
NEVER = np.iinfo(np.int32).max  # a far-future day number: not retiring within any horizon


@lru_cache(maxsize=None)
def duty_pattern(pattern: str) -> dict[str, float]:
    """The parameters of one duty pattern ('doctor' or 'nurse') from duty_patterns.csv."""
    rows = reference.table("duty_patterns.csv")
    rows = rows[rows.pattern == pattern]
    return {row.parameter: float(row.value) for row in rows.itertuples()}


# ---------------------------------------------------------------------------------------------
# Nurses: the four-team 12-hour rota
# ---------------------------------------------------------------------------------------------
def team_schedule(horizon: Horizon) -> pd.DataFrame:
    """Every (team, shift) of the horizon: team, day (days since epoch), kind 'day'/'night',
    start_minute and end_minute (SAST wall-clock minutes since the epoch)."""
    first = np.datetime64(horizon.first_shift_date, "D").astype(np.int64)
    last = np.datetime64(horizon.end_date, "D").astype(np.int64)
    days = np.arange(first, last)
    nurse = duty_pattern("nurse")
    day_start, length = int(nurse["day_start_hour"] * 60), int(nurse["shift_hours"] * 60)
    rows = []
    pattern = np.frombuffer(ROTA_PATTERN.encode(), dtype="S1")
    for team in range(TEAMS):
        kinds = pattern[(days - first + TEAM_OFFSET_DAYS * team) % ROTA_DAYS]
        working = kinds != b"o"
        night = kinds[working] == b"N"
        start = days[working] * 1440 + day_start + np.where(night, length, 0)
        rows.append(pd.DataFrame({"team": team, "day": days[working], "kind": np.where(night, "night", "day"),
                                  "start_minute": start, "end_minute": start + length}))
    return pd.concat(rows, ignore_index=True)


def assign_teams(staff: pd.DataFrame) -> pd.Series:
    """Rota team per ward nurse, indexed by staff_id.

    Within a ward, nurses take teams in turn (registered nurses first, so each team has one when
    the ward has four); a replacement takes the team of the person they replace.
    """
    rostered = staff[staff.home_ward_code.notna() & (staff.staff_category == "nurse")]
    originals = rostered[rostered.replaces_staff_id.isna()].copy()
    originals["rn_last"] = originals.sanc_category != "registered_nurse"
    originals = originals.sort_values(["home_ward_code", "rn_last", "staff_id"])
    originals["team"] = originals.groupby("home_ward_code").cumcount() % TEAMS
    return _inherit(rostered, dict(zip(originals.staff_id, originals.team)), "team")


# ---------------------------------------------------------------------------------------------
# Doctors: weekday days and a call rota
# ---------------------------------------------------------------------------------------------
def assign_lines(staff: pd.DataFrame) -> pd.Series:
    """Call line (0, 1, ... within the ward) per ward doctor, indexed by staff_id: the ward's doctors
    in staff_id order; a replacement takes the line of the person they replace."""
    rostered = staff[staff.home_ward_code.notna() & (staff.staff_category == "doctor")]
    originals = rostered[rostered.replaces_staff_id.isna()].sort_values(["home_ward_code", "staff_id"])
    lines = originals.groupby("home_ward_code").cumcount()
    return _inherit(rostered, dict(zip(originals.staff_id, lines)), "line")


def working_days(horizon: Horizon) -> tuple[np.ndarray, np.ndarray]:
    """(days since the epoch of the horizon, True where it is a weekday and not a public holiday)."""
    first = np.datetime64(horizon.first_shift_date, "D").astype(np.int64)
    days = np.arange(first, np.datetime64(horizon.end_date, "D").astype(np.int64))
    holidays = np.array(sorted(public_holidays(horizon.first_shift_date, horizon.end_date)),
                        dtype="datetime64[D]").astype(np.int64)
    weekday = (days + 3) % 7 < 5  # 1970-01-01 was a Thursday
    return days, weekday & ~np.isin(days, holidays)


def call_lines(lines: int, callers: np.ndarray) -> list[np.ndarray]:
    """For each day, the call lines on call: the next `callers[i]` lines of the ward's queue.

    ValueError when the ward has too few lines for nobody to be on call two days running.
    """
    if len(callers) > 1 and (callers[:-1] + callers[1:]).max() > lines:
        raise ValueError(f"a ward with {lines} doctors cannot give {int(callers.max())} calls a day without "
                         "back-to-back calls; raise --staff")
    first = np.concatenate([[0], np.cumsum(callers)[:-1]])
    return [(f + np.arange(k)) % lines for f, k in zip(first, callers)]


def doctor_schedule(lines_per_ward: dict[str, int], horizon: Horizon) -> pd.DataFrame:
    """Every (ward, call line, shift) of the horizon: ward_code, line, day, kind 'day'/'call',
    start_minute and end_minute (SAST wall-clock minutes since the epoch)."""
    doctor = duty_pattern("doctor")
    day_start, day_length = int(doctor["day_start_hour"] * 60), int(doctor["day_hours"] * 60)
    weekday_call = int(doctor["weekday_call_start_hour"] * 60), int(doctor["weekday_call_hours"] * 60)
    weekend_call = int(doctor["weekend_call_start_hour"] * 60), int(doctor["weekend_call_hours"] * 60)
    days, working = working_days(horizon)
    wards = reference.wards().set_index("ward_code")
    frames = []
    for ward, lines in lines_per_ward.items():
        night, day = int(wards.at[ward, "min_doctors_night"]), int(wards.at[ward, "min_doctors_day"])
        on_call = np.zeros((lines, len(days)), dtype=bool)
        for i, called in enumerate(call_lines(lines, np.where(working, night, max(day, night)))):
            on_call[called, i] = True
        post_call = np.zeros_like(on_call)
        post_call[:, 1:] = on_call[:, :-1]
        day_line, day_index = np.nonzero(working[None, :] & ~post_call)
        call_line, call_index = np.nonzero(on_call)
        call_weekday = working[call_index]
        call_begins = days[call_index] * 1440 + np.where(call_weekday, weekday_call[0], weekend_call[0])
        call_ends = call_begins + np.where(call_weekday, weekday_call[1], weekend_call[1])
        frames.append(pd.DataFrame({
            "ward_code": ward, "line": np.concatenate([day_line, call_line]),
            "day": days[np.concatenate([day_index, call_index])],
            "kind": np.repeat(["day", "call"], [len(day_line), len(call_line)]),
            "start_minute": np.concatenate([days[day_index] * 1440 + day_start, call_begins]),
            "end_minute": np.concatenate([days[day_index] * 1440 + day_start + day_length, call_ends])}))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Both: who works each slot's shifts, cover, the CSV
# ---------------------------------------------------------------------------------------------
def _inherit(rostered: pd.DataFrame, slot: dict, name: str) -> pd.Series:
    """`slot` (staff_id -> slot of an original post holder) extended to the replacements, each
    taking the slot of the person they replace (replacements in staff_id order, so chains resolve)."""
    for row in rostered[rostered.replaces_staff_id.notna()].sort_values("staff_id").itertuples():
        slot[row.staff_id] = slot[int(row.replaces_staff_id)]
    return pd.Series(slot, name=name, dtype="int64").rename_axis("staff_id")


def _day_number(dates: pd.Series) -> np.ndarray:
    """ISO date strings (or empty) as days since the epoch; missing -> a far-future sentinel."""
    parsed = pd.to_datetime(dates, format="%Y-%m-%d", errors="coerce")
    values = parsed.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(parsed.isna(), NEVER, values)


def _holders(staff: pd.DataFrame, slots: pd.Series) -> pd.DataFrame:
    """Per slot holder: staff_id, the slot, ward_code and the minutes bounding their employment."""
    people = staff.set_index("staff_id").loc[slots.index]
    frame = pd.DataFrame({
        "staff_id": slots.index.to_numpy(), slots.name: slots.to_numpy(),
        "ward_code": people.home_ward_code.to_numpy(),
        "hired_minute": _day_number(people.hire_date) * 1440,
        "retires_minute": _day_number(people.retirement_date) * 1440,
        "replaces": people.replaces_staff_id.to_numpy(),
    })
    retires = dict(zip(frame.staff_id, frame.retires_minute))
    frame["takes_over_minute"] = [retires[int(r)] if pd.notna(r) else np.iinfo(np.int64).min
                                  for r in frame.replaces]
    return frame


def _worked(shifts: pd.DataFrame) -> pd.DataFrame:
    """The shifts each holder works: from hiring, ending by the retirement date, and (for a
    replacement) ending after the retiree's retirement date."""
    start, end = shifts.start_minute.to_numpy(), shifts.end_minute.to_numpy()
    keep = ((start >= shifts.hired_minute.to_numpy()) & (end <= shifts.retires_minute.to_numpy())
            & (end > shifts.takes_over_minute.to_numpy()))
    return shifts[keep]


def build_roster(staff: pd.DataFrame, horizon: Horizon) -> pd.DataFrame:
    """One row per (staff member, shift) over the horizon, ordered by shift start, ward, staff_id.

    Columns: staff_id, ward_code, day, kind ('day', 'night' or 'call'), start_minute, end_minute
    (SAST wall-clock minutes since the epoch), covers_for_staff_id.
    """
    nurses = team_schedule(horizon).merge(_holders(staff, assign_teams(staff)), on="team")
    lines = assign_lines(staff)
    doctors = _holders(staff, lines)
    lines_per_ward = doctors[doctors.replaces.isna()].groupby("ward_code").size().to_dict()
    doctors = doctor_schedule(lines_per_ward, horizon).merge(doctors, on=["ward_code", "line"])
    shifts = pd.concat([_worked(nurses), _worked(doctors)], ignore_index=True)
    shifts = shifts.sort_values(["start_minute", "ward_code", "staff_id"], kind="stable").reset_index(drop=True)
    return shifts[["staff_id", "ward_code", "day", "kind", "start_minute", "end_minute", "replaces"]].rename(
        columns={"replaces": "covers_for_staff_id"})


def check_cover(roster: pd.DataFrame, staff: pd.DataFrame, horizon: Horizon) -> list[str]:
    """Wards and shifts below their minimum cover (empty when all are met): nurses on each day and
    night shift; doctors on each weekday's day shift and call, and each weekend or holiday call."""
    wards = reference.wards()
    category = staff.set_index("staff_id").staff_category
    counts = roster.assign(category=roster.staff_id.map(category)).groupby(
        ["category", "ward_code", "day", "kind"]).size()
    nurse = team_schedule(horizon)[["day", "kind"]].drop_duplicates().merge(wards, how="cross")
    nurse["needed"] = np.where(nurse.kind == "day", nurse.min_nurses_day, nurse.min_nurses_night)
    days, working = working_days(horizon)
    calendar = pd.DataFrame({"day": days, "working": working}).merge(wards, how="cross")
    weekday, off = calendar[calendar.working], calendar[~calendar.working]
    need = pd.concat([
        nurse.assign(category="nurse"),
        weekday.assign(category="doctor", kind="day", needed=weekday.min_doctors_day),
        weekday.assign(category="doctor", kind="call", needed=weekday.min_doctors_night),
        off.assign(category="doctor", kind="call", needed=np.maximum(off.min_doctors_day, off.min_doctors_night))],
        ignore_index=True)[["category", "ward_code", "day", "kind", "needed"]]
    have = counts.reindex(pd.MultiIndex.from_frame(need[["category", "ward_code", "day", "kind"]]),
                          fill_value=0).to_numpy()
    short = need[have < need.needed.to_numpy()].assign(have=have[have < need.needed.to_numpy()])
    return [f"{r.ward_code} {np.datetime64(int(r.day), 'D')} {r.kind}: {r.have} {r.category}s, needs {r.needed}"
            for r in short.itertuples()]


def encode_roster(roster: pd.DataFrame) -> bytes:
    """assigned_staff.csv data lines (no header); shift times ISO 8601 with +02:00."""
    n = len(roster)
    covers = roster.covers_for_staff_id.to_numpy()
    has_cover = pd.notna(covers)
    covers_text = masked(int_bytes(np.where(has_cover, covers, 0).astype(np.int64)), has_cover) if n else \
        np.zeros(0, dtype="S1")
    fields = [
        [int_bytes(np.arange(1, n + 1))], [int_bytes(roster.staff_id.to_numpy())],
        [roster.ward_code.to_numpy().astype("S")], [iso_dates(roster.day.to_numpy())],
        [roster.kind.to_numpy().astype("S5")],
        [_iso(roster.start_minute.to_numpy())], [_iso(roster.end_minute.to_numpy())], [covers_text],
    ]
    return encode_arrays(fields, n) if n else b""


def _iso(minutes: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(minutes.astype("datetime64[m]"), unit="m").astype("S16")
    return np.strings.add(text, b":00+02:00")
