"""The one way the project opens PostgreSQL connections."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg2
import psycopg2.extensions

from core.settings import ENVIRONMENT, Settings, SettingsError, load

APPLICATION_NAME = "hospital-pipeline"
# What the server says when it refuses the credentials (psycopg2 gives no SQLSTATE on connect).
REFUSED_CREDENTIALS = ("password authentication failed", "no password supplied")
URL_SETTINGS = {"database_url": "DATABASE_URL", "database_admin_url": "DATABASE_ADMIN_URL",
                "analyst_database_url": "ANALYST_DATABASE_URL"}


class CredentialsRefused(SettingsError):
    """PostgreSQL refused the user or password of a connection setting. Not a transient failure:
    retrying cannot help, so this is not an OperationalError and connect_with_retry does not retry it."""


def credentials_refused(url: str, exc: psycopg2.OperationalError, settings: Settings | None = None) -> CredentialsRefused:
    """One line: which setting, where it came from, what the server said, and what to do."""
    settings = settings or load()
    name = next((env for attr, env in URL_SETTINGS.items() if getattr(settings, attr) == url), None)
    parsed = psycopg2.extensions.parse_dsn(url)
    server = f"PostgreSQL at {parsed.get('host', 'the local socket')}:{parsed.get('port', 5432)}"
    said = " ".join(str(exc).split("FATAL:", 1)[-1].split())
    if name is None:
        return CredentialsRefused(f"{server} refused the connection: {said}; check the user and password")
    origin = settings.sources.get(name, ENVIRONMENT)
    if origin == ENVIRONMENT:
        advice = (f"correct the password in {name} (under docker compose it comes from .env, and the postgres "
                  "volume keeps the passwords it was first initialised with until `docker compose down -v`)")
    elif Path(origin).parent.name == ".local":
        advice = "run `make up` again: it sets the local roles' passwords to the ones in .local/env"
    else:
        placeholder = " (it still holds the CHANGE_ME placeholder of .env.example)" if "CHANGE_ME" in url else ""
        advice = (f"{origin} outranks .local/env (written by `make up`); delete {name} from {origin}{placeholder} "
                  "to use the local services, or correct its password")
    return CredentialsRefused(f"{name} ({settings.source(name)}) was refused by {server}: {said}. {advice[0].upper()}{advice[1:]}.")


def connect(url: str | None = None, *, settings: Settings | None = None,
            application_name: str = APPLICATION_NAME) -> psycopg2.extensions.connection:
    """Open a connection (autocommit off) to `url`, or to DATABASE_URL from the settings.

    Raises CredentialsRefused (a SettingsError, one line naming the setting and where it came
    from) when the server refuses the user or password; other failures raise psycopg2's errors."""
    if url is None:
        url = (settings or load()).require("database_url")
    try:
        conn = psycopg2.connect(url, application_name=application_name)
    except psycopg2.OperationalError as exc:
        if any(text in str(exc) for text in REFUSED_CREDENTIALS):
            raise credentials_refused(url, exc, settings) from None
        raise
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
