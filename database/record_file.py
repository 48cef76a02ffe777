"""One landed record file, read once, and its records counted and checked without PostgreSQL.

The loader opens a landed file exactly once: the bytes it hashes for the ledger are the bytes it
counts, checks and hands to COPY, even if a writer replaces the file under the same name while it
is being loaded (`LandedFile.identity` tells the loader whether the path still holds them).

Records are counted here, independently of COPY, so that nothing COPY skips can go unnoticed (it
stops without an error at a line holding only `\\.`, its end-of-data marker). A file is split into
records the way RFC 4180 and Python's csv module read it. Two ways through:

- a *simple* file (no quote and no carriage return anywhere, ending in a line end): one record per
  line, so the count is the number of line ends, and COPY gets the bytes as they are;
- any other file is read record by record (`check_records`): a record that cannot be a row (bytes
  that are not UTF-8, a NUL, the wrong number of fields, an unbalanced quote, no line end at the
  end of the file, a lone `\\.`) is rejected with its line number and reason, and the others are
  written out again as clean CSV for COPY.

A file as a whole is unreadable (`Unreadable`, quarantined) only when it has no records to speak
of: it is empty, larger than the loader takes, or its first line is not the header of a record kind.
A UTF-8 byte-order mark before the header is accepted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

from core.batch_files import KIND_BY_HEADER, RecordKind

BOM = b"\xef\xbb\xbf"
# A file is read into memory whole; one larger than this is quarantined, unread (the writer's
# files are a few MB; PostgreSQL cannot take a field over 1 GB in any case).
MAX_FILE_BYTES = 512 << 20
HEADER_LIMIT_BYTES = 64 * 1024
# A record longer than this is rejected rather than staged (no column holds more than 200 characters).
MAX_RECORD_CHARS = 1 << 20
# What ops.rejected_row keeps of a rejected record's text (the whole file is in the archive).
RAW_KEEP_CHARS = 2000
# RecordFile.simple_fields reads fields up to this long (ids, codes, timestamps); a longer one
# sends the file the slow way.
MAX_SIMPLE_FIELD = 256
NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8


class Unreadable(Exception):
    """The file cannot be read as a record file at all; it goes to quarantine."""


def printable_name(path: Path) -> str:
    """The file's name as text the ledger can store: bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class LandedFile:
    """A landed file as read, once. `data` is None for a file too large to read (`too_large`)."""

    path: Path
    sha256: str
    size: int
    identity: tuple[int, int]  # (device, inode) of the bytes read
    data: bytes | None

    @property
    def name(self) -> str:
        return printable_name(self.path)

    @property
    def too_large(self) -> bool:
        return self.data is None

    def still_at_path(self) -> bool:
        """True while `path` is the file these bytes were read from (not replaced, not moved)."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (found.st_dev, found.st_ino) == self.identity


def sha256_chunks(handle: BinaryIO) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of what is left to read in `handle`, 1 MiB at a time."""
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def read_landed(path: Path) -> LandedFile:
    """Read a landed file once: its bytes, SHA-256, size and identity. Raises FileNotFoundError
    when another worker moved it first."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        identity = (stat.st_dev, stat.st_ino)
        if stat.st_size > MAX_FILE_BYTES:  # hashed for the ledger, but none of it kept
            return LandedFile(path, *sha256_chunks(handle), identity, None)
        data = handle.read()
    return LandedFile(path, hashlib.sha256(data).hexdigest(), len(data), identity, data)


@dataclass(frozen=True)
class RecordFile:
    """A file's kind and the bytes after its header line."""

    kind: RecordKind
    body: bytes
    header_lines: int = 1

    @property
    def simple(self) -> bool:
        """One record per line: no quotes or carriage returns, and a line end at the end."""
        body = self.body
        return b'"' not in body and b"\r" not in body and (not body or body.endswith(b"\n"))

    def simple_count(self) -> int:
        """The records of a simple file: its line ends."""
        return self.body.count(b"\n")

    def simple_fields(self, names: Sequence[str]) -> dict[str, np.ndarray] | None:
        """Columns of a simple file, each as a numpy array of byte strings (one per record), read
        without a per-row loop. None when some line has another number of fields than the
        header, or a wanted field is longer than MAX_SIMPLE_FIELD (then the file is read the
        slow way, where each record gets its reason)."""
        width = len(self.kind.columns)
        data = np.frombuffer(self.body, np.uint8)
        line_ends = data == ord("\n")
        # Every comma and line end, in order: width of them per line, the last one its line end.
        grid = np.flatnonzero(line_ends | (data == ord(",")))
        if len(grid) % width:
            return None
        grid = grid.reshape(-1, width)
        lines = len(grid)
        # Each line's last separator is a line end, and there are no others: no line is short or long.
        if np.count_nonzero(line_ends) != lines or (lines and not line_ends[grid[:, -1]].all()):
            return None
        index = {c.name: i for i, c in enumerate(self.kind.columns)}
        out = {}
        for name in names:
            column = index[name]
            stop = grid[:, column]
            start = np.empty(lines, np.int64)  # just after the separator before the field
            if column:
                np.add(grid[:, column - 1], 1, out=start)
            elif lines:
                start[0] = 0
                np.add(grid[:-1, -1], 1, out=start[1:])
            lengths = stop - start
            longest = int(lengths.max()) if lines else 0
            if longest > MAX_SIMPLE_FIELD:
                return None
            offsets = np.arange(max(longest, 1))
            at = start[:, None] + offsets
            if not lines:
                block = np.zeros((0, 1), np.uint8)
            elif longest and (lengths == longest).all():  # one width (ids, codes): a plain gather
                block = data[at]
            else:  # shorter fields padded with NUL, as numpy's byte strings are
                np.minimum(at, len(data) - 1, out=at)
                block = data[at]
                block[offsets >= lengths[:, None]] = 0
            out[name] = block.view(f"S{block.shape[1]}").ravel()
        return out


