"""Write the warehouse's data dictionary (Markdown) from the comments in the live schema.

The comments in init_db.sql are the one source; this turns them into docs/data_dictionary.md
so the document can never drift from the schema:

    python database/data_dictionary.py --out docs/data_dictionary.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.settings import SettingsError, load
from database.connection import connect

SCHEMAS = ("reference", "core", "stream", "clinical", "ops", "analytics", "private")

TABLES_SQL = """
SELECT n.nspname, c.relname, c.relkind, coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
ORDER BY array_position(%s, n.nspname::text), c.relname
"""

COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def render(conn) -> str:
    """The dictionary as Markdown: one section per table or view, one row per column."""
    kinds = {"r": "table", "p": "table, partitioned by day", "v": "view"}
    lines = ["# Data dictionary", "",
             "Generated from the comments in `init_db.sql` by `python database/data_dictionary.py`.", ""]
    with conn.cursor() as cur:
        cur.execute(TABLES_SQL, (list(SCHEMAS), list(SCHEMAS)))
        for schema, table, kind, comment in cur.fetchall():
            lines += [f"## {schema}.{table} ({kinds[kind]})", "", comment or "_No description._", "",
                      "| column | type | null | meaning |", "|---|---|---|---|"]
            with conn.cursor() as columns:
                columns.execute(COLUMNS_SQL, (f"{schema}.{table}",))
                for name, data_type, not_null, meaning in columns.fetchall():
                    nullable = "NOT NULL" if not_null else "NULL"
                    lines.append(f"| {name} | {data_type} | {nullable} | {meaning.replace('|', '/')} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/data_dictionary.md"),
                        help="where to write the Markdown (default: docs/data_dictionary.md)")
    args = parser.parse_args(argv)
    try:
        conn = connect(load().require("database_admin_url"))
    except SettingsError as exc:
        print(f"data dictionary: {exc}", file=sys.stderr)
        return 1
    try:
        text = render(conn)
    finally:
        conn.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
