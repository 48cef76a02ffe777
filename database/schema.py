"""Apply init_db.sql, and make throwaway databases with it (for tests and benchmarks)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "init_db.sql"


def apply_schema(admin_url: str, schema_file: Path = SCHEMA_FILE) -> None:
    """Run init_db.sql as one transaction through `admin_url` (a superuser or the owner). Idempotent."""
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(schema_file.read_text(encoding="utf-8"))
        conn.commit()
    finally:
        conn.close()


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@contextmanager
def scratch_database(admin_url: str, prefix: str = "hospital_scratch") -> Iterator[str]:
    """Create an empty database with the schema applied; yield its name; drop it afterwards.

    Gives a test or benchmark a warehouse of its own, so parallel work never shares rows.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _on_server(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        apply_schema(with_database(admin_url, name))
        yield name
    finally:
        # A new connection: the server may have been restarted while the database was in use.
        _on_server(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def recreate_database(admin_url: str, name: str) -> None:
    """Drop the database `name` if it exists (even with sessions open) and create it again with the schema."""
    _on_server(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _on_server(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    apply_schema(with_database(admin_url, name))


def _on_server(admin_url: str, statement: sql.Composable) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on the server's maintenance database."""
    server = psycopg2.connect(with_database(admin_url, "postgres"))
    server.autocommit = True
    try:
        with server.cursor() as cur:
            cur.execute(statement)
    finally:
        server.close()
