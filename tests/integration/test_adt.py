"""HL7 v2 ADT messages end to end: a one-day `hospital run`, its ADT topic read back with
read_committed and parsed by the `hl7` package (a parser the writer does not use), checked
against what the warehouse stored by set equality in SQL; then the relay killed mid-transaction
and restarted, a patient with hostile text through the whole path, and generated (hypothesis)
names and addresses from the stored row through the relay's query to the parser."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import uuid

import hl7
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from confluent_kafka import Consumer, KafkaError, TopicPartition
from psycopg2.extras import execute_values

from core.kafka_config import consumer_config
from database.connection import connect
from database.schema import scratch_database, with_database
from hospital.local import TRANSFER_PARTITIONS
from hospital.local.kafka import ensure_topics
from hospital.run import RunOptions, run
from producer import adt_relay
from tests.faults import REPO_ROOT, command

pytestmark = pytest.mark.integration

# What the warehouse stored, as (message type, source id), computed from the source tables
# themselves (not from the outbox): admissions, completed transfers by where they went, discharges.
STORED_EVENTS_SQL = """
SELECT 'ADT^A01', admission_id::text FROM clinical.admission
UNION ALL
SELECT 'ADT^A03', discharge_id::text FROM clinical.discharge
UNION ALL
SELECT CASE WHEN from_ward_code IS NOT NULL AND to_ward_code IS NOT NULL THEN 'ADT^A02'
            WHEN to_facility_code IS NOT NULL THEN 'ADT^A03' ELSE 'ADT^A01' END, event_id::text
FROM stream.transfer_event WHERE status = 'completed'
"""
SOURCE_OF_PREFIX = {"ADM": "admission", "DIS": "discharge", "TRF": "transfer"}


def read_topic(settings, topic: str) -> list:
    """Every committed message of `topic` (isolation read_committed), partition by partition."""
    consumer = Consumer(consumer_config(settings, group_id=f"adt-test-{uuid.uuid4().hex[:8]}",
                                        **{"enable.partition.eof": True}))
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages, done = [], set()
    while len(done) < len(partitions):
        message = consumer.poll(10)
        assert message is not None, "the topic stopped answering before every partition's end"
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            done.add(message.partition())
            continue
        messages.append(message)
    consumer.close()
    return messages


def parse_all(messages) -> list[hl7.Message]:
    parsed = [hl7.parse(m.value().decode("utf-8")) for m in messages]
    for m in parsed:
        assert str(m.segment("MSH")[12]) == "2.5.1" and [str(s[0]) for s in m][:4] == ["MSH", "EVN", "PID", "PV1"]
    return parsed


def source_key(message: hl7.Message) -> tuple[str, str]:
    """(message type, source id) from MSH-9 and MSH-10."""
    msh = message.segment("MSH")
    kind = f"{msh[9][0][0]}^{msh[9][0][1]}"
    control = str(msh[10])
    assert control[:3] in SOURCE_OF_PREFIX
    return kind, control[3:]


def unmatched(conn, pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """(stored rows without a message, messages without a stored row), by SQL set difference."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE published (kind text, source_id text)")
        execute_values(cur, "INSERT INTO published VALUES %s", pairs)
        cur.execute(f"SELECT count(*) FROM (({STORED_EVENTS_SQL}) EXCEPT SELECT kind, source_id FROM published) s")
        missing = cur.fetchone()[0]
        cur.execute(f"SELECT count(*) FROM (SELECT kind, source_id FROM published EXCEPT ({STORED_EVENTS_SQL})) s")
        extra = cur.fetchone()[0]
        cur.execute("DROP TABLE published")
    conn.rollback()
    return missing, extra


