"""Plausible patient transfers, three events per tick, as a pure function of the inputs.

The planner is a small world model: who is admitted in which ward (the census at the window
start), which transfers are in flight, and the doctors' roster. Each tick it emits exactly
`EVENTS_PER_TICK` events; each is either the first version of a new transfer or the next
version of one in flight. The patient of a new transfer is admitted in the from-ward (or, for
an inbound transfer from another facility, not admitted anywhere); the authorising doctor is on
shift, at the event time, in the ward that sends (or, inbound, receives) the patient.

Everything is derived from (seed, window start, tick number) with no wall clock or global
random state, so replaying ticks 0..n-1 rebuilds the exact state before tick n, and a re-sent
tick has the same event ids as the first time (the consumer then stores it once).
"""

from __future__ import annotations

import bisect
import hashlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import accumulate

from core import reference
from core.clock import STREAM_INTERVAL
from core.settings import SAST
from core.transfer_event import NEXT_STATUSES, Place, TransferEvent
from core.wards import NO_CONDITION, condition_of, eligibility, has_condition, rule_for

EVENTS_PER_TICK = 3
# Above this many open transfers every event advances one of them instead of opening another.
MAX_IN_FLIGHT = 12
NAMESPACE = uuid.UUID("6f1f6c1e-3c55-4b7e-9a7e-2d5b0c3a1f00")

# (weight, kind): ward -> ward inside the hospital, ward -> another facility, facility -> ward.
KINDS = ((60, "internal"), (25, "outbound"), (15, "inbound"))
PRIORITY_WEIGHTS = (("routine", 60), ("urgent", 30), ("emergency", 10))
# Probability that an open transfer takes the happy path at each step.
NEXT_WEIGHTS = {"requested": (85, 15), "accepted": (92, 8), "in_transit": (100,)}

# The same draws as rng.choices(values, weights): choices() accumulates the weights on every call,
# which showed in the producer's profile; accumulated once here, the random stream is unchanged.
_KIND_CHOICES = (tuple(k for _, k in KINDS), tuple(accumulate(w for w, _ in KINDS)))
_PRIORITY_CHOICES = (tuple(p for p, _ in PRIORITY_WEIGHTS), tuple(accumulate(w for _, w in PRIORITY_WEIGHTS)))
_NEXT_CHOICES = {status: (NEXT_STATUSES[status], tuple(accumulate(weights)))
                 for status, weights in NEXT_WEIGHTS.items()}


def _weighted(rng: random.Random, options: tuple["Reason", ...] | list["Reason"]) -> "Reason":
    return rng.choices(options, weights=[r.weight for r in options])[0]


class PlanningError(RuntimeError):
    """No plausible event exists (for example: nobody on shift anywhere, nobody admitted)."""


@dataclass(frozen=True)
class Reason:
    """A transfer reason and the places it fits (core/reference/transfer_reasons.csv).

    `sources` and `targets` hold ward types, ward codes or facility types: "needs ICU care" goes
    from a ward to an ICU, a back-referral to a district hospital."""

    kind: str
    text: str
    weight: int
    sources: frozenset[str]
    targets: frozenset[str]

    @staticmethod
    def fits(tokens: frozenset[str], code: str, kind: str | None) -> bool:
        """Whether a place (ward or facility `code` of type `kind`) is one the tokens name; a place
        of unknown type fits every reason."""
        return kind is None or code in tokens or kind in tokens


@lru_cache(maxsize=1)
def reasons() -> dict[str, tuple[Reason, ...]]:
    """The reasons of each transfer kind (internal, outbound, inbound), in file order."""
    by_kind: dict[str, list[Reason]] = {}
    for row in reference.table("transfer_reasons.csv").itertuples(index=False):
        by_kind.setdefault(row.kind, []).append(Reason(row.kind, row.reason, int(row.weight),
                                                       frozenset(row[3].split("|")), frozenset(row[4].split("|"))))
    return {kind: tuple(rows) for kind, rows in by_kind.items()}


