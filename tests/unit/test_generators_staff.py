"""staff.csv, doctors.csv and assigned_staff.csv: who, where, when; checked from the CSVs alone."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest

from core import reference
from generators import assign_hospital_staff, generate_people_data, generate_staff_doctors
from generators.staff import GRADES

SIM_START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
HORIZON_DAYS = 75  # long enough to see retirements and several 28-day rota cycles
SAST = SIM_START.tzinfo


def read(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def age_on(born: str, on: date) -> int:
    b = date.fromisoformat(born)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("staff")
    assert generate_people_data.main(["--rows", "30000", "--seed", "5", "--out", str(out / "people.csv"),
                                      "--no-progress", "--patients", "0"]) == 0
    assert generate_staff_doctors.main(["--people", str(out / "people.csv"), "--out-dir", str(out), "--seed", "5",
                                        "--horizon-days", str(HORIZON_DAYS)]) == 0
    assert assign_hospital_staff.main(["--staff", str(out / "staff.csv"), "--out", str(out / "assigned_staff.csv"),
                                       "--horizon-days", str(HORIZON_DAYS)]) == 0
    return out


@pytest.fixture(scope="module")
def tables(folder):
    return {name: read(folder / f"{name}.csv") for name in ("people", "staff", "doctors", "assigned_staff")}


def test_every_foreign_key_across_the_csvs_resolves(tables):
    people = {p["person_id"] for p in tables["people"]}
    staff = {s["staff_id"] for s in tables["staff"]}
    wards = set(reference.wards().ward_code)
    departments = set(reference.departments().department_code)
    specialities = set(reference.table("specialities.csv").speciality_code)
    assert {s["person_id"] for s in tables["staff"]} <= people
    assert len({s["person_id"] for s in tables["staff"]}) == len(tables["staff"])
    assert {s["department_code"] for s in tables["staff"]} <= departments
    assert {s["home_ward_code"] for s in tables["staff"]} - {""} <= wards
    assert {s["replaces_staff_id"] for s in tables["staff"]} - {""} <= staff
    assert {d["staff_id"] for d in tables["doctors"]} == {s["staff_id"] for s in tables["staff"]
                                                          if s["staff_category"] == "doctor"}
    assert {d["speciality_code"] for d in tables["doctors"]} - {""} <= specialities
    assert {a["staff_id"] for a in tables["assigned_staff"]} <= staff
    assert {a["ward_code"] for a in tables["assigned_staff"]} <= wards
    assert {a["covers_for_staff_id"] for a in tables["assigned_staff"]} - {""} <= staff


def test_staff_are_citizens_of_working_age_and_doctors_fit_their_grade(tables):
    people = {p["person_id"]: p for p in tables["people"]}
    staff = {s["staff_id"]: s for s in tables["staff"]}
    for s in tables["staff"]:
        person = people[s["person_id"]]
        hired = date.fromisoformat(s["hire_date"])
        assert person["citizenship"] != "foreign_national"
        working_from = max(hired, SIM_START.date())
        age = age_on(person["date_of_birth"], working_from)
        assert 18 <= age <= 65
        if age == 65:  # s16: still at work until the 1st of the month after the 65th birthday
            assert date.fromisoformat(s["retirement_date"]) > working_from
        assert (s["sanc_category"] != "") == (s["staff_category"] == "nurse")
    for d in tables["doctors"]:
        _, youngest, oldest, _ = GRADES[d["grade"]]
        s = staff[d["staff_id"]]
        age = age_on(people[s["person_id"]]["date_of_birth"], max(date.fromisoformat(s["hire_date"]),
                                                                   SIM_START.date()))
        assert youngest <= age <= oldest, (d, age)
        assert d["hpcsa_number"].startswith("MP") and len(d["hpcsa_number"]) == 9


def test_retirees_leave_at_65_per_s16_and_are_replaced_in_the_same_post(tables):
    people = {p["person_id"]: p for p in tables["people"]}
    staff = {s["staff_id"]: s for s in tables["staff"]}
    doctors = {d["staff_id"]: d for d in tables["doctors"]}
    retirees = [s for s in tables["staff"] if s["retirement_date"]]
    assert retirees, "the horizon should contain retirements"
    replacements = {s["replaces_staff_id"]: s for s in tables["staff"] if s["replaces_staff_id"]}
    for s in retirees:
        born = date.fromisoformat(people[s["person_id"]]["date_of_birth"])
        at65 = date(born.year + 65, born.month, 1) if born.day == 1 else \
            (date(born.year + 65, born.month, 28) + timedelta(days=4)).replace(day=1)
        assert date.fromisoformat(s["retirement_date"]) == at65
        new = replacements[s["staff_id"]]
        for column in ("staff_category", "job_title", "sanc_category", "department_code", "home_ward_code"):
            assert new[column] == s[column]
        if s["staff_id"] in doctors:
            for column in ("grade", "speciality_code"):
                assert doctors[new["staff_id"]][column] == doctors[s["staff_id"]][column]


# Women's share by staff category: the bands the generator's shares must land in at this scale
# (about 6,800 staff). Nurses: SANC, about nine in ten are women. The others are estimates
# (generators/staff.py says why): doctors about half, allied health three quarters, administration
# two thirds, support under half (cleaners and food service mostly women, porters, security,
# artisans and drivers mostly men).
FEMALE_BANDS = {"nurse": (0.86, 0.94), "doctor": (0.40, 0.60), "allied_health": (0.68, 0.82),
                "administration": (0.57, 0.73), "support": (0.38, 0.58)}


def test_each_staff_category_has_its_own_mix_of_women_and_men(tables):
    sex = {p["person_id"]: p["sex"] for p in tables["people"]}
    by_category = defaultdict(list)
    for s in tables["staff"]:
        by_category[s["staff_category"]].append(sex[s["person_id"]] == "F")
    assert set(by_category) == set(FEMALE_BANDS)
    for category, (low, high) in FEMALE_BANDS.items():
        share = sum(by_category[category]) / len(by_category[category])
        assert low < share < high, (category, share)
    by_title = defaultdict(list)
    for s in tables["staff"]:
        by_title[s["job_title"]].append(sex[s["person_id"]] == "F")
    assert sum(by_title["Cleaner"]) / len(by_title["Cleaner"]) > 0.6
    assert sum(by_title["Security Officer"]) / len(by_title["Security Officer"]) < 0.4


def test_interns_and_community_service_doctors_have_no_speciality_and_the_rest_have_one(tables):
    specialities = set(reference.table("specialities.csv").speciality_code)
    grades = {d["grade"] for d in tables["doctors"]}
    assert {"intern", "community_service", "specialist"} <= grades
    for d in tables["doctors"]:
        if d["grade"] in ("intern", "community_service"):
            assert d["speciality_code"] == "" and d["subspeciality"] == "", d
        else:
            assert d["speciality_code"] in specialities, d
        if d["subspeciality"]:
            assert d["grade"] in ("specialist", "principal_specialist", "chief_specialist"), d


def shifts_by_staff(tables, category=None):
    """staff_id -> [(start, end, row)] in start order, of one staff category or of all."""
    of = {s["staff_id"]: s["staff_category"] for s in tables["staff"]}
    by_staff = defaultdict(list)
    for a in tables["assigned_staff"]:
        if category is None or of[a["staff_id"]] == category:
            start, end = datetime.fromisoformat(a["shift_start"]), datetime.fromisoformat(a["shift_end"])
            by_staff[a["staff_id"]].append((start, end, a))
    for shifts in by_staff.values():
        shifts.sort(key=lambda item: item[0])
    return by_staff


def test_nobody_works_outside_their_employment(tables):
    staff = {s["staff_id"]: s for s in tables["staff"]}
    for staff_id, shifts in shifts_by_staff(tables).items():
        s = staff[staff_id]
        hired = datetime.combine(date.fromisoformat(s["hire_date"]), datetime.min.time(), SAST)
        assert shifts[0][0] >= hired
        if s["retirement_date"]:
            retired = datetime.combine(date.fromisoformat(s["retirement_date"]), datetime.min.time(), SAST)
            assert shifts[-1][1] <= retired
        if s["replaces_staff_id"]:
            assert all(a["covers_for_staff_id"] == s["replaces_staff_id"] for _, _, a in shifts)


@pytest.mark.parametrize("category", ["nurse", "doctor"])
def test_a_replacement_takes_over_the_slot_from_the_retirement_date(tables, category):
    """The retiree's shifts end by 00:00 on the retirement date; the replacement's begin no earlier
    than the day before (the shift that runs into that midnight) and run past it."""
    staff = {s["staff_id"]: s for s in tables["staff"]}
    by_staff = shifts_by_staff(tables, category)
    handed_over = 0
    for new in tables["staff"]:
        old = staff.get(new["replaces_staff_id"])
        if old is None or new["staff_category"] != category or not by_staff.get(old["staff_id"]):
            continue
        retired = datetime.combine(date.fromisoformat(old["retirement_date"]), datetime.min.time(), SAST)
        first_start, first_end, _ = by_staff[new["staff_id"]][0]
        assert by_staff[old["staff_id"]][-1][1] <= retired
        assert retired - timedelta(days=1) <= first_start and first_end > retired, new["staff_id"]
        handed_over += 1
    assert handed_over, f"no {category} retires within the horizon, so the test proves little"


# --- Nurses: the 12-hour rota (BCEA s9-s11, s15) ------------------------------------------------

def test_nurse_shifts_are_twelve_hours_day_or_night_in_sast(tables):
    for staff_id, shifts in shifts_by_staff(tables, "nurse").items():
        for start, end, a in shifts:
            assert start.utcoffset() == timedelta(hours=2) and end - start == timedelta(hours=12)
            assert (a["shift_kind"], start.hour) in (("day", 7), ("night", 19))
            assert start.date() == date.fromisoformat(a["shift_date"])


def test_nurses_hours_and_rest_limits_hold(tables):
    week, month = timedelta(days=7), timedelta(days=28)
    for staff_id, shifts in shifts_by_staff(tables, "nurse").items():
        starts = [s for s, _, _ in shifts]
        for (s1, e1, _), (s2, _, _) in zip(shifts, shifts[1:]):
            assert s2 - e1 >= timedelta(hours=12), staff_id           # 12 h rest between shifts
        for i in range(len(starts) - 4):
            assert starts[i + 4] - starts[i] >= week, staff_id         # <= 4 shifts (48 h) in any 7 days
        for i in range(len(starts) - 14):
            assert starts[i + 14] - starts[i] >= month, staff_id       # <= 14 shifts (42 h/week) in 28 days
        for i, (start, _, _) in enumerate(shifts):                     # 36 h off in every 7 days
            window_end = start + week
            edges = [e for _, e, _ in shifts[i:] if e <= window_end]
            nexts = [s for s, _, _ in shifts[i + 1:] if s < window_end] + [window_end]
            assert max(n - e for e, n in zip(edges, nexts)) >= timedelta(hours=36), staff_id


# --- Doctors: weekday days and after-hours calls -------------------------------------------------
# Public holidays in the test horizon (2 Mar - 16 May 2026), Public Holidays Act 36 of 1994,
# written out here apart from the generator's rule: Human Rights Day (a Saturday), Good Friday,
# Family Day, Freedom Day, Workers' Day.
HOLIDAYS_2026 = {date(2026, 3, 21), date(2026, 4, 3), date(2026, 4, 6), date(2026, 4, 27), date(2026, 5, 1)}


def working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS_2026


def duty_blocks(shifts):
    """Back-to-back shifts joined: [(start, end)] of each spell of continuous duty."""
    blocks = []
    for start, end, _ in shifts:
        if blocks and blocks[-1][1] == start:
            blocks[-1][1] = end
        else:
            blocks.append([start, end])
    return blocks


def test_doctors_work_ordinary_hours_on_working_weekdays_and_call_after_hours(tables):
    kinds = set()
    for staff_id, shifts in shifts_by_staff(tables, "doctor").items():
        for start, end, a in shifts:
            kinds.add(a["shift_kind"])
            assert start.utcoffset() == timedelta(hours=2) and start.date() == date.fromisoformat(a["shift_date"])
            if a["shift_kind"] == "day":       # 08:00-16:00, 40 ordinary hours a week
                assert working_day(start.date()) and (start.hour, end - start) == (8, timedelta(hours=8)), a
            elif working_day(start.date()):    # weekday call 16:00-08:00
                assert (a["shift_kind"], start.hour, end - start) == ("call", 16, timedelta(hours=16)), a
            else:                              # weekend or public holiday: 24 h from 08:00
                assert (a["shift_kind"], start.hour, end - start) == ("call", 8, timedelta(hours=24)), a
    assert kinds == {"day", "call"}


def test_no_doctor_is_on_duty_for_more_than_24_hours_at_a_stretch(tables):
    """24 h: Western Cape Health's cap on junior doctors' shifts, below the HPCSA's 30 h."""
    longest = max(end - start for shifts in shifts_by_staff(tables, "doctor").values()
                  for start, end in duty_blocks(shifts))
    assert longest == timedelta(hours=24)


