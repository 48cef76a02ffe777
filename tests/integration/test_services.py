"""The foundation against the real services: broker round trip, COPY, schema, roles."""

from __future__ import annotations

import csv
import io
import subprocess
import uuid
from datetime import date

import psycopg2
import psycopg2.errors
import pytest
from confluent_kafka import Consumer, Producer

from core.kafka_config import consumer_config, producer_config
from database.bulk_copy import copy_csv
from database.connection import connect
from database.schema import apply_schema

pytestmark = pytest.mark.integration


def test_message_round_trips_through_the_broker(settings, kafka_bootstrap, fresh_topic):
    sent = {f"key-{i}": f"value-{uuid.uuid4()}" for i in range(20)}
    delivered = []
    producer = Producer(producer_config(settings))
    for key, value in sent.items():
        producer.produce(fresh_topic, key=key, value=value,
                         on_delivery=lambda err, msg: delivered.append(err is None))
    assert producer.flush(30) == 0
    assert delivered == [True] * len(sent)

    consumer = Consumer(consumer_config(settings, group_id=f"test-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([fresh_topic])
    received = {}
    try:
        for _ in range(60):
            for msg in consumer.consume(num_messages=100, timeout=1.0):
                assert msg.error() is None
                received[msg.key().decode()] = msg.value().decode()
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert received == sent


def test_copy_helper_loads_a_csv_that_the_csv_module_wrote(db, tmp_path):
    rows = [(i, f"name, with comma {i}", 'quote " inside', "Ümlaut ñ") for i in range(1000)]
    path = tmp_path / "rows.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["n", "a", "b", "c"])
        writer.writerows(rows)
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_probe (n integer, a text, b text, c text)")
        assert copy_csv(cur, "copy_probe", path) == 1000
        cur.execute("SELECT n, a, b, c FROM copy_probe ORDER BY n")
        assert cur.fetchall() == rows


def test_copy_helper_accepts_a_file_object_and_a_column_list(db):
    data = io.BytesIO(b"b,a\nx,1\ny,2\n")
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_probe2 (a integer, b text)")
        assert copy_csv(cur, "copy_probe2", data, columns=["b", "a"]) == 2
        cur.execute("SELECT a, b FROM copy_probe2 ORDER BY a")
        assert cur.fetchall() == [(1, "x"), (2, "y")]


def _schema_fingerprint(cur) -> list[tuple]:
    cur.execute("""
        SELECT table_schema, table_name, column_name, data_type, is_nullable
        FROM information_schema.columns
        WHERE table_schema IN ('reference', 'core', 'stream', 'clinical', 'ops', 'analytics', 'private')
        ORDER BY 1, 2, 3""")
    columns = cur.fetchall()
    cur.execute("""
        SELECT conrelid::regclass::text, conname FROM pg_constraint c
        JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname IN ('reference', 'core', 'stream', 'clinical', 'ops', 'private') ORDER BY 1, 2""")
    return columns + cur.fetchall()


def test_init_db_sql_applies_twice_without_changing_the_schema(isolated_settings):
    admin_url = isolated_settings.database_admin_url  # a fresh database: init_db.sql applied once
    conn = connect(admin_url)
    with conn.cursor() as cur:
        before = _schema_fingerprint(cur)
    conn.close()
    apply_schema(admin_url)
    apply_schema(admin_url)
    conn = connect(admin_url)
    with conn.cursor() as cur:
        after = _schema_fingerprint(cur)
    conn.close()
    assert before == after
    assert len(before) > 100


def test_every_table_and_column_has_a_comment(admin_db):
    with admin_db.cursor() as cur:
        cur.execute("""
            SELECT c.relnamespace::regnamespace::text || '.' || c.relname FROM pg_class c
            WHERE c.relnamespace::regnamespace::text IN ('reference', 'core', 'stream', 'clinical', 'ops', 'private')
              AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND obj_description(c.oid, 'pg_class') IS NULL""")
        assert cur.fetchall() == []


def test_every_column_has_a_comment(admin_db):
    with admin_db.cursor() as cur:
        cur.execute("""
            SELECT c.relnamespace::regnamespace::text || '.' || c.relname || '.' || a.attname
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace::regnamespace::text IN ('reference', 'core', 'stream', 'clinical', 'ops', 'private')
              AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND a.attnum > 0 AND NOT a.attisdropped
              AND col_description(c.oid, a.attnum) IS NULL
            ORDER BY 1""")
        assert cur.fetchall() == []


def test_every_constraint_is_named_by_convention(admin_db):
    with admin_db.cursor() as cur:
        cur.execute("""
            SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            JOIN pg_class t ON t.oid = c.conrelid
            WHERE n.nspname IN ('reference', 'core', 'stream', 'clinical', 'ops', 'private') AND NOT t.relispartition
              AND conname !~ '^(pk|fk|uq|ck|ex)_'""")
        assert cur.fetchall() == []


def test_every_function_and_trigger_has_a_comment(admin_db):
    with admin_db.cursor() as cur:
        cur.execute("""
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace::regnamespace::text IN ('reference', 'core', 'stream', 'clinical', 'ops',
                                                        'analytics', 'private')
              AND obj_description(p.oid, 'pg_proc') IS NULL
            UNION ALL
            SELECT t.tgname FROM pg_trigger t
            WHERE NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NULL""")
        assert cur.fetchall() == []


def test_analyst_role_cannot_write(analyst_url):
    conn = connect(analyst_url)
    try:
        with conn.cursor() as cur:
            with pytest.raises((psycopg2.errors.InsufficientPrivilege, psycopg2.errors.ReadOnlySqlTransaction)):
                cur.execute("INSERT INTO reference.speciality (speciality_code, speciality_name) VALUES ('X', 'X')")
        conn.rollback()
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT * FROM core.person LIMIT 1")
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM analytics.person")
            assert cur.fetchone()[0] >= 0
    finally:
        conn.close()


def test_pipeline_role_cannot_change_the_schema(db):
    with db.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("ALTER TABLE core.person ADD COLUMN x integer")
    db.rollback()
    with db.cursor() as cur:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DROP TABLE ops.file_ledger")


def test_pipeline_role_creates_day_partitions_and_only_the_owner_drops_them(isolated_settings):
    conn = connect(isolated_settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class WHERE relkind = 'p' AND relnamespace = 'clinical'::regnamespace")
            partitioned_tables = cur.fetchone()[0]
            cur.execute("SELECT ops.ensure_day_partitions(DATE '2031-01-01', DATE '2031-01-02')")
            assert cur.fetchone()[0] == 2 * partitioned_tables
            cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_20310101' AND relispartition")
            assert cur.fetchone()[0] == partitioned_tables
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT * FROM ops.drop_day_partitions_before(DATE '2031-01-02')")
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("SELECT ops.ensure_day_partitions(DATE '2031-01-01', DATE '2031-01-02')")
        conn.commit()
    finally:
        conn.close()
    admin = connect(isolated_settings.database_admin_url)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT dropped_day, dropped_rows FROM ops.drop_day_partitions_before(DATE '2031-01-02')")
            assert cur.fetchall() == [(date(2031, 1, 1), 0)] * partitioned_tables
            cur.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_2031010_' AND relispartition")
            assert cur.fetchone()[0] == partitioned_tables
            cur.execute("SELECT count(*), min(partition_day), bool_and(dropped_by = session_user) FROM ops.partition_drop")
            assert cur.fetchone() == (partitioned_tables, date(2031, 1, 1), True)
        admin.commit()
    finally:
        admin.close()


def test_isolated_database_has_the_schema_and_the_roles_work(isolated_settings):
    conn = connect(isolated_settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), current_user, count(*) FROM ops.file_ledger")
            name, user, rows = cur.fetchone()
        assert name.startswith("hospital_test_") and user == "hospital_ingest" and rows == 0
    finally:
        conn.close()
