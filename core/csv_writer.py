"""The one CSV format the project writes, and the one place it is written: RFC 4180, UTF-8, a
header row, `\n` line ends, a field quoted only when it must be (it holds a comma, a quote or a
line end: CR or LF), its quotes doubled.

Two inputs, one format:

- `encode_rows(header, rows)`: any rows of values (small files, odd values), each field through `quote`.
- `encode_arrays(fields, n)`: numpy byte-string columns for millions of rows (the population files,
  the clinical record files), without a Python loop per row. Each part is already a CSV field's
  text: numbers made by `int_bytes`, `zero_padded`, `formatted`; reference values made by
  `csv_fields`, which quotes those that need it.

Arrays: every field is given as one or more parts ('S' arrays, NUL-padded, or a bytes constant). The
parts are laid side by side in one (rows x width) uint8 matrix, separated by commas and ended by
a newline; dropping the NUL padding (`bytes.translate`) leaves the rows back to back in row
order. So no part may contain a NUL, and a part holds a comma, quote or line end only inside a
field `csv_fields` quoted (or one `check_plain` refused).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

Part = Union[np.ndarray, bytes]
FORBIDDEN = (b",", b'"', b"\n", b"\r", b"\x00")
NEEDS_QUOTING = (",", '"', "\n", "\r")


def quote(value: object) -> str:
    """One field's text: the value as str() writes it (None as empty), in double quotes with inner
    quotes doubled when it holds a comma, a quote or a line end (CR or LF). The csv module cannot
    be used for this: with `\n` line ends it leaves a lone CR unquoted, which a reader takes for
    the end of the record."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if any(mark in text for mark in NEEDS_QUOTING):
        return '"' + text.replace('"', '""') + '"'
    return text


def _line(values: Sequence[object]) -> str:
    # A record of one empty field is written "" (a blank line would be no record at all).
    if len(values) == 1 and quote(values[0]) == "":
        return '""'
    return ",".join(map(quote, values))


def encode_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """The file's bytes: `header` and `rows` (values written as str() does), quoted where needed."""
    lines = [_line(header), *map(_line, rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def csv_fields(values: Iterable[str]) -> np.ndarray:
    """Each value as the text of one CSV field ('S', UTF-8), quoted where needed (`quote`). For
    reference values, made once; ValueError on a NUL, which encode_arrays drops."""
    fields = []
    for value in values:
        if "\x00" in value:
            raise ValueError(f"{value!r} contains NUL")
        fields.append(quote(value).encode("utf-8"))
    return np.array(fields, dtype=f"S{max(map(len, fields), default=1) or 1}")


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
        pieces.append(matrix.tobytes().translate(None, b"\x00"))  # drop the padding
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
    """Decimal representation of non-negative integers as an 'S' array, without a Python call per
    value: the digits of each, zero-padded to the widest (`zero_padded`), moved left past the
    leading zeros."""
    values = np.asarray(values).astype(np.int64)
    if not len(values):
        return np.zeros(0, dtype="S1")
    if values.min() < 0:
        raise ValueError("int_bytes takes non-negative integers")
    width = len(str(int(values.max())))
    digits = zero_padded(values, width).view(np.uint8).reshape(len(values), width)
    count = np.ones(len(values), np.int64)
    for power in range(1, width):
        count += values >= 10 ** power
    source = np.arange(width)[None, :] + (width - count)[:, None]
    out = np.take_along_axis(digits, np.minimum(source, width - 1), axis=1)
    out[source >= width] = 0
    return out.view(f"S{width}").ravel()


def formatted(values: np.ndarray, spec: str) -> np.ndarray:
    """`spec % value` for each value (e.g. "%.1f", "%g") as an 'S' array: each distinct value is
    formatted once (a tick's values repeat a great deal)."""
    values = np.asarray(values)
    if not len(values):
        return np.zeros(0, dtype="S1")
    distinct, index = np.unique(values, return_inverse=True)
    texts = np.array([(spec % value).encode("ascii") for value in distinct.tolist()])
    return texts[index.ravel()]


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
