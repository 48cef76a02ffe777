"""Consume patient-transfer events from Kafka into PostgreSQL, effectively once.

    python consumer/stream_consumer.py                    # run until Ctrl-C or SIGTERM
    python consumer/stream_consumer.py --until-idle 5     # stop after 5 s with nothing to read
    python consumer/stream_consumer.py --days 3           # the run's window is SIM_START + 3 days

Each batch (up to --batch-size messages) is validated, then written in one transaction together
with the next offset of every partition it touched (ops.consumer_offset). On partition assignment
the consumer seeks to the offsets stored in PostgreSQL, so the database, not Kafka, says where to
resume: a kill -9 anywhere, even between the database commit and the Kafka commit, loses nothing
and applies nothing twice. Offsets are also committed to Kafka after the database commit, only
so that lag shows in the usual tools.

What goes wrong because of one message quarantines that message (ops.quarantined_event with the
reason and the raw bytes, and a dead-letter copy checked by its delivery report) and the consumer
carries on; only infrastructure failures (a lost or overloaded database, an unacknowledged
dead-letter copy) are retried, with backoff, before anything commits. A stored offset that is
not a position in the log (beyond its end: the topic was recreated; before its start: retention
deleted messages unread) is logged, recorded in ops.offset_incident, and reading resumes from the
log start.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg2
from confluent_kafka import (OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)

from consumer.dead_letter import DeadLetterSender, DeadLetterUndelivered
from consumer.transfer_store import (AHEAD_OF_LOG_END, REPLAY, Accepted, OffsetIncident, Quarantined,
                                     ReferenceCache, explain_skipped, load_offsets, offset_incident,
                                     record_offset_incidents, write_events, write_offsets, write_quarantined)
from core.clock import WINDOW_DAYS
from core.kafka_config import consumer_config, producer_config
from core.logs import configure_logging
from core.settings import Settings, load
from core.shutdown import stop_on_signals
from core.transfer_event import InvalidEvent, check_window, parse
from database.connection import connect_with_retry, infrastructure_failure

log = logging.getLogger(__name__)

# Messages per transaction: large enough that a backfill is a few hundred commits a minute, small
# enough that a live tick (3 events) is written as soon as it arrives.
DEFAULT_BATCH_SIZE = 2000
POLL_TIMEOUT_S = 0.1
MAX_BACKOFF_S = 5.0
WATERMARK_TIMEOUT_S = 10.0
REJECTED_BY_DATABASE = "rejected_by_database"
UNEXPECTED_ERROR = "unexpected_error"


def is_infrastructure(exc: BaseException, conn) -> bool:
    """True if `exc` is a failure of the services rather than of the data: worth a retry. The
    database's rule is database.connection.infrastructure_failure; an undelivered dead-letter
    copy is Kafka's."""
    return isinstance(exc, DeadLetterUndelivered) or infrastructure_failure(exc, conn)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def rejection_reason(exc: BaseException) -> str:
    """The quarantine reason of an event the database step refused: the error's first line
    (its type too when the driver, not the server, refused it)."""
    detail = first_line(exc) if isinstance(exc, psycopg2.Error) else f"{type(exc).__name__}: {first_line(exc)}"
    return f"{REJECTED_BY_DATABASE}: {detail}"


@dataclass
class ConsumerStats:
    messages: int = 0
    stored: int = 0        # events new to stream.transfer_event
    replayed: int = 0      # events stored before, with the same content: changed nothing
    quarantined: int = 0
    batches: int = 0
    offset_incidents: int = 0
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
    days: int = WINDOW_DAYS  # the run's window: settings.sim_start .. sim_start + days


@dataclass
class BatchOutcome:
    """What the database step made of a batch's parsed events."""

    stored: int = 0
    replayed: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)

    def add(self, other: "BatchOutcome") -> None:
        self.stored += other.stored
        self.replayed += other.replayed
        self.quarantined += other.quarantined


def produced_at(msg) -> datetime | None:
    """The message's Kafka timestamp (the producer's send time unless the topic uses log append time)."""
    kind, millis = msg.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


