"""Consume patient-transfer events from Kafka into PostgreSQL, effectively once.

    python consumer/stream_consumer.py                    # run until Ctrl-C or SIGTERM
    python consumer/stream_consumer.py --until-idle 5     # stop after 5 s with nothing to read

Each batch (up to --batch-size messages) is validated, then written in one transaction together
with the next offset of every partition it touched (ops.consumer_offset). On partition assignment
the consumer seeks to the offsets stored in PostgreSQL, so the database, not Kafka, says where to
resume: a kill -9 anywhere, even between the database commit and the Kafka commit, loses nothing
and applies nothing twice. Offsets are also committed to Kafka after the database commit, only
so that lag shows in the usual tools. Bad messages go to ops.quarantined_event and the
dead-letter topic with their reason; the consumer carries on.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg2
from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Producer,
                             TopicPartition)

from consumer.transfer_store import Accepted, Quarantined, ReferenceCache, load_offsets, write_batch
from database.connection import connect_with_retry
from hospital.kafka_config import consumer_config, producer_config
from hospital.settings import Settings, load
from hospital.shutdown import stop_on_signals
from hospital.transfer_event import InvalidEvent, parse

log = logging.getLogger(__name__)

# Messages per transaction: large enough that a backfill is a few hundred commits a minute, small
# enough that a live tick (3 events) is written as soon as it arrives.
DEFAULT_BATCH_SIZE = 2000
POLL_TIMEOUT_S = 0.1
MAX_BACKOFF_S = 5.0
REJECTED_BY_DATABASE = "rejected_by_database"


@dataclass
class ConsumerStats:
    messages: int = 0
    stored: int = 0
    quarantined: int = 0
    batches: int = 0
    assigned: set[int] = field(default_factory=set)
    ever_assigned: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class ConsumerOptions:
    topic: str
    dlq_topic: str
    group: str
    batch_size: int = DEFAULT_BATCH_SIZE
    until_idle_s: float | None = None
    instance_id: str | None = None  # static group membership: a restart takes over at once
    kill_after_commits: int | None = None  # fault injection for tests: SIGKILL between the two commits


def produced_at(msg) -> datetime | None:
    """The message's Kafka timestamp (the producer's send time unless the topic uses log append time)."""
    kind, millis = msg.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


class TransferConsumer:
    def __init__(self, settings: Settings, options: ConsumerOptions, stop: threading.Event) -> None:
        self.settings, self.options, self.stop = settings, options, stop
        self.stats = ConsumerStats()
        self.refs = ReferenceCache()
        self.conn = None
        overrides = {"group.instance.id": options.instance_id} if options.instance_id else {}
        self.consumer = Consumer(consumer_config(settings, group_id=options.group, **overrides))
        self.dlq = Producer(producer_config(settings, **{"linger.ms": 0}))

    # -- database connection, with retry and backoff ---------------------------------------------
    def _db(self):
        if self.conn is None or self.conn.closed:
            self.conn = connect_with_retry(settings=self.settings, deadline_s=5.0)
            with self.conn.cursor() as cur:
                self.refs.refresh(cur)
            self.conn.commit()
        return self.conn

    def _with_retry(self, what: str, work):
        """Run work(conn) until it succeeds; a lost connection means reconnect and try again."""
        delay = 0.1
        while True:
            try:
                return work(self._db())
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                if self.stop.is_set():
                    raise  # stopping: nothing was committed, so nothing is lost
                log.warning("%s failed (%s); retrying in %.1f s", what, str(exc).strip()[:200], delay)
                self._drop_connection()
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        self.conn = None

    # -- partition assignment: seek to the offsets stored in PostgreSQL --------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        def read(conn):
            with conn.cursor() as cur:
                stored = load_offsets(cur, self.options.group, self.options.topic, [p.partition for p in partitions])
            conn.rollback()
            return stored

        stored = self._with_retry("reading stored offsets", read)
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        consumer.assign(partitions)
        self.stats.assigned = {tp.partition for tp in partitions}
        self.stats.ever_assigned |= self.stats.assigned
        log.info("assigned partitions %s at stored offsets %s", sorted(self.stats.assigned),
                 {tp.partition: tp.offset for tp in partitions})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Every batch handed to us has been committed before consume() is called again, so there
        # is nothing in flight to finish here.
        self.stats.assigned -= {tp.partition for tp in partitions}
        consumer.unassign()

    # -- one batch --------------------------------------------------------------------------------
    def _split(self, messages) -> tuple[list[Accepted], list[Quarantined], dict[int, int]]:
        accepted, quarantined, next_offsets = [], [], {}
        for msg in messages:
            next_offsets[msg.partition()] = max(next_offsets.get(msg.partition(), 0), msg.offset() + 1)
            try:
                accepted.append(Accepted(parse(msg.value()), msg.partition(), msg.offset(), msg.value(),
                                         produced_at(msg)))
            except InvalidEvent as exc:
                quarantined.append(Quarantined(msg.topic(), msg.partition(), msg.offset(), exc.reason, msg.value()))
        return accepted, quarantined, next_offsets

    def _apply(self, conn, accepted, quarantined, next_offsets) -> tuple[int, list[Quarantined]]:
        """Validate against the warehouse, write everything, commit.

        Returns (events stored, messages quarantined)."""
        topic = self.options.topic
        with conn.cursor() as cur:
            problems = self.refs.check(cur, [a.event for a in accepted]) if accepted else {}
            unknown = [Quarantined(topic, a.partition, a.offset, problems[a.event.event_id].reason, a.raw)
                       for a in accepted if a.event.event_id in problems]
            good = [a for a in accepted if a.event.event_id not in problems]
            bad = quarantined + unknown
            try:
                cur.execute("SAVEPOINT batch")
                write_batch(cur, group=self.options.group, topic=topic, accepted=good,
                            quarantined=bad, next_offsets=next_offsets)
            except (psycopg2.IntegrityError, psycopg2.DataError):
                # Something slipped past the checks: find the culprits one event at a time.
                cur.execute("ROLLBACK TO SAVEPOINT batch")
                good, rejected = self._one_by_one(cur, good)
                bad = bad + rejected
                write_batch(cur, group=self.options.group, topic=topic, accepted=[],
                            quarantined=bad, next_offsets=next_offsets)
        self._send_to_dlq(bad)
        conn.commit()
        return len(good), bad

    def _one_by_one(self, cur, accepted: list[Accepted]) -> tuple[list[Accepted], list[Quarantined]]:
        kept, rejected = [], []
        for a in accepted:
            cur.execute("SAVEPOINT one")
            try:
                write_batch(cur, group=self.options.group, topic=self.options.topic, accepted=[a],
                            quarantined=[], next_offsets={})
                kept.append(a)
            except (psycopg2.IntegrityError, psycopg2.DataError) as exc:
                cur.execute("ROLLBACK TO SAVEPOINT one")
                reason = f"{REJECTED_BY_DATABASE}: {str(exc).strip().splitlines()[0][:200]}"
                rejected.append(Quarantined(self.options.topic, a.partition, a.offset, reason, a.raw))
        return kept, rejected

    def _send_to_dlq(self, bad: list[Quarantined]) -> None:
        """Dead-letter copies, flushed before the database commit: at least once on the topic,
        exactly once in ops.quarantined_event."""
        if not bad:
            return
        for q in bad:
            headers = [("reason", q.reason.encode()), ("source_topic", q.topic.encode()),
                       ("source_partition", str(q.partition).encode()), ("source_offset", str(q.offset).encode())]
            self.dlq.produce(self.options.dlq_topic, value=q.raw, headers=headers)
        if self.dlq.flush(60) != 0:
            raise RuntimeError("dead-letter topic unreachable; the batch will be retried")

    def _process(self, messages) -> None:
        accepted, quarantined, next_offsets = self._split(messages)

        def apply(conn):
            try:
                return self._apply(conn, accepted, quarantined, next_offsets)
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise

        stored, bad = self._with_retry("writing a batch", apply)
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.stored += stored
        self.stats.quarantined += len(bad)
        if self.options.kill_after_commits and self.stats.batches >= self.options.kill_after_commits:
            os.kill(os.getpid(), signal.SIGKILL)  # the database has the batch; Kafka does not
        offsets = [TopicPartition(self.options.topic, p, o) for p, o in next_offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except Exception as exc:  # noqa: BLE001 - the Kafka commit is informational only
            log.debug("Kafka offset commit failed (harmless, PostgreSQL has the offsets): %s", exc)

    # -- the loop ---------------------------------------------------------------------------------
    def _next_batch(self) -> list:
        """Wait for one message, then take what is already fetched, up to the batch size.

        consume(n, timeout) alone would hold a live event back until n arrive or the timeout
        passes; this way a lone event is written at once and a backlog still goes in big batches.
        """
        first = self.consumer.poll(POLL_TIMEOUT_S)
        if first is None:
            return []
        return [first, *self.consumer.consume(num_messages=self.options.batch_size - 1, timeout=0)]

    def run(self) -> ConsumerStats:
        self._db()
        self.consumer.subscribe([self.options.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                messages = self._next_batch()
                real = []
                for msg in messages:
                    err = msg.error()
                    if err is None:
                        real.append(msg)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        if err.fatal():
                            raise RuntimeError(f"fatal Kafka error: {err}")
                        log.warning("Kafka: %s", err)
                if real:
                    self._process(real)
                    idle_since = time.monotonic()
                elif (self.options.until_idle_s is not None and self.stats.assigned
                      and time.monotonic() - idle_since >= self.options.until_idle_s):
                    log.info("nothing to read for %.1f s; stopping", self.options.until_idle_s)
                    break
        finally:
            self.consumer.close()
            self.dlq.flush(10)
            self._drop_connection()
        log.info("consumed %d messages in %d batches: %d stored, %d quarantined", self.stats.messages,
                 self.stats.batches, self.stats.stored, self.stats.quarantined)
        return self.stats


def consume_transfers(settings: Settings, options: ConsumerOptions,
                      stop: threading.Event | None = None) -> ConsumerStats:
    """Run the consumer until `stop` is set (or it has been idle for options.until_idle_s)."""
    return TransferConsumer(settings, options, stop or threading.Event()).run()


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Upsert patient-transfer events from Kafka into PostgreSQL, effectively once.")
    parser.add_argument("--topic", help="topic to read (default: TRANSFERS_TOPIC)")
    parser.add_argument("--dlq-topic", help="dead-letter topic (default: TRANSFERS_DLQ_TOPIC)")
    parser.add_argument("--group", help="consumer group (default: CONSUMER_GROUP)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="most messages per database transaction (default: %(default)s)")
    parser.add_argument("--until-idle", type=float, metavar="SECONDS",
                        help="stop once nothing has arrived for this long (default: run until stopped)")
    parser.add_argument("--instance-id",
                        help="static group membership id: a restarted consumer with the same id gets its "
                             "partitions back at once instead of waiting for a rebalance")
    parser.add_argument("--kill-after-commits", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load()
    stop = stop_on_signals()
    options = ConsumerOptions(
        topic=args.topic or settings.transfers_topic, dlq_topic=args.dlq_topic or settings.transfers_dlq_topic,
        group=args.group or settings.consumer_group, batch_size=args.batch_size,
        until_idle_s=args.until_idle, instance_id=args.instance_id, kill_after_commits=args.kill_after_commits)
    consume_transfers(settings, options, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
