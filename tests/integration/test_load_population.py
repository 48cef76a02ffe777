"""load-population against the real PostgreSQL: FK order, idempotence, staff history."""

from __future__ import annotations

import csv
import re
import time

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from database import load_population
from database.connection import connect
from generators import assign_hospital_staff, generate_people_data, generate_staff_doctors

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("population")
    assert generate_people_data.main(["--rows", "25000", "--seed", "3", "--out", str(out / "people.csv"),
                                      "--no-progress"]) == 0
    assert generate_staff_doctors.main(["--people", str(out / "people.csv"), "--out-dir", str(out),
                                        "--seed", "3", "--horizon-days", "10"]) == 0
    assert assign_hospital_staff.main(["--staff", str(out / "staff.csv"), "--out", str(out / "assigned_staff.csv"),
                                       "--horizon-days", "10"]) == 0
    return out


def rows_in(path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def counts(conn) -> dict[str, int]:
    tables = ("reference.ward", "reference.icd10_code", "reference.facility", "core.person", "core.patient",
              "core.staff", "core.doctor", "core.staff_assignment", "core.staff_history")
    with conn.cursor() as cur:
        result = {}
        for table in tables:
            cur.execute(f"SELECT count(*) FROM {table}")  # fixed table names, not user input
            result[table] = cur.fetchone()[0]
    return result


def passports_in_file(path) -> set[tuple[int, str, str]]:
    """(person_id, passport_number, passport_country) of every passport holder, read with csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {(int(r["person_id"]), r["passport_number"], r["passport_country"])
                for r in csv.DictReader(handle) if r["passport_number"] or r["passport_country"]}


def passports_stored(conn) -> set[tuple[int, str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT person_id, passport_number, passport_country FROM core.person "
                    "WHERE passport_number IS NOT NULL OR passport_country IS NOT NULL")
        return set(cur.fetchall())


def guardians_in_file(path) -> set[tuple[int, int]]:
    """(child, guardian) person_id pairs of people.csv, read with csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {(int(r["person_id"]), int(r["guardian_person_id"])) for r in csv.DictReader(handle)
                if r["guardian_person_id"]}


def guardians_stored(conn) -> set[tuple[int, int]]:
    with conn.cursor() as cur:
        cur.execute("SELECT person_id, guardian_person_id FROM core.person WHERE guardian_person_id IS NOT NULL")
        return set(cur.fetchall())


def test_loads_everything_once_even_when_run_twice(isolated_settings, data_dir, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(data_dir)]) == 0
    conn = connect(isolated_settings.database_url)
    try:
        first = counts(conn)
        assert first["core.person"] == rows_in(data_dir / "people.csv")
        assert first["core.patient"] == rows_in(data_dir / "hospital_patients.csv")
        assert first["core.staff"] == rows_in(data_dir / "staff.csv")
        assert first["core.doctor"] == rows_in(data_dir / "doctors.csv")
        assert first["core.staff_assignment"] == rows_in(data_dir / "assigned_staff.csv")
        assert first["core.staff_history"] == first["core.staff"]
        assert first["reference.facility"] >= 11
        passports = passports_in_file(data_dir / "people.csv")
        assert passports and passports_stored(conn) == passports
        guardians = guardians_in_file(data_dir / "people.csv")
        assert guardians and guardians_stored(conn) == guardians
        with (data_dir / "doctors.csv").open(newline="") as handle:
            without = {int(d["staff_id"]) for d in csv.DictReader(handle) if not d["speciality_code"]}
        with conn.cursor() as cur:
            cur.execute("SELECT staff_id FROM core.doctor WHERE speciality_code IS NULL")
            assert without and {r[0] for r in cur.fetchall()} == without
            cur.execute("SELECT DISTINCT grade FROM core.doctor WHERE speciality_code IS NULL")
            assert {r[0] for r in cur.fetchall()} == {"intern", "community_service"}
        assert load_population.main(["--data-dir", str(data_dir)]) == 0
        assert counts(conn) == first
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM core.patient WHERE current_ward_code IS NOT NULL")
            admitted = cur.fetchone()[0]
            cur.execute("SELECT sum(bed_count) FROM reference.ward")
            beds = cur.fetchone()[0]
            cur.execute("""SELECT count(*) FROM core.staff_history h JOIN core.staff s USING (staff_id)
                           WHERE h.change_reason = 'hired' AND h.employment_status = 'active'
                             AND h.valid_from = s.hire_date::timestamp AT TIME ZONE 'Africa/Johannesburg'""")
            hired = cur.fetchone()[0]
        assert 0.79 * beds <= admitted <= 0.91 * beds
        assert hired == first["core.staff"]
    finally:
        conn.close()


