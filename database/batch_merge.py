"""Staging, validation and merge of one batch file, in SQL.

A file is COPYed as text into a temporary staging table (every column text, so any row that
parses as CSV arrives), then one statement checks every row and, in the same snapshot, inserts
the good rows into the day-partitioned clinical table and the bad ones, with the first reason
that failed, into ops.rejected_row. Checks, in order: required values present; formats (ids,
integers, numbers, timestamps, allowed values); plausible ranges; the event time inside the
window; references to person, patient, staff, ward and ICD-10 code; kind rules (the admission's
person is the patient's person; a diagnosis code fits the patient's sex and age; an injury has
an external cause in the same file); ids another file of the kind already loaded (the id
ranges in ops.file_ledger.record_ids); duplicates in the file. Every staged row ends up
counted in exactly one of rows_loaded or rows_rejected.
"""

from __future__ import annotations

from datetime import date, timedelta

from core.batch_files import Column, RecordKind

STAGE_TABLE = "batch_stage"

# The formats a text value must match before it is cast; the casts then cannot fail.
BIGINT_RE = r"^[0-9]{1,18}$"
INT_RE = r"^-?[0-9]{1,9}$"
NUMERIC_RE = r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"
# ISO 8601 date and time with optional seconds, fraction and offset. The date part is also
# required to be one of the window's days (a list of real dates), so it is a valid date too.
TIMESTAMP_RE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
                r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$")
MAX_TEXT = 200

REFERENCES = {  # ref -> (table, key column)
    "patient": ("core.patient", "patient_id"),
    "person": ("core.person", "person_id"),
    "staff": ("core.staff", "staff_id"),
    "ward": ("reference.ward", "ward_code"),
    "icd10": ("reference.icd10_code", "icd10_code"),
}

CAST = {"id": "bigint", "bigint": "bigint", "int": "integer", "numeric": "numeric",
        "timestamp": "timestamptz", "text": "text", "choice": "text"}


def sast_day(instant: str) -> str:
    """SQL for the SAST calendar day of a timestamptz expression. South Africa keeps UTC+2 all
    year (no daylight saving since 1944), so a fixed offset gives the same day as the zone
    name, and costs a seventh as much per row (no time-zone rules to look up)."""
    return f"({instant} AT TIME ZONE interval '+02:00')::date"


def stage_table(kind: RecordKind, *, typed: bool) -> str:
    """The session's staging table for a kind: typed (fast path) or all text (careful path)."""
    return f"{STAGE_TABLE}_{kind.name}" + ("" if typed else "_text")


def create_stage_sql(kind: RecordKind, *, typed: bool) -> str:
    """A temporary table shaped like the file, made once per session; the loader empties it
    (TRUNCATE) before each COPY into it.

    Once per session: creating and dropping a table per file writes and then deletes a dozen
    catalog rows each time, and an ON COMMIT DELETE ROWS table would be truncated at every
    commit whether or not the file used it; a TRUNCATE of the one table used is the cheapest.
    typed: columns of the values' types (the fast path: a simple file's bytes as they are; COPY
    parses the values, and fails on the first one it cannot read). It has no line-number column
    (it would cost on every row): rows of a freshly truncated table lie in file order, and a
    simple file has one record per line, so a row's line is its rank by ctid, plus one for the
    header. Otherwise all text, with the line each record starts on first (the careful path:
    records checked one by one and written out again by database.record_file)."""
    columns = [f"{c.name} {CAST[c.kind] if typed else 'text'}" for c in kind.columns]
    if not typed:
        columns.insert(0, "line_number bigint")
    return f"CREATE TEMP TABLE IF NOT EXISTS {stage_table(kind, typed=typed)} (\n    " + ",\n    ".join(columns) + "\n)"


