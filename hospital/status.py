"""`hospital status [--json]`: the warehouse and the run, counted from the database and the folders.

Nothing here comes from counters kept in a process's memory: transfers and ticks are counted in
PostgreSQL, produced events are the messages on the Kafka topic, files are counted in the ledger
and in the landing, archive and quarantine folders. Scripts and tests read the JSON; its keys are
a contract (see DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer, KafkaException, TopicPartition

from core.batch_files import BatchFolders
from core.clock import BATCH_INTERVAL, STREAM_INTERVAL, WINDOW_DAYS, tick_count
from core.kafka_config import consumer_config
from core.settings import Settings, SettingsError, load
from database.connection import connect
from producer.adt_relay import RelayError, recover_position


TRANSFERS_SQL = """
SELECT
    (SELECT count(*) FROM stream.transfer_event),
    (SELECT count(*) FROM ops.quarantined_event WHERE topic = %(topic)s),
    (SELECT count(*) - count(DISTINCT (transfer_id, version)) FROM stream.transfer_event),
    (SELECT count(*) FROM stream.transfer),
    (SELECT count(DISTINCT floor(extract(epoch FROM event_time - %(start)s) / %(stream_s)s))
       FROM stream.transfer_event WHERE event_time >= %(start)s AND event_time < %(end)s),
    (SELECT count(*) FROM ops.offset_incident WHERE topic = %(topic)s AND consumer_group = %(group)s)
"""

BATCH_SQL = """
SELECT
    count(*) FILTER (WHERE status = 'loaded'),
    count(*) FILTER (WHERE status = 'quarantined'),
    coalesce(sum(rows_read) FILTER (WHERE status = 'loaded'), 0)::bigint,
    coalesce(sum(rows_loaded) FILTER (WHERE status = 'loaded'), 0)::bigint,
    coalesce(sum(rows_rejected) FILTER (WHERE status = 'loaded'), 0)::bigint,
    coalesce(sum(size_bytes), 0)::bigint,
    count(*) FILTER (WHERE status = 'loaded' AND rows_read <> rows_loaded + rows_rejected),
    count(DISTINCT substring(file_name FROM '_t([0-9]+)\\.csv$')) FILTER (WHERE status = 'loaded')
FROM ops.file_ledger
"""

PEOPLE_SQL = """
SELECT
    (SELECT count(*) FROM core.person),
    (SELECT count(*) FROM core.patient),
    (SELECT count(*) FROM core.staff),
    (SELECT count(*) FROM core.staff_history WHERE employment_status = 'retired'),
    (SELECT count(*) FROM core.staff s JOIN core.staff_history h
       ON h.staff_id = s.replaces_staff_id AND h.employment_status = 'retired')
"""


def topic_watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]] | None:
    """(low, high) watermark of each partition of `topic`; None if the broker or topic is unreachable."""
    try:
        consumer = Consumer(consumer_config(settings, group_id="hospital-status", **{"log_level": 2}))
    except (KafkaException, SettingsError):
        return None
    try:
        metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return None
        return {partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                for partition in metadata.partitions}
    except KafkaException:
        return None
    finally:
        consumer.close()


def consumer_lag(watermarks: dict[int, tuple[int, int]], stored_offsets: dict[int, int]) -> int:
    """Messages on the topic that the consumer has not yet made durable (its offsets live in PostgreSQL)."""
    return sum(high - max(stored_offsets.get(partition, low), low) for partition, (low, high) in watermarks.items())


ADT_SQL = """
SELECT count(*), count(*) FILTER (WHERE (xid, adt_outbox_id) <= (%(xid)s::text::xid8, %(id)s)),
       count(*) FILTER (WHERE trigger_event = 'A01'), count(*) FILTER (WHERE trigger_event = 'A02'),
       count(*) FILTER (WHERE trigger_event = 'A03')
