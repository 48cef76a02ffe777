"""The verdict of a chaos run, counted from what is there at the end: every message on the
transfers topic, the warehouse, and every file in the run's folders. Nothing comes from counters
the run kept in memory; the corpus (what was injected and what should have happened to it) is
the only input besides the settings.

Events: each message on the topic is quarantined (ops.quarantined_event at its partition and
offset), or stored (its event_id is in stream.transfer_event; a message re-sent after a producer
restart is a replay of a stored event), or lost. Every stored event is a message on the topic.
Files: each *.csv in landing/, archive/ (and archive/duplicate/) and quarantine/ has a ledger row
for its SHA-256: under its own name it is that row's file (archive if loaded, quarantine if
quarantined), under another it is bytes loaded before, set aside. Nothing waits in landing, and
no name comes twice with other bytes (a writer restarted mid-tick writes that tick's bytes again).
Every loaded file reconciles exactly: rows_read = rows_loaded + rows_rejected, rows_read = its
data rows (counted with the csv module), rows_loaded = clinical rows carrying its file_id,
rows_rejected = ops.rejected_row rows carrying it. No (transfer_id, version) and no clinical
record id is stored twice.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import Consumer, TopicPartition

from core.batch_files import KINDS, BatchFolders
from core.clock import STREAM_INTERVAL, window_ticks
from core.kafka_config import consumer_config
from core.settings import Settings
from database.connection import connect
from database.ledger import sha256_file
from hospital import status as status_module
from hospital.chaos_corpus import CASE_HEADER, BadEvent, BadFile

EVENTS_PER_TICK = 3
TOPIC_READ_TIMEOUT_S = 120
SHOWN = 5  # problems of one kind listed by name before "and N more"


@dataclass
class Verdict:
    events_produced: int = 0     # messages on the transfers topic
    events_stored: int = 0       # distinct events stored
    events_replayed: int = 0     # further messages of a stored event (re-sent, stored once)
    events_quarantined: int = 0
    events_lost: int = 0
    files_landed: int = 0        # *.csv files in the run's folders
    files_loaded: int = 0        # ledger rows
    files_quarantined: int = 0
    files_set_aside: int = 0     # copies of bytes loaded before
    files_waiting: int = 0       # still in landing
    unreconciled: int = 0
    duplicates: int = 0          # transfer versions and clinical ids stored twice
    corpus_cases: int = 0
    corpus_ok: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def line(self, **extra) -> str:
        """The one-line verdict; `extra` adds counts of the run itself (kills, restarts, ...)."""
        word = "CHAOS PASS" if self.passed else f"CHAOS FAIL ({len(self.problems)} problems)"
        counts = [
            f"events produced={self.events_produced} stored={self.events_stored} replayed={self.events_replayed} "
            f"quarantined={self.events_quarantined} lost={self.events_lost}",
            f"files landed={self.files_landed} loaded={self.files_loaded} quarantined={self.files_quarantined} "
            f"set_aside={self.files_set_aside} waiting={self.files_waiting} unreconciled={self.unreconciled}",
            f"duplicates={self.duplicates} corpus={self.corpus_ok}/{self.corpus_cases}",
            " ".join(f"{name}={value}" for name, value in extra.items()),
        ]
        return " ".join([word, *filter(None, counts)])

    def problem(self, what: str, items: list[str] | None = None) -> None:
        if items is None:
            self.problems.append(what)
        elif items:
            more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
            self.problems.append(f"{what}: {', '.join(items[:SHOWN])}{more}")


def judge(settings: Settings, days: int, events: list[BadEvent], files: list[BadFile]) -> Verdict:
    """Count everything and compare with what must hold; see the module docstring."""
    verdict = Verdict()
    conn = connect(settings.require("database_url"))
    try:
        with conn.cursor() as cur:
            judge_events(cur, settings, days, events, verdict)
            judge_files(cur, settings, files, verdict)
            judge_duplicates(cur, verdict)
            judge_ticks(settings, days, verdict)
        conn.rollback()
    finally:
        conn.close()
    return verdict


# -- events -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    case: str | None    # the chaos-case header: a corpus event
    event_id: str | None  # from the value, when it is a JSON object with a string event_id


def read_topic(settings: Settings, topic: str) -> tuple[list[Message], dict[int, int]]:
    """Every message on `topic` from each partition's low to its high watermark, and those high watermarks."""
    consumer = Consumer(consumer_config(settings, group_id=f"chaos-verdict-{uuid.uuid4().hex[:8]}"))
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends, starts = {}, []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            ends[p] = high
            if high > low:
                starts.append(TopicPartition(topic, p, low))
        consumer.assign(starts)
        messages, left = [], {tp.partition for tp in starts}
        deadline = time.monotonic() + TOPIC_READ_TIMEOUT_S
        while left:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read {topic} to its end in {TOPIC_READ_TIMEOUT_S} s")
            for msg in consumer.consume(num_messages=5000, timeout=1.0):
                if msg.error():
                    continue
                headers = dict(msg.headers() or [])
                case = headers.get(CASE_HEADER)
                messages.append(Message(msg.partition(), msg.offset(), case.decode() if case else None,
                                        _event_id(msg.value())))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    left.discard(msg.partition())
        return messages, ends
    finally:
        consumer.close()


