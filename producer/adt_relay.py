"""Publish the HL7 v2 ADT outbox (ops.adt_outbox) to Kafka: every row exactly once, in order.

    python producer/adt_relay.py             # publish every outbox row, then exit (waits for writers)
    python producer/adt_relay.py --follow    # keep publishing until SIGTERM or Ctrl-C

How each row is published once across crashes and restarts:
  1. A transactional producer (transactional.id per topic): `init_transactions` fences an older
     relay still alive (a zombie) and aborts whatever transaction it left open.
  2. The position is recovered from the topic itself: a read_committed read of the last messages
     of every partition; each message carries its outbox position (xid:adt_outbox_id) in the
     ADT_POSITION_HEADER header, and the highest one is where the relay stopped.
  3. Only the stable prefix is read: outbox rows whose xid is below pg_snapshot_xmin of the
     current snapshot, after the position, in (xid, adt_outbox_id) order. No transaction still
     running can add a row below that point, so nothing can appear behind the position.
  4. A batch of messages goes in one Kafka transaction; the position advances only when the
     commit succeeds. A crash anywhere leaves the batch aborted (it is published again) or
     committed (its position is on the topic): never lost, never twice.
Messages are keyed by hospital number, so one patient's messages keep their order on one partition.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass

import psycopg2
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.kafka_config import consumer_config, producer_config
from core.logs import configure_logging
from core.settings import Settings, SettingsError, load
from core.shutdown import stop_on_signals
from database.connection import connect_with_retry
from producer.hl7_adt import Diagnosis, OutboxRow, Patient, build_message, control_id

log = logging.getLogger(__name__)

ADT_POSITION_HEADER = "adt-outbox-position"
ADT_PARTITIONS = 3
BATCH_ROWS = 500                 # outbox rows per Kafka transaction
IDLE_WAIT_S = 0.5                # between looks at an outbox with nothing stable to publish
RESTART_WAIT_S = 2.0             # follow mode: before a new relay after a lost connection
DRAIN_TIMEOUT_S = 300.0          # how long a one-shot run waits for running writers to commit
RECOVERY_WINDOW = 64             # messages read back from each partition's end, growing 4x until a position is found
RECOVERY_TIMEOUT_S = 60.0
TRANSACTION_TIMEOUT_S = 60.0    # how long a client call (init, commit, abort) may take
# How long the broker keeps a transaction open before aborting it: above the producer's
# delivery timeout (core/kafka_config.py), as librdkafka requires.
BROKER_TRANSACTION_TIMEOUT_MS = 180_000
START = (0, 0)                   # the position before any row

# The stable prefix after a position, with what each message needs. The primary diagnosis of an
# admission is looked up in the two days its record_date can have (diagnosed shortly after).
STABLE_ROWS_SQL = """
SELECT o.xid::text, o.adt_outbox_id, o.trigger_event, o.source_table, o.source_id, o.source_row,
       p.hospital_number, pe.sa_id_number, pe.passport_number, pe.first_name, pe.last_name, pe.date_of_birth,
       pe.sex, pe.street_address, pe.suburb, pe.city, pe.province, pe.postal_code, pe.phone_number,
       pe.passport_country, d.icd10_code, d.description, d.diagnosed_at
FROM ops.adt_outbox o
JOIN core.patient p ON p.patient_id = o.patient_id
JOIN core.person pe ON pe.person_id = p.person_id
LEFT JOIN LATERAL (
    SELECT g.icd10_code, c.description, g.diagnosed_at
    FROM clinical.diagnosis g JOIN reference.icd10_code c ON c.icd10_code = g.icd10_code
    WHERE o.source_table = 'clinical.admission' AND g.diagnosis_role = 'primary'
      AND g.admission_id = (o.source_row->>'admission_id')::bigint
      AND g.record_date BETWEEN (o.source_row->>'record_date')::date AND (o.source_row->>'record_date')::date + 1
    ORDER BY g.diagnosed_at, g.diagnosis_id LIMIT 1) d ON true
WHERE o.xid < pg_snapshot_xmin(pg_current_snapshot())
  AND (o.xid, o.adt_outbox_id) > (%(xid)s::text::xid8, %(id)s)
ORDER BY o.xid, o.adt_outbox_id
LIMIT %(limit)s
"""

UNPUBLISHED_SQL = "SELECT count(*) FROM ops.adt_outbox WHERE (xid, adt_outbox_id) > (%(xid)s::text::xid8, %(id)s)"


class RelayError(RuntimeError):
    """The relay cannot go on (a fatal Kafka error, a topic it cannot read)."""


@dataclass(frozen=True)
class Outgoing:
    position: tuple[int, int]
    key: bytes
    value: bytes
    control_id: str


def format_position(position: tuple[int, int]) -> str:
    return f"{position[0]}:{position[1]}"


def parse_position(text: bytes | str) -> tuple[int, int]:
    """The (xid, adt_outbox_id) of a header value written by format_position."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    xid, _, outbox_id = text.partition(":")
    return int(xid), int(outbox_id)


