"""The one fault-injection interface of the tests: a real part of the pipeline in a child process
of its own, with one seam of its code patched in that process only. Production code carries no
hook for it (no environment variable, no hidden flag); the patch is applied here, before the
part's own `main()` runs, so everything else is the code a user runs.

    python -m tests.faults consumer --exit-after-commits 3 -- --topic t --dlq-topic d --group g
    python -m tests.faults ingest --pause-before-commit /tmp/marker -- --data-dir ...

Faults:
- `consumer --exit-after-commits N`: the consumer kills itself with SIGKILL after its Nth batch is
  committed to PostgreSQL, before the Kafka offset commit of that batch (the database has the
  batch; Kafka does not).
- `ingest --pause-before-commit MARKER`: batch_ingest, once the first file's rows are merged and its
  ledger row completed, writes its pid to MARKER and waits, before committing, for the test to
  kill it.

- `relay --kill-in-transaction N`: the ADT relay, in its Nth Kafka transaction, once the batch's
  messages are on the broker and before the commit, kills itself with SIGKILL.

Tests build the command line with `command(...)` and run it with cwd = the repository root.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def command(part: str, fault: list[str], args: list[str]) -> list[str]:
    """The argv of `part` ('consumer' or 'ingest') with `fault` (for example
    ['--exit-after-commits', '3']) and the part's own `args`. Run it with cwd=REPO_ROOT."""
    return [sys.executable, "-m", "tests.faults", part, *fault, "--", *args]


def exit_after_commits(commits: int) -> None:
    """Patch consumer.stream_consumer so that the process dies by SIGKILL when it is about to
    commit the offsets of batch `commits` to Kafka, after the batch is committed to PostgreSQL."""
    from consumer import stream_consumer

    class ExitingConsumer(stream_consumer.Consumer):
        kafka_commits = 0

        def commit(self, *args, **kwargs):
            ExitingConsumer.kafka_commits += 1
            if ExitingConsumer.kafka_commits >= commits:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().commit(*args, **kwargs)

    stream_consumer.Consumer = ExitingConsumer


def pause_before_commit(marker: Path) -> None:
    """Patch database.batch_ingest so that the loader stops for good just before its first commit
    of a loaded file, after writing its pid to `marker`."""
    from database import batch_ingest

    record_loaded = batch_ingest.record_loaded

    def record_loaded_then_pause(cur, *args, **kwargs):
        record_loaded(cur, *args, **kwargs)  # the last statement of the file's transaction
        marker.write_text(str(os.getpid()), encoding="utf-8")
        while True:
            time.sleep(1)

    batch_ingest.record_loaded = record_loaded_then_pause


def kill_in_transaction(transactions: int) -> None:
    """Patch producer.adt_relay so that the relay dies by SIGKILL inside its Nth Kafka transaction,
    after the batch's messages are delivered (to an open transaction) and before its commit."""
    from producer import adt_relay

    commit = adt_relay.Relay._commit
    calls = [0]

    def flush_then_die(self):
        calls[0] += 1
        if calls[0] >= transactions:
            self.producer.flush(30)
            os.kill(os.getpid(), signal.SIGKILL)
        return commit(self)

    adt_relay.Relay._commit = flush_then_die


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    parts = parser.add_subparsers(dest="part", required=True)
    consumer = parts.add_parser("consumer", help="consumer/stream_consumer.py with a fault")
    consumer.add_argument("--exit-after-commits", type=int, required=True, metavar="N")
    ingest = parts.add_parser("ingest", help="database/batch_ingest.py with a fault")
    ingest.add_argument("--pause-before-commit", type=Path, required=True, metavar="MARKER")
    relay = parts.add_parser("relay", help="producer/adt_relay.py with a fault")
    relay.add_argument("--kill-in-transaction", type=int, required=True, metavar="N")
    fault, part_args = parser.parse_args(argv[:split]), argv[split + 1:]
    if fault.part == "relay":
        kill_in_transaction(fault.kill_in_transaction)
        from producer.adt_relay import main as part_main
    elif fault.part == "consumer":
        exit_after_commits(fault.exit_after_commits)
        from consumer.stream_consumer import main as part_main
    else:
        pause_before_commit(fault.pause_before_commit)
        from database.batch_ingest import main as part_main
    return part_main(part_args)


if __name__ == "__main__":
    sys.exit(main())