def open_records(landed: LandedFile) -> RecordFile:
    """The record kind a file's header names, and its body; raises Unreadable for a file that
    cannot be a record file (empty, too large, a header that is not UTF-8 or names no kind)."""
    if landed.too_large:
        raise Unreadable(f"{landed.size:,} bytes: larger than the loader reads ({MAX_FILE_BYTES >> 20} MiB)")
    data = landed.data
    start = len(BOM) if data.startswith(BOM) else 0
    if len(data) == start:
        raise Unreadable("empty file")
    end = data.find(b"\n", start, start + HEADER_LIMIT_BYTES)
    first = data[start:end if end >= 0 else start + HEADER_LIMIT_BYTES]
    try:
        text = first.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"header is not UTF-8: {exc}") from None
    header = tuple(next(csv.reader([text]), []))
    kind = KIND_BY_HEADER.get(header)
    if kind is None:
        raise Unreadable(f"wrong header: {','.join(header)[:300]!r} is not the header of a record kind")
    return RecordFile(kind, data[end + 1:] if end >= 0 else b"")


POWERS_OF_TEN = 10 ** np.arange(18, dtype=np.int64)


def digits_to_ints(values: np.ndarray) -> np.ndarray | None:
    """Byte strings of 1-18 ASCII digits as int64 (leading zeros allowed, as COPY allows them);
    None if any value is something else (empty, a sign, a blank, a longer number).

    Arithmetic on the bytes: numpy's own parsing of byte strings is five times slower, and a
    file's ids usually have one length, which makes it one product with the powers of ten."""
    if values.size == 0:
        return np.zeros(0, np.int64)
    width = values.dtype.itemsize
    if width > 18:
        return None
    codes = values.view(np.uint8).reshape(len(values), width)
    digits = codes - np.uint8(ord("0"))  # wraps below '0', so anything but a digit is > 9
    if (codes == 0).any():  # shorter values, padded with NUL: each digit weighed by its place
        lengths = np.char.str_len(values)
        place = lengths[:, None] - 1 - np.arange(width)
        if (lengths == 0).any() or (digits[place >= 0] > 9).any() or (codes[place < 0] != 0).any():
            return None
        return (np.where(place >= 0, digits, 0).astype(np.int64) * POWERS_OF_TEN[np.maximum(place, 0)]).sum(axis=1)
    if (digits > 9).any():
        return None
    return digits.astype(np.int64) @ POWERS_OF_TEN[width - 1::-1]


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an int64 array: the array itself when it is strictly
    increasing already (a file's ids, as the writer numbers them), else a sort."""
    if len(values) < 2 or (values[1:] > values[:-1]).all():
        return values
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def distinct_bytes(values: np.ndarray) -> list[bytes]:
    """The distinct values of a byte-string array (in no particular order). Up to 8 bytes wide
    (codes and ids) they are compared as one 64-bit number each, which is much faster."""
    width = values.dtype.itemsize
    if width > 8 or not len(values):
        return list(dict.fromkeys(values.tolist()))
    padded = np.zeros((len(values), 8), np.uint8)
    padded[:, :width] = values.view(np.uint8).reshape(len(values), width)
    return [bytes(key)[:width].rstrip(b"\0") for key in np.unique(padded.view(np.uint64).ravel()).view(np.uint8)
            .reshape(-1, 8)]


@dataclass(frozen=True)
class Rejected:
    """A record that cannot be a row: where it starts, why, and (a readable part of) its text."""

    line_number: int
    reason: str
    raw: str


@dataclass(frozen=True)
class CheckedRecords:
    """A file read record by record: the good ones as CSV for COPY (each prefixed with its line
    number), and the rejected ones. records = rows + len(rejected)."""

    clean: bytes
    rows: int
    rejected: list[Rejected]

    @property
    def records(self) -> int:
        return self.rows + len(self.rejected)


def _raw_records(text: str) -> Iterator[tuple[list[str] | None, str, str | None]]:
    """(fields, the record's text, csv module's error or None) for each record of `text`."""
    consumed: list[str] = []

    def lines():
        for line in io.StringIO(text, newline=""):  # splits at \n, \r\n and \r, keeping them
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=False)
    while True:
        try:
            fields, error = next(reader), None
        except StopIteration:
            return
        except csv.Error as exc:
            fields, error = None, str(exc)
        yield fields, "".join(consumed), error
        consumed.clear()