def test_the_people_then_the_staff_load_to_what_one_load_of_everything_gives(isolated_settings, data_dir,
                                                                              monkeypatch, capsys):
    """`hospital prepare` loads person and patient while it generates the staff, then the rest."""
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(data_dir), "--tables", "core.person,core.patient"]) == 0
    conn = connect(isolated_settings.database_url)
    try:
        first = counts(conn)
        assert first["core.person"] == rows_in(data_dir / "people.csv")
        assert first["core.patient"] == rows_in(data_dir / "hospital_patients.csv")
        assert first["core.staff"] == first["core.staff_history"] == first["core.staff_assignment"] == 0
        conn.rollback()  # the counts' transaction holds locks on every table; the bulk load waits for them
        assert load_population.main(["--data-dir", str(data_dir), "--tables",
                                     "core.staff,core.doctor,core.staff_assignment"]) == 0
        after = counts(conn)
        assert after["core.staff"] == after["core.staff_history"] == rows_in(data_dir / "staff.csv")
        assert after["core.staff_assignment"] == rows_in(data_dir / "assigned_staff.csv")
        assert after["core.person"] == first["core.person"]
    finally:
        conn.close()
    assert load_population.main(["--data-dir", str(data_dir), "--tables", "core.people"]) == 2
    assert "no generated table 'core.people'" in capsys.readouterr().err


def test_a_session_holding_a_lock_delays_the_bulk_load_with_its_name_and_never_hangs_it(isolated_settings,
                                                                                       data_dir, caplog):
    """A session left inside a transaction after reading core.person (a psql session, say) holds a
    lock that dropping fk_staff_person must wait for: the load names that session, gives up after
    its wait in one line, and loads once the session lets go."""
    conn = connect(isolated_settings.database_url)
    holder = connect(isolated_settings.database_url, application_name="left-open")
    try:
        load_population.load_population(conn, data_dir, tables=["core.person"])
        with holder.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), count(*) FROM core.person")
            holder_pid = cur.fetchone()[0]
        started = time.monotonic()
        with pytest.raises(load_population.LoadError) as refused:
            load_population.load_population(conn, data_dir, tables=["core.staff"], lock_wait_s=2)
        assert time.monotonic() - started < 60
        message = str(refused.value)
        assert len(message.splitlines()) == 1 and f"pid {holder_pid} (left-open" in message, message
        assert counts(conn)["core.staff"] == 0
        conn.rollback()
        holder.rollback()
        added = load_population.load_population(conn, data_dir, tables=["core.staff"], lock_wait_s=2)
        assert added["core.staff"] == rows_in(data_dir / "staff.csv")
    finally:
        holder.close()
        conn.close()