class TransferConsumer:
    def __init__(self, settings: Settings, options: ConsumerOptions, stop: threading.Event) -> None:
        self.settings, self.options, self.stop = settings, options, stop
        self.window = (settings.sim_start, settings.sim_start + timedelta(days=options.days))
        self.stats = ConsumerStats()
        self.refs = ReferenceCache()
        self.conn = None
        overrides = {"group.instance.id": options.instance_id} if options.instance_id else {}
        self.consumer = Consumer(consumer_config(settings, group_id=options.group, **overrides))
        self.dlq = Producer(producer_config(settings, **{"linger.ms": 0}))
        self.dead_letters = DeadLetterSender(self.dlq, options.dlq_topic)

    # -- database connection, with retry and backoff ---------------------------------------------
    def _db(self):
        if self.conn is None or self.conn.closed:
            self.conn = connect_with_retry(settings=self.settings, deadline_s=5.0)
            with self.conn.cursor() as cur:
                self.refs.refresh(cur)
            self.conn.commit()
        return self.conn

    def _with_retry(self, what: str, work):
        """Run work(conn) until it succeeds. Infrastructure failures (see is_infrastructure) are
        retried with backoff; anything else is a bug and propagates."""
        delay = 0.1
        while True:
            try:
                return work(self._db())
            except Exception as exc:
                if not is_infrastructure(exc, self.conn) or self.stop.is_set():
                    raise  # stopping: nothing was committed, so nothing is lost
                log.warning("%s failed (%s); retrying in %.1f s", what, first_line(exc), delay)
                if isinstance(exc, psycopg2.Error):
                    self._drop_connection()
                self.stop.wait(delay)
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
        incidents = []
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
            if tp.partition in stored:
                incident = self._check_against_log(tp.partition, stored[tp.partition])
                if incident is not None:
                    incidents.append(incident)
                    tp.offset = incident.log_start
        if incidents:
            self._record_incidents(incidents)
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

    # -- stored offsets against the log's range ---------------------------------------------------
    def _watermarks(self, partition: int) -> tuple[int, int] | None:
        """(log start, log end) of `partition`, asked of the broker; None only if stopping first."""
        delay = 0.1
        while not self.stop.is_set():
            try:
                marks = self.consumer.get_watermark_offsets(TopicPartition(self.options.topic, partition),
                                                            timeout=WATERMARK_TIMEOUT_S, cached=False)
                if marks is not None:
                    return marks
                problem = "timed out"
            except KafkaException as exc:
                problem = str(exc)
            log.warning("reading the log range of partition %d failed (%s); retrying", partition, problem)
            self.stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
        return None

    def _check_against_log(self, partition: int, stored: int) -> OffsetIncident | None:
        """The incident, logged, if the stored offset is outside the partition's log."""
        marks = self._watermarks(partition)
        if marks is None:
            return None  # stopping: nothing will be read, so nothing can be skipped
        incident = offset_incident(partition, stored, *marks)
        if incident is None:
            return None
        if incident.kind == AHEAD_OF_LOG_END:
            log.warning("partition %d of %s: stored offset %d is beyond the log's end (the log holds %d..%d): "
                        "the topic was recreated or truncated; resuming from the log start, %d",
                        partition, self.options.topic, stored, incident.log_start, incident.log_end,
                        incident.log_start)
        else:
            log.error("partition %d of %s: stored offset %d is before the log's start (the log holds %d..%d): "
                      "%d messages were deleted unread; resuming from the log start, %d",
                      partition, self.options.topic, stored, incident.log_start, incident.log_end,
                      incident.log_start - stored, incident.log_start)
        return incident

    def _record_incidents(self, incidents: list[OffsetIncident]) -> None:
        def record(conn):
            try:
                with conn.cursor() as cur:
                    record_offset_incidents(cur, self.options.group, self.options.topic, incidents)
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise

        self._with_retry("recording offset incidents", record)
        self.stats.offset_incidents += len(incidents)

    # -- one batch --------------------------------------------------------------------------------
    def _split(self, messages) -> tuple[list[Accepted], list[Quarantined], dict[int, int]]:
        """Parse every message; any exception from one message quarantines that message."""
        accepted, quarantined, next_offsets = [], [], {}
        start, end = self.window
        for msg in messages:
            partition, offset, raw = msg.partition(), msg.offset(), msg.value()
            next_offsets[partition] = max(next_offsets.get(partition, 0), offset + 1)
            try:
                event = parse(raw)
                check_window(event, start, end)
                accepted.append(Accepted(event, partition, offset, raw, produced_at(msg)))
            except InvalidEvent as exc:
                quarantined.append(Quarantined(self.options.topic, partition, offset, exc.reason, raw))
            except Exception as exc:  # noqa: BLE001 - a message must never stop the stream
                reason = f"{UNEXPECTED_ERROR}: {type(exc).__name__}: {first_line(exc)}"
                quarantined.append(Quarantined(self.options.topic, partition, offset, reason, raw))
        return accepted, quarantined, next_offsets

    def _apply(self, conn, accepted, quarantined, next_offsets) -> BatchOutcome:
        """Check and store the events, keep the quarantined messages, move the offsets, send the
        dead-letter copies, commit: all or nothing."""
        with conn.cursor() as cur:
            outcome = self._store_batch(cur, accepted)
            outcome.quarantined = quarantined + outcome.quarantined
            write_quarantined(cur, outcome.quarantined)
            write_offsets(cur, self.options.group, self.options.topic, next_offsets)
        self.dead_letters.send(outcome.quarantined)
        conn.commit()
        return outcome

    def _store_batch(self, cur, accepted: list[Accepted]) -> BatchOutcome:
        """All events in one go under a savepoint; if the database refuses (not an infrastructure
        failure), roll back to it and take the events one at a time to find the culprits."""
        cur.execute("SAVEPOINT batch")
        try:
            outcome = self._store(cur, accepted)
        except Exception as exc:
            if is_infrastructure(exc, cur.connection):
                raise
            log.warning("the database refused a batch of %d events (%s); isolating the culprits",
                        len(accepted), first_line(exc))
            cur.execute("ROLLBACK TO SAVEPOINT batch")
            outcome = self._store_one_by_one(cur, accepted)
        cur.execute("RELEASE SAVEPOINT batch")
        return outcome

    def _store_one_by_one(self, cur, accepted: list[Accepted]) -> BatchOutcome:
        outcome = BatchOutcome()
        for a in accepted:
            cur.execute("SAVEPOINT one")
            try:
                outcome.add(self._store(cur, [a]))
            except Exception as exc:
                if is_infrastructure(exc, cur.connection):
                    raise
                cur.execute("ROLLBACK TO SAVEPOINT one")
                outcome.quarantined.append(Quarantined(self.options.topic, a.partition, a.offset,
                                                       rejection_reason(exc), a.raw))
            cur.execute("RELEASE SAVEPOINT one")
        return outcome

    def _store(self, cur, accepted: list[Accepted]) -> BatchOutcome:
        """The reference checks, the write of what passed them, and why the write skipped any."""
        problems = self.refs.problems(cur, [a.event for a in accepted]) if accepted else []
        bad = [Quarantined(self.options.topic, a.partition, a.offset, problem.reason, a.raw)
               for a, problem in zip(accepted, problems) if problem is not None]
        good = [a for a, problem in zip(accepted, problems) if problem is None]
        skipped = write_events(cur, good)
        verdicts = explain_skipped(cur, [a.event for a in skipped])
        bad += [Quarantined(self.options.topic, a.partition, a.offset, verdict.reason, a.raw)
                for a, verdict in zip(skipped, verdicts) if verdict != REPLAY]
        return BatchOutcome(stored=len(good) - len(skipped), replayed=verdicts.count(REPLAY), quarantined=bad)

    @staticmethod
    def _rollback(conn) -> None:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg2.Error:
                pass  # the connection is gone; the retry reconnects

    def _process(self, messages) -> None:
        accepted, quarantined, next_offsets = self._split(messages)

        def apply(conn):
            try:
                return self._apply(conn, accepted, quarantined, next_offsets)
            except BaseException:
                self._rollback(conn)
                raise

        outcome = self._with_retry("writing a batch", apply)
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.stored += outcome.stored
        self.stats.replayed += outcome.replayed
        self.stats.quarantined += len(outcome.quarantined)
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
        log.info("consumed %d messages in %d batches: %d stored, %d replayed, %d quarantined", self.stats.messages,
                 self.stats.batches, self.stats.stored, self.stats.replayed, self.stats.quarantined)
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
    parser.add_argument("--days", type=int, default=WINDOW_DAYS,
                        help="days in the run's window, from SIM_START; events outside it are quarantined "
                             "(default: %(default)s)")
    parser.add_argument("--until-idle", type=float, metavar="SECONDS",
                        help="stop once nothing has arrived for this long (default: run until stopped)")
    parser.add_argument("--instance-id",
                        help="static group membership id: a restarted consumer with the same id gets its "
                             "partitions back at once instead of waiting for a rebalance")
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    configure_logging()
    settings = load()
    stop = stop_on_signals()
    options = ConsumerOptions(
        topic=args.topic or settings.transfers_topic, dlq_topic=args.dlq_topic or settings.transfers_dlq_topic,
        group=args.group or settings.consumer_group, batch_size=args.batch_size,
        until_idle_s=args.until_idle, instance_id=args.instance_id, days=args.days)
    consume_transfers(settings, options, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
