"""File formats: JSONL (optionally gzip), a JSON array, CSV and Parquet, all turned into batches of
JSON lines for the validator.

Only JSONL and CSV stream in bounded memory. A JSON array is read whole (up to `MAX_WHOLE_FILE_BYTES`),
and Parquet needs pyarrow, imported only when a Parquet file arrives, so a Lambda layer that must
read Parquet has to include pyarrow.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from typing import IO, Any

import msgspec
import orjson

from keiko.datasets.stream import (
    UTF8_BOM,
    LineProblem,
    Oversized,
    Reader,
    StreamState,
    iter_blocks,
    iter_line_batches,
)

MAX_WHOLE_FILE_BYTES = 512 * 1024 * 1024
PARQUET_ROWS_PER_BATCH = 4096
GZIP_MAGIC = b"\x1f\x8b"
_BYTE_POSITION = re.compile(r"\(byte (\d+)\)")

# A list of lines, or for JSONL a block of whole lines (see `stream.iter_blocks`).
Batch = list[bytes | Oversized | LineProblem | None] | bytes


class FileTooLargeError(ValueError):
    pass


class FileFormatError(ValueError):
    """The file as a whole cannot be read in its format; `line` locates the problem when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def detect_file_format(name: str, head: bytes) -> str:
    """Return jsonl, json-array, csv or parquet from the file name and its first bytes (decompressed)."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".parquet") or head.startswith(b"PAR1"):
        return "parquet"
    if lower.endswith(".csv"):
        return "csv"
    if head.removeprefix(UTF8_BOM).lstrip().startswith(b"["):
        return "json-array"
    return "jsonl"


def open_reader(raw: IO[bytes]) -> tuple[Reader, bytes, bool]:
    """Return a reader over the (decompressed) bytes of `raw`, its first bytes and whether it was gzip."""
    head = raw.read(2)
    compressed = head == GZIP_MAGIC
    source = _Prepend(head, raw)
    stream = gzip.GzipFile(fileobj=source, mode="rb") if compressed else source
    first = stream.read(4096)
    return _Prepend(first, stream).read, first, compressed


class _Prepend:
    """A file-like reader that returns `head` before the rest of `raw`."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self.head = head
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.raw.read(size)
        if size < 0:
            data, self.head = self.head + self.raw.read(), b""
            return data
        if len(self.head) >= size:
            data, self.head = self.head[:size], self.head[size:]
            return data
        data, self.head = self.head, b""
        return data + self.raw.read(size - len(data))


def iter_batches(
    file_format: str, read: Reader, state: StreamState, max_record_bytes: int, **slice_bounds
) -> Iterator[Batch]:
    if file_format == "jsonl":
        return iter_blocks(read, state=state, max_record_bytes=max_record_bytes, **slice_bounds)
    if file_format == "csv":
        return iter_csv_batches(read, state, max_record_bytes)
    if file_format == "json-array":
        return iter_json_array_batches(read, state)
    if file_format == "parquet":
        return iter_parquet_batches(read, state)
    raise ValueError(f"unknown file format {file_format!r}; use jsonl, json-array, csv or parquet.")


def iter_json_array_batches(read: Reader, state: StreamState) -> Iterator[Batch]:
    """Yield the elements of a JSON array as JSON texts, one per element number."""
    data = read(MAX_WHOLE_FILE_BYTES + 1)
    state.bytes_read = len(data)
    if len(data) > MAX_WHOLE_FILE_BYTES:
        raise FileTooLargeError(
            f"a JSON array file must be at most {MAX_WHOLE_FILE_BYTES} bytes; convert it to JSONL, which streams."
        )
    if data.startswith(UTF8_BOM):
        state.bom_stripped = True
        data = data[len(UTF8_BOM) :]
    try:
        elements = msgspec.json.decode(data, type=list[msgspec.Raw])
    except msgspec.DecodeError as exc:
        match = _BYTE_POSITION.search(str(exc))
        line = data.count(b"\n", 0, int(match[1])) + 1 if match else None
        raise FileFormatError(f"the file is not a valid JSON array ({exc}).", line) from exc
    yield [bytes(element) for element in elements]


def iter_csv_batches(read: Reader, state: StreamState, max_record_bytes: int) -> Iterator[Batch]:
    """Yield one JSON object per CSV row, at the row's first line; continuation lines and the header
    line yield None. Cells that hold a JSON array or object are parsed; true/false become booleans."""
    pending: list[int] = []  # line numbers of the physical lines the current row spans
    bad_lines: dict[int, bytes] = {}

    def lines() -> Iterator[str]:
        number = 0
        for batch in iter_line_batches(read, state=state, max_record_bytes=max_record_bytes):
            for raw in batch:
                number += 1
                pending.append(number)
                if isinstance(raw, Oversized):
                    bad_lines[number] = raw
                    yield "\n"
                    continue
                try:
                    yield raw.decode("utf-8") + "\n"
                except UnicodeDecodeError:
                    bad_lines[number] = raw
                    yield raw.decode("utf-8", "replace") + "\n"

    reader = csv.reader(lines())
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileFormatError(f"the CSV header cannot be parsed ({exc}).", 1) from exc
    if header is None:
        return
    batch: Batch = [None] * len(pending)
    pending.clear()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row = LineProblem("invalid_csv", f"the CSV row cannot be parsed ({exc}); quote fields with line breaks.")
        spanned = list(pending)
        pending.clear()
        bad = next((bad_lines.pop(number) for number in spanned if number in bad_lines), None)
        if isinstance(row, LineProblem):
            batch.append(row)
        elif bad is not None:
            batch.append(bad)
        elif not row or not any(cell.strip() for cell in row):
            batch.append(b"")
        else:
            batch.append(orjson.dumps(_csv_record(header, row)))
        batch.extend([None] * max(len(spanned) - 1, 0))
        if len(batch) >= 4096:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_record(header: list[str], row: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=False):
        record[name] = _csv_value(cell)
    return record


def _csv_value(cell: str) -> Any:
    stripped = cell.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return cell
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return cell


def iter_parquet_batches(read: Reader, state: StreamState) -> Iterator[Batch]:
    """Yield Parquet rows as JSON objects; nested columns (lists of structs) become chat messages."""
    import io

    import pyarrow.parquet as parquet  # lazily: pyarrow is large and only Parquet needs it

    data = read(MAX_WHOLE_FILE_BYTES + 1)
    state.bytes_read = len(data)
    if len(data) > MAX_WHOLE_FILE_BYTES:
        raise FileTooLargeError(f"a Parquet file must be at most {MAX_WHOLE_FILE_BYTES} bytes; split it.")
    try:
        table = parquet.ParquetFile(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several error classes for damaged files
        raise FileFormatError(f"the file is not a readable Parquet file ({exc}).") from exc
    for record_batch in table.iter_batches(batch_size=PARQUET_ROWS_PER_BATCH):
        yield [orjson.dumps(row, default=str) for row in record_batch.to_pylist()]
