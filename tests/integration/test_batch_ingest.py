"""Batch files from landing folder to warehouse, against the real PostgreSQL.

Every count is checked against an independent source: data rows counted with the csv module,
ids read from the files with the csv module, row counts and id sets from the database."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from core.batch_files import KINDS, BatchFolders
from database.batch_ingest import (PassResult, Window, _stage_and_merge, configure_session,
                                   load_file, prepare_partitions, run)
from database.connection import connect
from database.ledger import claim, record_loaded
from database.record_file import open_records, read_landed
from producer.batch_writer import write_window
from tests import faults
from tests.integration.batch_fixtures import PATIENT_ID_BASE, STAFF_ID_BASE, load_batch_population
from tests.integration.stream_fixtures import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SMALL_WINDOW = 3 * 10**6  # bytes for the whole 9 days: a few kB a tick


@pytest.fixture()
def batch_settings(isolated_settings, tmp_path):
    load_batch_population(isolated_settings.database_admin_url)
    return dataclasses.replace(isolated_settings, data_dir=tmp_path / "data", sim_speed=0)


def _query(settings, sql: str, params=()):
    conn = connect(settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def _data_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _kind_of(path: Path) -> str:
    return next(name for name in KINDS if path.name.startswith(name + "_"))


def _ids_in_files(paths, kind: str) -> list[int]:
    return [int(row[KINDS[kind].id_column]) for p in paths if _kind_of(p) == kind for row in _data_rows(p)]


def _ids_in_table(settings, kind: str) -> list[int]:
    record = KINDS[kind]
    return [r[0] for r in _query(settings, f"SELECT {record.id_column} FROM {record.table}")]


def _subprocess_env(settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir),
            "SIM_SPEED": "0", "PYTHONUNBUFFERED": "1"}


def _ingest_process(settings, fault: list[str] | None = None) -> subprocess.Popen:
    """batch_ingest as a real process; `fault` (tests/faults.py) patches a seam of it."""
    argv = faults.command("ingest", fault, []) if fault else [sys.executable, "database/batch_ingest.py"]
    return subprocess.Popen(argv, cwd=REPO, env=_subprocess_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _assert_reconciled(settings):
    """Every loaded file: rows_read = loaded + rejected = its data rows counted by the csv module."""
    folders = BatchFolders.from_settings(settings)
    ledger = _query(settings, "SELECT file_name, rows_read, rows_loaded, rows_rejected FROM ops.file_ledger "
                              "WHERE status = 'loaded'")
    assert ledger
    for name, read, loaded, rejected in ledger:
        assert read == loaded + rejected
        assert read == len(_data_rows(folders.archive / name))
    rejected_rows = _query(settings, "SELECT count(*) FROM ops.rejected_row")[0][0]
    assert rejected_rows == sum(r[3] for r in ledger)


def test_written_batches_load_completely_and_reconcile(batch_settings):
    written = write_window(batch_settings, target_bytes=SMALL_WINDOW, max_ticks=8)
    files = sorted(BatchFolders.from_settings(batch_settings).landing.glob("*.csv"))
    assert len(files) == written.files and written.files > 8
    kinds = {_kind_of(p) for p in files}
    file_ids = {kind: _ids_in_files(files, kind) for kind in kinds}

    result = run(batch_settings)

    assert (result.loaded, result.quarantined, result.rows_rejected) == (written.files, 0, 0)
    for kind in kinds:
        in_table = _ids_in_table(batch_settings, kind)
        assert sorted(in_table) == sorted(file_ids[kind]), kind
    _assert_reconciled(batch_settings)
    assert not list(BatchFolders.from_settings(batch_settings).landing.iterdir())


def test_the_same_file_twice_and_under_another_name_loads_once(batch_settings, tmp_path):
    write_window(batch_settings, target_bytes=SMALL_WINDOW, max_ticks=2)
    folders = BatchFolders.from_settings(batch_settings)
    original = sorted(folders.landing.glob("vital_sign_*.csv"))[0]
    keep = shutil.copy(original, tmp_path / "keep.csv")
    expected = len(_data_rows(original))
    run(batch_settings)

    shutil.copy(keep, folders.landing / original.name)          # the same file again
    shutil.copy(keep, folders.landing / "resent-by-lab.csv")     # and under another name
    second = run(batch_settings)

    assert second.loaded == 0 and second.rows_loaded == 0
    assert _query(batch_settings, "SELECT count(*) FROM ops.file_ledger WHERE file_name = %s",
                  (original.name,))[0][0] == 1
    assert _query(batch_settings, "SELECT count(*) FROM ops.file_ledger WHERE file_name = 'resent-by-lab.csv'")[0][0] == 0
    in_table = Counter(_ids_in_table(batch_settings, "vital_sign"))
    assert max(in_table.values()) == 1
    from_file = {int(r["vital_sign_id"]) for r in _data_rows(Path(keep))}
    assert from_file <= set(in_table) and len(from_file) == expected
    assert (folders.duplicate / "resent-by-lab.csv").exists()
    assert not list(folders.landing.iterdir())
    _assert_reconciled(batch_settings)


def _good_rows(kind: str, n: int, start_id: int = 1) -> list[list[str]]:
    """Valid rows of a kind, written by hand against the fixture population."""
    rows = []
    for i in range(n):
        when = f"2026-03-02T08:{i % 60:02d}:00+02:00"
        patient, staff = str(PATIENT_ID_BASE + 1 + i % 50), str(STAFF_ID_BASE + i % 10)
        if kind == "vital_sign":
            rows.append([str(start_id + i), patient, "W03", when, "80", "120", "80", "16", "36.8", "98", staff])
        elif kind == "medication":
            rows.append([str(start_id + i), patient, "W03", "Paracetamol", "1 g", "oral", when, staff])
    return rows


def _write_csv(path: Path, header, rows, *, encoding="utf-8"):
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_only_files_that_are_not_record_files_are_quarantined_and_the_run_goes_on(batch_settings):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    good = _write_csv(folders.landing / "a_good.csv", KINDS["vital_sign"].header, _good_rows("vital_sign", 20))
    _write_csv(folders.landing / "c_wrong_header.csv", ["id", "patient", "when"], [["1", "2", "3"]])
    (folders.landing / "g_empty.csv").write_bytes(b"")
    (folders.landing / "h_only_a_bom.csv").write_bytes(b"\xef\xbb\xbf")
    (folders.landing / "i_latin1_header.csv").write_bytes("patient_id,né\n1,2\n".encode("latin-1"))
    stray = folders.landing / "h_half_written.csv.tmp"
    stray.write_bytes(b"vital_sign_id,patient_id\n1,")

    result = run(batch_settings)

    bad = {"c_wrong_header.csv", "g_empty.csv", "h_only_a_bom.csv", "i_latin1_header.csv"}
    assert (result.loaded, result.quarantined) == (1, len(bad))
    ledger = dict(_query(batch_settings, "SELECT file_name, status FROM ops.file_ledger"))
    assert ledger == {"a_good.csv": "loaded", **{name: "quarantined" for name in bad}}
    errors = dict(_query(batch_settings, "SELECT file_name, error FROM ops.file_ledger WHERE status = 'quarantined'"))
    assert "empty" in errors["g_empty.csv"] and "empty" in errors["h_only_a_bom.csv"]
    assert "wrong header" in errors["c_wrong_header.csv"] and "UTF-8" in errors["i_latin1_header.csv"]
    assert {p.name for p in folders.quarantine.iterdir()} == bad
    assert [p.name for p in folders.landing.iterdir()] == [stray.name]
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == list(range(1, 21))
    assert _query(batch_settings, "SELECT rows_read, rows_loaded FROM ops.file_ledger WHERE file_name = %s",
                  (good.name,)) == [(20, 20)]


def _lines(rows) -> list[bytes]:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode().splitlines(keepends=True)


def test_records_that_cannot_be_rows_are_rejected_with_their_line_and_the_rest_load(batch_settings):
    """Finding 5 of the trust review: one surplus field, or a byte-order mark, sent the whole
    file to quarantine. Now each such record is rejected with its line and the rest load."""
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    header = (",".join(KINDS["vital_sign"].header) + "\n").encode()
    lines = _lines(_good_rows("vital_sign", 12))
    broken = {
        3: lines[1].rstrip(b"\n") + b",surplus\n",                 # a field too many
        4: b",".join(lines[2].split(b",")[:-2]) + b"\n",            # two fields too few
        5: lines[3].replace(b"W03", b"M\xe9D1"),                   # latin-1, not UTF-8
        6: b"\\.\n",                                              # COPY's end-of-data marker
        7: b"\n",                                                  # an empty line
        8: lines[6].replace(b"W03", b"ME\x00D1"),                  # a NUL byte
    }
    body = [broken.get(n, line) for n, line in enumerate(lines, start=2)]
    body[-1] = body[-1][:-7]                                        # the last line cut short
    (folders.landing / "bom_and_bad_records.csv").write_bytes(b"\xef\xbb\xbf" + header + b"".join(body))

    result = run(batch_settings)

    assert (result.loaded, result.quarantined) == (1, 0)
    by_line = dict(_query(batch_settings, "SELECT line_number, reason FROM ops.rejected_row"))
    assert set(by_line) == {3, 4, 5, 6, 7, 8, 13}
    assert "12 fields" in by_line[3] and "9 fields" in by_line[4] and "UTF-8" in by_line[5]
    assert "\\." in by_line[6] and "empty" in by_line[7] and "NUL" in by_line[8] and "line end" in by_line[13]
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == [1, 8, 9, 10, 11]
    assert _query(batch_settings, "SELECT rows_read, rows_loaded, rows_rejected FROM ops.file_ledger") == [(12, 5, 7)]


def test_a_lone_end_of_data_marker_loses_no_records(batch_settings):
    """Finding 1 of the trust review: a vital-sign file of 2,626 records with a line holding only
    \\. after record 99 was recorded loaded with 99 rows (COPY stops there without an error)."""
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    lines = _lines(_good_rows("vital_sign", 2626))
    header = (",".join(KINDS["vital_sign"].header) + "\n").encode()
    path = folders.landing / "vital_sign_marker.csv"
    path.write_bytes(header + b"".join(lines[:99]) + b"\\.\n" + b"".join(lines[99:]))
    records = sum(1 for _ in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))) - 1

    result = run(batch_settings)

    assert records == 2627 and (result.loaded, result.rows_read) == (1, records)
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == list(range(1, 2627))
    assert _query(batch_settings, "SELECT line_number, reason FROM ops.rejected_row") == [
        (101, "a line holding only \\. (COPY's end-of-data marker)")]
    assert _query(batch_settings, "SELECT rows_read, rows_loaded, rows_rejected FROM ops.file_ledger") == [
        (2627, 2626, 1)]


def test_bad_rows_are_rejected_with_their_reasons(batch_settings):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    rows = _good_rows("vital_sign", 12)
    rows[1][1] = "999999999"                        # line 3: no such patient
    rows[2][2] = "NOWARD"                           # line 4: no such ward
    rows[3][3] = "2026-02-30T08:00:00+02:00"        # line 5: not a date
    rows[4][3] = "2026-04-02T08:00:00+02:00"        # line 6: outside the window
    rows[5][4] = "400"                              # line 7: heart rate out of range
    rows[6][0] = rows[0][0]                         # line 8: duplicate id within the file
    rows[7][6] = "eighty"                           # line 9: not an integer
    rows[8][10] = ""                                # line 10: staff missing
    _write_csv(folders.landing / "vitals.csv", KINDS["vital_sign"].header, rows)
    dx = KINDS["diagnosis"].header
    man, woman = str(PATIENT_ID_BASE + 2), str(PATIENT_ID_BASE + 41)  # fixture: even persons are men
    when, doctor = "2026-03-02T09:00:00+02:00", str(STAFF_ID_BASE + 3)
    _write_csv(folders.landing / "diagnoses.csv", dx, [
        ["1", "10", woman, "O80.0", "primary", when, doctor],       # fits
        ["2", "11", man, "O80.0", "primary", when, doctor],         # line 3: pregnancy code for a man
        ["3", "12", woman, "S72.0", "primary", when, doctor],       # line 4: injury without external cause
        ["4", "13", man, "S06.0", "primary", when, doctor],         # fits, with its cause:
        ["5", "13", man, "W19", "external_cause", when, doctor],
        ["6", "14", man, "Z99.9", "primary", when, doctor],         # line 7: not in reference.icd10_code
    ])

    run(batch_settings)

    rejected = _query(batch_settings, """
        SELECT l.file_name, r.line_number, r.reason FROM ops.rejected_row r
        JOIN ops.file_ledger l USING (file_id) ORDER BY 1, 2""")
    by_line = {(name, line): reason for name, line, reason in rejected}
    assert set(by_line) == {("vitals.csv", n) for n in range(3, 11)} | {("diagnoses.csv", n) for n in (3, 4, 7)}
    assert "patient" in by_line[("vitals.csv", 3)] and "ward" in by_line[("vitals.csv", 4)]
    assert "outside the window" in by_line[("vitals.csv", 6)]
    assert "duplicate" in by_line[("vitals.csv", 8)]
    assert "pregnancy" in by_line[("diagnoses.csv", 3)]
    assert "external cause" in by_line[("diagnoses.csv", 4)]
    assert "no such icd10" in by_line[("diagnoses.csv", 7)]
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == [1, 10, 11, 12]
    assert sorted(_ids_in_table(batch_settings, "diagnosis")) == [1, 4, 5]
    _assert_reconciled(batch_settings)


def test_a_resent_file_with_other_bytes_loads_only_records_not_loaded_before(batch_settings):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    header = KINDS["vital_sign"].header
    _write_csv(folders.landing / "first.csv", header, _good_rows("vital_sign", 20, start_id=1))
    run(batch_settings)
    resent = _good_rows("vital_sign", 16, start_id=15)   # ids 15..30: 15..20 came with first.csv
    resent[0][4] = "81"                                  # and one of them edited, so other bytes
    _write_csv(folders.landing / "resent.csv", header, resent)
    gaps = [row for row in _good_rows("vital_sign", 6, start_id=40) if int(row[0]) % 2 == 0]  # 40, 42, 44
    _write_csv(folders.landing / "with_gaps.csv", header, gaps)
    _write_csv(folders.landing / "in_a_gap.csv", header, _good_rows("vital_sign", 1, start_id=41))

    run(batch_settings)

    in_table = _ids_in_table(batch_settings, "vital_sign")
    assert sorted(in_table) == list(range(1, 31)) + [40, 41, 42, 44]
    rejected = _query(batch_settings, """
        SELECT r.line_number, r.reason FROM ops.rejected_row r JOIN ops.file_ledger l USING (file_id)
        WHERE l.file_name = 'resent.csv' ORDER BY 1""")
    assert [line for line, _ in rejected] == list(range(2, 8))   # ids 15..20 on lines 2..7
    assert {reason for _, reason in rejected} == {"vital_sign_id: already loaded from another file"}
    claims = dict(_query(batch_settings, "SELECT file_name, record_ids::text FROM ops.file_ledger"))
    assert claims == {"first.csv": "{[1,21)}", "resent.csv": "{[21,31)}",
                      "with_gaps.csv": "{[40,41),[42,43),[44,45)}", "in_a_gap.csv": "{[41,42)}"}
    _assert_reconciled(batch_settings)


def test_two_loaders_with_overlapping_files_keep_each_record_once(batch_settings):
    """The second loader's claim waits for the first loader's transaction; once that commits,
    the second finds the ids taken and rejects those rows instead of loading them again."""
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    header = KINDS["vital_sign"].header
    first = _write_csv(folders.landing / "first.csv", header, _good_rows("vital_sign", 50, start_id=1))
    second = _write_csv(folders.landing / "second.csv", header, _good_rows("vital_sign", 50, start_id=26))
    window = Window.rolling(batch_settings.sim_start)
    conns = [connect(batch_settings.database_url) for _ in range(2)]
    try:
        for conn in conns:
            configure_session(conn)
        prepare_partitions(conns[0], window)
        with conns[0].cursor() as cur:   # loader 1: everything but the commit
            landed = read_landed(first)
            taken = claim(cur, landed.sha256, first.name, landed.size, "loader-1")
            counts = _stage_and_merge(cur, open_records(landed), taken.file_id, window)
            assert counts == (50, 50, 0)
            record_loaded(cur, taken.file_id, "vital_sign", *counts)
        result = PassResult()
        loader_2 = threading.Thread(target=load_file, args=(conns[1], second, folders, window, "loader-2", result))
        loader_2.start()
        waiting = ("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (conns[1].get_backend_pid(),))
        wait_for(lambda: _query(batch_settings, *waiting) == [("Lock",)], what="loader 2 waiting for loader 1")
        conns[0].commit()
        loader_2.join(60)
        assert not loader_2.is_alive()
    finally:
        for conn in conns:
            conn.close()

    assert (result.loaded, result.rows_loaded, result.rows_rejected) == (1, 25, 25)
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == list(range(1, 76))
    _assert_reconciled_ledger(batch_settings)


def _assert_reconciled_ledger(settings):
    ledger = _query(settings, "SELECT rows_read, rows_loaded, rows_rejected FROM ops.file_ledger")
    assert all(read == loaded + rejected for read, loaded, rejected in ledger)
    assert _query(settings, "SELECT count(*) FROM ops.rejected_row")[0][0] == sum(r[2] for r in ledger)


def test_a_loader_killed_between_copy_and_commit_loads_the_file_once_after_restart(batch_settings, tmp_path):
    write_window(batch_settings, target_bytes=SMALL_WINDOW, max_ticks=1)
    folders = BatchFolders.from_settings(batch_settings)
    files = sorted(folders.landing.glob("*.csv"))
    expected = {kind: sorted(_ids_in_files(files, kind)) for kind in {_kind_of(p) for p in files}}
    marker = tmp_path / "paused"

    victim = _ingest_process(batch_settings, fault=["--pause-before-commit", str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "the loader never reached the pause before commit"
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(30)

    assert _query(batch_settings, "SELECT count(*) FROM ops.file_ledger")[0][0] == 0
    assert sorted(folders.landing.glob("*.csv")) == files
    restarted = _ingest_process(batch_settings)
    output = restarted.communicate(timeout=120)[0]
    assert restarted.returncode == 0, output

    assert _query(batch_settings, "SELECT count(*) FROM ops.file_ledger WHERE status = 'loaded'")[0][0] == len(files)
    for kind, ids in expected.items():
        assert sorted(_ids_in_table(batch_settings, kind)) == ids
    _assert_reconciled(batch_settings)


def test_two_loaders_side_by_side_never_load_a_file_twice(batch_settings):
    write_window(batch_settings, target_bytes=SMALL_WINDOW * 4, max_ticks=12)
    folders = BatchFolders.from_settings(batch_settings)
    files = sorted(folders.landing.glob("*.csv"))
    expected = {kind: sorted(_ids_in_files(files, kind)) for kind in {_kind_of(p) for p in files}}

    workers = [_ingest_process(batch_settings) for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs

    claimed_by = _query(batch_settings, "SELECT claimed_by, count(*) FROM ops.file_ledger GROUP BY 1")
    assert sum(n for _, n in claimed_by) == len(files)
    for kind, ids in expected.items():
        assert sorted(_ids_in_table(batch_settings, kind)) == ids
    assert {p.name for p in folders.archive.glob("*.csv")} == {p.name for p in files}
    assert not list(folders.duplicate.iterdir())
    _assert_reconciled(batch_settings)


def _move_patients_in(settings, patients: int, minutes: int) -> None:
    """What the stream consumer does while a run goes on: patients arrive in wards (completed
    transfers), so core.patient's census is no longer the window start's."""
    conn = connect(settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""UPDATE core.patient SET current_ward_code = (SELECT min(ward_code) FROM reference.ward
                                                                       WHERE bed_count > 0),
                               current_ward_since = %s
                           WHERE patient_id IN (SELECT patient_id FROM core.patient WHERE current_ward_code IS NULL
                                                ORDER BY patient_id LIMIT %s)""",
                        (settings.sim_start + timedelta(minutes=minutes), patients))
            assert cur.rowcount == patients
        conn.commit()
    finally:
        conn.close()