def test_a_partly_loaded_warehouse_is_completed_without_duplicates(isolated_settings, data_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    partial = tmp_path / "partial"
    partial.mkdir()
    # The first thousand people, less the children whose guardian is not among them: a warehouse
    # holds whole households (fk_person_guardian), so a cut of people.csv must too.
    with (data_dir / "people.csv").open(newline="", encoding="utf-8") as handle:
        first = list(csv.DictReader(handle))[:1000]
    kept = {p["person_id"] for p in first}
    with (partial / "people.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(p for p in first if p["guardian_person_id"] in kept | {""})
    assert load_population.main(["--data-dir", str(partial)]) == 0
    assert load_population.main(["--data-dir", str(data_dir)]) == 0
    conn = connect(isolated_settings.database_url)
    try:
        assert counts(conn)["core.person"] == rows_in(data_dir / "people.csv")
    finally:
        conn.close()


def test_missing_people_file_fails_with_one_line(isolated_settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert "people.csv" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("where", ["header", "row"])
def test_people_file_that_is_not_utf8_fails_with_one_line(isolated_settings, data_dir, tmp_path, monkeypatch,
                                                          capsys, where):
    lines = (data_dir / "people.csv").read_bytes().splitlines(keepends=True)[:50]
    if where == "header":
        lines[0] = lines[0].replace(b"first_name", b"first_n\xe4me")
    else:
        lines[30] = lines[30].replace(b",", b",\xff", 1)
    (tmp_path / "people.csv").write_bytes(b"".join(lines))
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)

    assert load_population.main(["--data-dir", str(tmp_path)]) != 0

    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("UTF-8" in err or "UTF8" in err), err
    conn = connect(isolated_settings.database_url)
    try:
        assert counts(conn)["core.person"] == 0
    finally:
        conn.close()


SCHEMA_OBJECTS = """
SELECT 'index', indexname, indexdef FROM pg_indexes
WHERE schemaname = 'core' OR (schemaname, tablename) = ('stream', 'transfer')
UNION ALL
SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid) || ' valid=' || convalidated
FROM pg_constraint WHERE connamespace IN ('core'::regnamespace, 'stream'::regnamespace)
ORDER BY 1, 2
"""


def schema_objects(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(SCHEMA_OBJECTS)
        return cur.fetchall()


def test_a_bulk_load_leaves_every_index_and_constraint_as_init_db_declares(isolated_settings, data_dir,
                                                                           monkeypatch):
    conn = connect(isolated_settings.database_admin_url)
    try:
        declared = schema_objects(conn)
        monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
        assert load_population.main(["--data-dir", str(data_dir)]) == 0
        assert schema_objects(conn) == declared
        names = {name for _, name, _ in declared}
        assert {"uq_person_sa_id_number", "ix_staff_assignment_ward_shift", "core.patient.fk_patient_person",
                "core.staff_assignment.fk_staff_assignment_covers_for"} <= names
        definitions = {name: definition for _, name, definition in declared}
        assert 'UNIQUE INDEX uq_person_sa_id_number ON core.person USING btree (sa_id_number COLLATE "C")' in \
            definitions["uq_person_sa_id_number"]
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ops.population_load")
            assert cur.fetchone()[0] == 0
            # COPY ... FREEZE wrote the rows all-visible: the visibility map (which the primary key's
            # build counted into pg_class) covers every page of each bulk-loaded table.
            cur.execute("SELECT relname, relpages, relallvisible FROM pg_class WHERE oid IN "
                        "('core.person'::regclass, 'core.patient'::regclass, 'core.staff_assignment'::regclass)")
            for table, pages, all_visible in cur.fetchall():
                assert pages > 0 and all_visible == pages, (table, pages, all_visible)
    finally:
        conn.close()


def test_the_bulk_load_writes_no_wal_for_the_people(isolated_settings, data_dir):
    """The repo's cluster runs with wal_level=minimal (hospital/local/postgres.py; the compose file
    sets it too): the COPY into core.person, which the load truncated in its transaction, and the
    index builds after it write no WAL, and the table is written out at commit instead. With the
    default wal_level=replica every row goes through the WAL, more bytes than the table holds."""
    admin = connect(isolated_settings.database_admin_url)
    conn = connect(isolated_settings.database_url)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_current_wal_insert_lsn()")
            before = cur.fetchone()[0]
        assert load_population.load_table(conn, "core.person", data_dir / "people.csv") == rows_in(data_dir / "people.csv")
        with admin.cursor() as cur:
            cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s), pg_relation_size('core.person')",
                        (before,))
            wal_bytes, heap_bytes = cur.fetchone()
        admin.commit()
        assert heap_bytes > 2 * 1024 * 1024  # above wal_skip_threshold: written out, not WAL-logged, at commit
        assert wal_bytes < heap_bytes / 2, (wal_bytes, heap_bytes)  # the small indexes are WAL-logged at commit
    finally:
        conn.close()
        admin.close()


def _broken_copy(data_dir, tmp_path, name: str, line: int, old: bytes, new: bytes):
    """data_dir's CSVs in tmp_path, with `old` replaced by `new` on data line `line` of `name`."""
    for path in data_dir.glob("*.csv"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    target = tmp_path / name
    lines = target.read_bytes().splitlines(keepends=True)
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new, 1)
    target.write_bytes(b"".join(lines))
    return tmp_path


def test_an_intern_with_a_speciality_fails_in_one_line_naming_the_check(isolated_settings, data_dir, tmp_path,
                                                                       monkeypatch, capsys):
    lines = (data_dir / "doctors.csv").read_bytes().splitlines()
    line = next(i for i, row in enumerate(lines[1:], 1) if row.split(b",")[2] == b"intern")
    folder = _broken_copy(data_dir, tmp_path, "doctors.csv", line, b",intern,,", b",intern,MED,")
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ck_doctor_speciality_grade" in err, err


@pytest.mark.parametrize("case", ["duplicate_sa_id", "duplicate_person_id", "patient_who_is_no_person",
                                  "shift_of_unknown_staff"])
def test_a_file_that_breaks_a_rebuilt_constraint_fails_in_one_line_and_leaves_the_table_empty_and_whole(
        isolated_settings, data_dir, tmp_path, monkeypatch, capsys, case):
    people = (data_dir / "people.csv").read_bytes().splitlines()
    first_id = people[1].split(b",")[1]
    second_id = people[2].split(b",")[1]
    broken = {
        "duplicate_sa_id": ("people.csv", 2, second_id, first_id, "core.person", "uq_person_sa_id_number"),
        # the primary key is built after the COPY too
        "duplicate_person_id": ("people.csv", 2, people[2].split(b",")[0] + b",", people[1].split(b",")[0] + b",",
                                "core.person", "pk_person"),
        "patient_who_is_no_person": ("hospital_patients.csv", 5, None, b"99999999", "core.patient",
                                     "fk_patient_person"),
        "shift_of_unknown_staff": ("assigned_staff.csv", 7, None, b"88888888", "core.staff_assignment",
                                   "fk_staff_assignment_staff"),
    }[case]
    name, line, old, new, table, constraint = broken
    if old is None:  # the id column: person_id of a patient (third), staff_id of a shift (second)
        row = (data_dir / name).read_bytes().splitlines()[line].split(b",")
        old = row[2] if name == "hospital_patients.csv" else row[1]
        new = b"," + new + b","
        old = b"," + old + b","
    folder = _broken_copy(data_dir, tmp_path, name, line, old, new)
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    admin = connect(isolated_settings.database_admin_url)
    try:
        declared = schema_objects(admin)
        assert load_population.main(["--data-dir", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and table in err and constraint in err and name in err, err
        assert counts(admin)[table] == 0
        assert schema_objects(admin) == declared
    finally:
        admin.close()


def test_a_passport_without_its_country_fails_in_one_line_naming_the_check(isolated_settings, data_dir,
                                                                          tmp_path, monkeypatch, capsys):
    lines = (data_dir / "people.csv").read_bytes().splitlines()
    header = lines[0].split(b",")
    number, country = header.index(b"passport_number"), header.index(b"passport_country")
    line = next(i for i, row in enumerate(lines[1:], 1) if row.split(b",")[number])
    fields = lines[line].split(b",")
    old = b",".join(fields[number:country + 2])
    new = b",".join([fields[number], b"", *fields[country + 1:country + 2]])
    folder = _broken_copy(data_dir, tmp_path, "people.csv", line, old, new)
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ck_person_passport_country" in err, err


def test_a_guardian_who_is_no_person_fails_in_one_line_naming_the_foreign_key(isolated_settings, data_dir,
                                                                             tmp_path, monkeypatch, capsys):
    lines = (data_dir / "people.csv").read_bytes().splitlines()
    assert lines[0].endswith(b",guardian_person_id")
    line = next(i for i, row in enumerate(lines[1:], 1) if not row.endswith(b","))
    guardian = lines[line].rsplit(b",", 1)[1]
    folder = _broken_copy(data_dir, tmp_path, "people.csv", line, b"," + guardian, b",99999999")
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    assert load_population.main(["--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fk_person_guardian" in err, err
    conn = connect(isolated_settings.database_url)
    try:
        assert counts(conn)["core.person"] == 0
    finally:
        conn.close()


def test_a_begun_bulk_load_cannot_commit_unfinished_and_only_population_tables_take_one(isolated_settings):
    conn = connect(isolated_settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT ops.begin_population_load('core.staff')")
            assert cur.fetchone()[0] is True
            with pytest.raises(psycopg2.errors.IntegrityConstraintViolation, match="not finished"):
                conn.commit()
        conn.rollback()
        for table in ("ops.file_ledger", "stream.transfer", "reference.ward"):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidParameterValue):
                cur.execute("SELECT ops.begin_population_load(%s)", (table,))
            conn.rollback()
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO ops.population_load (table_name, object_name, object_kind, definition, "
                        "rebuild_order) VALUES ('core.staff', 'x', 'index', 'DROP TABLE core.staff', 1)")
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("INSERT INTO core.person (person_id, first_name, last_name, sex, date_of_birth, citizenship, "
                        "passport_number, passport_country, phone_number, street_address, suburb, city, province, "
                        "postal_code) VALUES (1, 'A', 'B', 'F', '1990-01-01', 'foreign_national', 'P1', 'ZWE', "
                        "'+27821234567', "
                        "'1 Street', 'Soweto', 'Johannesburg', 'Gauteng', '1804')")
            cur.execute("SELECT ops.begin_population_load('core.person')")
            assert cur.fetchone()[0] is False  # rows: nothing dropped, the caller merges
        conn.commit()
    finally:
        conn.close()


def test_a_warehouse_older_than_the_bulk_load_functions_still_loads_row_by_row(isolated_settings, data_dir,
                                                                               monkeypatch, caplog):
    admin = connect(isolated_settings.database_admin_url)
    try:
        with admin.cursor() as cur:
            cur.execute("DROP FUNCTION ops.begin_population_load(regclass), ops.finish_population_load(regclass)")
        admin.commit()
        monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
        assert load_population.main(["--data-dir", str(data_dir)]) == 0
        assert counts(admin)["core.person"] == rows_in(data_dir / "people.csv")
        assert passports_stored(admin) == passports_in_file(data_dir / "people.csv")
        assert "apply init_db.sql again" in caplog.text
    finally:
        admin.close()


def test_init_db_gives_an_older_person_table_the_passport_country_and_its_check(isolated_settings, data_dir,
                                                                              monkeypatch):
    """A warehouse made before passport_country: init_db.sql adds the column and the check (for new
    rows; the rows already there keep their passports), and the loader fills the column by name."""
    from database.schema import apply_schema
    admin = connect(isolated_settings.database_admin_url)
    try:
        with admin.cursor() as cur:
            cur.execute("ALTER TABLE core.person DROP CONSTRAINT ck_person_passport_country, "
                        "DROP COLUMN passport_country")
            cur.execute("INSERT INTO core.person (person_id, first_name, last_name, sex, date_of_birth, citizenship, "
                        "passport_number, phone_number, street_address, suburb, city, province, postal_code) "
                        "VALUES (99000001, 'A', 'B', 'F', '1990-01-01', 'foreign_national', 'P1', '+27821234567', "
                        "'1 Mooki Street', 'Orlando East', 'Johannesburg', 'Gauteng', '1804')")
        admin.commit()
        apply_schema(isolated_settings.database_admin_url)
        with admin.cursor() as cur:
            cur.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'ck_person_passport_country'")
            assert cur.fetchall() == [(False,)]
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("INSERT INTO core.person (person_id, first_name, last_name, sex, date_of_birth, "
                            "citizenship, passport_number, phone_number, street_address, suburb, city, province, "
                            "postal_code) VALUES (99000002, 'A', 'B', 'F', '1990-01-01', 'foreign_national', 'P2', "
                            "'+27821234568', '1 Mooki Street', 'Orlando East', 'Johannesburg', 'Gauteng', '1804')")
        admin.rollback()
        monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
        assert load_population.main(["--data-dir", str(data_dir)]) == 0
        stored = passports_stored(admin)
        assert stored == passports_in_file(data_dir / "people.csv") | {(99000001, "P1", None)}
    finally:
        admin.close()


# The person checks as first written, with regular expressions: the cheaper expressions init_db.sql
# uses must let exactly the same values through.
SPECIFICATION = {
    "ck_person_identity": ("sa_id_number", r"^[0-9]{13}$"),
    "ck_person_phone_e164": ("phone_number", r"^\+27[0-9]{9}$"),
    "ck_person_postal_code": ("postal_code", r"^[0-9]{4}$"),
}
digit_like = st.text(st.sampled_from("0123456789+27 \n\t٣৪０x-"), max_size=14)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(digit_like, st.text(max_size=14).filter(lambda v: "\x00" not in v)), max_size=30))
def test_the_person_checks_pass_exactly_what_their_regular_expressions_pass(isolated_settings, values):
    """Each check's digit test (constraint text from the catalog), evaluated by PostgreSQL over
    hostile values (Arabic-Indic, Bengali and full-width digits, spaces, line ends), agrees with
    the regular expression it replaced."""
    values += ["7801015800084", "+27821234567", "1862"]
    conn = connect(isolated_settings.database_admin_url)
    try:
        with conn.cursor() as cur:
            for name, (column, pattern) in SPECIFICATION.items():
                cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conrelid = 'core.person'::regclass AND conname = %s", (name,))
                definition = cur.fetchone()[0]
                # The format part of the check: ck_person_identity also tests citizenship, so its
                # digit test is cut out of the definition.
                digits = re.search(r"\(length\(\(?%s\)?(::text)?\) = \d+\).*?!~ '\[\^0-9\]'::text\)" % column,
                                   definition)
                assert digits, definition
                expression = digits.group(0).replace(f"({column})::text", "x").replace(column, "x")
                expression = expression.replace("%", "%%")  # LIKE '+27%' inside a query with parameters
                cur.execute(f"SELECT x, x ~ %s, coalesce({expression}, false) FROM unnest(%s::text[]) AS x",
                            (pattern, values))
                for value, by_pattern, by_check in cur.fetchall():
                    assert by_pattern == by_check, (name, value)
    finally:
        conn.close()
