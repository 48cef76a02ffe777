"""The file ledger: each batch file is claimed once, by the SHA-256 of its bytes, and each
record once, by the id ranges its file loaded.

A claim is two things inside the caller's load transaction: a transaction-scoped advisory lock
on the hash (so a second worker skips a file the first is loading, instead of loading it too),
and the ledger row itself, whose unique sha256 index makes a second load impossible even
without the lock. Both vanish if the transaction rolls back or its process is killed, so a file
whose load never committed is simply claimed again on the next pass.

A file with other bytes can still carry records loaded before (a resent, edited file). Once
its rows are merged, the file claims their ids (claim_record_ids); the exclusion constraint on
ops.file_ledger.record_ids refuses ids another file of the kind holds, and the loader then
rejects those rows instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psycopg2.extras import execute_values

from database.record_file import sha256_chunks


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in 1 MiB chunks (constant memory)."""
    with path.open("rb") as handle:
        return sha256_chunks(handle)


def lock_key(sha256: str) -> int:
    """The advisory-lock key of a file: its hash's first 60 bits (a positive bigint)."""
    return int(sha256[:15], 16)


@dataclass(frozen=True)
class Claim:
    """What claiming a file gave: a new ledger row, or why not."""

    file_id: int | None = None      # set when this transaction now owns the file
    busy: bool = False              # another worker holds it right now
    done_status: str | None = None  # 'loaded' or 'quarantined': it was taken before
    file_name: str | None = None    # the name it was taken under, when taken before


def claim(cur, sha256: str, file_name: str, size_bytes: int, worker: str, *, wait: bool = False) -> Claim:
    """Claim a file in the current transaction. With wait=False a file another worker is loading
    comes back busy at once; with wait=True this blocks until that worker commits or dies."""
    if wait:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(sha256),))
    else:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (lock_key(sha256),))
        if not cur.fetchone()[0]:
            return Claim(busy=True)
    cur.execute(
        """INSERT INTO ops.file_ledger (sha256, file_name, size_bytes, status, claimed_by)
           VALUES (%s, %s, %s, 'loaded', %s)
           ON CONFLICT (sha256) DO NOTHING
           RETURNING file_id""",
        (sha256, file_name, size_bytes, worker))
    row = cur.fetchone()
    if row is not None:
        return Claim(file_id=row[0])
    cur.execute("SELECT status, file_name FROM ops.file_ledger WHERE sha256 = %s", (sha256,))
    status, name = cur.fetchone()
    return Claim(done_status=status, file_name=name)


def claim_record_ids(cur, file_id: int, kind: str, record_ids: str | None) -> None:
    """Record the ids a file loaded, as an int8multirange literal such as '{[9174720000001,9174720071045]}'.

    The ledger's exclusion constraint refuses ids another file of the kind holds: this raises
    psycopg2.errors.ExclusionViolation, at once if that file committed, or once it commits if
    its loader is still in its transaction (so two loaders can never both keep an id). None:
    the file loaded no rows, and claims nothing."""
    cur.execute("UPDATE ops.file_ledger SET file_kind = %s, record_ids = %s::int8multirange WHERE file_id = %s",
                (kind, record_ids, file_id))


def record_loaded(cur, file_id: int, kind: str, rows_read: int, rows_loaded: int, rows_rejected: int) -> None:
    """Complete a claimed file's ledger row; the table's check enforces read = loaded + rejected."""
    cur.execute(
        """UPDATE ops.file_ledger
           SET file_kind = %s, status = 'loaded', finished_at = clock_timestamp(),
               rows_read = %s, rows_loaded = %s, rows_rejected = %s
           WHERE file_id = %s""",
        (kind, rows_read, rows_loaded, rows_rejected, file_id))


def record_quarantined(cur, file_id: int, kind: str | None, error: str) -> None:
    """Mark a claimed file as unreadable, with the reason; none of its rows are kept."""
    cur.execute(
        """UPDATE ops.file_ledger
           SET file_kind = %s, status = 'quarantined', finished_at = clock_timestamp(),
               rows_read = NULL, rows_loaded = NULL, rows_rejected = NULL, error = %s
           WHERE file_id = %s""",
        (kind, error[:2000], file_id))


def record_rejected(cur, file_id: int, rejected: list[tuple[int, str, str]]) -> None:
    """Keep records that could not be rows: (line number, reason, the record's text) each."""
    if rejected:
        execute_values(cur, "INSERT INTO ops.rejected_row (file_id, line_number, reason, raw_row) VALUES %s",
                       [(file_id, line, reason, raw) for line, reason, raw in rejected], page_size=1000)
