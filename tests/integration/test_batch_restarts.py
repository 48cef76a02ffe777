"""batch_ingest rides out a PostgreSQL restart: it connects again and no file is lost or loaded twice."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.batch_files import KINDS, BatchFolders
from database.connection import connect
from producer.batch_writer import write_window
from tests.integration.batch_fixtures import load_batch_population
from tests.integration.stream_fixtures import fetch, wait_for

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL_WINDOW = 3 * 10**6


def ledger_count(settings) -> int:
    try:
        conn = connect(settings.database_url)
    except Exception:  # noqa: BLE001 - the server may be coming back up
        return -1
    try:
        return fetch(conn, "SELECT count(*) FROM ops.file_ledger")[0][0]
    finally:
        conn.close()


def test_the_loader_connects_again_after_an_immediate_postgres_restart(isolated_settings, tmp_path, services):
    load_batch_population(isolated_settings.database_admin_url)
    settings = dataclasses.replace(isolated_settings, data_dir=tmp_path / "data", sim_speed=3600)
    folders = BatchFolders.from_settings(settings)
    write_window(settings, target_bytes=SMALL_WINDOW, max_ticks=4)
    before = len(list(folders.landing.glob("*.csv")))
    env = {"DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir), "SIM_SPEED": "3600",
           "SIM_START": settings.sim_start.isoformat(), "PYTHONUNBUFFERED": "1"}
    loader = subprocess.Popen([sys.executable, "database/batch_ingest.py", "--follow", "--days", "2"],
                              cwd=REPO_ROOT, env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: ledger_count(settings) == before, what="the first files loaded")
        services.postgres.restart("immediate")
        write_window(settings, target_bytes=SMALL_WINDOW, max_ticks=4)   # ticks 4-7 land after the restart
        files = sorted(p.name for p in folders.archive.glob("*.csv")) + sorted(p.name for p in folders.landing.glob("*.csv"))
        wait_for(lambda: ledger_count(settings) == len(files), timeout_s=120, what="the files after the restart")
        assert loader.poll() is None, loader.communicate()[0]
    finally:
        loader.send_signal(signal.SIGTERM)
        output = loader.communicate(timeout=60)[0]
    assert loader.returncode == 0, output
    assert "connecting again" in output

    conn = connect(settings.database_url)
    try:
        loaded = fetch(conn, "SELECT file_name FROM ops.file_ledger WHERE status = 'loaded'")
        assert sorted(name for (name,) in loaded) == sorted(files)
        for kind in KINDS.values():
            ids = fetch(conn, f"SELECT count(*), count(DISTINCT {kind.id_column}) FROM {kind.table}")[0]
            assert ids[0] == ids[1]
    finally:
        conn.close()
    assert sorted(p.name for p in folders.archive.glob("*.csv")) == sorted(files)
