"""Split a byte stream into lines in large chunks, in linear time and bounded memory.

Lines end at b"\\n" only, so U+2028, U+2029 and U+0085 inside JSON strings (multi-byte sequences
in UTF-8) never end a record. A trailing b"\\r" is left for the JSON decoder, which treats it as
whitespace. A line longer than the record size cap is never held whole: its bytes are skipped
up to the next newline and it comes out as an `Oversized` marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

# Reads of a few MiB keep the per-call cost of S3 streaming and Python small, and a chunk with its
# lines stays a small part of memory. botocore's iter_lines() reads 1 KiB at a time, which halves
# validation speed and grows with the square of line length.
CHUNK_BYTES = 2 * 1024 * 1024
MAX_RECORD_BYTES = 16 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
NEWLINE = ord("\n")

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


class Block(NamedTuple):
    """Whole lines in data[start:stop], each ending in b"\\n" except the last line of a stream
    without a final newline. Blocks point into the chunks read, so lines are not copied."""

    data: bytes
    start: int
    stop: int

    def lines(self) -> list[bytes]:
        """Return the lines without their b"\\n"."""
        lines = self.data[self.start : self.stop].split(b"\n")
        if self.data[self.stop - 1] == NEWLINE:
            lines.pop()
        return lines


def iter_line_batches(
    read: Reader,
    *,
    start: int = 0,
    end: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_bytes: int = MAX_RECORD_BYTES,
    state: StreamState | None = None,
) -> Iterator[list[bytes | Oversized]]:
    """Yield lists of lines (without b"\\n") read through `read(n)`; see `iter_blocks` for the
    arguments and which lines a slice holds."""
    blocks = iter_blocks(
        read, start=start, end=end, chunk_bytes=chunk_bytes, max_record_bytes=max_record_bytes, state=state
    )
    for block in blocks:
        yield block if isinstance(block, list) else block.lines()


def iter_blocks(
    read: Reader,
    *,
    start: int = 0,
    end: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_bytes: int = MAX_RECORD_BYTES,
    state: StreamState | None = None,
) -> Iterator[Block | list[bytes | Oversized]]:
    """Yield blocks of whole lines read through `read(n)`.

    A block whose lines might exceed `max_record_bytes` comes split, as a list of lines in which an
    oversized line is an `Oversized` marker. `read` starts at byte `start - 1` when `start > 0` (so a
    slice can tell whether a line begins exactly at `start`), or at byte 0. A line belongs to the
    slice when its first byte lies in [start, end); the last one is read to its end even past `end`.
    Consecutive slices therefore cover every line of the file exactly once
    (tests/unit/datasets/test_slices.py checks this).
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
                if end is not None and end <= position:
                    # The first line starts at byte 0, before the mark, so a slice ending inside
                    # the mark still owns it.
                    end = position + 1

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

        last = chunk.rfind(b"\n")
        if last < 0:
            carry += chunk
        else:
            for block in _blocks_of_chunk(carry, chunk, last):
                block_start = position
                position += block.stop - block.start
                if end is not None and position >= end:
                    lines_after = end - block_start  # lines starting at this offset or later are the next slice's
                    if lines_after > 0:
                        cut = block.data.find(b"\n", block.start + lines_after - 1)
                        yield _checked_block(block._replace(stop=cut + 1), max_record_bytes)
                    return
                yield _checked_block(block, max_record_bytes)
            carry = chunk[last + 1 :]
        if len(carry) > max_record_bytes:
            oversized = len(carry)
            position += len(carry)
            carry = b""

    if carry and (end is None or position < end):
        yield _checked_block(Block(carry, 0, len(carry)), max_record_bytes)


def _blocks_of_chunk(carry: bytes, chunk: bytes, last: int) -> list[Block]:
    """Return the whole lines that end in `chunk` (whose last newline is at `last`), the first one
    joined to the `carry` left from earlier chunks."""
    if not carry:
        return [Block(chunk, 0, last + 1)]
    first = chunk.find(b"\n")
    head = carry + chunk[: first + 1]
    blocks = [Block(head, 0, len(head))]
    if first < last:
        blocks.append(Block(chunk, first + 1, last + 1))
    return blocks


def _checked_block(block: Block, max_record_bytes: int) -> Block | list[bytes | Oversized]:
    if block.stop - block.start <= max_record_bytes:
        return block
    return _mark_oversized(block.lines(), max_record_bytes)


def _mark_oversized(lines: list[bytes], max_record_bytes: int) -> list[bytes | Oversized]:
    if not lines or max(map(len, lines)) <= max_record_bytes:
        return lines
    return [Oversized(len(line)) if len(line) > max_record_bytes else line for line in lines]
