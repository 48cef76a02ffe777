"""The warehouse's security guarantees against the real PostgreSQL, each in a scratch database:

1. analysts see keyed pseudonyms they cannot reverse by trying ID numbers, and cannot get the key;
2. day partitions: the pipeline role creates only the finite days it asks for and drops nothing;
   dropping is an operator's `hospital prune`, recorded in ops.partition_drop;
3. the pipeline role adds to the audit trail (ledger, rejected rows, quarantined events) but
   cannot rewrite it, and emptying the warehouse (`run --fresh`) takes the owner's connection.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, timedelta

import psycopg2
import psycopg2.errors
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from core.settings import SettingsError
from database.connection import connect
from database.schema import apply_schema
from hospital.run import reset

pytestmark = pytest.mark.integration

PROPERTY_SETTINGS = hypothesis_settings(max_examples=40, deadline=None, database=None,
                                        suppress_health_check=[HealthCheck.too_slow])


# -- 1. pseudonyms ------------------------------------------------------------------------

def luhn_part(digits: str, first_position: int) -> int:
    """The Luhn sum of `digits` standing at positions first_position.. of a 12-digit ID body
    (written here, not imported, so the enumeration does not lean on the code that made the IDs).
    Counted from the check digit leftwards, every second digit is doubled: positions 1, 3, .., 11."""
    total = 0
    for offset, char in enumerate(digits):
        value = int(char) * (2 if (first_position + offset) % 2 == 1 else 1)
        total += value - 9 if value > 9 else value
    return total


def luhn_digit(body: str) -> int:
    """The check digit that makes a 12-digit body + digit pass the Luhn test."""
    return (10 - luhn_part(body, 0) % 10) % 10


def sa_id(born: date, sequence: int, citizen_digit: int) -> str:
    body = f"{born:%y%m%d}{sequence:04d}{citizen_digit}8"
    return body + str(luhn_digit(body))


# (person_id, first name, last name, sex, born, sequence, citizenship)
PEOPLE = [
    (101, "Thandeka", "Mokoena", "F", date(1987, 6, 14), 271, "citizen"),
    (102, "Sipho", "Dlamini", "M", date(1987, 11, 2), 5830, "citizen"),
    (103, "Johanna", "van der Merwe", "F", date(1952, 2, 29), 4999, "citizen"),
    (104, "Tebogo", "Nkosi", "M", date(2004, 12, 31), 9999, "permanent_resident"),
    (105, "Amara", "Okafor", "F", date(1990, 3, 8), 0, "foreign_national"),
    (106, "Lerato", "Molefe", "F", date(2019, 1, 1), 12, "citizen"),
]
CITIZEN_DIGIT = {"citizen": 0, "permanent_resident": 1}


def person_rows() -> list[dict]:
    rows = []
    for person_id, first, last, sex, born, sequence, citizenship in PEOPLE:
        foreign = citizenship == "foreign_national"
        rows.append({
            "person_id": person_id, "first_name": first, "last_name": last, "sex": sex, "date_of_birth": born,
            "citizenship": citizenship,
            "sa_id_number": None if foreign else sa_id(born, sequence, CITIZEN_DIGIT[citizenship]),
            "passport_number": f"A{person_id:08d}" if foreign else None, "passport_country": "NGA" if foreign else None,
            "phone_number": f"+2782{person_id:07d}", "email": f"{first.lower()}.{person_id}@example.co.za",
            "street_address": f"{person_id} Vilakazi Street", "suburb": "Orlando West", "city": "Johannesburg",
            "province": "Gauteng", "postal_code": "1804", "medical_aid": None,
        })
    return rows


def load_people(admin_url: str) -> list[dict]:
    """The PEOPLE as core.person rows, and each as a patient with a chronic condition."""
    rows = person_rows()
    conn = connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO core.person (person_id, sa_id_number, first_name, last_name, sex, date_of_birth,
                       citizenship, passport_number, passport_country, phone_number, email, street_address, suburb,
                       city, province, postal_code, medical_aid)
                   VALUES (%(person_id)s, %(sa_id_number)s, %(first_name)s, %(last_name)s, %(sex)s,
                       %(date_of_birth)s, %(citizenship)s, %(passport_number)s, %(passport_country)s,
                       %(phone_number)s, %(email)s,
                       %(street_address)s, %(suburb)s, %(city)s, %(province)s, %(postal_code)s, %(medical_aid)s)""",
                rows)
            cur.executemany(
                """INSERT INTO core.patient (patient_id, hospital_number, person_id, registration_date, blood_group,
                       chronic_conditions)
                   VALUES (%(person_id)s, 'H' || %(person_id)s, %(person_id)s, %(registered)s, 'O+', 'B24;I10')""",
                [{"person_id": r["person_id"], "registered": r["date_of_birth"] + timedelta(days=400)} for r in rows])
        conn.commit()
    finally:
        conn.close()
    return rows