def _event_id(value: bytes | None) -> str | None:
    try:
        doc = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    return event_id.lower() if isinstance(event_id, str) else None


def judge_events(cur, settings: Settings, days: int, corpus: list[BadEvent], verdict: Verdict) -> None:
    topic = settings.transfers_topic
    messages, ends = read_topic(settings, topic)
    cur.execute("SELECT event_id::text FROM stream.transfer_event")
    stored = {row[0] for row in cur.fetchall()}
    cur.execute("SELECT kafka_partition, kafka_offset, reason FROM ops.quarantined_event WHERE topic = %s", (topic,))
    quarantined = {(p, o): reason for p, o, reason in cur.fetchall()}
    cur.execute("SELECT kafka_partition, next_offset FROM ops.consumer_offset WHERE consumer_group = %s AND topic = %s",
                (settings.consumer_group, topic))
    offsets = dict(cur.fetchall())

    seen, lost, outcome = set(), [], defaultdict(list)  # outcome: case -> [(outcome, reason)]
    for m in messages:
        reason = quarantined.get((m.partition, m.offset))
        if reason is not None:
            verdict.events_quarantined += 1
            result = "quarantined"
        elif m.event_id in stored:
            if m.event_id in seen:
                verdict.events_replayed += 1
            else:
                verdict.events_stored += 1
            seen.add(m.event_id)
            result = "stored"
        else:
            verdict.events_lost += 1
            lost.append(f"{m.case or 'event'} at {m.partition}:{m.offset}")
            result = "lost"
        if m.case:
            outcome[m.case].append((result, reason or ""))
    verdict.events_produced = len(messages)
    verdict.problem("events neither stored nor quarantined", lost)
    verdict.problem("stored events that are on no message of the topic", sorted(stored - seen))
    if len(quarantined) != verdict.events_quarantined:
        verdict.problem(f"{len(quarantined) - verdict.events_quarantined} quarantine rows match no message")
    behind = [f"partition {p}: {offsets.get(p, 0)} of {end}" for p, end in sorted(ends.items())
              if offsets.get(p, 0) != end]
    verdict.problem("the consumer's stored offsets are not at the end of the topic", behind)

    produced = {m.event_id for m in messages if m.case is None and m.event_id is not None}
    expected = EVENTS_PER_TICK * window_ticks(days, STREAM_INTERVAL)
    if len(produced) != expected or not produced <= stored:
        verdict.problem(f"the producer's events: {len(produced)} on the topic and {len(produced & stored)} stored, "
                        f"expected {expected} ({EVENTS_PER_TICK} a tick)")
    for case in corpus:
        verdict.corpus_cases += 1
        failure = _event_case_failure(case, outcome.get(case.name, []), stored)
        if failure:
            verdict.problems.append(f"event {case.name} ({case.why}): {failure}")
        else:
            verdict.corpus_ok += 1


