"""The planner of transfer events, on an in-memory hospital (no services)."""

from __future__ import annotations

import csv
import dataclasses
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest

from core import reference
from core.transfer_event import NEXT_STATUSES, parse
from generators.transfers import PatientRef, PlanningError, Population, Roster, TransferPlanner
from producer.stream_producer import Delivery

START = datetime.fromisoformat("2026-03-02T00:00:00+02:00")
WARDS = ["ICU", "MED-A", "MED-B", "SURG-1"]  # made-up codes: no ward rule applies to them


def hospital(days: int = 3, patients: int = 60):
    refs = {pid: PatientRef(pid, f"JHB{pid:07d}", None) for pid in range(1, patients + 1)}
    census = {pid: WARDS[pid % len(WARDS)] for pid in range(1, patients + 1, 2)}
    outpatients = [pid for pid in refs if pid not in census]
    shifts = []
    for d in range(-1, days + 1):
        for w, ward in enumerate(WARDS):
            # Doctors' shapes: on even days a day shift 08:00-16:00 and a call 16:00-08:00, on odd
            # days one 24-hour call from 08:00; staff ids encode ward, day parity and shift.
            morning = START + timedelta(days=d, hours=8)
            staff = 100 * (w + 1) + 10 * (d % 2)
            if d % 2 == 0:
                shifts.append((ward, morning, morning + timedelta(hours=8), staff))
                shifts.append((ward, morning + timedelta(hours=8), morning + timedelta(hours=24), staff + 1))
            else:
                shifts.append((ward, morning, morning + timedelta(hours=24), staff + 2))
    return Population(refs, census, outpatients, WARDS, ["HJH", "CHBAH"]), shifts


def planner(days: int = 3, seed: int = 1) -> tuple[TransferPlanner, list]:
    population, shifts = hospital(days)
    return TransferPlanner(population, Roster(shifts), seed, START), shifts


def test_every_tick_has_exactly_three_events_inside_its_three_minutes():
    p, _ = planner()
    for n in range(500):
        events = p.tick(n)
        assert len(events) == 3
        tick_start = START + n * timedelta(minutes=3)
        assert all(tick_start <= e.event_time < tick_start + timedelta(minutes=3) for e in events)


def test_events_are_valid_on_the_wire_and_versions_follow_the_lifecycle():
    p, _ = planner()
    last = {}
    for n in range(1000):
        for e in p.tick(n):
            assert parse(e.to_bytes()) == e
            if e.version == 1:
                assert e.transfer_id not in last and e.status == "requested"
            else:
                version, status = last[e.transfer_id]
                assert e.version == version + 1 and e.status in NEXT_STATUSES[status]
            last[e.transfer_id] = (e.version, e.status)
    assert Counter(s for _, s in last.values()).keys() >= {"completed", "cancelled"}


def test_the_doctor_is_on_shift_in_the_responsible_ward():
    p, shifts = planner()
    for n in range(1000):
        for e in p.tick(n):
            ward = e.from_place.ward_code or e.to_place.ward_code
            # Brute force over the roster, independent of Roster's bisect.
            assert any(w == ward and s <= e.event_time < end and staff == e.authorising_staff_id
                       for w, s, end, staff in shifts)


def test_a_new_transfer_starts_where_the_patient_is():
    p, _ = planner()
    where = dict(p.population.census)
    open_patients = set()
    for n in range(1000):
        for e in p.tick(n):
            if e.version == 1:
                assert e.patient_id not in open_patients
                assert where.get(e.patient_id) == e.from_place.ward_code
                open_patients.add(e.patient_id)
            if e.status in ("completed", "cancelled"):
                open_patients.discard(e.patient_id)
            if e.status == "completed":
                where[e.patient_id] = e.to_place.ward_code


def test_replaying_gives_the_same_events():
    a, _ = planner(seed=5)
    b, _ = planner(seed=5)
    c, _ = planner(seed=6)
    first = [e for n in range(300) for e in a.tick(n)]
    assert first == [e for n in range(300) for e in b.tick(n)]
    assert first != [e for n in range(300) for e in c.tick(n)]
    assert len({e.event_id for e in first}) == len(first)


def test_ticks_must_come_in_order():
    p, _ = planner()
    with pytest.raises(ValueError):
        p.tick(1)


def test_nobody_on_shift_is_a_clear_error():
    population, _ = hospital()
    p = TransferPlanner(population, Roster([]), 1, START)
    with pytest.raises(PlanningError, match="roster"):
        p.tick(0)