def stage_columns(kind: RecordKind, *, typed: bool) -> tuple[str, ...]:
    """The columns a staging table is copied into, in the order of the CSV given to COPY."""
    return kind.header if typed else ("line_number", *kind.header)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _format_check(c: Column) -> str:
    """SQL that is true when the non-NULL text value `s.<name>` has the column's format."""
    v = f"s.{c.name}"
    if c.kind in ("id", "bigint"):
        return f"{v} ~ {_quote(BIGINT_RE)}"
    if c.kind == "int":
        return f"{v} ~ {_quote(INT_RE)}"
    if c.kind == "numeric":
        return f"{v} ~ {_quote(NUMERIC_RE)}"
    if c.kind == "timestamp":
        return f"({v} ~ {_quote(TIMESTAMP_RE)} AND left({v}, 10) = ANY(%(days)s))"
    return _cheap_check(c)


def _cheap_check(c: Column) -> str:
    """The checks left once a typed COPY has parsed a value, true when the value passes."""
    v = f"s.{c.name}"
    if c.kind == "choice":
        return f"{v} IN ({', '.join(map(_quote, c.choices))})"
    if c.kind in ("id", "bigint"):
        return f"{v} >= 0"
    if c.kind == "text":
        return f"length({v}) BETWEEN 1 AND {MAX_TEXT}"
    return "true"


WHAT = {"id": "an id", "bigint": "an id", "int": "an integer", "numeric": "a number",
        "timestamp": "an ISO timestamp", "text": "a text of 1-200 characters"}


def _typed_select(kind: RecordKind, careful: bool, numbered: bool) -> str:
    """The staged rows with each value typed and the first format failure (format_reason).

    careful: the staging table is all text, and every value is matched against its format
    before the cast (NULL when invalid), so nothing can fail. Otherwise the staging table is
    typed already and only the checks a type cannot express remain.
    numbered: add line numbers (a sort); raw_row is the row as text, for rejected rows only."""
    casts, reasons = [], []
    for c in kind.columns:
        check = _format_check(c) if careful else _cheap_check(c)
        if careful:
            casts.append(f"CASE WHEN {check} THEN s.{c.name}::{CAST[c.kind]} END AS {c.name}_v")
        else:
            casts.append(f"s.{c.name} AS {c.name}_v")
        if not c.nullable:
            reasons.append(f"WHEN s.{c.name} IS NULL THEN {_quote(c.name + ': missing')}")
        what = WHAT.get(c.kind) or "one of " + "|".join(c.choices)
        if careful and c.kind == "timestamp":  # tell a malformed timestamp from a day outside the window
            reasons.append(f"WHEN s.{c.name} !~ {_quote(TIMESTAMP_RE)} THEN {_quote(f'{c.name}: not an ISO timestamp')}")
            what = "a real date; or outside the window"
        if check != "true":
            reasons.append(f"WHEN s.{c.name} IS NOT NULL AND NOT {check} THEN {_quote(f'{c.name}: not {what}')}")
    if not numbered:
        line = "NULL::bigint"
    else:
        line = "s.line_number" if careful else "row_number() OVER (ORDER BY s.ctid) + 1"
    raw = ", ".join(f"coalesce(s.{c.name}::text, '')" for c in kind.columns)
    # OFFSET 0 keeps this a subquery evaluated once per row: without it the planner could
    # repeat each cast wherever the outer query uses the value.
    return (f"SELECT {line} AS line_number,\n    " + ",\n    ".join(casts)
            + ",\n    CASE " + "\n        ".join(reasons) + " END AS format_reason,\n"
            + f"    concat_ws(',', {raw}) AS raw_row\n"
            + f"FROM {stage_table(kind, typed=not careful)} s OFFSET 0")


def reference_probe_sql(kind: RecordKind) -> str:
    """One row: for each column with a reference, whether any of its distinct staged values is
    missing from the referenced table.
    Only those columns need the per-row join in the merge; usually none does, and a file's few
    hundred distinct ids are checked instead of every row. One scan of the typed staging table
    collects every column's distinct values (grouping sets), then each set is anti-joined."""
    refs = [c for c in kind.columns if c.ref]
    names = [c.name for c in refs]
    sets = ", ".join(f"({name})" for name in names)
    probes = []
    for n, c in enumerate(refs):
        table, key = REFERENCES[c.ref]
        # GROUPING() has a bit per column, set where the column is not in the row's set.
        mask = (1 << len(refs)) - 1 - (1 << (len(refs) - 1 - n))
        probes.append(f"EXISTS (SELECT FROM d WHERE d.g = {mask} AND d.{c.name} IS NOT NULL "
                      f"AND NOT EXISTS (SELECT FROM {table} r WHERE r.{key} = d.{c.name}))")
    return (f"WITH d AS MATERIALIZED (SELECT {', '.join(names)}, GROUPING({', '.join(names)}) AS g "
            f"FROM {stage_table(kind, typed=True)} GROUP BY GROUPING SETS ({sets}))\n"
            "SELECT " + ",\n       ".join(probes))


