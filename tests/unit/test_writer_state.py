"""The batch writer's saved census: read back only for the window and patients it was saved for,
and a torn or foreign file is never taken for one (the writer then saves a new one)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.batch_writer import CENSUS_FIELDS, WriterState

KEY = {"start": "2026-03-02T00:00:00+02:00", "days": 9, "seed": 42, "target_bytes": 30_000_000}


def census(patients: int = 50) -> SimpleNamespace:
    rng = np.random.default_rng(7)
    return SimpleNamespace(patient_id=np.arange(1000, 1000 + patients, dtype=np.int64),
                           census_ward=rng.integers(-1, 6, patients), census_since_s=-rng.random(patients) * 9e4,
                           census_primary=rng.integers(-1, 400, patients))


def test_the_census_saved_is_the_census_read_back(tmp_path):
    pop = census()
    state = WriterState(tmp_path / "batch_writer.json", KEY)
    state.save_census(pop)
    saved = state.saved_census(pop.patient_id)
    assert saved is not None and set(saved) == set(CENSUS_FIELDS)
    for name in CENSUS_FIELDS:
        assert np.array_equal(saved[name], getattr(pop, name)) and saved[name].dtype == getattr(pop, name).dtype
    assert not list(tmp_path.glob("*.tmp"))


def test_a_census_of_another_window_or_other_patients_is_not_used(tmp_path):
    pop = census()
    WriterState(tmp_path / "batch_writer.json", KEY).save_census(pop)
    assert WriterState(tmp_path / "batch_writer.json", {**KEY, "seed": 43}).saved_census(pop.patient_id) is None
    state = WriterState(tmp_path / "batch_writer.json", KEY)
    assert state.saved_census(pop.patient_id[:-1]) is None
    assert state.saved_census(pop.patient_id + 1) is None
    assert WriterState(tmp_path / "missing.json", KEY).saved_census(pop.patient_id) is None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.integers(0, 10_000)))
def test_a_torn_or_foreign_census_file_reads_as_none(tmp_path_factory, damage):
    folder = tmp_path_factory.mktemp("state")
    pop = census()
    state = WriterState(folder / "batch_writer.json", KEY)
    if isinstance(damage, bytes):  # any bytes at all
        state.census_path.write_bytes(damage)
    else:  # a real census cut short, as a full disk would leave it
        state.save_census(pop)
        whole = state.census_path.read_bytes()
        state.census_path.write_bytes(whole[:damage % len(whole)])
    assert state.saved_census(pop.patient_id) is None