@dataclass(frozen=True)
class PatientRef:
    patient_id: int
    hospital_number: str
    sa_id_number: str | None
    male: bool | None = None          # None: unknown, and then every ward's rule admits the patient
    age_years: float | None = None    # at the window start, fractional
    primary_icd10: str | None = None  # the primary diagnosis of the stay under way at the window start

    def fits(self, ward_code: str) -> bool:
        """Whether the ward's rule (core/wards.py, as for the census and the records) admits the patient
        by sex and age; the condition a ward needs is the planner's to check (TransferPlanner._may_enter)."""
        if self.male is None or self.age_years is None or ward_code not in eligibility():
            return True
        return rule_for(ward_code).fits(self.age_years, self.male)


@dataclass
class Population:
    """The producer's inputs, read once at the window start (see `snapshot`).

    `census` maps an admitted patient to their ward; `outpatients` are registered patients not
    admitted, the candidates for inbound transfers; `beds` is each ward's bed count (a transfer
    goes only to a ward with a bed free; a ward missing from it is taken to have no limit).
    `ward_types` and `facility_types` let a reason choose its destination (an ICU for ICU care,
    a district hospital for a back-referral); a place missing from them fits every reason.
    """

    patients: dict[int, PatientRef]
    census: dict[int, str]
    outpatients: list[int]
    wards: list[str]
    facilities: list[str]
    beds: dict[str, int] = field(default_factory=dict)
    ward_types: dict[str, str] = field(default_factory=dict)
    facility_types: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict:
        """A JSON-able copy, so a restarted producer replays from the same census."""
        return {
            "patients": [[p.patient_id, p.hospital_number, p.sa_id_number, p.male, p.age_years, p.primary_icd10]
                         for p in self.patients.values()],
            "census": [[pid, ward] for pid, ward in self.census.items()],
            "outpatients": self.outpatients,
            "wards": self.wards,
            "facilities": self.facilities,
            "beds": self.beds,
            "ward_types": self.ward_types,
            "facility_types": self.facility_types,
        }

    @classmethod
    def from_snapshot(cls, data: dict) -> "Population":
        return cls(
            patients={row[0]: PatientRef(*row) for row in data["patients"]},  # 3 or 5 fields in older state files
            census={pid: ward for pid, ward in data["census"]},
            outpatients=list(data["outpatients"]),
            wards=list(data["wards"]),
            facilities=list(data["facilities"]),
            beds=dict(data.get("beds", {})),
            ward_types=dict(data.get("ward_types", {})),
            facility_types=dict(data.get("facility_types", {})),
        )


class Roster:
    """Which doctors are on duty in which ward at which instant (shifts of any length: nurses'
    12-hour shifts, doctors' 8-hour days and 16- or 24-hour calls)."""

    def __init__(self, shifts: list[tuple[str, datetime, datetime, int]]) -> None:
        """`shifts`: (ward_code, shift_start, shift_end, staff_id) of doctors, in any order."""
        by_ward: dict[str, list[tuple[datetime, datetime, int]]] = {}
        for ward, start, end, staff_id in sorted(shifts):
            by_ward.setdefault(ward, []).append((start, end, staff_id))
        self._starts = {ward: [s for s, _, _ in rows] for ward, rows in by_ward.items()}
        self._shifts = by_ward
        # No shift that starts this long before an instant can still cover it.
        self._longest = max((end - start for _, start, end, _ in shifts), default=timedelta(0))

    def on_shift(self, ward: str, instant: datetime) -> list[int]:
        """Doctors whose shift in `ward` covers `instant` (start inclusive, end exclusive), sorted."""
        starts = self._starts.get(ward)
        if not starts:
            return []
        lo = bisect.bisect_right(starts, instant - self._longest)
        hi = bisect.bisect_right(starts, instant)
        return sorted(staff_id for _, end, staff_id in self._shifts[ward][lo:hi] if instant < end)


@dataclass
class OpenTransfer:
    transfer_id: str
    patient: PatientRef
    from_place: Place
    to_place: Place
    reason: str
    priority: str
    version: int
    status: str

    @property
    def responsible_ward(self) -> str:
        """The ward whose doctor authorises each step: the sending ward, or the receiving one."""
        return self.from_place.ward_code or self.to_place.ward_code


