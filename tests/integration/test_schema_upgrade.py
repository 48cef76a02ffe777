"""init_db.sql upgrades a warehouse made by the schema of an earlier release, in place.

A compose volume or a local cluster keeps the schema it was first made with, and `make up` (and
the compose `init` service) apply init_db.sql again over it. The earlier schema is read from the
repository's history (the release before this round's column and constraint changes), applied to
a scratch database with a few rows in it, and then the current init_db.sql must apply, twice,
and leave the new columns and constraints in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

from psycopg2 import sql

from database.connection import connect
from database.schema import SCHEMA_FILE, apply_schema, scratch_database, with_database

EARLIER_RELEASE = "8efd77b"  # main before core.patient.current_primary_icd10, guardians and doctors' calls
REPOSITORY = Path(__file__).resolve().parents[2]


def earlier_schema(tmp_path: Path) -> Path:
    text = subprocess.run(["git", "-C", str(REPOSITORY), "show", f"{EARLIER_RELEASE}:init_db.sql"],
                          check=True, capture_output=True, text=True).stdout
    path = tmp_path / "init_db_earlier.sql"
    path.write_text(text, encoding="utf-8")
    return path


def test_init_db_upgrades_a_warehouse_of_the_earlier_release(admin_url, tmp_path):
    with scratch_database(admin_url, "upgrade") as name:
        url = with_database(admin_url, name)
        conn = connect(url)
        try:
            with conn.cursor() as cur:  # start from the earlier schema alone, with a person and a patient
                cur.execute("DROP SCHEMA core, clinical, stream, ops, analytics, reference, private CASCADE")
            conn.commit()
        finally:
            conn.close()
        apply_schema(url, earlier_schema(tmp_path))
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("""
                    INSERT INTO core.person (person_id, sa_id_number, first_name, last_name, sex, date_of_birth,
                        citizenship, phone_number, street_address, suburb, city, province, postal_code)
                    VALUES (1, '8001015009087', 'Thabo', 'Mokoena', 'M', '1980-01-01', 'citizen', '+27821234567',
                            '12 Vilakazi Street', 'Orlando West', 'Johannesburg', 'Gauteng', '1804')""")
            conn.commit()
        finally:
            conn.close()
        apply_schema(url)
        apply_schema(url)  # and again: idempotent
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                for table, column in (("core.patient", "current_primary_icd10"), ("core.person", "guardian_person_id")):
                    cur.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(
                        sql.Identifier(column), sql.Identifier(*table.split("."))))
                cur.execute("SELECT pg_get_indexdef('core.uq_person_sa_id_number'::regclass)")
                assert 'COLLATE "C"' in cur.fetchone()[0]
                cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'core.staff_assignment'::regclass")
                assert "ck_staff_assignment_length" in {row[0] for row in cur.fetchall()}
                cur.execute("SELECT count(*) FROM core.person")
                assert cur.fetchone()[0] == 1
        finally:
            conn.close()
    assert SCHEMA_FILE.is_file()
