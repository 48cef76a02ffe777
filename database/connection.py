"""The one way the project opens PostgreSQL connections."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import psycopg2
import psycopg2.extensions

from hospital.settings import Settings, load

APPLICATION_NAME = "hospital-pipeline"


def connect(url: str | None = None, *, settings: Settings | None = None,
            application_name: str = APPLICATION_NAME) -> psycopg2.extensions.connection:
    """Open a connection (autocommit off) to `url`, or to DATABASE_URL from the settings."""
    if url is None:
        url = (settings or load()).require("database_url")
    conn = psycopg2.connect(url, application_name=application_name)
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'Africa/Johannesburg'")
    conn.commit()
    return conn


def connect_with_retry(url: str | None = None, *, deadline_s: float = 60.0,
                       settings: Settings | None = None) -> psycopg2.extensions.connection:
    """Connect, retrying with exponential backoff (0.1 s doubling to 2 s) until `deadline_s` passes.

    Raises the last OperationalError once the deadline is reached.
    """
    give_up_at = time.monotonic() + deadline_s
    delay = 0.1
    while True:
        try:
            return connect(url, settings=settings)
        except psycopg2.OperationalError:
            if time.monotonic() + delay > give_up_at:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# SQLSTATEs that say the service failed, not the statement or the data it was given: connection
# exceptions (08), a transaction that lost a race and can simply run again (40: deadlock,
# serialization), operator intervention such as a shutdown or a cancel (57), system errors such
# as I/O (58), and running out of disk, connections or configured limits (53100, 53300, 53400).
# Out of memory (53200) is not among them: one oversized input causes it, and would again.
INFRASTRUCTURE_SQLSTATES = ("08", "40", "57", "58", "53100", "53300", "53400")


def infrastructure_failure(exc: BaseException, conn) -> bool:
    """True when `exc` is a failure of PostgreSQL or of the way to it (retry, on a new connection
    if this one closed); False when it is about the work itself: a statement, or its data, that
    would fail again. The one rule the loader and the consumer both follow."""
    if conn is not None and conn.closed:
        return True
    if isinstance(exc, psycopg2.InterfaceError):
        return True
    if not isinstance(exc, psycopg2.Error):
        return False
    code = exc.pgcode
    if code is None:  # no answer from the server at all
        return isinstance(exc, psycopg2.OperationalError)
    return code.startswith(INFRASTRUCTURE_SQLSTATES)


@contextmanager
def transaction(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor whose work commits on success and rolls back on any exception."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