def test_a_call_is_followed_by_a_post_call_day_of_rest(tables):
    """No ordinary shift on the day a call ends, no call two days running: 24 h off after a call."""
    calls = 0
    for staff_id, shifts in shifts_by_staff(tables, "doctor").items():
        for (_, call_end, a), (next_start, _, _) in zip(shifts, shifts[1:]):
            if a["shift_kind"] == "call":
                assert next_start - call_end >= timedelta(hours=24), staff_id
                calls += 1
    assert calls > 1000


def test_doctors_do_at_most_eight_calls_in_any_28_days(tables):
    """About one call in four days at most (interns contract 64-80 h of overtime a month)."""
    most = 0
    for shifts in shifts_by_staff(tables, "doctor").values():
        calls = [start for start, _, a in shifts if a["shift_kind"] == "call"]
        for i, first in enumerate(calls):
            most = max(most, sum(1 for c in calls[i:] if c < first + timedelta(days=28)))
    assert 4 <= most <= 8


def test_doctors_average_40_ordinary_and_at_most_72_hours_a_week_over_28_days(tables):
    """Ordinary hours within BCEA s9 (45 a week); all hours at most 72 a week over any 28 days of
    full employment in the horizon (40 ordinary + commuted overtime, an estimate: see
    core/reference/duty_patterns.csv)."""
    first = SIM_START
    averages = []
    for shifts in shifts_by_staff(tables, "doctor").values():
        for offset in range(0, HORIZON_DAYS - 28):
            begin = first + timedelta(days=offset)
            end = begin + timedelta(days=28)
            if shifts[0][0] > begin + timedelta(days=2) or shifts[-1][1] < end - timedelta(days=2):
                continue  # not employed all through this window
            inside = [(s, e, a) for s, e, a in shifts if begin <= s < end]
            ordinary = sum((e - s for s, e, a in inside if a["shift_kind"] == "day"), timedelta())
            total = sum((e - s for s, e, _ in inside), timedelta())
            assert ordinary <= timedelta(hours=4 * 40)
            averages.append(total / timedelta(hours=1) / 4)
    assert averages and 40 < sum(averages) / len(averages) < 64 and max(averages) <= 72