def candidate_ids(year: int, sex: str, citizen_digit: int):
    """Every SA ID an analyst could guess from a birth year, a sex and a citizenship: each day
    of the year, each sequence of that sex, the citizenship digit, 8, the Luhn digit. The Luhn
    sum is a sum over positions, so each part's share is worked out once."""
    tail = f"{citizen_digit}8"
    tail_sum = luhn_part(tail, 10)
    sequences = [(f"{n:04d}", luhn_part(f"{n:04d}", 6)) for n in (range(0, 5000) if sex == "F" else range(5000, 10000))]
    day = date(year, 1, 1)
    while day.year == year:
        prefix = f"{day:%y%m%d}"
        prefix_sum = luhn_part(prefix, 0) + tail_sum
        for sequence, sequence_sum in sequences:
            yield f"{prefix}{sequence}{tail}{(10 - (prefix_sum + sequence_sum) % 10) % 10}"
        day += timedelta(days=1)


def unkeyed_matches(shown: str, control: str, year: int, sex: str, citizen_digit: int) -> tuple[set[str], set[str]]:
    """The candidate IDs whose SHA-256 ('person:' + ID, or the ID alone) starts with the hex
    digits `shown`, and those for `control`. The full year: 1.8 M candidates, a few seconds."""
    shown_bytes, control_bytes = bytes.fromhex(shown), bytes.fromhex(control)
    width = len(shown_bytes)
    assert len(control_bytes) == width
    found_shown: set[str] = set()
    found_control: set[str] = set()
    sha256 = hashlib.sha256
    for candidate in candidate_ids(year, sex, citizen_digit):
        raw = candidate.encode()
        for digest in (sha256(b"person:" + raw).digest()[:width], sha256(raw).digest()[:width]):
            if digest == shown_bytes:
                found_shown.add(candidate)
            if digest == control_bytes:
                found_control.add(candidate)
    return found_shown, found_control


def analyst_query(url: str, query: str, params=()) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_an_analyst_cannot_recover_an_id_number_by_trying_every_id_the_view_allows(isolated_settings):
    load_people(isolated_settings.database_admin_url)
    ((person_id, pseudonym, sex, birth_year, citizenship),) = analyst_query(
        isolated_settings.analyst_database_url,
        """SELECT person_id, identity_pseudonym, sex, birth_year, citizenship FROM analytics.person
           WHERE citizenship = 'citizen' ORDER BY person_id LIMIT 1""")
    # The control: what the first version of analytics.person showed for the same person,
    # computed by PostgreSQL from the true ID.
    ((true_id, unkeyed),) = analyst_query(
        isolated_settings.database_admin_url,
        """SELECT sa_id_number,
                  left(encode(sha256(convert_to('person:' || sa_id_number, 'UTF8')), 'hex'), 16)
           FROM core.person WHERE person_id = %s""", (person_id,))

    shown, control = unkeyed_matches(pseudonym, unkeyed, birth_year, sex, CITIZEN_DIGIT[citizenship])

    assert control == {true_id}, "the enumeration itself must find an unkeyed pseudonym"
    assert shown == set(), "the analyst's pseudonym was reversed by enumeration"
    assert pseudonym != unkeyed and len(pseudonym) == 16