def _event_case_failure(case: BadEvent, outcomes: list[tuple[str, str]], stored: set[str]) -> str | None:
    if len(outcomes) != case.copies:
        return f"{len(outcomes)} messages on the topic, {case.copies} sent"
    if case.category is not None:
        wrong = [f"{result} {reason}".strip() for result, reason in outcomes
                 if result != "quarantined" or not reason.startswith(case.category)]
        return f"expected {case.expect}, got {'; '.join(wrong)}" if wrong else None
    if any(result != "stored" for result, _ in outcomes) or case.event_id not in stored:
        return f"expected stored, got {', '.join(result for result, _ in outcomes)}"
    return None


# -- files ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerRow:
    file_id: int
    file_name: str
    status: str
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    error: str | None


def judge_files(cur, settings: Settings, corpus: list[BadFile], verdict: Verdict) -> None:
    folders = BatchFolders.from_settings(settings)
    cur.execute("SELECT sha256, file_id, file_name, status, rows_read, rows_loaded, rows_rejected, error "
                "FROM ops.file_ledger")
    ledger = {sha: LedgerRow(*rest) for sha, *rest in cur.fetchall()}
    by_name = {row.file_name: row for row in ledger.values()}
    verdict.files_loaded = sum(row.status == "loaded" for row in ledger.values())
    verdict.files_quarantined = sum(row.status == "quarantined" for row in ledger.values())

    home = {}          # file_id -> the path of the ledger row's own file
    copies = Counter()  # sha -> files on disk with those bytes
    for folder, path in _files_on_disk(folders):
        verdict.files_landed += 1
        sha, _ = sha256_file(path)
        copies[sha] += 1
        row = ledger.get(sha)
        if folder == "landing":
            verdict.files_waiting += 1
            verdict.problems.append(f"{path.name} is still waiting in landing/")
        elif row is None:
            verdict.problems.append(f"{folder}/{path.name} has no ledger row")
        elif path.name != row.file_name or folder == "duplicate":
            verdict.files_set_aside += 1
            if folder == "quarantine" and row.status != "quarantined":
                verdict.problems.append(f"quarantine/{path.name}: its bytes were loaded as {row.file_name}")
        elif (folder, row.status) in (("archive", "loaded"), ("quarantine", "quarantined")):
            home[row.file_id] = path
        else:
            verdict.problems.append(f"{folder}/{path.name} is in {folder}/ but its ledger row says {row.status}")
    verdict.problem("ledger rows without their file in archive/ or quarantine/",
                    [row.file_name for row in ledger.values() if row.file_id not in home])
    # Every name the writer or the corpus uses is written with one set of bytes, however often its
    # writer is stopped and started; a name the ledger holds twice came with other bytes again.
    names = Counter(row.file_name for row in ledger.values())
    verdict.problem("names taken twice with other bytes (a writer that did not write the same bytes again)",
                    sorted(name for name, count in names.items() if count > 1))

    unreconciled = _unreconciled(cur, ledger.values(), home)
    verdict.unreconciled = len(unreconciled)
    verdict.problem("files that do not reconcile", unreconciled)

    cur.execute("SELECT l.file_name, r.line_number, r.reason FROM ops.rejected_row r "
                "JOIN ops.file_ledger l USING (file_id)")
    rejected = defaultdict(dict)
    for name, line, reason in cur.fetchall():
        rejected[name][line] = reason
    for case in corpus:
        verdict.corpus_cases += 1
        failure = _file_case_failure(case, folders, by_name.get(case.file_name), ledger, copies,
                                     rejected.get(case.file_name, {}))
        if failure:
            verdict.problems.append(f"file {case.name} ({case.why}): {failure}")
        else:
            verdict.corpus_ok += 1


def _files_on_disk(folders: BatchFolders):
    """(folder, path) of every *.csv in the run's folders."""
    for folder, path in (("landing", folders.landing), ("archive", folders.archive),
                         ("duplicate", folders.duplicate), ("quarantine", folders.quarantine)):
        if path.is_dir():
            for file in sorted(path.glob("*.csv")):
                if file.is_file():
                    yield folder, file


