"""Split a byte stream into lines in large chunks, in linear time and bounded memory.

Lines end at b"\\n" only, so U+2028, U+2029 and U+0085 inside JSON strings (multi-byte sequences
in UTF-8) never end a record. A trailing b"\\r" is left for the JSON decoder, which treats it as
whitespace. A line longer than the record size cap is never held whole: its bytes are skipped
up to the next newline and it comes out as an `Oversized` marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Reads of a few MiB keep the per-call cost of S3 streaming and Python small, and a chunk with its
# lines stays a small part of memory. botocore's iter_lines() reads 1 KiB at a time, which halves
# validation speed and grows with the square of line length.
CHUNK_BYTES = 2 * 1024 * 1024
MAX_RECORD_BYTES = 16 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

Reader = Callable[[int], bytes]


@dataclass(frozen=True)
class Oversized:
    """A line over the record size cap; only its size is kept."""

    size: int


@dataclass(frozen=True)
class LineProblem:
    """A line that a file-format reader could not turn into a record (for example a broken CSV row)."""

    kind: str
    message: str


@dataclass
class StreamState:
    """Side results of line splitting: whether a BOM was stripped, and the bytes consumed."""

    bom_stripped: bool = False
    bytes_read: int = 0


def iter_line_batches(
    read: Reader,
    *,
    start: int = 0,
    end: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_bytes: int = MAX_RECORD_BYTES,
    state: StreamState | None = None,
) -> Iterator[list[bytes | Oversized]]:
    """Yield lists of lines (without b"\\n") read through `read(n)`.

    `read` starts at byte `start - 1` when `start > 0` (so a slice can tell whether a line begins
    exactly at `start`), or at byte 0. A line belongs to the slice when its first byte lies in
    [start, end); the last one is read to its end even past `end`. Consecutive slices therefore
    cover every line of the file exactly once (tests/unit/datasets/test_slices.py checks this).
    """
    state = state if state is not None else StreamState()
    position = max(start - 1, 0)  # absolute offset of the first byte of `carry`
    carry = b""
    skipping_to_newline = start > 0
    oversized = 0  # bytes of an oversized line skipped so far; 0 when not skipping one
    first_chunk = start == 0

    while True:
        chunk = read(chunk_bytes)
        if not chunk:
            break
        state.bytes_read += len(chunk)
        if first_chunk:
            first_chunk = False
            while len(chunk) < len(UTF8_BOM) and UTF8_BOM.startswith(chunk):  # a short read mid-BOM
                more = read(chunk_bytes)
                if not more:
                    break
                state.bytes_read += len(more)
                chunk += more
            if chunk.startswith(UTF8_BOM):
                state.bom_stripped = True
                chunk = chunk[len(UTF8_BOM) :]
                position += len(UTF8_BOM)

        if skipping_to_newline or oversized:
            newline = chunk.find(b"\n")
            if newline < 0:
                position += len(chunk)
                if oversized:
                    oversized += len(chunk)
                continue
            position += newline + 1
            chunk = chunk[newline + 1 :]
            if oversized:
                yield [Oversized(oversized + newline)]
                oversized = 0
            skipping_to_newline = False
            if end is not None and position >= end:
                return

        lines = chunk.split(b"\n")
        if carry:
            lines[0] = carry + lines[0]  # copies one line, not the whole chunk
        lines_start = position
        position += len(carry) + len(chunk)
        carry = lines.pop()
        position -= len(carry)

        if end is not None and position >= end:
            lines = _lines_starting_before(lines, lines_start, end)
            yield _mark_oversized(lines, max_record_bytes)
            return
        if lines:
            yield _mark_oversized(lines, max_record_bytes)
        if len(carry) > max_record_bytes:
            oversized = len(carry)
            position += len(carry)
            carry = b""

    if carry and (end is None or position < end):
        yield _mark_oversized([carry], max_record_bytes)


def _lines_starting_before(lines: list[bytes], offset: int, end: int) -> list[bytes]:
    kept = []
    for line in lines:
        if offset >= end:
            break
        kept.append(line)
        offset += len(line) + 1
    return kept


def _mark_oversized(lines: list[bytes], max_record_bytes: int) -> list[bytes | Oversized]:
    if not lines or max(map(len, lines)) <= max_record_bytes:
        return lines
    return [Oversized(len(line)) if len(line) > max_record_bytes else line for line in lines]
