"""`hospital run` end to end at a small scale: every tick, every event, every file accounted for."""

from __future__ import annotations

import csv
import dataclasses
import threading
from datetime import datetime

import pytest

from database.connection import connect
from hospital.run import RunOptions, run
from hospital.status import collect

pytestmark = pytest.mark.integration

# Independent of core/wards.py: the bands restated from the rule's sources, with a few days'
# slack because the rule takes ages at the window start.
WARD_RULE_CHECK = """
WITH who AS (
  SELECT a.ward_code, pe.sex, (a.admitted_at::date - pe.date_of_birth) / 365.2425 AS age
  FROM clinical.admission a JOIN core.patient pt USING (patient_id) JOIN core.person pe ON pe.person_id = pt.person_id
), judged AS (
  SELECT ward_code, NOT CASE
    WHEN ward_code IN ('W39','W40','W41','W42','W43','W44','W47') THEN sex = 'F' AND age >= 15 AND age < 50.1
    WHEN ward_code IN ('W45','W46') THEN sex = 'F' AND age >= 13
    WHEN ward_code IN ('W56','W57','W58') THEN age < 0.3
    WHEN ward_code IN ('W02','W59') THEN age < 13.1
    WHEN ward_code IN ('W48','W49','W50','W51','W52','W53','W54','W55') THEN age > 0.07 AND age < 13.1
    WHEN ward_code IN ('W60','W61') THEN age >= 18
    WHEN ward_code = 'W72' THEN age > 0.07
    ELSE age >= 13 END AS breaks
  FROM who)
SELECT 'admissions' AS what, count(*) AS total, count(*) FILTER (WHERE breaks) AS breaking_the_rule FROM judged
UNION ALL
SELECT 'transfers into maternity or gynaecology', count(*),
       count(*) FILTER (WHERE pe.sex = 'M' OR (t.event_time::date - pe.date_of_birth) / 365.2425 < 13)
FROM stream.transfer_event t JOIN core.patient pt USING (patient_id) JOIN core.person pe ON pe.person_id = pt.person_id
WHERE t.version = 1 AND t.to_ward_code IN ('W39','W40','W41','W42','W43','W44','W45','W46','W47')
UNION ALL
SELECT 'transfers into paediatric or neonatal wards', count(*),
       count(*) FILTER (WHERE (t.event_time::date - pe.date_of_birth) / 365.2425 >= 13.1)
FROM stream.transfer_event t JOIN core.patient pt USING (patient_id) JOIN core.person pe ON pe.person_id = pt.person_id
WHERE t.version = 1 AND t.to_ward_code IN ('W02','W48','W49','W50','W51','W52','W53','W54','W55','W56','W57','W58','W59');
"""


def test_a_one_day_run_produces_and_stores_every_tick_and_reconciles(run_settings):
    settings = run_settings

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
    # The progress line's lighter status agrees on what it holds, and holds nothing else.
    light = collect(settings, days=1, progress_only=True)
    assert {k: light[k] for k in ("window", "transfers", "batch")} == \
        {k: status[k] for k in ("window", "transfers", "batch")}
    assert light["people"]["persons"] is None and light["adt"] is None

    # Independent count: the archived files' data rows, read with the csv module.
    rows_in_files = 0
    for path in (settings.data_dir / "archive").glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows_in_files += sum(1 for _ in csv.reader(handle)) - 1
    assert rows_in_files == batch["rows_read"]

    # Who lies where: the ward rule's bands, restated in SQL over what the warehouse stored.
    conn = connect(settings.database_url)
    with conn.cursor() as cur:
        cur.execute(WARD_RULE_CHECK)
        judged = {what: (total, breaking) for what, total, breaking in cur.fetchall()}
    conn.close()
    assert judged["admissions"][0] > 0
    assert all(breaking == 0 for _, breaking in judged.values()), judged


def test_retirements_inside_the_window_close_the_staff_history_and_open_a_retired_row(run_settings):
    # A one-day window over 1 March: Public Service Act s16 retirements take effect on the 1st.
    start = datetime.fromisoformat("2026-02-28T12:00:00+02:00")
    settings = dataclasses.replace(run_settings, sim_start=start)

    status = run(settings, RunOptions(days=1, speed=0, target_size="2MB", people=20_000), threading.Event())

    conn = connect(settings.database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT staff_id FROM core.staff WHERE retirement_date = DATE '2026-03-01' ORDER BY 1")
        due = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT staff_id FROM core.staff_history WHERE employment_status = 'retired'
                       AND valid_from = TIMESTAMPTZ '2026-03-01 00:00+02' AND valid_to IS NULL ORDER BY 1""")
        retired = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT count(*) FROM core.staff_history WHERE staff_id = ANY(%s)
                       AND employment_status = 'active' AND valid_to = TIMESTAMPTZ '2026-03-01 00:00+02'""", (due,))
        closed = cur.fetchone()[0]
        cur.execute("""SELECT count(*) FROM core.staff_assignment WHERE staff_id = ANY(%s)
                       AND shift_start >= TIMESTAMPTZ '2026-03-01 00:00+02'""", (due,))
        shifts_after = cur.fetchone()[0]
    conn.close()
    assert due, "no retirement falls on 1 March in this population: the test proves nothing"
    assert retired == due and closed == len(due) and shifts_after == 0
    assert status["staff"] == {"retirements": len(due), "replacements": len(due)}


def test_a_run_stopped_part_way_resumes_and_ends_with_exact_counts(run_settings):
    settings = run_settings
    # A simulated day in about 40 s of wall time, stopped (as Ctrl-C would) once the window is under way.
    options = RunOptions(days=1, speed=2160, target_size="4MB", people=20_000)
    stop = threading.Event()
    partial = {}

    def stop_when_under_way():
        while not stop.is_set():
            ticks = 0
            if (settings.data_dir / "logs" / "producer.log").exists():
                try:
                    ticks = collect(settings, days=1)["window"]["stream_ticks"]
                except Exception:  # noqa: BLE001 - the warehouse may still be loading
                    ticks = 0
            if ticks >= 60:
                partial["ticks"] = ticks
                stop.set()
            stop.wait(0.5)

    watcher = threading.Thread(target=stop_when_under_way, daemon=True)
    watcher.start()
    first = run(settings, options, stop)
    watcher.join(5)
    assert 60 <= first["window"]["stream_ticks"] < 480, "the first run was not stopped part way"

    final = run(settings, dataclasses.replace(options, speed=0), threading.Event())

    assert final["window"]["stream_ticks"] == 480 and final["window"]["batch_ticks"] == 96
    transfers = final["transfers"]
    assert transfers["events_produced"] >= 3 * 480  # a tick re-sent after the stop is stored once
    assert transfers["events_stored"] == 3 * 480 and transfers["duplicates"] == 0
    assert transfers["consumer_lag"] == 0
    assert transfers["events_replayed"] == transfers["events_produced"] - 3 * 480
    assert final["reconciliation"]["transfers_accounted"]
    batch = final["batch"]
    assert batch["files_loaded"] == batch["files_written"] and batch["files_waiting"] == 0
    assert final["reconciliation"]["files_unreconciled"] == 0