FROM ops.adt_outbox
"""


def adt_position(settings: Settings) -> tuple[int, int] | None:
    """The outbox position of the last message on the ADT topic; None if it cannot be read."""
    try:
        return recover_position(settings, settings.adt_topic)
    except (RelayError, KafkaException, SettingsError):
        return None


def adt_counts(cur, position: tuple[int, int] | None) -> dict:
    """Outbox rows (by trigger event) and how many of them the topic holds: every row at or before
    the position of its last committed message (the relay publishes in position order)."""
    xid, outbox_id = position or (0, 0)
    cur.execute(ADT_SQL, {"xid": str(xid), "id": outbox_id})
    rows, published, a01, a02, a03 = cur.fetchone()
    return {"outbox_rows": rows, "messages_published": None if position is None else published,
            "messages_pending": None if position is None else rows - published,
            "a01": a01, "a02": a02, "a03": a03}


def count_files(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.csv")) if folder.is_dir() else 0


def collect(settings: Settings, days: int = WINDOW_DAYS, *, progress_only: bool = False) -> dict:
    """The status object: window, transfers, batch, people, staff, reconciliation.

    progress_only: the window, transfers and batch sections alone (the others are None), for a run's
    progress line every few seconds: counting 5 million people and reading the ADT topic's last
    message each time would take a share of the cores the run itself needs."""
    start = settings.sim_start
    end = start + timedelta(days=days)
    position = None if progress_only else adt_position(settings)
    conn = connect(settings.require("database_url"))
    try:
        with conn.cursor() as cur:
            cur.execute(TRANSFERS_SQL, {"topic": settings.transfers_topic, "start": start, "end": end,
                                        "stream_s": STREAM_INTERVAL.total_seconds(),
                                        "group": settings.consumer_group})
            stored, quarantined, duplicates, transfers, stream_ticks, offset_incidents = cur.fetchone()
            cur.execute(BATCH_SQL)
            (files_loaded, files_quarantined, rows_read, rows_loaded, rows_rejected, bytes_processed,
             unreconciled, batch_ticks) = cur.fetchone()
            cur.execute("SELECT kafka_partition, next_offset FROM ops.consumer_offset "
                        "WHERE consumer_group = %s AND topic = %s",
                        (settings.consumer_group, settings.transfers_topic))
            stored_offsets = dict(cur.fetchall())
            if progress_only:
                persons = patients = staff = retirements = replacements = adt = None
            else:
                cur.execute(PEOPLE_SQL)
                persons, patients, staff, retirements, replacements = cur.fetchone()
                adt = adt_counts(cur, position)
    finally:
        conn.close()
    folders = BatchFolders.from_settings(settings)
    waiting = count_files(folders.landing)
    watermarks = topic_watermarks(settings, settings.transfers_topic)
    produced = None if watermarks is None else sum(high - low for low, high in watermarks.values())
    lag = None if watermarks is None else consumer_lag(watermarks, stored_offsets)
    return {
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": days,
                   "stream_ticks": stream_ticks, "batch_ticks": batch_ticks,
                   "stream_ticks_expected": tick_count(end - start, STREAM_INTERVAL),
                   "batch_ticks_expected": tick_count(end - start, BATCH_INTERVAL)},
        "transfers": {"events_produced": produced, "events_stored": stored,
                      "events_quarantined": quarantined, "duplicates": duplicates, "transfers": transfers,
                      "consumer_lag": lag,
                      # Stored offsets found outside the topic's log (ops.offset_incident).
                      "offset_incidents": offset_incidents,
                      # Re-sent events (a tick sent again after a producer restart) change nothing.
                      "events_replayed": None if lag is None else produced - lag - stored - quarantined},
        "batch": {"files_written": waiting + count_files(folders.archive) + count_files(folders.quarantine),
                  "files_waiting": waiting, "files_loaded": files_loaded,
                  "files_quarantined": files_quarantined, "rows_read": rows_read, "rows_loaded": rows_loaded,
                  "rows_rejected": rows_rejected, "bytes_processed": bytes_processed},
        # HL7 v2 ADT messages: outbox rows, and those on the topic (ADT_TOPIC).
        "adt": adt,
        "people": {"persons": persons, "patients": patients, "staff": staff},
        "staff": {"retirements": retirements, "replacements": replacements},
        "reconciliation": {
            "files_unreconciled": unreconciled,
            # Every message on the topic was consumed and is stored, quarantined or a replay.
            "transfers_accounted": lag == 0 and duplicates == 0,
        },
    }


def render(status: dict) -> str:
    """A short human-readable summary of the status object."""
    w, t, b, p = status["window"], status["transfers"], status["batch"], status["people"]
    return "\n".join([
        f"window      {w['start']} .. {w['end']} ({w['days']} days)",
        f"ticks       stream {w['stream_ticks']}/{w['stream_ticks_expected']}, "
        f"batch {w['batch_ticks']}/{w['batch_ticks_expected']}",
        f"transfers   produced {t['events_produced']}, stored {t['events_stored']}, "
        f"quarantined {t['events_quarantined']}, replayed {t['events_replayed']}, "
        f"duplicates {t['duplicates']}, lag {t['consumer_lag']}",
        f"batch files written {b['files_written']}, loaded {b['files_loaded']}, "
        f"quarantined {b['files_quarantined']}, waiting {b['files_waiting']}",
        f"batch rows  read {b['rows_read']:,} = loaded {b['rows_loaded']:,} + rejected {b['rows_rejected']:,}; "
        f"{b['bytes_processed'] / 1e9:.2f} GB processed",
        f"adt         outbox {status['adt']['outbox_rows']:,} (A01 {status['adt']['a01']:,}, "
        f"A02 {status['adt']['a02']:,}, A03 {status['adt']['a03']:,}), published {status['adt']['messages_published']}, "
        f"pending {status['adt']['messages_pending']}",
        f"people      {p['persons']:,} persons, {p['patients']:,} patients, {p['staff']:,} staff; "
        f"{status['staff']['retirements']} retirements, {status['staff']['replacements']} replacements",
    ])


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Describe the warehouse and the simulated run, "
                                     "counted from PostgreSQL, the Kafka topic and the data folders.")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the documented keys)")
    parser.add_argument("--days", type=int, default=WINDOW_DAYS, help=f"days in the window (default {WINDOW_DAYS})")
    args = parser.parse_args(argv)
    try:
        settings = load()
        connect(settings.require("database_url")).close()  # a warehouse that is down: one line, before Kafka is tried
        status = collect(settings, days=args.days)
    except SettingsError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 1
    except psycopg2.OperationalError as exc:
        print(f"status: error: cannot connect to the warehouse: {str(exc).strip().splitlines()[0]} "
              "(start it with `make up`)", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
