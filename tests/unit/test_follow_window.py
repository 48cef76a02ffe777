"""`hospital follow-window` (the compose file's `window` service) knows the parts are done from
the state files they keep in DATA_DIR, for this run only."""

from __future__ import annotations

import dataclasses
import json

from core.settings import load
from core.sizes import parse_size
from hospital.follow_window import parts_done
from hospital.run import RunOptions
from producer.batch_writer import writer_state
from producer.stream_producer import STATE_FORMAT, default_state_file


def settings_in(tmp_path, monkeypatch):
    for name in ("DATA_DIR", "SIM_START", "SEED", "TRANSFERS_TOPIC"):
        monkeypatch.delenv(name, raising=False)
    return dataclasses.replace(load(tmp_path), data_dir=tmp_path / "data")


def write_producer_state(settings, next_tick: int, seed: int | None = None) -> None:
    path = default_state_file(settings, settings.transfers_topic)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": STATE_FORMAT, "seed": settings.seed if seed is None else seed,
                                "start": settings.sim_start.isoformat(), "next_tick": next_tick}))


def test_done_only_when_both_producer_and_writer_finished_the_window(tmp_path, monkeypatch):
    settings = settings_in(tmp_path, monkeypatch)
    options = RunOptions(days=2, target_size="20MB", people=20000)
    writer = writer_state(settings, days=2, target_bytes=parse_size("20MB"))
    writer.path.parent.mkdir(parents=True, exist_ok=True)
    assert not parts_done(settings, options)
    write_producer_state(settings, 960)
    assert not parts_done(settings, options)
    writer.save(191)
    assert not parts_done(settings, options)
    writer.save(192)
    assert parts_done(settings, options)


def test_state_files_of_another_run_do_not_count(tmp_path, monkeypatch):
    settings = settings_in(tmp_path, monkeypatch)
    writer_state(settings, days=2, target_bytes=parse_size("5GB")).path.parent.mkdir(parents=True)
    writer_state(settings, days=2, target_bytes=parse_size("5GB")).save(192)  # another size
    write_producer_state(settings, 960, seed=settings.seed + 1)               # another seed
    assert not parts_done(settings, RunOptions(days=2, target_size="20MB"))


def test_an_outage_is_waited_out_and_a_long_one_is_an_error(monkeypatch):
    import threading

    import psycopg2
    import pytest

    from hospital import follow_window
    monkeypatch.setattr(follow_window, "POLL_S", 0.01)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise psycopg2.OperationalError('could not translate host name "postgres" to address')
        return "through"

    assert follow_window.retried(flaky, threading.Event()) == "through" and len(calls) == 3

    def always_down():
        raise psycopg2.OperationalError("server closed the connection unexpectedly")

    with pytest.raises(RuntimeError, match="out of reach"):
        follow_window.retried(always_down, threading.Event(), follow_window.Outage(limit_s=0.05))
