"""load-population against the real PostgreSQL: FK order, idempotence, staff history."""

from __future__ import annotations

import csv

import pytest

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


def test_a_partly_loaded_warehouse_is_completed_without_duplicates(isolated_settings, data_dir, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("DATABASE_URL", isolated_settings.database_url)
    partial = tmp_path / "partial"
    partial.mkdir()
    lines = (data_dir / "people.csv").read_text().splitlines(keepends=True)
    (partial / "people.csv").write_text("".join(lines[:1001]))
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