def message_of(record: tuple) -> Outgoing:
    """A STABLE_ROWS_SQL row as the message to send."""
    xid, outbox_id, trigger_event, source_table, source_id, source_row, *person, code, description, at = record
    row = OutboxRow(trigger_event, source_table, source_id, source_row)
    patient = Patient(*person)
    diagnosis = Diagnosis(code, description, at) if code else None
    return Outgoing((int(xid), outbox_id), patient.hospital_number.encode("utf-8"),
                    build_message(row, patient, diagnosis), control_id(row))


def ensure_topic(settings: Settings, topic: str, partitions: int = ADT_PARTITIONS) -> None:
    """Create the ADT topic unless it exists (replication 1, as the local services run)."""
    admin = AdminClient({"bootstrap.servers": settings.require("kafka_bootstrap_servers"), "log_level": 3})
    if topic in admin.list_topics(timeout=10).topics:
        return
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise RelayError(f"creating topic {topic} failed: {exc}") from exc


def _partition_position(consumer: Consumer, topic: str, partition: int, low: int, high: int) -> tuple[int, int] | None:
    """The highest position among the committed messages of the partition's last `window` offsets,
    widening the window until one is found or the whole partition was read."""
    window = RECOVERY_WINDOW
    while True:
        start = max(low, high - window)
        best = None
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while True:
            if time.monotonic() > deadline:
                raise RelayError(f"reading {topic}[{partition}] back from offset {start} took over {RECOVERY_TIMEOUT_S:.0f} s")
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise RelayError(f"reading {topic}[{partition}]: {message.error()}")
            header = dict(message.headers() or []).get(ADT_POSITION_HEADER)
            if header is not None:
                position = parse_position(header)
                best = position if best is None else max(best, position)
        if best is not None or start == low:
            return best
        window *= 4


