"""Fast CSV encoding: numpy byte-string columns -> UTF-8 CSV lines, without a Python loop per row.

Every field is given as one or more parts ('S' arrays, NUL-padded, or a bytes constant). The
parts are laid side by side in one (rows x width) uint8 matrix, separated by commas and ended by
a newline; dropping the NUL padding (`matrix[matrix != 0]`) leaves the rows back to back in row
order. The caller guarantees no part contains a comma, quote, newline or NUL (reference values
are checked when loaded), so no field needs quoting (RFC 4180).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence, Union

import numpy as np

Part = Union[np.ndarray, bytes]
FORBIDDEN = (b",", b'"', b"\n", b"\r", b"\x00")


def check_plain(values: Sequence[bytes], what: str) -> None:
    """Raise ValueError if any value would need CSV quoting (or contains NUL)."""
    for value in values:
        if any(char in value for char in FORBIDDEN):
            raise ValueError(f"{what}: {value!r} contains a character that would need CSV quoting")


def _width(part: Part) -> int:
    return len(part) if isinstance(part, bytes) else part.dtype.itemsize


def encode_rows(fields: Sequence[Sequence[Part]], n: int, block_rows: int = 8192) -> bytes:
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