def test_no_analytics_view_shows_names_ids_phones_emails_or_birth_dates(isolated_settings):
    people = load_people(isolated_settings.database_admin_url)
    url = isolated_settings.analyst_database_url
    views = [name for (name,) in analyst_query(
        url, "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics' ORDER BY 1")]
    assert {"person", "patient"} <= set(views)
    secrets = set()
    for p in people:
        secrets |= {p["first_name"], p["last_name"], p["phone_number"], p["phone_number"][3:], p["email"],
                    p["street_address"]}
        if p["sa_id_number"]:
            secrets |= {p["sa_id_number"], p["sa_id_number"][:10], p["sa_id_number"][6:]}
        else:
            secrets.add(p["passport_number"])
    births = {p["date_of_birth"] for p in people}
    for view in views:
        for row in analyst_query(url, f"SELECT * FROM analytics.{view}"):  # noqa: S608 - names from the catalog
            for value in row:
                assert value not in births, f"analytics.{view} shows a date of birth"
                text = str(value)
                assert not any(secret in text for secret in secrets), f"analytics.{view} shows {text!r}"


def test_the_key_is_out_of_every_role_s_reach_and_pseudonyms_are_stable_and_unique(isolated_settings):
    people = load_people(isolated_settings.database_admin_url)
    admin = connect(isolated_settings.database_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("ANALYZE private.pseudonym_key")  # so pg_stats would hold it, if it leaked
        cur.execute("SELECT secret_key FROM private.pseudonym_key")
        (key,) = cur.fetchone()
    assert len(bytes(key)) == 32
    for url in (isolated_settings.analyst_database_url, isolated_settings.database_url):
        conn = connect(url)
        try:
            for query in ("SELECT secret_key FROM private.pseudonym_key",
                          "SELECT * FROM private.pseudonym_key LIMIT 1"):
                with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(query)
                conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'private'")
                assert cur.fetchone()[0] == 0
                # Nothing the role may call runs with another role's rights (a function that did
                # could hand out the key, or hash guesses with it).
                cur.execute("""
                    SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.prosecdef AND has_function_privilege(p.oid, 'EXECUTE')
                      AND has_schema_privilege(p.pronamespace, 'USAGE')
                      AND p.pronamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')""")
                callable_definers = {name for (name,) in cur.fetchall()}
            conn.rollback()
        finally:
            conn.close()
        if url == isolated_settings.analyst_database_url:
            assert callable_definers == set()
        else:  # the pipeline role: creating partitions, bulk loading an empty population table
            assert callable_definers == {"ops.ensure_day_partitions(date,date)",
                                         "ops.begin_population_load(regclass)",
                                         "ops.finish_population_load(regclass)"}

    query = "SELECT person_id, identity_pseudonym FROM analytics.person ORDER BY person_id"
    first = analyst_query(isolated_settings.analyst_database_url, query)
    apply_schema(isolated_settings.database_admin_url)  # init_db.sql again: the key stays
    second = analyst_query(isolated_settings.analyst_database_url, query)
    with admin.cursor() as cur:
        cur.execute("SELECT secret_key FROM private.pseudonym_key")
        assert bytes(cur.fetchone()[0]) == bytes(key)
    admin.close()
    assert first == second
    assert len(first) == len(people) and len({p for _, p in first}) == len(people)
    assert all(pseudonym and len(pseudonym) == 16 for _, pseudonym in first)


# -- 2. day partitions --------------------------------------------------------------------

OUT_OF_RANGE_DAYS = ["infinity", "-infinity", "0044-03-15 BC", "10000-01-01", "5874897-12-31"]


def shifted(day: date, days: int) -> str:
    try:
        return (day + timedelta(days=days)).isoformat()
    except OverflowError:
        return "10000-01-01" if days > 0 else "0001-12-31 BC"


# (first_day, last_day) as PostgreSQL date text: mostly short spans, some long, reversed or not finite
day_ranges = st.one_of(
    st.tuples(st.dates(), st.one_of(st.integers(-3, 12), st.integers(55, 70), st.integers(-10**6, 10**6)))
      .map(lambda t: (t[0].isoformat(), shifted(*t))),
    st.tuples(st.sampled_from(OUT_OF_RANGE_DAYS), st.dates().map(date.isoformat)),
    st.tuples(st.dates().map(date.isoformat), st.sampled_from(OUT_OF_RANGE_DAYS)),
)
any_day = st.one_of(st.dates().map(date.isoformat), st.sampled_from(OUT_OF_RANGE_DAYS))


def requested_days(first: str, last: str) -> list[date] | None:
    """The days a valid request covers, or None for a request the function must refuse."""
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None
    if last_day < first_day or (last_day - first_day).days + 1 > 62:
        return None
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


PARTITIONS_SQL = """
SELECT parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid)
FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_class child ON child.oid = i.inhrelid
WHERE parent.relnamespace = 'clinical'::regnamespace AND parent.relkind = 'p'
"""


def partitions(cur) -> set[tuple[str, str, str]]:
    cur.execute(PARTITIONS_SQL)
    return set(cur.fetchall())


def test_partition_functions_make_only_the_finite_days_asked_and_the_pipeline_drops_nothing(isolated_settings):
    ingest = connect(isolated_settings.database_url)
    admin = connect(isolated_settings.database_admin_url)
    with ingest.cursor() as cur:
        cur.execute("SET statement_timeout = '30s'")  # a function that loops forever fails, not hangs
        cur.execute("SELECT relname FROM pg_class WHERE relnamespace = 'clinical'::regnamespace AND relkind = 'p'")
        parents = sorted(name for (name,) in cur.fetchall())
        cur.execute("SELECT ops.ensure_day_partitions(DATE '2026-03-01', DATE '2026-03-03')")
    ingest.commit()
    with admin.cursor() as cur:
        standing = partitions(cur)
    assert len(standing) == 3 * len(parents) == 18

    @PROPERTY_SETTINGS
    @given(day_range=day_ranges)
    def ensure_makes_exactly_the_days_asked(day_range):
        first, last = day_range
        days = requested_days(first, last)
        try:
            with ingest.cursor() as cur:
                if days is None:
                    with pytest.raises(psycopg2.errors.InvalidParameterValue):
                        cur.execute("SELECT ops.ensure_day_partitions(%s::date, %s::date)", (first, last))
                    return
                cur.execute("SELECT ops.ensure_day_partitions(%s::date, %s::date)", (first, last))
                created = cur.fetchone()[0]
                made = partitions(cur) - standing
            expected = {(parent, f"{parent}_{day.year:04d}{day.month:02d}{day.day:02d}",
                         f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")
                        for parent in parents for day in days} - standing
            assert made == expected
            assert created == len(expected)
        finally:
            ingest.rollback()

    @PROPERTY_SETTINGS
    @given(day=any_day)
    def only_the_owner_drops_and_only_finite_days_before(day):
        try:
            with ingest.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT * FROM ops.drop_day_partitions_before(%s::date)", (day,))
        finally:
            ingest.rollback()
        try:
            with admin.cursor() as cur:
                try:
                    first_kept = date.fromisoformat(day)
                except ValueError:
                    with pytest.raises(psycopg2.errors.InvalidParameterValue):
                        cur.execute("SELECT * FROM ops.drop_day_partitions_before(%s::date)", (day,))
                    return
                cur.execute("SELECT dropped_partition FROM ops.drop_day_partitions_before(%s::date)", (day,))
                dropped = {name for (name,) in cur.fetchall()}
                assert dropped == {f"clinical.{child}" for _, child, _ in standing
                                   if date.fromisoformat(f"{child[-8:-4]}-{child[-4:-2]}-{child[-2:]}") < first_kept}
                cur.execute("SELECT count(*) FROM ops.partition_drop")
                assert cur.fetchone()[0] == len(dropped)
        finally:
            admin.rollback()

    try:
        ensure_makes_exactly_the_days_asked()
        only_the_owner_drops_and_only_finite_days_before()
        with admin.cursor() as cur:
            assert partitions(cur) == standing  # the pipeline role never dropped one
    finally:
        ingest.close()
        admin.close()


def test_prune_drops_the_days_before_prints_them_and_records_them(isolated_settings, monkeypatch, capsys):
    from hospital import prune  # here, not above: the other tests stand without it

    ingest = connect(isolated_settings.database_url)
    with ingest.cursor() as cur:
        cur.execute("SELECT ops.ensure_day_partitions(DATE '2026-03-01', DATE '2026-03-03')")
        cur.executemany(
            """INSERT INTO clinical.medication (medication_id, record_date, patient_id, ward_code, drug_name, dose,
                   route, administered_at, administered_by_staff_id, file_id)
               VALUES (%s, %s, 1, 'W01', 'Ceftriaxone', '1 g', 'iv', %s, 1, %s)""",
            [(1, date(2026, 3, 1), "2026-03-01T10:00+02:00", 7), (2, date(2026, 3, 1), "2026-03-01T11:00+02:00", 9),
             (3, date(2026, 3, 1), "2026-03-01T12:00+02:00", 7), (4, date(2026, 3, 2), "2026-03-02T10:00+02:00", 11)])
    ingest.commit()
    ingest.close()
    monkeypatch.setenv("DATABASE_ADMIN_URL", isolated_settings.database_admin_url)

    assert prune.main(["--before", "2026-03-02", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "would drop clinical.medication_20260301: 3 rows from 2 files" in dry
    assert "would drop 6 partitions before 2026-03-02, 3 rows" in dry

    assert prune.main(["--before", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "dropped clinical.medication_20260301: 3 rows from 2 files" in out
    assert "dropped 6 partitions before 2026-03-02, 3 rows; recorded in ops.partition_drop" in out

    with pytest.raises(SystemExit) as refused:  # argparse: a usage error
        prune.main(["--before", "infinity"])
    assert refused.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err
    assert prune.main(["--before", "2026-03-02"]) == 0  # nothing left before it
    assert "dropped 0 partitions" in capsys.readouterr().out

    admin = connect(isolated_settings.database_admin_url)
    try:
        with admin.cursor() as cur:
            cur.execute("""SELECT table_name, partition_day, row_count, file_ids FROM ops.partition_drop
                           WHERE partition_name = 'clinical.medication_20260301'""")
            assert cur.fetchall() == [("clinical.medication", date(2026, 3, 1), 3, [7, 9])]
            cur.execute("SELECT count(*) FROM clinical.medication")
            assert cur.fetchone()[0] == 1  # 2026-03-02 stays
            cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_20260301' AND relispartition")
            assert cur.fetchone()[0] == 0
    finally:
        admin.close()

    monkeypatch.setenv("DATABASE_ADMIN_URL", "")
    assert prune.main(["--before", "2026-03-03"]) == 1
    assert "DATABASE_ADMIN_URL is not set" in capsys.readouterr().err


# -- 3. the audit trail -------------------------------------------------------------------

def finished_audit_trail(database_url: str) -> int:
    """As the pipeline role, the way a loader and the consumer write: a ledger row claimed and
    completed in one transaction, a rejected row of it, a quarantined event. Returns the file_id."""
    conn = connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO ops.file_ledger (sha256, file_name, size_bytes, status, claimed_by)
                           VALUES (repeat('ab', 32), 'vital_sign_x.csv', 100, 'loaded', 'test:1') RETURNING file_id""")
            file_id = cur.fetchone()[0]
            cur.execute("UPDATE ops.file_ledger SET file_kind = 'vital_sign', record_ids = '{[1,3]}' WHERE file_id = %s",
                        (file_id,))
            cur.execute("""INSERT INTO ops.rejected_row (file_id, line_number, reason, raw_row)
                           VALUES (%s, 5, 'heart_rate_bpm: not an integer', '4,x')""", (file_id,))
            cur.execute("""UPDATE ops.file_ledger SET status = 'loaded', finished_at = clock_timestamp(),
                               rows_read = 4, rows_loaded = 3, rows_rejected = 1
                           WHERE file_id = %s""", (file_id,))
            cur.execute("""INSERT INTO ops.quarantined_event (topic, kafka_partition, kafka_offset, reason, raw_payload)
                           VALUES ('patient-transfers', 0, 17, 'not_json: x', '\\x7b')""")
        conn.commit()
        return file_id
    finally:
        conn.close()


def audit_snapshot(admin_url: str) -> list:
    conn = connect(admin_url)
    try:
        with conn.cursor() as cur:
            rows = []
            for table in ("ops.file_ledger", "ops.rejected_row", "ops.quarantined_event"):
                cur.execute(f"SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1")  # noqa: S608 - fixed names
                rows.append(cur.fetchall())
            return rows
    finally:
        conn.close()


TAMPERING = [  # (statement, who may try, the error it must meet)
    ("UPDATE ops.file_ledger SET rows_loaded = 4, rows_rejected = 0", "ingest", psycopg2.errors.RaiseException),
    ("UPDATE ops.file_ledger SET status = 'quarantined', rows_read = NULL, rows_loaded = NULL, rows_rejected = NULL",
     "ingest", psycopg2.errors.RaiseException),
    ("UPDATE ops.file_ledger SET file_name = 'other.csv'", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("UPDATE ops.file_ledger SET sha256 = repeat('cd', 32)", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("DELETE FROM ops.file_ledger", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("TRUNCATE ops.file_ledger CASCADE", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("UPDATE ops.rejected_row SET reason = 'fine'", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("DELETE FROM ops.rejected_row", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("TRUNCATE ops.rejected_row", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("UPDATE ops.quarantined_event SET reason = 'fine'", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("DELETE FROM ops.quarantined_event", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("TRUNCATE ops.quarantined_event", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("UPDATE ops.partition_drop SET row_count = 0", "ingest", psycopg2.errors.InsufficientPrivilege),
    ("INSERT INTO ops.partition_drop (table_name, partition_name, partition_day, row_count, file_ids) "
     "VALUES ('clinical.x', 'clinical.x_20260301', '2026-03-01', 0, '{}')", "ingest",
     psycopg2.errors.InsufficientPrivilege),
    ("TRUNCATE core.person CASCADE", "ingest", psycopg2.errors.InsufficientPrivilege),
    # A finished ledger row is final for the owner too (the trigger, not a privilege).
    ("UPDATE ops.file_ledger SET rows_loaded = 4, rows_rejected = 0", "admin", psycopg2.errors.RaiseException),
    ("DELETE FROM ops.rejected_row; DELETE FROM ops.file_ledger", "admin", psycopg2.errors.RaiseException),
]


def test_the_pipeline_role_adds_to_the_audit_trail_but_cannot_rewrite_it(isolated_settings):
    finished_audit_trail(isolated_settings.database_url)
    before = audit_snapshot(isolated_settings.database_admin_url)
    urls = {"ingest": isolated_settings.database_url, "admin": isolated_settings.database_admin_url}
    for statement, who, error in TAMPERING:
        conn = connect(urls[who])
        try:
            with conn.cursor() as cur, pytest.raises(error):
                cur.execute(statement)
                conn.commit()
                pytest.fail(f"{who} could run: {statement}")
        finally:
            conn.rollback()
            conn.close()
    assert audit_snapshot(isolated_settings.database_admin_url) == before

    # An unfinished claim is still the loader's to complete, but not to rename.
    conn = connect(isolated_settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO ops.file_ledger (sha256, file_name, size_bytes, status, claimed_by)
                           VALUES (repeat('ef', 32), 'lab_result_y.csv', 10, 'loaded', 'test:2') RETURNING file_id""")
            file_id = cur.fetchone()[0]
            cur.execute("""UPDATE ops.file_ledger SET status = 'quarantined', finished_at = clock_timestamp(),
                               error = 'empty file' WHERE file_id = %s""", (file_id,))
            assert cur.rowcount == 1
            with pytest.raises(psycopg2.errors.RaiseException, match="finished ledger row"):
                cur.execute("UPDATE ops.file_ledger SET error = 'nothing wrong' WHERE file_id = %s", (file_id,))
    finally:
        conn.rollback()
        conn.close()


def test_run_fresh_empties_the_warehouse_as_the_owner_and_says_so_without_its_url(run_settings):
    finished_audit_trail(run_settings.database_url)
    before = audit_snapshot(run_settings.database_admin_url)

    with pytest.raises(SettingsError, match="DATABASE_ADMIN_URL"):
        reset(dataclasses.replace(run_settings, database_admin_url=None))
    assert audit_snapshot(run_settings.database_admin_url) == before  # nothing emptied

    reset(run_settings)
    assert audit_snapshot(run_settings.database_admin_url) == [[], [], []]
    conn = connect(run_settings.database_admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM private.pseudonym_key")  # the key outlives a fresh run
            assert cur.fetchone()[0] == 1
    finally:
        conn.close()