def day_partition(kind: RecordKind, day: date) -> str:
    """The partition of a kind's table that holds one SAST day (ops.ensure_day_partitions names them)."""
    return f"{kind.table}_{day:%Y%m%d}"


def reference_values_sql(kind: RecordKind) -> str:
    """One row: for each column with a reference, whether any of the values given for it (a
    text[] parameter named after the column, cast as COPY would read them) is missing from the
    referenced table. The direct load passes each column's distinct values, read from the file."""
    probes = []
    for c in kind.columns:
        if not c.ref:
            continue
        table, key = REFERENCES[c.ref]
        probes.append(f"EXISTS (SELECT FROM unnest(%({c.name})s::text[]) v "
                      f"WHERE NOT EXISTS (SELECT FROM {table} r WHERE r.{key} = v::{CAST[c.kind]}))")
    return "SELECT " + ",\n       ".join(probes)


def staged_ids_sql(kind: RecordKind) -> str:
    """One row from the typed staging table: distinct ids, lowest id, highest id. Fewer distinct
    ids than rows copied: the file repeats an id. Rows = highest - lowest + 1 (and no repeats):
    the ids are one unbroken range, which is what the file claims (the writer numbers each
    tick's records 1, 2, 3, ...)."""
    id_column = kind.id_column
    return (f"SELECT count(DISTINCT {id_column}), min({id_column}), max({id_column}) "
            f"FROM {stage_table(kind, typed=True)}")


def staged_id_ranges_sql(kind: RecordKind) -> str:
    """The typed staging table's ids as an int8multirange literal, for ids with gaps."""
    id_column = kind.id_column
    return (f"SELECT range_agg(int8range({id_column}, {id_column}, '[]'))::text "
            f"FROM {stage_table(kind, typed=True)}")


def reference_columns(kind: RecordKind) -> list[str]:
    return [c.name for c in kind.columns if c.ref]


def _reference_joins(kind: RecordKind, only: set[str] | None) -> tuple[list[str], list[str]]:
    """LEFT JOINs to the referenced tables, and the reasons when a reference is missing.

    only: the columns to join (None: all). The rules of admissions and diagnoses read the
    referenced rows, so those (small) files always join every reference."""
    joins, reasons = [], []
    for c in kind.columns:
        if not c.ref:
            continue
        if only is not None and c.name not in only and kind.name not in RULE_KINDS:
            continue
        table, key = REFERENCES[c.ref]
        alias = f"ref_{c.name}"
        joins.append(f"LEFT JOIN {table} {alias} ON {alias}.{key} = t.{c.name}_v")
        reasons.append(f"WHEN {alias}.{key} IS NULL THEN {_quote(f'{c.name}: no such {c.ref}')}")
    return joins, reasons


def _range_reasons(kind: RecordKind) -> list[str]:
    reasons = []
    for c in kind.columns:
        if c.low is not None and c.high is not None:
            reasons.append(f"WHEN t.{c.name}_v NOT BETWEEN {c.low:g} AND {c.high:g} "
                           f"THEN {_quote(f'{c.name}: outside {c.low:g}-{c.high:g}')}")
    return reasons


RULE_KINDS = ("admission", "diagnosis")
# Admissions and discharges write their HL7 v2 outbox rows through statement triggers on the
# partitioned table (init_db.sql), which a COPY into one of its partitions does not fire: these
# kinds always go through the parent table.
OUTBOX_KINDS = ("admission", "discharge")


