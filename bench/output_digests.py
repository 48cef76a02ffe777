"""The SHA-256 of every output kind the pipeline makes, for one seed at a small size.

    python bench/output_digests.py                              # this checkout's digests
    python bench/output_digests.py --baseline /tmp/baseline     # side by side with another checkout

Outputs: people.csv and hospital_patients.csv (generate_people_data.py), staff.csv and doctors.csv
(generate_staff_doctors.py), assigned_staff.csv (assign_hospital_staff.py) and their manifests,
each batch record file of the first `--batch-ticks` ticks of the landing-folder writer, and the
transfer events the stream producer sends in `--stream-days` (key and value of each, in order).

No service is needed: the generators run as the user runs them (`python generators/<script>.py`);
the writer and the producer run their real loops with the warehouse's population read from the
generated CSVs instead of PostgreSQL, and the producer hands its events to a stand-in for the
Kafka client. Each checkout is measured in a process of its own, with that checkout first on
the import path, so two checkouts of different layouts can be compared. Exit status 1 when
`--baseline` is given and any digest differs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve()
SIM_START = "2026-03-27T00:00:00+02:00"


def _first_module(*names: str):
    """The first of `names` that imports from the checkout being measured (the current directory):
    the same module under the old or the new layout. A module found elsewhere (an editable install
    of another checkout) does not count."""
    here = Path.cwd().resolve()
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        if Path(module.__file__).resolve().is_relative_to(here):
            return module
    raise ModuleNotFoundError(f"none of {names}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- measuring one checkout (runs inside the checkout) ---------------------------------------------

def _generate_population(out: Path, seed: int, people: int) -> None:
    def script(name: str, *args: str) -> None:
        subprocess.run([sys.executable, f"generators/{name}.py", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    script("generate_people_data", "--rows", str(people), "--seed", str(seed), "--out", str(out / "people.csv"),
           "--no-progress")
    script("generate_staff_doctors", "--people", str(out / "people.csv"), "--seed", str(seed),
           "--out-dir", str(out))
    script("assign_hospital_staff", "--staff", str(out / "staff.csv"), "--out", str(out / "assigned_staff.csv"),
           "--horizon-days", "12")


def _tables(folder: Path):
    import pandas as pd

    def read(name: str) -> "pd.DataFrame":
        return pd.read_csv(folder / name, dtype=str, keep_default_na=False)

    reference = _first_module("core.reference", "hospital.reference")
    wards = pd.read_csv(reference.path("wards.csv"), dtype=str, keep_default_na=False)
    return read("people.csv"), read("hospital_patients.csv"), read("staff.csv"), read("doctors.csv"), \
        read("assigned_staff.csv"), wards, reference


def _writer_population(folder: Path, start: datetime, end: datetime):
    """What producer.batch_writer.load_population reads from the warehouse, read from the CSVs."""
    import numpy as np
    import pandas as pd

    writer = _first_module("producer.batch_writer")
    records = _first_module("generators.clinical_records", "producer.clinical_records")
    people, patients, staff, _doctors, assigned, wards, reference = _tables(folder)
    joined = patients.merge(people[["person_id", "sex", "date_of_birth"]], on="person_id")
    joined = joined.sort_values("patient_id", key=lambda s: s.astype(int))
    born = pd.to_datetime(joined.date_of_birth)
    day = start.date()
    if hasattr(records, "rule_for"):  # ages in fractional years since the one ward rule (core/wards.py)
        age = (pd.Timestamp(day) - born).dt.days / 365.2425
    else:
        age = day.year - born.dt.year - ((born.dt.month > day.month) | ((born.dt.month == day.month)
                                                                        & (born.dt.day > day.day)))
    wards = wards[wards.bed_count.astype(int) > 0].sort_values("ward_code")
    working = staff[staff.staff_category.isin(["doctor", "nurse"]) & (staff.hire_date <= str(end.date()))
                    & ((staff.retirement_date == "") | (staff.retirement_date > str(start.date())))]
    working = working.sort_values("staff_id", key=lambda s: s.astype(int))
    shifts = assigned.merge(staff[["staff_id", "staff_category"]], on="staff_id")
    shift_start = pd.to_datetime(shifts.shift_start, utc=True)
    shift_end = pd.to_datetime(shifts.shift_end, utc=True)
    shifts = shifts.assign(is_doctor=(shifts.staff_category == "doctor").astype(int).astype(str),
                           shift_start=(shift_start.astype("int64") // 10**9).astype(str),
                           shift_end=(shift_end.astype("int64") // 10**9).astype(str))
    keep = ((shift_end > pd.Timestamp(start)) & (shift_start < pd.Timestamp(end))
            & shifts.staff_category.isin(["doctor", "nurse"]))
    roster = shifts[keep].sort_values(["shift_start", "staff_id"], key=lambda s: s.astype(int))
    icd = pd.read_csv(reference.path("icd10_codes.csv"), dtype=str, keep_default_na=False).sort_values("icd10_code")
    icd = icd.assign(min_age=icd.min_age_years.replace("", "-1"), max_age=icd.max_age_years.replace("", "999"))
    return records.Population(
        patient_id=joined.patient_id.astype(np.int64).to_numpy(),
        person_id=joined.person_id.astype(np.int64).to_numpy(),
        female=(joined.sex == "F").to_numpy(),
        age_years=(age.astype(float) if hasattr(records, "rule_for") else age.astype(np.int64)).to_numpy(),
        ward_code=wards.ward_code.to_numpy(dtype=str), ward_type=wards.ward_type.to_numpy(dtype=str),
        ward_beds=wards.bed_count.astype(np.int64).to_numpy(),
        icd10_code=icd.icd10_code.to_numpy(dtype=str), icd10_sex=icd.sex_restriction.to_numpy(dtype=str),
        icd10_min_age=icd.min_age.astype(np.int64).to_numpy(), icd10_max_age=icd.max_age.astype(np.int64).to_numpy(),
        duty=writer._duty_roster(wards, working, roster),
        **_census_of(writer, joined, wards, icd.icd10_code, start))


def _census_of(writer, joined, wards, icd10_codes, start: datetime) -> dict:
    """The chronic conditions and window-opening census (with its diagnoses where the writer reads
    them), for a writer that reads them (else nothing)."""
    if not hasattr(writer, "window_census"):
        return {}
    import inspect

    import pandas as pd
    since = pd.to_datetime(joined.current_ward_since.replace("", None), utc=True)
    seconds = (since - pd.Timestamp(start)).dt.total_seconds()
    frame = joined.assign(since_s=seconds.map(lambda s: "" if pd.isna(s) else repr(float(s))))
    if "icd10_codes" not in inspect.signature(writer.window_census).parameters:
        return writer.window_census(frame, wards.ward_code)
    primary = joined.current_primary_icd10 if "current_primary_icd10" in joined else ""
    return writer.window_census(frame.assign(primary_icd10=primary), wards.ward_code, icd10_codes)


def _stream_population(folder: Path):
    """What generators.transfers.load_population and load_roster read from the warehouse."""
    transfers = _first_module("generators.transfers", "producer.transfers")
    people, patients, _staff, doctors, assigned, wards, reference = _tables(folder)
    import pandas as pd
    facilities = pd.read_csv(reference.path("facilities.csv"), dtype=str, keep_default_na=False)
    ids = dict(zip(people.person_id, people.sa_id_number))
    start = _first_module("core.settings", "hospital.settings").load().sim_start.date()
    # Sex and fractional age at the window start, since the one ward rule (core/wards.py).
    person = {pid: (sex == "M", (start - date.fromisoformat(born)).days / 365.2425)
              for pid, sex, born in zip(people.person_id, people.sex, people.date_of_birth)}
    primary = patients.current_primary_icd10 if "current_primary_icd10" in patients else [""] * len(patients)
    rows = sorted(((int(p), n, ids[person_id] or None, ward, *person[person_id], code or None)
                   for p, n, person_id, ward, code in zip(patients.patient_id, patients.hospital_number,
                                                          patients.person_id, patients.current_ward_code, primary)))
    admitted = [r for r in rows if r[3]]
    others = [r for r in rows if not r[3]][:2000]
    with_person = hasattr(transfers.PatientRef, "fits")
    with_primary = "primary_icd10" in getattr(transfers.PatientRef, "__dataclass_fields__", {})
    population = transfers.Population(
        patients={pid: transfers.PatientRef(pid, number, sa_id, *((male, age) if with_person else ()),
                                            *((code,) if with_primary else ()))
                  for pid, number, sa_id, _, male, age, code in admitted + others},
        census={pid: ward for pid, _, _, ward, *_ in admitted}, outpatients=[pid for pid, *_ in others],
        wards=sorted(wards.ward_code), facilities=sorted(facilities.facility_code),
        beds={code: int(beds) for code, beds in zip(wards.ward_code, wards.bed_count)})
    doctor_ids = set(doctors.staff_id)

    def roster(_conn, start: datetime, end: datetime):
        shifts = [(ward, datetime.fromisoformat(s), datetime.fromisoformat(e), int(staff)) for ward, s, e, staff in
                  zip(assigned.ward_code, assigned.shift_start, assigned.shift_end, assigned.staff_id)
                  if staff in doctor_ids and datetime.fromisoformat(e) > start and datetime.fromisoformat(s) < end]
        return transfers.Roster(shifts)

    return population, roster


class _Message:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def key(self) -> bytes:
        return self._key


class KafkaStandIn:
    """The part of confluent_kafka.Producer the stream producer uses; every event is acknowledged."""

    sent: list[tuple[bytes, bytes]] = []

    def __init__(self, _config: dict) -> None:
        self.pending: list = []

    def produce(self, topic: str, *, key: bytes, value: bytes, on_delivery) -> None:
        KafkaStandIn.sent.append((key, value))
        self.pending.append((key, on_delivery))

    def poll(self, _timeout: float = 0) -> int:
        pending, self.pending = self.pending, []
        for key, callback in pending:
            callback(None, _Message(key))
        return len(pending)

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return 0


def _batch_files(folder: Path, ticks: int, target: str) -> dict[str, str]:
    writer = _first_module("producer.batch_writer")
    settings_module = _first_module("core.settings", "hospital.settings")
    settings = settings_module.load()
    writer.load_population = lambda _settings, start, end: _writer_population(folder, start, end)
    parse_size = _first_module("core.sizes", "producer.batch_writer").parse_size
    writer.write_window(settings, target_bytes=parse_size(target), days=9, max_ticks=ticks, restart=True)
    landing = settings.data_dir / "landing"
    return {f"batch/{path.name}": _sha256(path.read_bytes()) for path in sorted(landing.glob("*.csv"))}


def _transfer_events(folder: Path, days: int) -> dict[str, str]:
    producer = _first_module("producer.stream_producer")
    settings = _first_module("core.settings", "hospital.settings").load()
    population, roster = _stream_population(folder)
    producer.connect_with_retry = lambda **_: type("Closed", (), {"close": lambda self: None})()
    producer.load_population = lambda _conn, home_facility=None, ages_at=None: population
    producer.load_roster = roster
    producer.Producer = KafkaStandIn
    wanted = inspect.signature(producer.produce_transfers).parameters
    window = {"days": days} if "days" in wanted else {"ticks": days * 480}
    if "speed" in wanted:
        window["speed"] = 0
    result = producer.produce_transfers(settings, topic="digest", start=settings.sim_start, first_tick=0,
                                        state_file=folder / "producer-state.json", **window)
    assert result.ok, result.failures
    events = b"".join(key + b"\t" + value + b"\n" for key, value in KafkaStandIn.sent)
    return {f"stream/transfer_events ({len(KafkaStandIn.sent)} events)": _sha256(events)}


def collect(seed: int, people: int, batch_ticks: int, stream_days: int, target: str) -> dict[str, str]:
    """Digests of every output, made in a scratch folder of this checkout (the current directory)."""
    with tempfile.TemporaryDirectory(prefix="digests-") as scratch:
        folder = Path(scratch)
        os.environ.update(DATA_DIR=str(folder / "data"), SIM_START=SIM_START, SIM_SPEED="0", SEED=str(seed))
        _generate_population(folder, seed, people)
        found = {path.name: _sha256(path.read_bytes()) for path in sorted(folder.iterdir()) if path.is_file()}
        found.update(_batch_files(folder, batch_ticks, target))
        found.update(_transfer_events(folder, stream_days))
    return found


# -- comparing checkouts ---------------------------------------------------------------------------

def measure(checkout: Path, args: argparse.Namespace) -> dict[str, str]:
    """The digests of `checkout`, measured in a process of its own with the checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONDONTWRITEBYTECODE="1")
    # Never connected to (the stand-ins above take their place); set so no .env or .local/env is needed.
    env.update(DATABASE_URL="postgresql://digests@stand-in:1/none", KAFKA_BOOTSTRAP_SERVERS="stand-in:1")
    command = [sys.executable, str(HERE), "--collect", "--seed", str(args.seed), "--people", str(args.people),
               "--batch-ticks", str(args.batch_ticks), "--stream-days", str(args.stream_days),
               "--target-size", args.target_size]
    result = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measuring {checkout} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="another checkout to measure and compare with this one")
    parser.add_argument("--checkout", type=Path, default=HERE.parent.parent,
                        help="the checkout to measure (default: the one holding this script)")
    parser.add_argument("--seed", type=int, default=20260302, help="SEED for every output (default %(default)s)")
    parser.add_argument("--people", type=int, default=20000, help="people to generate (default %(default)s)")
    parser.add_argument("--batch-ticks", type=int, default=4, help="writer ticks to write (default %(default)s)")
    parser.add_argument("--stream-days", type=int, default=1, help="days of transfer events (default %(default)s)")
    parser.add_argument("--target-size", default="200MB",
                        help="the writer's window size, which sets a tick's rows (default %(default)s)")
    parser.add_argument("--collect", action="store_true", help=argparse.SUPPRESS)  # the measuring process
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.collect:
        print(json.dumps(collect(args.seed, args.people, args.batch_ticks, args.stream_days, args.target_size)))
        return 0
    mine = measure(args.checkout.resolve(), args)
    if args.baseline is None:
        for name, digest in mine.items():
            print(f"{digest}  {name}")
        return 0
    theirs = measure(args.baseline.resolve(), args)
    width = max(map(len, [*mine, *theirs]))
    print(f"{'output':<{width}}  {'baseline':<16}  {'this checkout':<16}  verdict")
    different = 0
    for name in sorted(set(mine) | set(theirs), key=lambda n: (n.count("/"), n)):
        a, b = theirs.get(name, "-"), mine.get(name, "-")
        same = a == b
        different += not same
        print(f"{name:<{width}}  {a[:16]:<16}  {b[:16]:<16}  {'same' if same else 'DIFFERENT'}")
    print(f"{len(set(mine) | set(theirs)) - different} same, {different} different")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
