"""Validate a stream of JSON lines against one training method's record formats.

The format is detected from the first records. Then every line is decoded straight into that
format's msgspec Struct, and only failed lines take the slow path that names the problem. Blocks
of JSONL go further: pieces of about `PIECE_BYTES` are decoded in one call (see `_validate_piece`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add, itemgetter
from typing import Any

import msgspec
import orjson

from keiko.datasets import accelerator
from keiko.datasets.bedrock import BEDROCK_SHAPES_BY_METHOD
from keiko.datasets.columns import json_type_name, prompt_shapes_with_columns
from keiko.datasets.digests import DigestSet, digest
from keiko.datasets.failures import (
    classify_failure,
    classify_syntax,
    classify_unknown,
    find_duplicate_key,
    make_duplicate_probe,
)
from keiko.datasets.output import SplitWriter
from keiko.datasets.report import ErrorKind, Report, ReportBuilder, WarningKind, blank_lines_message
from keiko.datasets.shapes import SHAPES_BY_METHOD, TEXT, Shape, describe_shapes, detect_shape
from keiko.datasets.stream import MAX_RECORD_BYTES, NEWLINE, Block, LineProblem, Oversized
from keiko.datasets.tokens import SAMPLE_RECORDS, LengthHistogram, calibrate_ratio, estimate_ratio, strings_in

# Lines read before giving up on detecting the format.
DETECTION_LINES = 1000
# Bytes of JSONL decoded in one call. A piece with a line that fails to decode is decoded again in
# parts (see `_validate_lines_of_piece`), so smaller pieces cost less at bad records and more per
# call at clean ones.
PIECE_BYTES = 64 * 1024
# Lines in a row that the C accelerator does not accept before a stream stops trying it: a file
# written with spaces between tokens has no canonical line, and pieces decode faster than lines.
MAX_SCAN_MISSES = 16
PROMPT_METHODS = ("grpo", "rloo")
DUPLICATE_MESSAGE = (
    "the record repeats an earlier record exactly (after normalisation); it is left out of the training data."
)
# msgspec 0.23 ends a JSON syntax error with "(byte N)" and a type error with " - at `$[N]...`",
# N counting from the start of the decoded buffer or from its first value.
_SYNTAX_ERROR_OFFSET = re.compile(r"\(byte (\d+)\)$")
_VALUE_INDEX = re.compile(r" - at `\$\[(\d+)\]")


@dataclass(frozen=True)
class ValidationOptions:
    """Settings of one validation. `max_length` is in tokens."""

    method: str
    max_length: int = 2048
    eval_fraction: float = 0.1
    seed: int = 42
    backend: str = "sagemaker"
    reward_columns: tuple[str, ...] = ()
    tokenizer: Any = None
    max_record_bytes: int = MAX_RECORD_BYTES
    max_records: int | None = None


class UnsupportedMethodError(ValueError):
    """The method takes no dataset, or the backend does not train it."""


def shapes_for(options: ValidationOptions) -> tuple[Shape, ...]:
    method = str(options.method)
    if options.backend == "bedrock":
        shapes = BEDROCK_SHAPES_BY_METHOD.get(method)
        if shapes is None:
            supported = ", ".join(BEDROCK_SHAPES_BY_METHOD)
            raise UnsupportedMethodError(f"Bedrock model customization does not train {method!r}; use {supported}.")
        return shapes
    if method in PROMPT_METHODS:
        return prompt_shapes_with_columns(tuple(options.reward_columns))
    shapes = SHAPES_BY_METHOD.get(method)
    if shapes is None:
        raise UnsupportedMethodError(
            f"method {method!r} takes no training dataset; validate data for one of {', '.join(SHAPES_BY_METHOD)}."
        )
    return shapes


def _one_canonical_record_per_line(block: bytes, start: int, stop: int, encoded: list[bytes]) -> bool:
    """Return True when block[start:stop] is exactly the encoded records, each ending in a newline
    (the last one may lack it at the end of the stream).

    A line is never shorter than its record's encoding (see `Shape.canonical_length`), and a
    record never spans a newline. So when each predicted newline is there and the lengths add up,
    there is no other byte: no blank line, no second record on a line and no repeated key.
    """
    if not encoded:
        return False
    newline_at = list(accumulate(map(add, map(len, encoded), repeat(1)), initial=start - 1))[1:]
    if newline_at[-1] == stop and block[stop - 1] != NEWLINE:
        newline_at.pop()
    elif newline_at[-1] != stop - 1:
        return False
    return bytes(map(block.__getitem__, newline_at)) == b"\n" * len(newline_at)


def _one_record_per_line(lines: list[bytes], records: list) -> bool:
    """Return True when each line contains one of the records: as many lines as records, and every
    line starts with `{`, so none is blank and each contains at least one record."""
    if len(lines) != len(records) or b"" in lines:
        return False
    return bytes(map(itemgetter(0), lines)) == b"{" * len(lines)


def _failed_line(block: bytes, start: int, stop: int, error: Exception) -> tuple[int, int] | None:
    """Return the [start, end) bytes of the line in block[start:stop] that most likely made
    `decode_lines` fail, or None when the error does not locate it.

    A syntax error gives a byte offset. At the first byte of a line it usually means the line
    before was cut short, so that line is returned. A type error gives the index of the failing
    value, which is its line index unless an earlier line is blank or contains two values. A wrong
    guess costs time only, because every line is still validated exactly once.
    """
    message = str(error)
    offset = _SYNTAX_ERROR_OFFSET.search(message)
    if offset is not None:
        position = start + int(offset[1])
        line_start = max(block.rfind(b"\n", start, position) + 1, start)
        if line_start == position and line_start > start:
            line_start = max(block.rfind(b"\n", start, line_start - 1) + 1, start)
    else:
        index = _VALUE_INDEX.search(message)
        if index is None:
            return None
        line_start = start
        for _ in range(int(index[1])):
            line_start = block.find(b"\n", line_start, stop) + 1
            if line_start == 0:
                return None
    if line_start >= stop:
        return None
    return line_start, block.find(b"\n", line_start, stop) + 1 or stop


def _duplicate_key_message(key: str) -> str:
    return f"key {key!r} occurs twice in one object; keep one."


class RecordValidator:
    """Checks batches of lines, or blocks of JSONL, and keeps the counts, statistics and split output."""

    def __init__(self, options: ValidationOptions, report: Report, writer: SplitWriter | None) -> None:
        self.options = options
        self.report = report
        self.builder = ReportBuilder(report)
        self.writer = writer
        self.shapes = shapes_for(options)
        self.shape: Shape | None = None
        self.pending: list[bytes | Oversized] = []
        self.line = 0
        self.records = 0
        self.invalid = 0
        self.blank = 0
        self.duplicates = 0
        self.seen = DigestSet()
        self.lengths: LengthHistogram | None = None
        self.labels = {True: 0, False: 0}
        self.ratio = 0.0

    def feed(self, batch: list[bytes | Oversized] | Block) -> None:
        """Validate a list of lines, or a block of whole JSONL lines (see `stream.iter_blocks`)."""
        if isinstance(batch, Block):
            if self.shape is not None and self.shape.canonical_length:
                self._validate_block(batch)
                return
            batch = batch.lines()
        if self.shape is None:
            self.pending.extend(batch)
            shape = self._detect(batch)
            if shape is None and len(self.pending) < DETECTION_LINES:
                return
            batch, self.pending = self.pending, []
            self._start(shape, batch)
        if self.shape is None:
            self._validate_unknown(batch)
        else:
            self._validate(batch)

    def finish(self) -> Report:
        if self.pending:
            batch, self.pending = self.pending, []
            self._start(None, batch)
            self._validate_unknown(batch)
        if self.lengths is None:  # no line was read
            self.lengths = LengthHistogram(self.ratio)
        report = self.report
        report.format = self.shape.name if self.shape else None
        report.records = self.records
        report.invalid_records = self.invalid
        report.valid_records = self.records - self.invalid
        report.lines = self.line
        if self.writer is not None:
            report.train_records = self.writer.train_records
            report.eval_records = self.writer.eval_records
        if self.shape is not None and self.shape.keys[-1] == "label":
            report.label_counts = {"true": self.labels[True], "false": self.labels[False]}
        stats = report.stats
        stats.records = self.records
        stats.blank_lines = self.blank
        stats.characters = self.lengths.characters
        stats.estimated_tokens = math.ceil(self.lengths.characters * self.ratio)
        stats.tokens_per_character = round(self.ratio, 4)
        stats.duplicates = self.duplicates
        stats.length_histogram = {str(bucket): count for bucket, count in sorted(self.lengths.counts.items())}
        if self.blank:
            self.builder.warning(WarningKind.BLANK_LINES, None, None, blank_lines_message(self.blank))
        return self.builder.build()

    def _detect(self, batch: list[bytes | Oversized]) -> Shape | None:
        for line in batch[:DETECTION_LINES]:
            if not isinstance(line, bytes) or not line.strip():
                continue
            try:
                shape = detect_shape(orjson.loads(line), self.shapes)
            except orjson.JSONDecodeError:
                continue
            if shape is not None:
                return shape
        return None

    def _start(self, shape: Shape | None, batch: list[bytes | Oversized]) -> None:
        self.shape = shape
        if shape is None:
            self.ratio = estimate_ratio(())
            self.lengths = LengthHistogram(self.ratio)
            return
        self.decoder = msgspec.json.Decoder(shape.type)
        self.encoder = msgspec.json.Encoder()
        self.scan = accelerator.scanner(shape.name) if shape.canonical_length else None
        # The field named by prompt_too_long: where the prompt is, as the format's checks count it.
        self.prompt_field = next((key for key in ("prompt", "messages") if key in shape.keys), shape.keys[0])
        self.scan_misses = 0
        self.probe = make_duplicate_probe(shape)
        self.ratio = self._token_ratio(batch)
        self.lengths = LengthHistogram(self.ratio)
        # Records are measured in characters: at max_length / ratio characters a record reaches
        # max_length estimated tokens. Plain text is not checked, because training packs it.
        check_length = shape is not TEXT and shape.name != "bedrock-continued-pretraining"
        self.max_characters = self.options.max_length / self.ratio if check_length else math.inf
        self.columns = tuple(self.options.reward_columns) if str(self.options.method) in PROMPT_METHODS else ()
        if shape.mapped_from:
            self.builder.warning(
                WarningKind.MAPPED_FORMAT,
                None,
                None,
                f"records in format {shape.name!r} are written for training as {shape.mapped_from!r}.",
            )

    def _token_ratio(self, batch: list[bytes | Oversized]) -> float:
        sample: list[str] = []
        sampled_records = 0
        for line in batch:
            if sampled_records >= SAMPLE_RECORDS:
                break
            try:
                problem, record, _, _ = self.shape.check(self.decoder.decode(line))
            except (msgspec.DecodeError, TypeError):
                continue
            if problem is None:
                sample.extend(strings_in(msgspec.to_builtins(record)))
                sampled_records += 1
        tokenizer = self.options.tokenizer
        if tokenizer is not None and sample:
            self.report.stats.token_estimate = f"calibrated with {type(tokenizer).__name__} on {len(sample)} strings"
            return calibrate_ratio(tokenizer, sample)
        self.report.stats.token_estimate = "estimate from characters (no tokenizer given)"
        self.builder.warning(
            WarningKind.TOKENS_ESTIMATED,
            None,
            None,
            "token counts are estimated from character counts; to measure them with the base model's tokenizer, "
            "run keiko validate with --tokenizer and the tokenizer's local folder.",
        )
        return estimate_ratio(sample)

    def _validate(self, batch: list[bytes | Oversized]) -> None:
        """Validate lines one at a time: any file format, any record format."""
        decode = self.decoder.decode
        encode = self.encoder.encode
        check = self.shape.check
        canonical_length = self.shape.canonical_length
        error = self.builder.error
        max_characters = self.max_characters
        columns = self.columns
        kept: list[bytes] = []
        kept_lines: list[int] = []
        kept_records: list = []
        lengths: list[int] = []
        line_number = self.line
        records = invalid = 0

        for line in batch:
            line_number += 1
            try:
                record = decode(line)
            except (msgspec.DecodeError, TypeError) as exc:
                records, invalid = self._reject(line, line_number, exc, records, invalid)
                continue
            records += 1
            encoded = encode(record) if canonical_length else None
            if encoded is None or len(encoded) != len(line):
                key = self._duplicate_key(line, record)
                if key is not None:
                    invalid += 1
                    error(ErrorKind.DUPLICATE_KEY, line_number, key, _duplicate_key_message(key))
                    continue
            problem, normalised, prompt_characters, record_characters = check(record)
            if problem is not None:
                invalid += 1
                error(problem[0], line_number, problem[1], problem[2])
                continue
            if columns and self._column_drift(record, line_number):
                invalid += 1
                continue
            if prompt_characters >= max_characters:
                invalid += 1
                self._prompt_too_long(line_number, prompt_characters)
                continue
            if record_characters > max_characters:
                self._exceeds_max_length(line_number, record_characters)
            lengths.append(record_characters)
            kept.append(encoded if canonical_length else encode(normalised))
            kept_lines.append(line_number)
            kept_records.append(normalised)

        self.line = line_number
        self.records += records
        self.invalid += invalid
        self._accept(kept, kept_lines, kept_records, lengths)

    def _duplicate_key(self, line: bytes, record) -> str | None:
        """Return a key that occurs twice in one object of the line, testing cheaply first.

        One scan settles most lines: with no more `":` than the keys the record decoded into, no
        key can repeat. NOTE: a key with whitespace before its colon is not counted.
        """
        count_keys = self.shape.count_keys
        if count_keys is not None and line.count(b'":') <= count_keys(record):
            return None
        if not self.probe(line, record):
            return None
        return find_duplicate_key(line)

    def _validate_block(self, block: Block) -> None:
        """Validate a block of whole JSONL lines: canonical lines with the C accelerator when it is
        there, and the rest piece by piece, each piece ending at a newline."""
        data, start, end = block
        if self.scan is not None:
            start = self._validate_canonical(data, start, end)
        while start < end:
            stop = data.rfind(b"\n", start, min(start + PIECE_BYTES, end)) + 1
            if stop <= start:  # a line longer than a piece, or the last line of a stream without a newline
                stop = data.find(b"\n", start, end) + 1 or end
            self._validate_lines_of_piece(data, start, stop)
            start = stop

    def _validate_canonical(self, block: bytes, start: int, end: int) -> int:
        """Validate the lines of block[start:end] that the accelerator accepts, and each line it does
        not accept on its own on the msgspec path. Return where the piece path is to go on: `end`,
        unless MAX_SCAN_MISSES lines in a row were not accepted."""
        while start < end:
            reached, ends, prompt_characters, characters = self.scan(block, start, end)
            if ends:
                self.scan_misses = 0
                self._accept_canonical(block, start, ends, prompt_characters, characters)
            if reached >= end:
                return end
            self.scan_misses += 1
            if self.scan_misses >= MAX_SCAN_MISSES:
                self.scan = None
                return reached
            line_end = block.find(b"\n", reached, end) + 1 or end
            self._validate(Block(block, reached, line_end).lines())
            start = line_end
        return end

    def _accept_canonical(
        self, block: bytes, start: int, ends: list[int], prompt_characters: list[int], characters: list[int]
    ) -> None:
        """Check the lengths of accepted canonical lines, which end at `ends`, and keep the rest."""
        first = self.line + 1
        count = len(ends)
        starts = [start, *ends[:-1]]
        encoded = [block[line_start : line_end - 1] for line_start, line_end in zip(starts, ends, strict=True)]
        lines: range | list[int] = range(first, first + count)
        max_characters = self.max_characters
        kept_indexes = None
        if max(prompt_characters) >= max_characters or max(characters) > max_characters:
            kept_indexes = []
            for index, (prompt, total) in enumerate(zip(prompt_characters, characters, strict=True)):
                if prompt >= max_characters:
                    self._prompt_too_long(first + index, prompt)
                    continue
                if total > max_characters:
                    self._exceeds_max_length(first + index, total)
                kept_indexes.append(index)
        self.line += count
        self.records += count
        if kept_indexes is not None and len(kept_indexes) < count:
            self.invalid += count - len(kept_indexes)
            encoded = [encoded[index] for index in kept_indexes]
            lines = [first + index for index in kept_indexes]
            characters = [characters[index] for index in kept_indexes]
        self._accept(encoded, lines, None, characters)

    def _validate_lines_of_piece(self, block: bytes, start: int, stop: int) -> None:
        """Validate the lines in block[start:stop], decoding them in one call where possible.

        When the decode fails and msgspec's error locates a line, the lines before it are decoded
        as one piece, that line is validated alone, and decoding resumes after it. Otherwise the
        piece is validated line by line.
        """
        while start < stop:
            try:
                records = self.decoder.decode_lines(memoryview(block)[start:stop])
            except (msgspec.DecodeError, TypeError) as exc:
                failed = _failed_line(block, start, stop, exc)
            else:
                if not self._validate_records(block, start, stop, records):
                    self._validate(Block(block, start, stop).lines())
                return
            if failed is None:
                self._validate(Block(block, start, stop).lines())
                return
            line_start, line_end = failed
            if line_start > start and not self._validate_piece(block, start, line_start):
                self._validate(Block(block, start, line_start).lines())
            self._validate(Block(block, line_start, line_end).lines())
            start = line_end

    def _validate_piece(self, block: bytes, start: int, stop: int) -> bool:
        """Validate block[start:stop] with one decode call; return False, having changed nothing,
        when the piece must be validated line by line."""
        try:
            records = self.decoder.decode_lines(memoryview(block)[start:stop])
        except (msgspec.DecodeError, TypeError):
            return False
        return self._validate_records(block, start, stop, records)

    def _validate_records(self, block: bytes, start: int, stop: int, records: list) -> bool:
        """Validate the records decoded from block[start:stop]; return False, having changed
        nothing, when they cannot be matched to its lines.

        `decode_lines` skips blank lines and accepts several values on one line, so records are
        matched to lines only when that is proven (see `_one_canonical_record_per_line` and
        `_one_record_per_line`).
        """
        encoded = list(map(self.encoder.encode, records))
        duplicate_keys: dict[int, str] = {}
        if not _one_canonical_record_per_line(block, start, stop, encoded):
            lines = Block(block, start, stop).lines()
            if not _one_record_per_line(lines, records):
                return False
            for index, (line, record, encoding) in enumerate(zip(lines, records, encoded, strict=True)):
                if len(line) != len(encoding):
                    key = self._duplicate_key(line, record)
                    if key is not None:
                        duplicate_keys[index] = key
        self._validate_decoded(records, encoded, duplicate_keys)
        return True

    def _validate_decoded(self, records: list, encoded: list[bytes], duplicate_keys: dict[int, str]) -> None:
        """Check records decoded from consecutive lines, starting after line `self.line`."""
        check = self.shape.check
        error = self.builder.error
        max_characters = self.max_characters
        first = self.line + 1
        lengths: list[int] = []
        rejected: list[int] = []
        for index, record in enumerate(records):
            if duplicate_keys and index in duplicate_keys:
                key = duplicate_keys[index]
                error(ErrorKind.DUPLICATE_KEY, first + index, key, _duplicate_key_message(key))
                rejected.append(index)
                continue
            problem, _, prompt_characters, record_characters = check(record)
            if problem is not None:
                error(problem[0], first + index, problem[1], problem[2])
                rejected.append(index)
                continue
            if prompt_characters >= max_characters:
                self._prompt_too_long(first + index, prompt_characters)
                rejected.append(index)
                continue
            if record_characters > max_characters:
                self._exceeds_max_length(first + index, record_characters)
            lengths.append(record_characters)

        count = len(records)
        self.line += count
        self.records += count
        self.invalid += len(rejected)
        if not rejected:
            self._accept(encoded, range(first, first + count), records, lengths)
            return
        rejected_indexes = set(rejected)
        kept = [index for index in range(count) if index not in rejected_indexes]
        self._accept(
            [encoded[index] for index in kept],
            [first + index for index in kept],
            [records[index] for index in kept],
            lengths,
        )

    def _accept(self, encoded: list[bytes], lines, records: list | None, lengths: list[int]) -> None:
        """Count valid records, drop duplicates and write the rest; the lists are parallel. `records`
        (the decoded records) is needed only for formats with a label."""
        self.lengths.add(lengths)
        digests = list(map(digest, encoded))
        repeated = self.seen.add_all(digests)
        if repeated:
            for position in repeated:
                self._duplicate(lines[position])
            dropped = set(repeated)
            encoded = [value for position, value in enumerate(encoded) if position not in dropped]
            if records is not None:
                records = [value for position, value in enumerate(records) if position not in dropped]
            lines = [value for position, value in enumerate(lines) if position not in dropped]
            digests = [value for position, value in enumerate(digests) if position not in dropped]
        if self.shape.keys[-1] == "label":
            for label, count in Counter(record.label for record in records).items():
                self.labels[label] += count
        if self.writer is not None:
            self.writer.write(encoded, digests, lines)

    def _reject(self, line, line_number: int, exc: Exception, records: int, invalid: int) -> tuple[int, int]:
        if line is None:  # a continuation line of a multi-line CSV record
            return records, invalid
        if isinstance(line, LineProblem):
            self.builder.error(line.kind, line_number, None, line.message)
            return records + 1, invalid + 1
        if isinstance(line, Oversized):
            self.builder.error(
                ErrorKind.RECORD_TOO_LARGE,
                line_number,
                None,
                f"the line is {line.size} bytes, over the {self.options.max_record_bytes}-byte record limit; "
                "shorten or split the record.",
            )
            return records + 1, invalid + 1
        if not line.strip():
            self.blank += 1
            return records, invalid
        kind, field, message = classify_failure(line, exc, self.shape, self.shapes)
        self.builder.error(kind, line_number, field, message)
        return records + 1, invalid + 1

    def _validate_unknown(self, batch: list[bytes | Oversized]) -> None:
        """Count the records of a dataset whose format could not be detected, naming what each line is."""
        expected = describe_shapes(self.shapes)
        for line in batch:
            self.line += 1
            if line is None:
                continue
            if isinstance(line, (Oversized, LineProblem)):
                self._reject(line, self.line, TypeError(), 0, 0)
                self.records += 1
                self.invalid += 1
                continue
            if not line.strip():
                self.blank += 1
                continue
            self.records += 1
            self.invalid += 1
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                kind, field, message = classify_syntax(line, str(exc), self.shapes)
                self.builder.error(kind, self.line, field, message)
                continue
            problem = classify_unknown(line, value, self.shapes)
            if problem is not None:
                kind, field, message = problem
                self.builder.error(kind, self.line, field, message)
                continue
            found = sorted(value) if isinstance(value, dict) else type(value).__name__
            self.builder.error(
                ErrorKind.UNKNOWN_FORMAT,
                self.line,
                None,
                f"the record matches no format for method {self.options.method!s} (found {found}); "
                f"expected {expected}.",
            )

    def _column_drift(self, record, line_number: int) -> bool:
        types = self.report.column_types
        for column in self.columns:
            type_name = json_type_name(getattr(record, column))
            known = types.setdefault(column, type_name)
            if known != type_name:
                self.builder.error(
                    ErrorKind.TYPE_DRIFT,
                    line_number,
                    column,
                    f"{column} is a {type_name} here but a {known} in earlier records; "
                    "give every record the same type.",
                )
                return True
        return False

    def _prompt_too_long(self, line_number: int, prompt_characters: int) -> None:
        tokens = math.ceil(prompt_characters * self.ratio)
        self.builder.error(
            ErrorKind.PROMPT_TOO_LONG,
            line_number,
            self.prompt_field,
            f"the prompt is about {tokens} tokens, at or over max_length {self.options.max_length}, "
            "which leaves "
            "nothing to train on; shorten it or raise max_length.",
        )

    def _exceeds_max_length(self, line_number: int, record_characters: int) -> None:
        tokens = math.ceil(record_characters * self.ratio)
        self.builder.warning(
            WarningKind.EXCEEDS_MAX_LENGTH,
            line_number,
            None,
            f"the record is about {tokens} tokens, over max_length {self.options.max_length}; training truncates it.",
        )

    def _duplicate(self, line_number: int) -> None:
        self.duplicates += 1
        self.builder.warning(WarningKind.DUPLICATES_DROPPED, line_number, None, DUPLICATE_MESSAGE)