def test_a_stopped_run_resumes_without_skipping_or_reloading(batch_settings, tmp_path):
    # One uninterrupted writer run as the reference, in a folder of its own.
    reference = dataclasses.replace(batch_settings, data_dir=tmp_path / "reference")
    write_window(reference, target_bytes=SMALL_WINDOW, max_ticks=6)
    expected = {p.name: p.read_bytes() for p in BatchFolders.from_settings(reference).landing.glob("*.csv")}

    write_window(batch_settings, target_bytes=SMALL_WINDOW, max_ticks=3)
    first = run(batch_settings)
    _move_patients_in(batch_settings, patients=40, minutes=40)
    write_window(batch_settings, target_bytes=SMALL_WINDOW, max_ticks=3)   # resumes at tick 3
    second = run(batch_settings)

    archived = {p.name: p.read_bytes() for p in BatchFolders.from_settings(batch_settings).archive.glob("*.csv")}
    assert archived == expected
    assert first.loaded + second.loaded == len(expected) and first.loaded and second.loaded
    assert _query(batch_settings, "SELECT count(*) FROM ops.file_ledger")[0][0] == len(expected)
    _assert_reconciled(batch_settings)


def test_day_partitions_follow_the_window_and_the_loader_never_drops_one(batch_settings):
    """A far-off --as-of (or a moved SIM_START) used to drop every earlier partition while their
    files stayed `loaded`; dropping days is now an operator's act, never the loader's."""
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    _write_csv(folders.landing / "day_one.csv", KINDS["vital_sign"].header, _good_rows("vital_sign", 10))
    start = batch_settings.sim_start
    partitions = ("SELECT count(*), min(right(c.relname, 8)), max(right(c.relname, 8)) FROM pg_inherits i "
                  "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
                  "WHERE p.relname = 'vital_sign'")
    assert run(batch_settings).rows_loaded == 10
    assert _query(batch_settings, partitions)[0] == (10, "20260302", "20260311")  # 9 days and one ahead

    run(batch_settings, as_of=start + timedelta(days=400))

    assert _query(batch_settings, partitions)[0][1] == "20260302"
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == list(range(1, 11))


def test_a_target_too_small_for_vital_signs_writes_no_header_only_files(batch_settings):
    written = write_window(batch_settings, target_bytes=1000, max_ticks=3)

    files = sorted(BatchFolders.from_settings(batch_settings).landing.glob("*.csv"))
    assert files and written.files == len(files)
    assert not [p for p in files if p.name.startswith("vital_sign_")]
    assert all(_data_rows(p) for p in files)   # every file has rows, so no two are the same bytes
    assert run(batch_settings).loaded == len(files)
