"""An independent record splitter for the tests: how many CSV records a text holds.

Written from the rules, character by character, so that the loader's counts (database.record_file,
which uses the csv module) are checked against code that shares nothing with it."""

from __future__ import annotations


def rfc4180_records(text: str) -> list[str]:
    """The records of `text`, each as its raw text. A record ends at \\n, \\r\\n or \\r outside
    quotes; a quote opens a quoted field only as a field's first character; inside one, "" is a
    quote and a lone " closes it. A last record without a line end still counts."""
    records, start, i, n = [], 0, 0, len(text)
    field_start, quoted = True, False
    while i < n:
        c = text[i]
        if quoted:
            if c == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
        elif c == '"' and field_start:
            quoted = True
        elif c in "\r\n":
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            records.append(text[start:i + 1])
            start, field_start = i + 1, True
            i += 1
            continue
        field_start = c == "," and not quoted
        i += 1
    if start < n:
        records.append(text[start:])
    return records
