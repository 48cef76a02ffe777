"""Dead-letter copies of quarantined messages, each checked by its delivery report.

The consumer sends the copies of a batch before it commits the batch to PostgreSQL. `send`
returns only once the broker has acknowledged every copy; otherwise it raises
DeadLetterUndelivered, an infrastructure failure, so the consumer rolls the batch back and
retries it: at least once on the topic, exactly once in ops.quarantined_event.

A copy's value is cut to DEAD_LETTER_MAX_BYTES: a message the transfers topic accepted may still
be larger than the producer's message.max.bytes (1,000,000 by default), and produce() would
refuse it. The headers say whether the copy was cut and how long the original was; the full
bytes stay in ops.quarantined_event.raw_payload.
"""

from __future__ import annotations

from confluent_kafka import KafkaException, Producer

from consumer.transfer_store import Quarantined

# Well under the producer's message.max.bytes (1,000,000), leaving room for headers and framing.
DEAD_LETTER_MAX_BYTES = 256 * 1024
FLUSH_TIMEOUT_S = 60.0
QUEUE_FULL_WAIT_S = 0.5


class DeadLetterUndelivered(RuntimeError):
    """A dead-letter copy was not acknowledged by the broker; the batch must be retried."""


def dead_letter_message(q: Quarantined) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The (value, headers) of the dead-letter copy of `q`, its value cut to DEAD_LETTER_MAX_BYTES."""
    value = q.raw
    length = 0 if value is None else len(value)
    truncated = length > DEAD_LETTER_MAX_BYTES
    if truncated:
        value = value[:DEAD_LETTER_MAX_BYTES]
    headers = [("reason", q.reason.encode("utf-8")),  # safe UTF-8: Quarantined made it so
               ("source_topic", q.topic.encode("utf-8")),
               ("source_partition", str(q.partition).encode()),
               ("source_offset", str(q.offset).encode()),
               ("truncated", b"true" if truncated else b"false"),
               ("original_length", str(length).encode())]
    return value, headers


class DeadLetterSender:
    """Produces dead-letter copies to one topic and reports, per call, whether all arrived."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer, self.topic = producer, topic

    def send(self, quarantined: list[Quarantined]) -> None:
        """Produce a copy of each message and wait for every delivery report.

        Raises DeadLetterUndelivered if any copy was refused, failed or is still unacknowledged
        after FLUSH_TIMEOUT_S."""
        if not quarantined:
            return
        failures: list[str] = []

        def on_delivery(err, _msg) -> None:  # called from poll()/flush() with each copy's fate
            if err is not None:
                failures.append(str(err))

        for q in quarantined:
            value, headers = dead_letter_message(q)
            self._produce(value, headers, on_delivery, failures)
        waiting = self.producer.flush(FLUSH_TIMEOUT_S)
        if failures or waiting:
            raise DeadLetterUndelivered(
                f"{len(failures)} dead-letter copies failed, {waiting} unacknowledged after {FLUSH_TIMEOUT_S:.0f} s"
                + (f"; first failure: {failures[0]}" if failures else ""))

    def _produce(self, value, headers, on_delivery, failures: list[str]) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value=value, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(QUEUE_FULL_WAIT_S)  # the local queue is full: let deliveries drain it
            except KafkaException as exc:
                # Refused before it left (for instance an unknown topic): it never arrived either.
                failures.append(str(exc))
                return