def test_the_delivery_tracker_confirms_ticks_only_when_all_their_events_are_acknowledged():
    class Msg:
        def key(self):
            return b"k"

    d = Delivery(first_tick=10)
    for tick in (10, 10, 11, 12):
        d.sent(tick)
    order = [11, 10, 12, 10]
    confirmed = []
    for tick in order:
        d.on_delivery(tick, None, Msg())
        confirmed.append(d.confirmed_through)
    assert confirmed == [9, 9, 9, 12]
    d.sent(13)
    d.on_delivery(13, "broker gone", Msg())
    assert d.confirmed_through == 12 and d.failed


def test_ids_are_the_standard_uuid5_of_seed_window_and_slot():
    p, _ = planner(seed=7)
    events = p.tick(0)
    # The stdlib's uuid5, independent of the planner's hand-rolled SHA-1.
    namespace = uuid.UUID("6f1f6c1e-3c55-4b7e-9a7e-2d5b0c3a1f00")
    for slot, e in enumerate(events):
        assert e.event_id == str(uuid.uuid5(namespace, f"7:{START.isoformat()}:event:0:{slot}"))
    assert events[0].transfer_id == str(uuid.uuid5(namespace, f"7:{START.isoformat()}:transfer:0:0"))


def test_transfers_go_only_to_wards_with_a_free_bed():
    population, shifts = hospital(days=3)
    # 30 admitted to start with, 15 each in MED-A and SURG-1 (full); ICU and MED-B have 2 beds.
    population.beds = {"ICU": 2, "MED-A": 15, "MED-B": 2, "SURG-1": 15}
    p = TransferPlanner(population, Roster(shifts), 1, START)
    small_unit_full = 0
    for n in range(1400):
        p.tick(n)
        occupancy = Counter(p.census.values())
        assert all(occupancy[ward] <= beds for ward, beds in population.beds.items()), occupancy
        small_unit_full += occupancy["ICU"] == 2 or occupancy["MED-B"] == 2
    assert small_unit_full > 100, "the small units were rarely full, so the test proves little"


def test_transfers_into_a_ward_follow_its_rule():
    """With the hospital's real wards and patients of known sex and age, no man and no child goes
    to maternity, no adult to a paediatric or neonatal ward (restated: maternity and obstetric high
    care women of 15-49; paediatric wards and PICU 29 days to 12; neonatal under 3 months)."""
    wards = ["W03", "W39", "W47", "W48", "W55", "W56", "W20"]
    rng = random.Random(5)
    refs = {pid: PatientRef(pid, f"JHB{pid:07d}", None, rng.random() < 0.5, rng.choice([0.05, 0.5, 6.0, 16.0, 30.0, 70.0]))
            for pid in range(1, 401)}
    census = {}
    for pid, ref in refs.items():
        fitting = [w for w in wards if ref.fits(w)]
        if pid % 2 and fitting:
            census[pid] = fitting[pid % len(fitting)]
    shifts = [(ward, START + timedelta(days=d, hours=7 + 12 * half), START + timedelta(days=d, hours=19 + 12 * half),
               1000 + 10 * w + half)
              for d in range(-1, 5) for w, ward in enumerate(wards) for half in range(2)]
    population = Population(refs, census, [pid for pid in refs if pid not in census], wards, ["HJH", "CHBAH"],
                            beds={w: 60 for w in wards})
    p = TransferPlanner(population, Roster(shifts), 3, START)
    moved = Counter()
    for n in range(1500):
        for e in p.tick(n):
            ward = e.to_place.ward_code
            if e.version == 1 and ward:
                ref = refs[e.patient_id]
                age, male = ref.age_years, ref.male
                if ward in ("W39", "W47"):
                    assert not male and 15 <= age < 50, (ward, male, age)
                elif ward in ("W48", "W55"):
                    assert 28 / 365.2425 < age < 13, (ward, age)
                elif ward == "W56":
                    assert age < 0.25, (ward, age)
                else:
                    assert age >= 13, (ward, age)
                moved[ward] += 1
    assert len(moved) >= 5, moved


def real_hospital(patients: int = 3000, seed: int = 11):
    """The hospital's real wards and referral facilities (read here with the csv module, apart from
    the planner's own reading), patients of mixed sex and age, half of them in a ward that admits
    them, and a doctor on every shift of every ward."""
    with open(reference.path("wards.csv"), newline="") as f:
        ward_rows = list(csv.DictReader(f))
    with open(reference.path("facilities.csv"), newline="") as f:
        facility_rows = [r for r in csv.DictReader(f) if r["facility_code"] != reference.HOSPITAL_FACILITY_CODE]
    wards = [r["ward_code"] for r in ward_rows]
    rng = random.Random(seed)
    refs = {pid: PatientRef(pid, f"JHB{pid:07d}", None, rng.random() < 0.5,
                            rng.choice([0.05, 0.2, 2.0, 8.0, 17.0, 25.0, 34.0, 52.0, 70.0]))
            for pid in range(1, patients + 1)}
    census = {}
    for pid, ref in refs.items():
        fitting = [w for w in wards if ref.fits(w)]
        if pid % 2:
            census[pid] = fitting[rng.randrange(len(fitting))]
    shifts = [(ward, START + timedelta(days=d, hours=7 + 12 * half), START + timedelta(days=d, hours=19 + 12 * half),
               1000 + 10 * w + half)
              for d in range(-1, 6) for w, ward in enumerate(wards) for half in range(2)]
    population = Population(refs, census, [pid for pid in refs if pid not in census], wards,
                            [r["facility_code"] for r in facility_rows],
                            beds={r["ward_code"]: int(r["bed_count"]) for r in ward_rows},
                            ward_types={r["ward_code"]: r["ward_type"] for r in ward_rows},
                            facility_types={r["facility_code"]: r["facility_type"] for r in facility_rows})
    return population, shifts


