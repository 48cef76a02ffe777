"""The direct load (a simple file COPYed straight into its day partition) against the staging
paths, on the real loader and PostgreSQL.

The property test writes a valid file, puts hostile values into a few of its fields (out of
range by one, negative, leading zeros or blanks, unknown wards and patients, a row of another
day, a repeated id, numbers COPY reads and the checks refuse) and loads the same bytes into two
warehouses: one as the loader runs, one with the direct load switched off. Each row must end up
the same way in both (stored with the same values, or rejected with the same reason). So a
check the tables' constraints miss, or one they add, shows up as a difference."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

import database.batch_ingest as batch_ingest
from core.batch_files import KINDS, BatchFolders
from database.batch_ingest import run
from database.schema import scratch_database, with_database
from tests.integration.batch_fixtures import load_batch_population
from tests.integration.test_batch_ingest import _good_rows, _lines, _query

pytestmark = pytest.mark.integration


@pytest.fixture()
def two_warehouses(isolated_settings, tmp_path):
    """(settings of a warehouse loaded as the loader runs, of one loaded without the direct path)."""
    load_batch_population(isolated_settings.database_admin_url)
    with scratch_database(isolated_settings.database_admin_url, prefix="hospital_test_staged") as name:
        staged = dataclasses.replace(isolated_settings, database_url=with_database(isolated_settings.database_url, name),
                                     database_admin_url=with_database(isolated_settings.database_admin_url, name),
                                     data_dir=tmp_path / "staged", sim_speed=0)
        load_batch_population(staged.database_admin_url)
        yield dataclasses.replace(isolated_settings, data_dir=tmp_path / "direct", sim_speed=0), staged


def _load(settings, name: str, data: bytes, monkeypatch, *, direct: bool) -> list:
    """Land and load one file; (rows stored, rejected (line, reason)) for it."""
    folders = BatchFolders.from_settings(settings)
    folders.landing.mkdir(parents=True, exist_ok=True)
    (folders.landing / name).write_bytes(data)
    with monkeypatch.context() as patch:
        if not direct:
            patch.setattr(batch_ingest, "_direct_path", lambda *args: None)
        result = run(settings)
    assert result.quarantined == 0
    file_id, = _query(settings, "SELECT file_id FROM ops.file_ledger WHERE file_name = %s", (name,))[0]
    kind = KINDS[name.split("_x")[0]]
    columns = ", ".join((*kind.header, "record_date"))
    stored = _query(settings, f"SELECT {columns} FROM {kind.table} WHERE file_id = %s ORDER BY 1", (file_id,))
    rejected = _query(settings, "SELECT line_number, reason FROM ops.rejected_row WHERE file_id = %s ORDER BY 1",
                      (file_id,))
    return [stored, rejected]


def test_a_clean_file_goes_straight_into_its_day_partition(two_warehouses, monkeypatch):
    settings, _ = two_warehouses
    taken = []
    direct = batch_ingest._direct_path
    monkeypatch.setattr(batch_ingest, "_direct_path", lambda *args: taken.append(direct(*args)) or taken[-1])
    vital = KINDS["vital_sign"]
    data = (",".join(vital.header) + "\n").encode() + b"".join(_lines(_good_rows("vital_sign", 40)))

    stored, rejected = _load(settings, "vital_sign_x1.csv", data, monkeypatch, direct=True)

    assert taken == [(40, 40, 0)] and not rejected
    assert [row[0] for row in stored] == list(range(1, 41))
    assert {row[-1] for row in stored} == {date(2026, 3, 2)}
    # Only the day's partition holds them, and the ledger claims exactly their ids.
    assert _query(settings, "SELECT count(*) FROM clinical.vital_sign_20260302")[0][0] == 40
    assert _query(settings, "SELECT record_ids::text FROM ops.file_ledger WHERE file_name = 'vital_sign_x1.csv'") \
        == [("{[1,41)}",)]


NUMBER = itertools.count(1)  # each file its own ids, so no two land the same bytes


def _values_for(column) -> list[str]:
    """Values worth trying in one column: its bounds and one past them, forms COPY reads as a
    number that the checks may not accept, ids of nobody, other days, overlong text."""
    values = ["", " ", "abc"]
    if column.kind in ("id", "bigint"):
        values += ["-1", "0", "007", " 7", "+7", "7 ", "1e3", "99999999999999999999", "9223372036854775807",
                   "100301", "499999", "500010"]
    if column.kind == "int":
        values += ["-0", "1e3", "2147483648"]
    if column.low is not None:
        step = 1 if column.kind == "int" else 0.1
        values += [f"{v:g}" for v in (column.low - step, column.low, column.high, column.high + step)]
    if column.kind == "numeric":
        values += ["NaN", "Infinity", "36.75", "1e1"]
    if column.kind == "timestamp":
        values += ["2026-03-03T08:00:00+02:00", "2026-03-02T23:30:00-01:00", "2026-03-02T00:00:00+02:00",
                   "2026-03-01T23:59:59+02:00", "2026-03-02", "2026-02-20T08:00:00+02:00",
                   "2026-03-12T08:00:00+02:00", "2026-03-02T08:00:00Z"]
    if column.kind == "text":
        values += ["x" * 200, "x" * 201, "W99", "w03", "W03 "]
    if column.kind == "choice":
        values += [*column.choices, column.choices[0].upper(), column.choices[0] + " "]
    return values


SINGLE_CHANGES = [(kind, i, value) for kind in ("vital_sign", "medication")
                  for i, column in enumerate(KINDS[kind].columns) for value in _values_for(column)]


@pytest.mark.parametrize("kind", ["vital_sign", "medication"])
def test_one_value_changed_in_any_column_ends_the_same_way_with_or_without_the_direct_load(
        two_warehouses, monkeypatch, kind):
    """One file per (column, value): a single bad row is what only the tables' constraints can
    send from the direct load to the staging paths, so each check is tried on its own."""
    direct_settings, staged_settings = two_warehouses
    header = (",".join(KINDS[kind].header) + "\n").encode()
    for n, (_, column, value) in enumerate(change for change in SINGLE_CHANGES if change[0] == kind):
        number = next(NUMBER)
        rows = _good_rows(kind, 3, start_id=number * 100)
        rows[1][column] = value
        name = f"{kind}_x{number:04d}.csv"
        data = header + b"".join(_lines(rows))
        assert _load(direct_settings, name, data, monkeypatch, direct=True) == \
            _load(staged_settings, name, data, monkeypatch, direct=False), (KINDS[kind].columns[column].name, value)


HOSTILE = st.sampled_from(sorted({value for _, _, value in SINGLE_CHANGES})) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
CHANGE = st.tuples(st.integers(0, 9), st.integers(0, 11), HOSTILE)


@hypothesis_settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(["vital_sign", "medication"]), changes=st.lists(CHANGE, min_size=0, max_size=3),
       repeat_id=st.booleans())
def test_every_row_ends_the_same_way_with_or_without_the_direct_load(two_warehouses, monkeypatch, kind, changes,
                                                                     repeat_id):
    direct_settings, staged_settings = two_warehouses
    number = next(NUMBER)
    rows = _good_rows(kind, 10, start_id=number * 100)
    for row, column, value in changes:
        rows[row][column % len(rows[row])] = value
    if repeat_id:
        rows[-1][0] = rows[0][0]
    header = (",".join(KINDS[kind].header) + "\n").encode()
    data = header + b"".join(_lines(rows))
    name = f"{kind}_x{number:04d}.csv"

    assert _load(direct_settings, name, data, monkeypatch, direct=True) == \
        _load(staged_settings, name, data, monkeypatch, direct=False)
