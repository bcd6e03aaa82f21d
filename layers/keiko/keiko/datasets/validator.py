"""Validate a stream of JSON lines against one training method's record formats.

The format is detected from the first records. Then every line is decoded straight into that
format's msgspec Struct, and only failed lines take the slow path that names the problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from keiko.datasets.bedrock import BEDROCK_SHAPES_BY_METHOD, DEFAULT_MAX_RECORDS
from keiko.datasets.columns import json_type_name, prompt_shapes_with_columns
from keiko.datasets.failures import (
    classify_failure,
    classify_syntax,
    find_duplicate_key,
    make_duplicate_probe,
)
from keiko.datasets.output import SplitWriter
from keiko.datasets.report import ErrorKind, Report, ReportBuilder, WarningKind, percentiles
from keiko.datasets.shapes import SHAPES_BY_METHOD, TEXT, Shape, describe_shapes, detect_shape
from keiko.datasets.stream import MAX_RECORD_BYTES, LineProblem, Oversized
from keiko.datasets.tokens import SAMPLE_RECORDS, calibrate_ratio, estimate_ratio, strings_in

# Lines read before giving up on detecting the format.
DETECTION_LINES = 1000
PROMPT_METHODS = ("grpo", "rloo")


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


class RecordValidator:
    """Checks batches of lines and keeps the counts, statistics and split output."""

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
        self.characters = 0
        self.duplicates = 0
        self.seen: set[int] = set()
        self.histogram: dict[int, int] = {}
        self.labels = {True: 0, False: 0}
        self.ratio = 0.0

    def feed(self, batch: list[bytes | Oversized]) -> None:
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
        report = self.report
        report.format = self.shape.name if self.shape else None
        report.records = self.records
        report.invalid_records = self.invalid
        report.valid_records = self.records - self.invalid
        report.lines = self.line
        if self.writer is not None:
            report.train_records = self.writer.train_records
            report.eval_records = self.writer.eval_records
            report.content_hash = self.writer.content_hash()
        if self.shape is not None and self.shape.keys[-1] == "label":
            report.label_counts = {"true": self.labels[True], "false": self.labels[False]}
        stats = report.stats
        stats.records = self.records
        stats.blank_lines = self.blank
        stats.characters = self.characters
        stats.estimated_tokens = math.ceil(self.characters * self.ratio)
        stats.tokens_per_character = round(self.ratio, 4)
        stats.duplicates = self.duplicates
        stats.length_histogram = {str(bucket): count for bucket, count in sorted(self.histogram.items())}
        if self.blank:
            self.builder.warning(WarningKind.BLANK_LINES, None, None, f"{self.blank} blank lines were skipped.")
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
            return
        self.decoder = msgspec.json.Decoder(shape.type)
        self.encoder = msgspec.json.Encoder()
        self.probe = make_duplicate_probe(shape)
        self.ratio = self._token_ratio(batch)
        ratio = self.ratio
        self.max_characters = self.options.max_length / ratio
        self.check_length = shape is not TEXT and shape.name != "bedrock-continued-pretraining"
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
        for line in batch:
            if len(sample) >= SAMPLE_RECORDS:
                break
            try:
                problem, record, _, _ = self.shape.check(self.decoder.decode(line))
            except (msgspec.DecodeError, TypeError):
                continue
            if problem is None:
                sample.extend(strings_in(msgspec.to_builtins(record)))
        tokenizer = self.options.tokenizer
        if tokenizer is not None and sample:
            self.report.stats.token_estimate = f"calibrated with {type(tokenizer).__name__} on {len(sample)} strings"
            return calibrate_ratio(tokenizer, sample)
        self.report.stats.token_estimate = "estimate from characters (no tokenizer given)"
        self.builder.warning(
            WarningKind.TOKENS_ESTIMATED,
            None,
            None,
            "token counts are estimates from character counts; pass a tokenizer to calibrate them.",
        )
        return estimate_ratio(sample)

    def _validate(self, batch: list[bytes | Oversized]) -> None:
        decode = self.decoder.decode
        encode = self.encoder.encode
        check = self.shape.check
        probe = self.probe
        count_keys = self.shape.count_keys
        error = self.builder.error
        seen = self.seen
        histogram = self.histogram
        ratio = self.ratio
        max_characters = self.max_characters
        check_length = self.check_length
        labels = self.labels if self.shape.keys[-1] == "label" else None
        columns = self.columns
        kept: list[bytes] = []
        line_number = self.line
        records = invalid = characters = 0

        for line in batch:
            line_number += 1
            try:
                record = decode(line)
            except (msgspec.DecodeError, TypeError) as exc:
                records, invalid = self._reject(line, line_number, exc, records, invalid)
                continue
            records += 1
            # One scan settles most lines: with no more `":` than the keys the record decoded
            # into, no key can repeat. NOTE: a key with whitespace before its colon is not counted.
            if (count_keys is None or line.count(b'":') > count_keys(record)) and probe(line, record):
                key = find_duplicate_key(line)
                if key is not None:
                    invalid += 1
                    error(
                        ErrorKind.DUPLICATE_KEY,
                        line_number,
                        key,
                        f"key {key!r} occurs twice in one object; keep one.",
                    )
                    continue
            problem, normalised, prompt_characters, record_characters = check(record)
            if problem is not None:
                invalid += 1
                error(problem[0], line_number, problem[1], problem[2])
                continue
            if columns and self._column_drift(record, line_number):
                invalid += 1
                continue
            if check_length:
                if prompt_characters >= max_characters:
                    invalid += 1
                    self._prompt_too_long(line_number, prompt_characters)
                    continue
                if record_characters > max_characters:
                    self._exceeds_max_length(line_number, record_characters)
            characters += record_characters
            tokens = int(record_characters * ratio)
            bits = tokens.bit_length()
            bucket = (bits << 2) | ((tokens >> (bits - 3)) & 3) if bits > 2 else tokens  # length_bucket, inlined
            histogram[bucket] = histogram.get(bucket, 0) + 1
            encoded = encode(normalised)
            digest = hash(encoded)
            if digest in seen:
                self._duplicate(line_number)
                continue
            seen.add(digest)
            kept.append(encoded)
            if labels is not None:
                labels[normalised.label] += 1

        self.line = line_number
        self.records += records
        self.invalid += invalid
        self.characters += characters
        if self.writer is not None:
            self.writer.write(kept)

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
                kind, field, message = classify_syntax(line, str(exc))
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
            "prompt",
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
        self.builder.warning(
            WarningKind.DUPLICATES_DROPPED,
            line_number,
            None,
            "the record repeats an earlier record exactly (after normalisation); it is left out of the training data.",
        )


def finish_report(report: Report, options: ValidationOptions) -> Report:
    """Add the checks that need the whole dataset and decide whether it is valid."""
    builder = ReportBuilder.from_report(report)
    labels = report.label_counts
    if report.valid_records and labels:
        _check_label_balance(builder, labels)
    max_records = options.max_records or (DEFAULT_MAX_RECORDS if options.backend == "bedrock" else None)
    if max_records is not None and report.valid_records > max_records:
        builder.error(
            ErrorKind.BACKEND_LIMIT,
            None,
            None,
            f"{report.valid_records} records exceed the limit of {max_records} for {options.backend}; "
            "use fewer records or ask for a higher quota.",
        )
    if report.records == 0 and not report.errors_by_kind:
        builder.error(ErrorKind.EMPTY_DATASET, None, None, "the dataset has no records; upload a file with data.")
    report = builder.build()
    report.stats.length_percentiles = percentiles(report.stats.length_histogram)
    report.valid = not report.errors_by_kind and report.valid_records > 0
    return report


def _check_label_balance(builder: ReportBuilder, labels: dict[str, int]) -> None:
    desirable, undesirable = labels.get("true", 0), labels.get("false", 0)
    total = desirable + undesirable
    minority = min(desirable, undesirable)
    if minority == 0:
        only = "true" if desirable else "false"
        builder.error(
            ErrorKind.LABEL_IMBALANCE,
            None,
            "label",
            f"every label is {only}; KTO needs both desirable (true) and undesirable (false) examples.",
        )
    elif minority / total < 0.1:
        builder.warning(
            WarningKind.LABEL_SKEW,
            None,
            "label",
            f"only {minority} of {total} labels are in the smaller class; set desirable_weight or "
            "undesirable_weight to balance them.",
        )