def test_each_reason_goes_where_it_says():
    """ICU care ends in an ICU, a back-referral at a district hospital, a step-down from ICU
    leaves an ICU; the hospital is never its own partner and private hospitals are rare."""
    population, shifts = real_hospital()
    p = TransferPlanner(population, Roster(shifts), 5, START)
    ward_type, facility_type = population.ward_types, population.facility_types
    by_reason = Counter()
    outbound = Counter()
    for n in range(2400):
        for e in p.tick(n):
            if e.version != 1:
                continue
            by_reason[e.reason] += 1
            source = e.from_place.ward_code or e.from_place.facility_code
            target = e.to_place.ward_code or e.to_place.facility_code
            assert reference.HOSPITAL_FACILITY_CODE not in (source, target)
            if e.reason == "needs ICU care":
                assert ward_type[target] == "icu" and ward_type[source] != "icu", (source, target)
            elif e.reason == "step-down from ICU":
                assert ward_type[source] == "icu" and ward_type[target] != "icu", (source, target)
            elif e.reason == "ICU bed requested":
                assert ward_type[target] == "icu" and source in facility_type, (source, target)
            elif e.reason == "back-referral to district hospital":
                assert facility_type[target] == "district_hospital", target
            elif e.reason == "obstetric referral":
                assert ward_type[target] == "maternity", target
            if e.to_place.facility_code:
                outbound[facility_type[target]] += 1
    assert len(by_reason) >= 12, by_reason
    assert outbound["private_hospital"] < 0.05 * sum(outbound.values()), outbound
    assert outbound["district_hospital"] > outbound["private_hospital"], outbound


def test_only_pregnant_patients_go_to_a_pregnancy_ward_and_only_burns_to_the_burns_unit():
    """The real hospital, each stay under way with a primary diagnosis (an O code in maternity, a
    burn in the burns unit, elsewhere drawn from a mix that includes both). A patient moved between
    wards into maternity or obstetric high care has an O code, into the burns unit a burn (restated
    from ICD-10: chapter XV; T20-T32 and T75.4), unless an earlier transfer admitted them from another
    facility to such a ward (admitted for it); and such moves do happen."""
    population, shifts = real_hospital()
    pregnancy_wards = {"W39", "W40", "W41", "W42", "W43", "W44", "W47"}
    rng = random.Random(3)
    elsewhere = ["J18.9", "B20.0", "I10", "S72.0", "O14.1", "O80.0", "T30.0", "T21.2", "K35.8"]
    for pid, ward in population.census.items():
        code = ("O80.0" if ward in pregnancy_wards else "T30.0" if ward == "W72" else rng.choice(elsewhere))
        ref = population.patients[pid]
        if code.startswith("O") and (ref.male or not 15 <= ref.age_years < 50):
            code = "J18.9"
        population.patients[pid] = dataclasses.replace(ref, primary_icd10=code)
    p = TransferPlanner(population, Roster(shifts), 5, START)
    condition = {**{w: lambda code: code.startswith("O") for w in pregnancy_wards},
                 "W72": lambda code: code[:1] == "T" and 20 <= int(code[1:3]) <= 32 or code.startswith("T75.4")}
    admitted_for = {}  # patient -> condition ward an inbound transfer first admitted them to
    moved = Counter()
    for n in range(2400):
        for e in p.tick(n):
            target = e.to_place.ward_code
            if e.version == 1 and e.from_place.ward_code and target in condition:
                code = population.patients[e.patient_id].primary_icd10
                came_for = admitted_for.get(e.patient_id)
                assert (code and condition[target](code)) or (came_for in condition and (
                    (came_for in pregnancy_wards) == (target in pregnancy_wards))), (e.patient_id, target, code)
                moved[target in pregnancy_wards] += 1
            if e.status == "completed":
                if e.from_place.facility_code:
                    admitted_for[e.patient_id] = target
                elif e.to_place.facility_code:
                    admitted_for.pop(e.patient_id, None)
    assert moved[True] >= 3 and moved[False] >= 1, moved