@pytest.fixture(scope="module")
def adt_run(settings, admin_url, kafka_bootstrap, tmp_path_factory):
    """A one-day run at a small scale in a database and topics of its own; the relay drained.
    Shared by the tests below, which only read it or publish to topics of their own."""
    suffix = uuid.uuid4().hex[:8]
    with scratch_database(admin_url, prefix="hospital_test") as name:
        ours = dataclasses.replace(
            settings, database_url=with_database(settings.database_url, name),
            database_admin_url=with_database(admin_url, name),
            analyst_database_url=with_database(settings.analyst_database_url, name),
            data_dir=tmp_path_factory.mktemp("adt") / "data", transfers_topic=f"run-{suffix}",
            transfers_dlq_topic=f"run-{suffix}.dlq", consumer_group=f"run-{suffix}", adt_topic=f"adt-{suffix}")
        ensure_topics(kafka_bootstrap, {ours.transfers_topic: TRANSFER_PARTITIONS, ours.transfers_dlq_topic: 1})
        status = run(ours, RunOptions(days=1, speed=0, target_size="2MB", people=20_000), threading.Event())
        yield ours, status


def test_a_run_publishes_one_parsable_message_per_stored_admission_transfer_and_discharge(adt_run):
    settings, status = adt_run
    messages = read_topic(settings, settings.adt_topic)
    parsed = parse_all(messages)
    pairs = [source_key(m) for m in parsed]

    conn = connect(settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT kind, count(*) FROM ({STORED_EVENTS_SQL}) s (kind, id) GROUP BY kind")
            stored = dict(cur.fetchall())
        conn.rollback()
        assert stored.get("ADT^A01", 0) > 0 and stored.get("ADT^A02", 0) > 0 and stored.get("ADT^A03", 0) > 0
        assert len(pairs) == len(set(pairs)) == sum(stored.values())
        assert unmatched(conn, pairs) == (0, 0)

        # Every A02: PV1-3 and PV1-6 are the stored transfer's wards; PID-3 names its patient.
        a02 = [(str(m.segment("MSH")[10])[3:], str(m.segment("PV1")[3][0][0]), str(m.segment("PV1")[6][0][0]),
                str(m.segment("PID")[3][0][0]), str(m.segment("PID")[3][0][3]))
               for m in parsed if str(m.segment("MSH")[9][0][1]) == "A02"]
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE a02 (event_id text, to_ward text, from_ward text, hospital_number text, authority text)")
            execute_values(cur, "INSERT INTO a02 VALUES %s", a02)
            cur.execute("""SELECT count(*) FROM a02 m
                           JOIN stream.transfer_event e ON e.event_id::text = m.event_id
                           JOIN core.patient p ON p.patient_id = e.patient_id
                           WHERE m.to_ward = e.to_ward_code AND m.from_ward = e.from_ward_code
                             AND m.hospital_number = p.hospital_number AND m.authority = 'CHBAH'""")
            assert cur.fetchone()[0] == len(a02) == stored["ADT^A02"]
        conn.rollback()
    finally:
        conn.close()
    adt = status["adt"]
    assert adt["outbox_rows"] == adt["messages_published"] == len(messages) and adt["messages_pending"] == 0


def _outbox_count(settings) -> int:
    conn = connect(settings.database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.adt_outbox")
        count = cur.fetchone()[0]
    conn.close()
    return count


def test_a_relay_killed_inside_a_transaction_resumes_without_loss_or_duplicate(adt_run):
    settings, _ = adt_run
    topic = f"adt-kill-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": settings.database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "ADT_TOPIC": topic, "PATH": "/usr/bin:/bin"}
    args = ["--batch-rows", "25", "--drain-timeout", "60"]

    killed = subprocess.run(command("relay", ["--kill-in-transaction", "3"], args), cwd=REPO_ROOT, env=env,
                            capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    partial = read_topic(settings, topic)
    assert len(partial) == 2 * 25  # two committed transactions; the third, cut off, is not visible

    again = subprocess.run(command("relay", ["--kill-in-transaction", "1000000"], args), cwd=REPO_ROOT, env=env,
                           capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-2000:]

    messages = read_topic(settings, topic)
    controls = [str(m.segment("MSH")[10]) for m in parse_all(messages)]
    assert len(controls) == len(set(controls)) == _outbox_count(settings)
    conn = connect(settings.database_url)
    try:
        assert unmatched(conn, [source_key(m) for m in parse_all(messages)]) == (0, 0)
    finally:
        conn.close()


HOSTILE_FIRST, HOSTILE_LAST = "Zoë|^~\\&", "Dlamini-Nkosi\\F\\ & Ngũgĩ"
HOSTILE_STREET, HOSTILE_SUBURB = "12 | Main ^ Road ~ & \\ Unit 3", "Orlando Wést, Sowéto"


def test_a_patient_with_delimiters_in_name_and_address_round_trips_through_the_warehouse(adt_run):
    settings, _ = adt_run
    admin = connect(settings.database_admin_url)
    with admin.cursor() as cur:  # the operator changes one admitted patient's person row
        cur.execute("""UPDATE core.person pe SET first_name = %s, last_name = %s, street_address = %s, suburb = %s
                       FROM core.patient p WHERE p.person_id = pe.person_id
                         AND p.patient_id = (SELECT patient_id FROM clinical.admission ORDER BY admission_id LIMIT 1)
                       RETURNING p.hospital_number""", (HOSTILE_FIRST, HOSTILE_LAST, HOSTILE_STREET, HOSTILE_SUBURB))
        hospital_number = cur.fetchone()[0]
    admin.commit()
    admin.close()
    topic = f"adt-hostile-{uuid.uuid4().hex[:8]}"

    adt_relay.run(settings, topic=topic, drain_timeout_s=60)

    ours = [m for m in parse_all(read_topic(settings, topic)) if str(m.segment("PID")[3][0][0]) == hospital_number]
    assert ours
    for m in ours:
        name, address = m.segment("PID")[5][0], m.segment("PID")[11][0]
        assert (m.unescape(str(name[0])), m.unescape(str(name[1]))) == (HOSTILE_LAST, HOSTILE_FIRST)
        assert (m.unescape(str(address[0])), m.unescape(str(address[1]))) == (HOSTILE_STREET, HOSTILE_SUBURB)
        assert str(m.segment("PID")[8]) in ("F", "M") and len(str(m.segment("PID")[7])) == 8  # fields after still in place


# Names and addresses as a person row can hold them: every HL7 delimiter, line breaks, non-ASCII.
stored_text = st.text(alphabet=st.sampled_from(list("|^~\\&\r\n -'ab") + ["é", "ŋ", "Ș", "ü", "漢", "😀"])
                      | st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=stored_text, last=stored_text, street=stored_text, suburb=stored_text)
def test_generated_names_and_addresses_round_trip_from_the_stored_row_to_the_parser(adt_run, first, last, street,
                                                                                      suburb):
    """Through PostgreSQL (the person row, the relay's own query) into ER7 and out of the `hl7` parser;
    the change is rolled back, so the examples share the run."""
    settings, _ = adt_run
    conn = connect(settings.database_admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("""UPDATE core.person pe SET first_name = %s, last_name = %s, street_address = %s, suburb = %s
                           FROM core.patient p WHERE p.person_id = pe.person_id
                             AND p.patient_id = (SELECT patient_id FROM ops.adt_outbox ORDER BY adt_outbox_id LIMIT 1)
                           RETURNING p.hospital_number""", (first, last, street, suburb))
            hospital_number = cur.fetchone()[0]
            cur.execute(adt_relay.STABLE_ROWS_SQL, {"xid": "0", "id": 0, "limit": 1_000_000})
            rows = [r for r in cur.fetchall() if r[6] == hospital_number]
    finally:
        conn.rollback()
        conn.close()
    assert rows
    for row in rows:
        m = hl7.parse(adt_relay.message_of(row).value.decode("utf-8"))
        name, address = m.segment("PID")[5][0], m.segment("PID")[11][0]
        assert (m.unescape(str(name[0])), m.unescape(str(name[1]))) == (last, first)
        assert (m.unescape(str(address[0])), m.unescape(str(address[1]))) == (street, suburb)
        assert [str(s[0]) for s in m][:4] == ["MSH", "EVN", "PID", "PV1"]