def test_every_ward_has_its_minimum_cover_at_every_hour_of_the_horizon(tables):
    """Counted at half past every hour from who is on duty then, apart from the shift structure:
    nurses per 07:00-19:00 day and night; doctors at least min_doctors_night at any hour and
    min_doctors_day 08:00-16:00 (on weekends and holidays from the 24-hour call)."""
    wards = reference.wards().set_index("ward_code")
    category = {s["staff_id"]: s["staff_category"] for s in tables["staff"]}
    step = timedelta(minutes=30)
    edges = defaultdict(list)  # (ward, category) -> [(+1 at start, -1 at end)]
    for a in tables["assigned_staff"]:
        key = (a["ward_code"], category[a["staff_id"]])
        edges[key].append((datetime.fromisoformat(a["shift_start"]), 1))
        edges[key].append((datetime.fromisoformat(a["shift_end"]), -1))
    # The horizon's shifts start at 07:00 the day before the window and its last calls end at 08:00.
    first = SIM_START - timedelta(hours=24 - 8) + step
    instants = [first + timedelta(hours=h) for h in range(24 * (HORIZON_DAYS + 1) - 1)]
    for (ward, role), changes in edges.items():
        changes.sort()
        on, i, info = 0, 0, wards.loc[ward]
        for instant in instants:
            while i < len(changes) and changes[i][0] <= instant:
                on, i = on + changes[i][1], i + 1
            if role == "nurse":
                kind = "day" if 7 <= instant.hour < 19 else "night"
                assert on >= info[f"min_nurses_{kind}"], (ward, instant)
            else:
                need = info.min_doctors_day if 8 <= instant.hour < 16 else info.min_doctors_night
                assert on >= need, (ward, instant)
    assert {role for _, role in edges} == {"nurse", "doctor"} and len(edges) == 2 * len(wards)