def _problem(fields: list[str] | None, raw: str, error: str | None, expected: int) -> str | None:
    """Why a record cannot be a row, or None."""
    if error is not None:
        return f"unreadable CSV: {error}"
    if NOT_UTF8.search(raw):
        return "bytes that are not UTF-8"
    if "\x00" in raw:
        return "a NUL byte"
    if len(raw) > MAX_RECORD_CHARS:
        return f"a record of {len(raw):,} characters (at most {MAX_RECORD_CHARS:,})"
    if raw.count('"') % 2:
        return "an unbalanced quote (a quoted field that never ends)"
    if not raw.endswith(("\n", "\r")):
        return "no line end: the last line of the file is cut short"
    line = raw.rstrip("\r\n")
    if line == "\\.":
        return "a line holding only \\. (COPY's end-of-data marker)"
    if not line:
        return "an empty line"
    if len(fields) != expected:
        return f"{len(fields)} fields where the header has {expected}"
    return None


def _shown(raw: str) -> str:
    """A rejected record's text as PostgreSQL can store it: bad bytes as \\xNN, NUL as \\x00, cut short."""
    text = raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    return text if len(text) <= RAW_KEEP_CHARS else text[:RAW_KEEP_CHARS] + f"... ({len(text):,} characters)"


def _csv_field(value: str) -> str:
    # Empty stays unquoted (NULL to COPY); anything else is quoted, so no value can be read as
    # COPY's end-of-data marker or split a row.
    return '"' + value.replace('"', '""') + '"' if value else ""


def check_records(records: RecordFile) -> CheckedRecords:
    """Read the body record by record; see the module docstring."""
    expected = len(records.kind.columns)
    text = records.body.decode("utf-8", "surrogateescape")
    clean, rejected, rows = [], [], 0
    line = records.header_lines + 1
    for fields, raw, error in _raw_records(text):
        problem = _problem(fields, raw, error, expected)
        if problem is None:
            clean.append(f"{line}," + ",".join(map(_csv_field, fields)) + "\n")
            rows += 1
        else:
            rejected.append(Rejected(line, problem, _shown(raw)))
        line += raw.count("\n") + raw.count("\r") - raw.count("\r\n")
    return CheckedRecords("".join(clean).encode("utf-8"), rows, rejected)