def _per_file_counts(cur) -> tuple[Counter, Counter]:
    """(clinical rows, rejected rows) per file_id, counted in the tables themselves."""
    clinical, rejected = Counter(), Counter()
    for kind in KINDS.values():
        cur.execute(f"SELECT file_id, count(*) FROM {kind.table} GROUP BY file_id")
        clinical.update(dict(cur.fetchall()))
    cur.execute("SELECT file_id, count(*) FROM ops.rejected_row GROUP BY file_id")
    rejected.update(dict(cur.fetchall()))
    return clinical, rejected


def _data_rows(path: Path) -> int:
    """Records after the header, as the csv module reads them (bytes that are not UTF-8 kept as
    they are: a record holding them is still a record, rejected by the loader)."""
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def _unreconciled(cur, rows, home: dict[int, Path]) -> list[str]:
    clinical, rejected = _per_file_counts(cur)
    off = []
    for row in rows:
        if row.status == "quarantined":
            if clinical[row.file_id] or rejected[row.file_id]:
                off.append(f"{row.file_name} (quarantined, yet {clinical[row.file_id]} rows loaded and "
                           f"{rejected[row.file_id]} rejected)")
            continue
        counted = (_data_rows(home[row.file_id]) if row.file_id in home else None,
                   clinical[row.file_id], rejected[row.file_id])
        if (row.rows_read != row.rows_loaded + row.rows_rejected
                or (row.rows_read, row.rows_loaded, row.rows_rejected) != counted):
            off.append(f"{row.file_name} (ledger read/loaded/rejected {row.rows_read}/{row.rows_loaded}/"
                       f"{row.rows_rejected}, counted {counted[0]}/{counted[1]}/{counted[2]})")
    return off


def _file_case_failure(case: BadFile, folders: BatchFolders, row: LedgerRow | None, ledger: dict,
                       copies: Counter, rejected: dict[int, str]) -> str | None:
    if case.expect == "ignored":
        if not (folders.landing / case.file_name).is_file():
            return "expected it left in landing/, it is gone"
        return f"expected no ledger row, it has one ({row.status})" if row else None
    if case.expect == "set_aside":
        first = ledger.get(case.sha256)
        if first is None or (first.file_name == case.file_name and copies[case.sha256] < 2):
            return "expected its bytes loaded once before and this copy set aside"
        return None
    if row is None:
        return f"expected {case.expect}, it has no ledger row"
    if case.expect == "quarantined":
        if row.status != "quarantined" or case.reason not in (row.error or ""):
            return f"expected quarantined ({case.reason}), got {row.status} {row.error or ''}".strip()
        return None
    if row.status != "loaded" or row.rows_read != case.rows:
        return f"expected loaded with {case.rows} rows, got {row.status} with {row.rows_read}: {row.error or ''}"
    wrong = [f"line {line}: expected '{want}', got '{rejected.get(line, 'loaded')}'"
             for line, want in sorted(case.rejected.items()) if want not in rejected.get(line, "")]
    wrong += [f"line {line} rejected unexpectedly: {reason}" for line, reason in sorted(rejected.items())
              if line not in case.rejected]
    return "; ".join(wrong) or None


# -- duplicates and ticks -------------------------------------------------------------------------

def judge_duplicates(cur, verdict: Verdict) -> None:
    cur.execute("SELECT count(*) - count(DISTINCT (transfer_id, version)) FROM stream.transfer_event")
    counts = {"stream.transfer_event (transfer_id, version)": cur.fetchone()[0]}
    for kind in KINDS.values():
        cur.execute(f"SELECT count(*) - count(DISTINCT {kind.id_column}) FROM {kind.table}")
        counts[f"{kind.table}.{kind.id_column}"] = cur.fetchone()[0]
    verdict.duplicates = sum(counts.values())
    verdict.problem("duplicates", [f"{n} in {where}" for where, n in counts.items() if n])


def judge_ticks(settings: Settings, days: int, verdict: Verdict) -> None:
    window = status_module.collect(settings, days=days)["window"]
    for cadence in ("stream", "batch"):
        if window[f"{cadence}_ticks"] != window[f"{cadence}_ticks_expected"]:
            verdict.problem(f"{cadence} ticks in the warehouse: {window[f'{cadence}_ticks']} of "
                            f"{window[f'{cadence}_ticks_expected']}")