def test_same_seed_gives_byte_identical_staff_and_roster(folder, tmp_path):
    assert generate_staff_doctors.main(["--people", str(folder / "people.csv"), "--out-dir", str(tmp_path),
                                        "--seed", "5", "--horizon-days", str(HORIZON_DAYS)]) == 0
    assert assign_hospital_staff.main(["--staff", str(tmp_path / "staff.csv"), "--out",
                                       str(tmp_path / "assigned_staff.csv"), "--horizon-days", str(HORIZON_DAYS)]) == 0
    for name in ("staff.csv", "doctors.csv", "assigned_staff.csv", "staff.manifest.json"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
    manifest = json.loads((tmp_path / "staff.manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["files"]["staff.csv"]["rows"] == len(read(folder / "staff.csv"))


def test_people_file_missing_columns_fails_with_one_line(tmp_path, capsys):
    bad = tmp_path / "people.csv"
    bad.write_text("person_id,first_name\n1,Sipho\n")
    code = generate_staff_doctors.main(["--people", str(bad), "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "date_of_birth" in err and len(err.splitlines()) == 1


def test_too_few_people_fails_with_one_line(folder, tmp_path, capsys):
    few = tmp_path / "people.csv"
    few.write_text("".join(open(folder / "people.csv").readlines()[:3000]))
    code = generate_staff_doctors.main(["--people", str(few), "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_too_few_staff_for_minimum_cover_fails_with_one_line(folder, tmp_path, capsys):
    code = generate_staff_doctors.main(["--people", str(folder / "people.csv"), "--out-dir", str(tmp_path),
                                        "--staff", "500"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "raise --staff" in err and len(err.splitlines()) == 1


def test_missing_staff_file_fails_with_one_line(tmp_path, capsys):
    code = assign_hospital_staff.main(["--staff", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "a.csv")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "does not exist" in err and len(err.splitlines()) == 1
