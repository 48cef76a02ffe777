"""`hospital run` end to end at a small scale: every tick, every event, every file accounted for."""

from __future__ import annotations

import csv
import dataclasses
import threading
import uuid

import pytest

from hospital.local import TRANSFER_PARTITIONS
from hospital.local.kafka import ensure_topics
from hospital.run import RunOptions, run

pytestmark = pytest.mark.integration


def test_a_one_day_run_produces_and_stores_every_tick_and_reconciles(isolated_settings, kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(isolated_settings, data_dir=tmp_path / "data",
                                   transfers_topic=f"run-{suffix}", transfers_dlq_topic=f"run-{suffix}.dlq",
                                   consumer_group=f"run-{suffix}")
    ensure_topics(kafka_bootstrap, {settings.transfers_topic: TRANSFER_PARTITIONS, settings.transfers_dlq_topic: 1})

    status = run(settings, RunOptions(days=1, speed=0, target_size="4MB", people=20_000), threading.Event())

    assert status["window"]["stream_ticks"] == 480 and status["window"]["batch_ticks"] == 96
    transfers = status["transfers"]
    assert transfers["events_produced"] == transfers["events_stored"] == 3 * 480
    assert transfers["events_quarantined"] == 0 and transfers["duplicates"] == 0
    batch = status["batch"]
    assert batch["files_loaded"] == batch["files_written"] > 0 and batch["files_waiting"] == 0
    assert batch["rows_read"] == batch["rows_loaded"] + batch["rows_rejected"]
    assert status["reconciliation"] == {"files_unreconciled": 0, "transfers_accounted": True}
    assert status["people"]["persons"] == 20_000

    # Independent count: the archived files' data rows, read with the csv module.
    rows_in_files = 0
    for path in (settings.data_dir / "archive").glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows_in_files += sum(1 for _ in csv.reader(handle)) - 1
    assert rows_in_files == batch["rows_read"]