@dataclass
class TransferPlanner:
    population: Population
    roster: Roster
    seed: int
    window_start: datetime
    open: dict[str, OpenTransfer] = field(default_factory=dict)
    next_tick: int = 0

    def __post_init__(self) -> None:
        # Work on copies: the population object stays the census at the window start.
        self.census = dict(self.population.census)
        self.occupied = Counter(self.census.values())
        # The conditions (core/wards.py) of each patient's stay under way: from its primary diagnosis
        # at the window start; a patient admitted from another facility has the condition of the
        # ward they were admitted to (an obstetric referral is admitted for her pregnancy).
        self.stay_conditions = {pid: self._conditions_of(self.population.patients[pid].primary_icd10)
                                for pid in self.census}
        self.outpatients = sorted(self.population.outpatients)
        self._id_prefix = NAMESPACE.bytes + f"{self.seed}:{self.window_start.isoformat()}:".encode()

    def _id(self, kind: str, n: int, slot: int) -> str:
        """uuid5(NAMESPACE, "<seed>:<window start>:<kind>:<n>:<slot>"), without building UUID objects.

        The RFC 4122 recipe spelled out (SHA-1, first 16 bytes, version and variant bits), because
        uuid.uuid5 was one of the larger costs of a backfill; the ids are the same.
        """
        digest = bytearray(hashlib.sha1(self._id_prefix + f"{kind}:{n}:{slot}".encode()).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def tick(self, n: int) -> list[TransferEvent]:
        """The events of tick `n`; ticks must be asked for in order 0, 1, 2, ..."""
        if n != self.next_tick:
            raise ValueError(f"tick {n} asked for, but the next tick is {self.next_tick}")
        rng = random.Random(f"{self.seed}:{self.window_start.isoformat()}:{n}")
        instant = (self.window_start + n * STREAM_INTERVAL).astimezone(SAST)
        seconds = sorted(rng.randrange(int(STREAM_INTERVAL.total_seconds())) for _ in range(EVENTS_PER_TICK))
        touched: set[str] = set()
        events = []
        for slot, offset in enumerate(seconds):
            at = instant + timedelta(seconds=offset)
            event = self._one_event(rng, n, slot, at, touched)
            touched.add(event.transfer_id)
            events.append(event)
        self.next_tick += 1
        return events

    def _one_event(self, rng: random.Random, n: int, slot: int, at: datetime,
                   touched: set[str]) -> TransferEvent:
        advance_first = bool(self.open) and (len(self.open) >= MAX_IN_FLIGHT or rng.random() < 0.55)
        attempts = (self._advance, self._open_new) if advance_first else (self._open_new, self._advance)
        for attempt in attempts:
            event = attempt(rng, n, slot, at, touched)
            if event is not None:
                return event
        raise PlanningError(f"no plausible transfer event at {at.isoformat()} (tick {n}): "
                            "check the census and the doctors' roster")

    def _advance(self, rng, n, slot, at, touched) -> TransferEvent | None:
        candidates = [t for tid, t in sorted(self.open.items()) if tid not in touched]
        if not candidates:
            return None
        first = rng.randrange(len(candidates))  # a random one, then the others in turn
        for transfer in candidates[first:] + candidates[:first]:
            doctors = self.roster.on_shift(transfer.responsible_ward, at)
            if not doctors:
                continue
            statuses, cum_weights = _NEXT_CHOICES[transfer.status]
            status = rng.choices(statuses, cum_weights=cum_weights)[0]
            transfer.version += 1
            transfer.status = status
            if status in ("completed", "cancelled"):
                del self.open[transfer.transfer_id]
                if status == "completed":
                    self._move(transfer)
            return self._event(transfer, rng.choice(doctors), at, n, slot)
        return None

    @staticmethod
    def _conditions_of(primary_icd10: str | None) -> frozenset[str]:
        """The ward conditions a stay with this primary diagnosis has (none when it is not known)."""
        wanted = {rule.condition for rule in eligibility().values()} - {NO_CONDITION}
        return frozenset(c for c in wanted if has_condition(c, primary_icd10))

    def _may_enter(self, pid: int, ward: str) -> bool:
        """Whether the patient's stay has the condition the ward needs (core/wards.py). A patient not
        in a bed is admitted for the ward's condition, as a new admission is."""
        condition = condition_of(ward)
        return condition == NO_CONDITION or pid not in self.census or condition in self.stay_conditions[pid]

    def _move(self, transfer: OpenTransfer) -> None:
        pid = transfer.patient.patient_id
        left = self.census.pop(pid, None)
        if left is not None:
            self.occupied[left] -= 1
        if transfer.to_place.ward_code:
            ward = transfer.to_place.ward_code
            self.census[pid] = ward
            self.occupied[ward] += 1
            if left is None:
                self.stay_conditions[pid] = frozenset({condition_of(ward)} - {NO_CONDITION})
            if pid in self.outpatients:
                self.outpatients.remove(pid)
        else:
            self.stay_conditions.pop(pid, None)
            bisect.insort(self.outpatients, pid)

    def _wards_with_a_free_bed(self, excluding: str | None = None) -> list[str]:
        """Wards where the patients in them plus those on their way in leave a bed free."""
        incoming = Counter(t.to_place.ward_code for t in self.open.values() if t.to_place.ward_code)
        beds = self.population.beds
        return [w for w in self.population.wards
                if w != excluding and (w not in beds or self.occupied[w] + incoming[w] < beds[w])]

    def _open_new(self, rng, n, slot, at, touched) -> TransferEvent | None:
        busy = {t.patient.patient_id for t in self.open.values()}
        for _ in range(20):
            kind = rng.choices(_KIND_CHOICES[0], cum_weights=_KIND_CHOICES[1])[0]
            planned = self._plan(rng, kind, busy)
            if planned is None:
                continue
            pid, source, target, reason = planned
            transfer = OpenTransfer(
                transfer_id=self._id("transfer", n, slot), patient=self.population.patients[pid],
                from_place=source, to_place=target, reason=reason.text,
                priority=rng.choices(_PRIORITY_CHOICES[0], cum_weights=_PRIORITY_CHOICES[1])[0],
                version=1, status="requested")
            doctors = self.roster.on_shift(transfer.responsible_ward, at)
            if not doctors:
                continue
            self.open[transfer.transfer_id] = transfer
            return self._event(transfer, rng.choice(doctors), at, n, slot)
        return None

    def _plan(self, rng, kind: str, busy: set[int]) -> tuple[int, Place, Place, Reason] | None:
        """A patient, where they come from and go to, and a reason that fits both; None if this
        draw found none (the caller draws again)."""
        population = self.population
        if kind == "inbound":
            pool = [pid for pid in self.outpatients if pid not in busy and pid not in self.census]
            if not pool:
                return None
            pid = rng.choice(pool)
            reason = _weighted(rng, reasons()[kind])
            sources = [f for f in population.facilities if reason.fits(reason.sources, f, population.facility_types.get(f))]
            targets = self._targets(pid, reason, self._wards_with_a_free_bed())
            if not sources or not targets:
                return None
            return pid, Place(facility_code=rng.choice(sources)), Place(ward_code=rng.choice(targets)), reason
        admitted = sorted(pid for pid in self.census if pid not in busy)
        if not admitted:
            return None
        pid = rng.choice(admitted)
        ward = self.census[pid]
        fitting = [r for r in reasons()[kind] if r.fits(r.sources, ward, population.ward_types.get(ward))]
        if not fitting:
            return None
        reason = _weighted(rng, fitting)
        if kind == "internal":
            targets = self._targets(pid, reason, self._wards_with_a_free_bed(excluding=ward))
            return (pid, Place(ward_code=ward), Place(ward_code=rng.choice(targets)), reason) if targets else None
        targets = [f for f in population.facilities if reason.fits(reason.targets, f, population.facility_types.get(f))]
        return (pid, Place(ward_code=ward), Place(facility_code=rng.choice(targets)), reason) if targets else None

    def _targets(self, pid: int, reason: Reason, free: list[str]) -> list[str]:
        """The wards among `free` that the reason names and whose rule admits the patient (sex, age
        and, for a stay under way, the condition the ward needs)."""
        types, patient = self.population.ward_types, self.population.patients[pid]
        return [w for w in free
                if reason.fits(reason.targets, w, types.get(w)) and patient.fits(w) and self._may_enter(pid, w)]

    def _event(self, transfer: OpenTransfer, staff_id: int, at: datetime, n: int, slot: int) -> TransferEvent:
        return TransferEvent(
            event_id=self._id("event", n, slot), transfer_id=transfer.transfer_id,
            version=transfer.version, status=transfer.status,
            patient_id=transfer.patient.patient_id, hospital_number=transfer.patient.hospital_number,
            sa_id_number=transfer.patient.sa_id_number, from_place=transfer.from_place,
            to_place=transfer.to_place, reason=transfer.reason, priority=transfer.priority,
            authorising_staff_id=staff_id, event_time=at)


def load_population(conn, *, ages_at: date, home_facility: str | None = reference.HOSPITAL_FACILITY_CODE,
                    outpatient_limit: int = 2000) -> Population:
    """Read the census (admitted patients and their wards, with sex and age at `ages_at`, the
    window start, and the primary diagnosis of each stay) and the reference lists from PostgreSQL.

    Ordered queries, so the same database gives the same population. `home_facility` (this
    hospital's own facility code, if it is in reference.facility) is never a transfer partner.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT ward_code FROM reference.ward ORDER BY ward_code")
        wards = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT facility_code, facility_type FROM reference.facility "
                    "WHERE facility_code IS DISTINCT FROM %s ORDER BY facility_code", (home_facility,))
        facility_types = dict(cur.fetchall())
        facilities = list(facility_types)
        person = "pe.sex = 'M', ((%s::date - pe.date_of_birth) / 365.2425)::float8"
        cur.execute(f"""
            SELECT p.patient_id, p.hospital_number, pe.sa_id_number, p.current_ward_code, {person},
                   p.current_primary_icd10
            FROM core.patient p JOIN core.person pe ON pe.person_id = p.person_id
            WHERE p.current_ward_code IS NOT NULL ORDER BY p.patient_id""", (ages_at,))
        admitted = cur.fetchall()
        cur.execute(f"""
            SELECT p.patient_id, p.hospital_number, pe.sa_id_number, NULL, {person}, NULL
            FROM core.patient p JOIN core.person pe ON pe.person_id = p.person_id
            WHERE p.current_ward_code IS NULL ORDER BY p.patient_id LIMIT %s""", (ages_at, outpatient_limit))
        others = cur.fetchall()
        cur.execute("SELECT ward_code, bed_count, ward_type FROM reference.ward ORDER BY ward_code")
        ward_rows = cur.fetchall()
        beds = {code: count for code, count, _ in ward_rows}
        ward_types = {code: kind for code, _, kind in ward_rows}
    conn.rollback()
    patients = {pid: PatientRef(pid, number, sa_id and sa_id.strip(), male, age, primary)
                for pid, number, sa_id, _, male, age, primary in admitted + others}
    return Population(patients=patients, census={row[0]: row[3] for row in admitted},
                      outpatients=[pid for pid, *_ in others], wards=wards, facilities=facilities, beds=beds,
                      ward_types=ward_types, facility_types=facility_types)


def load_roster(conn, start: datetime, end: datetime) -> Roster:
    """Doctors' shifts that overlap [start, end)."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT sa.ward_code, sa.shift_start, sa.shift_end, sa.staff_id
            FROM core.staff_assignment sa JOIN core.doctor d ON d.staff_id = sa.staff_id
            WHERE sa.shift_end > %s AND sa.shift_start < %s""", (start, end))
        shifts = cur.fetchall()
    conn.rollback()
    return Roster(shifts)