def _kind_rules(kind: RecordKind) -> tuple[list[str], list[str]]:
    """Extra joins and reasons for one record kind's own rules."""
    if kind.name == "admission":
        return [], ["WHEN ref_patient_id.person_id <> t.person_id_v "
                    "THEN 'person_id: not the person of this patient'"]
    if kind.name != "diagnosis":
        return [], []
    age = f"extract(year FROM age({sast_day('t.diagnosed_at_v')}, pp.date_of_birth))"
    joins = ["LEFT JOIN core.person pp ON pp.person_id = ref_patient_id.person_id"]
    # An injury (chapter XIX, S/T) must come with its external cause (V01-Y98) for the same
    # admission in the same file: the writer always writes the pair together.
    has_external_cause = ("bool_or(t.diagnosis_role_v = 'external_cause' AND t.icd10_code_v ~ '^[V-Y]') "
                          "OVER (PARTITION BY t.admission_id_v)")
    reasons = [
        "WHEN t.icd10_code_v LIKE 'O%%' AND (pp.sex <> 'F' OR " + age + " NOT BETWEEN 10 AND 55) "
        "THEN 'icd10_code: pregnancy code for a patient who cannot be pregnant'",
        "WHEN ref_icd10_code.sex_restriction IS NOT NULL AND ref_icd10_code.sex_restriction <> pp.sex "
        "THEN 'icd10_code: does not fit the patient''s sex'",
        f"WHEN {age} < coalesce(ref_icd10_code.min_age_years, 0) "
        f"OR {age} > coalesce(ref_icd10_code.max_age_years, 200) "
        "THEN 'icd10_code: does not fit the patient''s age'",
        f"WHEN t.icd10_code_v ~ '^[ST]' AND NOT {has_external_cause} "
        "THEN 'icd10_code: injury without an external cause (V01-Y98) in the file'",
        "WHEN t.diagnosis_role_v = 'external_cause' AND t.icd10_code_v !~ '^[V-Y]' "
        "THEN 'diagnosis_role: external_cause needs a V01-Y98 code'",
    ]
    return joins, reasons


def _checked_select(kind: RecordKind, careful: bool, joins: set[str] | None, numbered: bool) -> str:
    """SELECT line_number, <column>_v..., raw, record_date_v, reason (NULL: the row is good),
    raw_row (set where reason is)."""
    ref_joins, ref_reasons = _reference_joins(kind, None if careful else joins)
    rule_joins, rule_reasons = _kind_rules(kind)
    event = f"t.{kind.event_time}_v"
    id_v = f"t.{kind.id_column}_v"
    reasons = (
        _range_reasons(kind)
        + [f"WHEN {_outside_window(event)} THEN {_quote(kind.event_time + ': outside the window')}"]
        + ref_reasons + rule_reasons)
    if careful:
        reasons.append(f"WHEN EXISTS (SELECT FROM ops.file_ledger l WHERE l.file_kind = %(kind)s "
                       f"AND l.record_ids @> {id_v}) THEN {_quote(kind.id_column + ': already loaded from another file')}")
    values = ", ".join(f"t.{c.name}_v" for c in kind.columns)
    checked = f"""SELECT t.line_number, {values}, t.raw_row AS raw,
           {sast_day(event)} AS record_date_v,
           coalesce(t.format_reason, CASE
            {chr(10).join(reasons)}
           END) AS reason
    FROM ({_typed_select(kind, careful, numbered)}) t
    {chr(10).join(ref_joins + rule_joins)}
    OFFSET 0"""
    if careful:
        # Of the rows that share an id, the first one that passes every other check is kept and
        # the others are duplicates: a broken earlier copy does not cost the good one its place.
        id_x = f"x.{kind.id_column}_v"
        duplicate = _quote(kind.id_column + ": duplicate within the file")
        x_values = ", ".join(f"x.{c.name}_v" for c in kind.columns)
        checked = f"""SELECT x.line_number, {x_values}, x.raw, x.record_date_v,
           coalesce(x.reason, CASE WHEN row_number() OVER (PARTITION BY {id_x}
                                   ORDER BY x.reason IS NOT NULL, x.line_number) > 1
                              THEN {duplicate} END) AS reason
    FROM ({checked}) x"""
    return f"""SELECT c.*, CASE WHEN c.reason IS NOT NULL THEN c.raw END AS raw_row FROM (
    {checked}) c"""


