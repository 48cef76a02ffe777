"""The one COPY helper: stream a CSV file into a table without reading it into memory."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Sequence

from psycopg2 import sql

# psycopg2 reads the file object in chunks of this many bytes; 1 MiB keeps the
# round trips few without holding much in memory.
COPY_CHUNK_BYTES = 1 << 20


def copy_csv(cur, table: str, source: Path | IO[bytes], columns: Sequence[str] | None = None,
             *, header: bool = True, freeze: bool = False) -> int:
    """COPY a CSV (RFC 4180, UTF-8) from a path or binary file object into `table`.

    `table` may be schema-qualified ("core.person"). Returns the number of rows copied.
    Runs inside the caller's transaction: nothing is committed here. `freeze`: COPY ... FREEZE,
    rows written frozen and all-visible, for a table this transaction created or truncated
    (PostgreSQL refuses it otherwise).
    """
    target = sql.Identifier(*table.split("."))
    column_list = (sql.SQL(" ({})").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
                   if columns else sql.SQL(""))
    statement = sql.SQL(
        "COPY {}{} FROM STDIN WITH (FORMAT csv, HEADER {}, ENCODING 'UTF8'{})"
    ).format(target, column_list, sql.SQL("true" if header else "false"), sql.SQL(", FREEZE" if freeze else ""))
    if isinstance(source, Path):
        with source.open("rb") as handle:
            cur.copy_expert(statement, handle, size=COPY_CHUNK_BYTES)
    else:
        cur.copy_expert(statement, source, size=COPY_CHUNK_BYTES)
    return cur.rowcount