def recover_position(settings: Settings, topic: str) -> tuple[int, int]:
    """The outbox position of the last committed message on `topic` (START if it has none).
    Read with isolation read_committed, so messages of aborted transactions do not count."""
    # fetch.wait.max.ms: at a partition's end the broker holds each fetch this long hoping for
    # more, before the empty answer that says "end of partition"; the default 500 ms made every
    # relay start and every `hospital status` wait about 3.5 s for the ADT topic's 3 partitions.
    consumer = Consumer(consumer_config(settings, group_id="adt-relay-recovery",
                                        **{"enable.partition.eof": True, "fetch.wait.max.ms": 10,
                                           "log_level": 3}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise RelayError(f"topic {topic} cannot be read: {metadata.error if metadata else 'missing'}")
        best = START
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            found = _partition_position(consumer, topic, partition, low, high) if high > low else None
            if found is not None:
                best = max(best, found)
        return best
    finally:
        consumer.close()


class Relay:
    """Outbox -> topic, one Kafka transaction per batch; see the module docstring."""

    def __init__(self, settings: Settings, topic: str | None = None, batch_rows: int = BATCH_ROWS) -> None:
        self.settings = settings
        self.topic = topic or settings.adt_topic
        self.batch_rows = batch_rows
        self.failures: list[str] = []
        self.published = 0
        ensure_topic(settings, self.topic)
        self.producer = Producer(producer_config(settings, **{"transactional.id": f"adt-relay.{self.topic}",
                                                              "transaction.timeout.ms": BROKER_TRANSACTION_TIMEOUT_MS,
                                                              "log_level": 3}))
        self.producer.init_transactions(TRANSACTION_TIMEOUT_S)  # fences a zombie, aborts its open transaction
        self.position = recover_position(settings, self.topic)
        log.info("ADT relay for %s resumes after outbox position %s", self.topic, format_position(self.position))
        self.conn = connect_with_retry(settings.require("database_url"), settings=settings)

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def stable_rows(self) -> list[Outgoing]:
        """The next stable outbox rows after the position, as messages (a fresh snapshot each time)."""
        with self.conn.cursor() as cur:
            cur.execute(STABLE_ROWS_SQL, {"xid": str(self.position[0]), "id": self.position[1],
                                          "limit": self.batch_rows})
            records = cur.fetchall()
        self.conn.rollback()  # read only: end the snapshot, so the next look sees a newer xmin
        return [message_of(r) for r in records]

    def unpublished(self) -> int:
        """Outbox rows after the position, stable or not."""
        with self.conn.cursor() as cur:
            cur.execute(UNPUBLISHED_SQL, {"xid": str(self.position[0]), "id": self.position[1]})
            count = cur.fetchone()[0]
        self.conn.rollback()
        return count

    def publish(self, batch: list[Outgoing]) -> None:
        """Send `batch` in one Kafka transaction; the position moves only once it is committed."""
        self.failures.clear()
        self.producer.begin_transaction()
        for message in batch:
            headers = [(ADT_POSITION_HEADER, format_position(message.position).encode("ascii")),
                       ("hl7-control-id", message.control_id.encode("utf-8"))]
            while True:
                try:
                    self.producer.produce(self.topic, key=message.key, value=message.value, headers=headers,
                                          on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self.producer.poll(0.5)
            self.producer.poll(0)
        self._commit()
        self.position = batch[-1].position
        self.published += len(batch)

    def _commit(self) -> None:
        while True:
            try:
                self.producer.commit_transaction(TRANSACTION_TIMEOUT_S)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.retriable():
                    continue
                if error.txn_requires_abort():
                    self.producer.abort_transaction(TRANSACTION_TIMEOUT_S)
                    raise RelayError(f"transaction aborted ({error}); delivery failures: {self.failures[:3]}") from exc
                raise RelayError(f"Kafka transaction failed: {error}") from exc

    def step(self) -> int:
        """Publish one batch of the stable prefix; returns the rows published (0: nothing stable)."""
        batch = self.stable_rows()
        if batch:
            self.publish(batch)
        return len(batch)

    def close(self) -> None:
        self.conn.close()
        self.producer.flush(10)


def _serve(relay: Relay, follow: bool, stop: threading.Event, drain_timeout_s: float) -> None:
    """Publish with one relay until done (one-shot) or `stop` (follow)."""
    deadline = time.monotonic() + drain_timeout_s
    while not stop.is_set():
        if relay.step():
            continue
        if not follow:
            if relay.unpublished() == 0:
                return
            if time.monotonic() > deadline:
                raise RelayError(f"outbox rows still unpublished after {drain_timeout_s:.0f} s: "
                                 "a transaction that wrote them has not ended")
        stop.wait(IDLE_WAIT_S)


def run(settings: Settings, *, follow: bool = False, stop: threading.Event | None = None,
        topic: str | None = None, drain_timeout_s: float = DRAIN_TIMEOUT_S, batch_rows: int = BATCH_ROWS) -> int:
    """Publish the outbox; returns the messages published.

    One-shot (follow=False): until no outbox row is left after the position, waiting for the
    transactions that are still writing rows (at most `drain_timeout_s`). Follow: until `stop`;
    a lost database or broker connection starts a new relay, which recovers its position from
    the topic exactly as after a crash (a fenced or failed transaction is not retried: RelayError)."""
    stop = stop or threading.Event()
    published = 0
    while True:
        relay = None
        try:
            relay = Relay(settings, topic, batch_rows)
            _serve(relay, follow, stop, drain_timeout_s)
            log.info("ADT relay published %d messages to %s (outbox position %s)", published + relay.published,
                     relay.topic, format_position(relay.position))
            return published + relay.published
        except (psycopg2.OperationalError, psycopg2.InterfaceError, KafkaException) as exc:
            if not follow or stop.is_set():
                raise
            log.warning("ADT relay lost a connection (%s); starting again in %.0f s",
                        " ".join(str(exc).split())[:200], RESTART_WAIT_S)
            stop.wait(RESTART_WAIT_S)
        finally:
            if relay is not None:
                published += relay.published
                relay.published = 0
                relay.close()


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--follow", action="store_true", help="keep publishing until SIGTERM or Ctrl-C")
    parser.add_argument("--topic", help="Kafka topic (default: ADT_TOPIC, adt-messages)")
    parser.add_argument("--drain-timeout", type=float, default=DRAIN_TIMEOUT_S, metavar="SECONDS",
                        help=f"one-shot: how long to wait for writers still running (default {DRAIN_TIMEOUT_S:.0f})")
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, metavar="N",
                        help=f"outbox rows per Kafka transaction (default {BATCH_ROWS})")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    configure_logging()
    args = build_parser(prog).parse_args(argv)
    name = prog or "adt_relay"
    if args.drain_timeout < 0 or args.batch_rows < 1:
        print(f"{name}: --drain-timeout must be >= 0 and --batch-rows >= 1", file=sys.stderr)
        return 2
    try:
        settings = load()
        stop = stop_on_signals()
        run(settings, follow=args.follow, stop=stop, topic=args.topic, drain_timeout_s=args.drain_timeout,
            batch_rows=args.batch_rows)
    except (SettingsError, RelayError, KafkaException, psycopg2.Error) as exc:
        print(f"{name}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
