"""The one CSV format the project writes, and the one place it is written: RFC 4180, UTF-8, a
header row, `\n` line ends, a field quoted only when it must be (it holds a comma, a quote or a
line end), as Python's csv module writes it.

Three inputs, one format:

- `encode_rows(header, rows)`: any rows of values, through the csv module (small files, odd values).
- `encode_columns(header, columns)`: text columns (the clinical record files, megabytes a tick):
  joined directly when no value needs quoting, which is checked, else through the csv module.
- `encode_arrays(fields, n)`: numpy byte-string columns for millions of rows (the population
  files), without a Python loop per row; the caller guarantees no value needs quoting
  (`check_plain` checks reference values when they are loaded).

Arrays: every field is given as one or more parts ('S' arrays, NUL-padded, or a bytes constant). The
parts are laid side by side in one (rows x width) uint8 matrix, separated by commas and ended by
a newline; dropping the NUL padding (`matrix[matrix != 0]`) leaves the rows back to back in row
order. The caller guarantees no part contains a comma, quote, newline or NUL (reference values
are checked when loaded), so no field needs quoting (RFC 4180).
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

Part = Union[np.ndarray, bytes]
FORBIDDEN = (b",", b'"', b"\n", b"\r", b"\x00")
NEEDS_QUOTING = (",", '"', "\n", "\r")


def encode_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """The file's bytes: `header` and `rows` (values written as str() does), quoted where needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def encode_columns(header: Sequence[str], columns: Sequence[Sequence[str]]) -> bytes:
    """The file's bytes from text columns of equal length: the same bytes as `encode_rows` over
    the rows, joined directly when no value holds a comma, quote or line end (the usual case)."""
    # One column: the csv module quotes an empty value (a blank line would be no row at all).
    if len(columns) < 2 or any(mark in "".join(column) for column in columns for mark in NEEDS_QUOTING):
        return encode_rows(header, zip(*columns))
    if not len(columns[0]):
        return (",".join(header) + "\n").encode("utf-8")
    lines = "\n".join(map(",".join, zip(*columns)))
    return (",".join(header) + "\n" + lines + "\n").encode("utf-8")


def check_plain(values: Sequence[bytes], what: str) -> None:
    """Raise ValueError if any value would need CSV quoting (or contains NUL)."""
    for value in values:
        if any(char in value for char in FORBIDDEN):
            raise ValueError(f"{what}: {value!r} contains a character that would need CSV quoting")


def _width(part: Part) -> int:
    return len(part) if isinstance(part, bytes) else part.dtype.itemsize


def encode_arrays(fields: Sequence[Sequence[Part]], n: int, block_rows: int = 8192) -> bytes:
    """CSV lines for `n` rows; `fields[i]` is the list of parts concatenated into field i.

    Works in blocks of `block_rows` rows so each block's matrix stays in the CPU cache.
    """
    layout: list[tuple[int, np.ndarray | bytes]] = []  # (offset, part as uint8 matrix or bytes)
    offset = 0
    for index, parts in enumerate(fields):
        for part in parts:
            width = _width(part)
            if width == 0:
                continue
            if isinstance(part, bytes):
                layout.append((offset, part))
            else:
                if part.dtype.kind != "S" or len(part) != n:
                    raise ValueError(f"field {index}: expected an 'S' array of {n} rows, got {part.dtype} x {len(part)}")
                layout.append((offset, np.ascontiguousarray(part).view(np.uint8).reshape(n, width)))
            offset += width
        layout.append((offset, b"," if index < len(fields) - 1 else b"\n"))
        offset += 1
    total = offset
    pieces = []
    buffer = np.empty((min(block_rows, max(n, 1)), total), dtype=np.uint8)
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        matrix = buffer[:stop - start]
        matrix.fill(0)
        for column, part in layout:
            if isinstance(part, bytes):
                matrix[:, column:column + len(part)] = np.frombuffer(part, dtype=np.uint8)
            else:
                matrix[:, column:column + part.shape[1]] = part[start:stop]
        pieces.append(matrix[matrix != 0].tobytes())
    return b"".join(pieces)


def header_line(columns: Sequence[str]) -> bytes:
    return (",".join(columns) + "\n").encode("ascii")


class HashingWriter:
    """Writes bytes to a file while counting data rows and computing the SHA-256 of the content."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = path.open("wb")
        self._hash = hashlib.sha256()
        self.rows = 0

    def write(self, data: bytes, rows: int = 0) -> None:
        self._handle.write(data)
        self._hash.update(data)
        self.rows += rows

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "HashingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`values` where `keep`, else empty (NUL-filled, so the field comes out empty)."""
    out = values.copy()
    out[~keep] = b""
    return out


def int_bytes(values: np.ndarray) -> np.ndarray:
    """Decimal representation of non-negative integers as an 'S' array."""
    width = len(str(int(values.max()))) if len(values) else 1
    return values.astype(np.int64).astype(f"S{width}")


def zero_padded(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as fixed-width, zero-padded digit strings ('S{width}')."""
    values = values.astype(np.int64)
    digits = np.empty((len(values), width), dtype=np.uint8)
    for column in range(width - 1, -1, -1):
        digits[:, column] = values % 10
        values = values // 10
    digits += ord("0")
    return digits.view(f"S{width}").ravel()


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as 'YYYY-MM-DD' ('S10')."""
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype("S10")