def _outside_window(event: str) -> str:
    # Bounds as instants (SAST midnights), so the check is two comparisons per row.
    return f"({event} < %(window_start)s OR {event} >= %(window_end)s)"


def _clean_predicate(kind: RecordKind) -> str:
    """True for a typed staged row that passes every check but the reference and kind rules:
    the same checks as the reasons of the fast path, as one cheap boolean (no reason texts)."""
    required = [f"s.{c.name}" for c in kind.columns if not c.nullable]
    failing = [f"num_nulls({', '.join(required)}) > 0"]
    for c in kind.columns:
        check = _cheap_check(c)
        if check != "true" and not (c.kind == "text" and c.ref):  # a referenced code is checked by the probe
            failing.append(f"NOT {check}")
        if c.low is not None and c.high is not None:
            failing.append(f"s.{c.name} NOT BETWEEN {c.low:g} AND {c.high:g}")
    failing.append(_outside_window(f"s.{kind.event_time}"))
    return "(" + "\n    OR ".join(failing) + ") IS NOT TRUE"


def clean_insert_sql(kind: RecordKind) -> str:
    """The fast path's insert: every typed staged row that passes every check, with no reference
    joins (the caller probed every referenced value present first). If its row count is the
    file's, the file is done; otherwise the caller rolls back to before it and runs merge_sql to
    say which rows failed and why. Not for the kinds whose rules read referenced rows."""
    columns = [c.name for c in kind.columns]
    return f"""
INSERT INTO {kind.table} ({', '.join(columns)}, record_date, file_id)
SELECT {', '.join(f's.{name}' for name in columns)},
       {sast_day('s.' + kind.event_time)}, %(file_id)s
FROM {stage_table(kind, typed=True)} s
WHERE {_clean_predicate(kind)}"""


def merge_sql(kind: RecordKind, *, careful: bool = False, joins: set[str] | None = None) -> str:
    """One statement: check the staged rows, insert good ones, reject the rest, return counts
    and the ids inserted.

    careful=False reads a typed staging table (COPY has parsed every value); the caller has made
    sure the file repeats no id, and finds ids another file loaded when it claims the inserted
    ones (ledger.claim_record_ids). If either fails, the caller rolls back to a savepoint,
    stages the file as text and runs careful=True, which checks every value's format first,
    rejects ids another file claimed and ranks duplicates within the file, so it cannot fail
    on the data. Both give each row the same verdict on a file the fast path accepts.

    joins: the reference columns to check row by row (default all); the others' values were all
    found by reference_probe_sql.

    Parameters: file_id, kind (the record kind's name), window_start, window_end (timestamptz:
    the window's first instant and the one after its last), days (text[]: the day prefixes a
    timestamp may have). Returns one row (rows_read, rows_loaded, rows_rejected, the inserted
    ids as an int8multirange literal or NULL when none)."""
    columns = [c.name for c in kind.columns]
    id_column = kind.id_column
    return f"""
WITH checked AS MATERIALIZED (
{_checked_select(kind, careful, joins, numbered=True)}
),
inserted AS (
    INSERT INTO {kind.table} ({', '.join(columns)}, record_date, file_id)
    SELECT {', '.join(f'c.{name}_v' for name in columns)}, c.record_date_v, %(file_id)s
    FROM checked c WHERE c.reason IS NULL
    RETURNING {id_column}
),
rejected AS (
    INSERT INTO ops.rejected_row (file_id, line_number, reason, raw_row)
    SELECT %(file_id)s, c.line_number, c.reason, c.raw_row
    FROM checked c WHERE c.reason IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM checked), (SELECT count(*) FROM inserted), (SELECT count(*) FROM rejected),
       (SELECT range_agg(int8range({id_column}, {id_column}, '[]')) FROM inserted)::text
"""


def window_days(first_day: date, last_day: date) -> list[str]:
    """Day prefixes a timestamp may carry: the window's days and one either side (an offset
    other than SAST can move a timestamp's written date a day off its SAST day)."""
    days = (last_day - first_day).days + 3
    return [(first_day + timedelta(days=n - 1)).isoformat() for n in range(days)]
