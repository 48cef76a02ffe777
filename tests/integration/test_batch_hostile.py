"""Hostile batch files against the real loader and PostgreSQL: nothing lost, nothing stuck.

Records are counted by tests/rfc4180.py (not by the loader); ids and row counts come from the
database. The property test mutates a valid file at random (lines cut, doubled, spliced, bytes
replaced, fields added or removed, the end cut off) and checks, for every file, that its records
= loaded + rejected and that each untouched record next to the damage is stored."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from core.batch_files import KINDS, BatchFolders
from database.batch_ingest import run
import database.batch_ingest as batch_ingest
from database.connection import connect, infrastructure_failure
import database.record_file as record_file
from tests.integration.batch_fixtures import load_batch_population
from tests.integration.test_batch_ingest import _good_rows, _ids_in_table, _lines, _query, _write_csv
from tests.rfc4180 import rfc4180_records

pytestmark = pytest.mark.integration

VITAL = KINDS["vital_sign"]
HEADER = (",".join(VITAL.header) + "\n").encode()


@pytest.fixture()
def batch_settings(isolated_settings, tmp_path):
    load_batch_population(isolated_settings.database_admin_url)
    return dataclasses.replace(isolated_settings, data_dir=tmp_path / "data", sim_speed=0)


def _ledger(settings, name: str):
    return _query(settings, "SELECT status, sha256, rows_read, rows_loaded, rows_rejected, error "
                            "FROM ops.file_ledger WHERE file_name = %s", (name,))


def test_a_file_replaced_under_its_name_while_loading_keeps_ledger_archive_and_rows_in_step(
        batch_settings, monkeypatch):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    path = _write_csv(folders.landing / "vital_sign_x.csv", VITAL.header, _good_rows("vital_sign", 30))
    original = path.read_bytes()
    newcomer = HEADER + b"".join(_lines(_good_rows("vital_sign", 5, start_id=101)))
    merge = batch_ingest._stage_and_merge

    def replace_then_merge(*args, **kwargs):
        if path.read_bytes() == original:  # a writer renames a new file over it, mid-load
            (folders.landing / "new.tmp").write_bytes(newcomer)
            os.replace(folders.landing / "new.tmp", path)
        return merge(*args, **kwargs)

    monkeypatch.setattr(batch_ingest, "_stage_and_merge", replace_then_merge)
    run(batch_settings)

    (status, sha256, *_), = _ledger(batch_settings, path.name)
    assert status == "loaded" and sha256 == hashlib.sha256(original).hexdigest()
    assert (folders.archive / path.name).read_bytes() == original
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == list(range(1, 31))
    assert path.read_bytes() == newcomer                     # waits in landing for the next pass
    run(batch_settings)
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == [*range(1, 31), *range(101, 106)]


def test_a_file_whose_name_is_not_utf8_loads_under_a_readable_name(batch_settings):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    path = folders.landing / os.fsdecode(b"vital_sign_\xff\xfe.csv")
    _write_csv(path, VITAL.header, _good_rows("vital_sign", 10))

    result = run(batch_settings)

    assert (result.loaded, result.rows_loaded) == (1, 10)
    assert _query(batch_settings, "SELECT file_name FROM ops.file_ledger") == [("vital_sign_\\xff\\xfe.csv",)]
    assert [p.name for p in folders.archive.glob("*.csv")] == [path.name]


def test_a_failure_inside_one_file_quarantines_it_and_the_pass_goes_on(batch_settings, monkeypatch):
    """A per-file failure (here PostgreSQL refusing a statement over one of its limits, as a line
    over its 1 GB field limit does) used to be taken for a lost connection: the pass was retried
    until the loader exited, and every later file waited."""
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    for n, name in enumerate(("a.csv", "b_doomed.csv", "c.csv")):
        _write_csv(folders.landing / name, VITAL.header, _good_rows("vital_sign", 10, start_id=1 + 100 * n))
    merge = batch_ingest._stage_and_merge

    def over_a_limit_for_one_file(cur, records, *args):
        if records.body.startswith(b"101,"):  # b_doomed.csv
            cur.execute("SELECT array_fill(1, ARRAY[200000000])")  # 54000: array size exceeds the maximum
        return merge(cur, records, *args)

    monkeypatch.setattr(batch_ingest, "_stage_and_merge", over_a_limit_for_one_file)
    result = run(batch_settings)

    assert (result.loaded, result.quarantined) == (2, 1)
    (status, _, _, _, _, error), = _ledger(batch_settings, "b_doomed.csv")
    assert status == "quarantined" and "array size exceeds" in error
    assert (folders.quarantine / "b_doomed.csv").exists()
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == [*range(1, 11), *range(201, 211)]


def test_a_file_larger_than_the_loader_reads_is_quarantined_unread(batch_settings, monkeypatch):
    folders = BatchFolders.from_settings(batch_settings)
    folders.create()
    _write_csv(folders.landing / "big.csv", VITAL.header, _good_rows("vital_sign", 200))
    _write_csv(folders.landing / "small.csv", VITAL.header, _good_rows("vital_sign", 2, start_id=501))
    monkeypatch.setattr(record_file, "MAX_FILE_BYTES", 4096)

    result = run(batch_settings)

    assert (result.loaded, result.quarantined) == (1, 1)
    assert "larger than the loader reads" in _ledger(batch_settings, "big.csv")[0][5]
    assert sorted(_ids_in_table(batch_settings, "vital_sign")) == [501, 502]


def test_only_a_failing_service_counts_as_infrastructure(batch_settings):
    conn = connect(batch_settings.database_url)
    admin = connect(batch_settings.database_admin_url)
    try:
        for statement in ("SELECT 1/0", "SELECT array_fill(1, ARRAY[200000000])", "SELECT 'x'::regclass"):
            with pytest.raises(psycopg2.Error) as refused:
                with conn.cursor() as cur:
                    cur.execute(statement)
            conn.rollback()
            assert not infrastructure_failure(refused.value, conn), statement
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (conn.get_backend_pid(),))
        admin.commit()
        with pytest.raises(psycopg2.Error) as dropped:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        assert infrastructure_failure(dropped.value, conn)
    finally:
        conn.close()
        admin.close()


# -- the property test ---------------------------------------------------------------------------

LINE = st.integers(0, 10_000)
# Bytes that mean something to CSV, to COPY or to UTF-8, and arbitrary ones.
TRICKY = st.sampled_from([b"\\.", b'"', b"\r", b"\n", b"\x00", b"\xff", b"\xc3", b",", b'""', b"\xef\xbb\xbf"])
SOME_BYTES = st.one_of(TRICKY, st.binary(min_size=1, max_size=4))
MUTATION = st.one_of(
    st.tuples(st.just("line"), LINE, SOME_BYTES),                         # a line replaced by a few bytes
    st.tuples(st.just("cut"), LINE, st.integers(0, 90)),                 # a line ends early, joined to the next
    st.tuples(st.just("double"), LINE),                                   # a line twice
    st.tuples(st.just("splice"), LINE, LINE, st.integers(0, 90)),         # the start of one, the end of another
    st.tuples(st.just("bytes"), LINE, st.integers(0, 90), SOME_BYTES),
    st.tuples(st.just("add_field"), LINE, st.text(max_size=12)),
    st.tuples(st.just("drop_field"), LINE, st.integers(0, 11)),
    st.tuples(st.just("end_cut"), st.integers(1, 120)),                   # the file's last bytes lost
)


def _mutate(lines: list[bytes], mutation) -> list[bytes]:
    what, *args = mutation
    if not lines:
        return lines
    at = args[0] % len(lines) if what != "end_cut" else 0
    line = lines[at]
    if what == "line":
        lines[at] = args[1] + b"\n"
    elif what == "cut":
        lines[at] = line[:args[1] % len(line)]
    elif what == "double":
        lines.insert(at, line)
    elif what == "splice":
        other = lines[args[1] % len(lines)]
        lines[at] = line[:args[2] % len(line)] + other[args[2] % len(other):]
    elif what == "bytes":
        cut = args[1] % len(line)
        lines[at] = line[:cut] + args[2] + line[cut + len(args[2]):]
    elif what == "add_field":
        lines[at] = line.rstrip(b"\n") + b"," + args[1].encode() + b"\n"
    elif what == "drop_field":
        fields = line.rstrip(b"\n").split(b",")
        del fields[args[1] % len(fields)]
        lines[at] = b",".join(fields) + b"\n"
    elif what == "end_cut":
        data = b"".join(lines)[:-args[0]]
        lines = [data] if data else []
    return lines


FILE_NUMBER = itertools.count(1)


@hypothesis_settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4), bom=st.booleans())
def test_any_mutation_of_a_file_loses_no_record(batch_settings, mutations, bom):
    number = next(FILE_NUMBER)
    original = _lines(_good_rows("vital_sign", 20, start_id=number * 1000))
    lines = list(original)
    for mutation in mutations:
        lines = _mutate(lines, mutation)
    # A record of its own first, so that no two examples land the same bytes (which the ledger
    # would rightly set aside as one file delivered twice).
    sentinel = _lines(_good_rows("vital_sign", 1, start_id=number * 1000 + 999))[0]
    body = sentinel + b"".join(lines)
    folders = BatchFolders.from_settings(batch_settings)
    name = f"vital_sign_mutant_{number:03d}.csv"
    folders.landing.mkdir(parents=True, exist_ok=True)
    (folders.landing / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + HEADER + body)

    result = run(batch_settings)

    assert result.quarantined == 0
    records = rfc4180_records(body.decode("utf-8", "surrogateescape"))
    (status, _, read, loaded, rejected, _), = _ledger(batch_settings, name)
    assert status == "loaded" and read == len(records) == loaded + rejected
    file_id = _query(batch_settings, "SELECT file_id FROM ops.file_ledger WHERE file_name = %s", (name,))[0][0]
    stored = {r[0] for r in _query(batch_settings, "SELECT vital_sign_id FROM clinical.vital_sign "
                                                   "WHERE file_id = %s", (file_id,))}
    assert len(stored) == loaded
    assert _query(batch_settings, "SELECT count(*) FROM ops.rejected_row WHERE file_id = %s",
                  (file_id,))[0][0] == rejected
    raw = [r.encode("utf-8", "surrogateescape") for r in records]
    first_fields = [r.split(b",", 1)[0] for r in raw]
    for line in [sentinel, *original]:  # a record left whole, whose id no other record claims, is stored
        record_id = line.split(b",", 1)[0]
        if line in raw and first_fields.count(record_id) == 1:
            assert int(record_id) in stored, line
