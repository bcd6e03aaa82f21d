"""The validation report: error and warning counts, the first examples of each, and statistics.

A report is built while records stream past (`ReportBuilder`). It can be merged with the reports
of other byte ranges of the same file (`merge_reports`). It is finished once (`finish_report`),
which adds the checks that need the whole dataset, such as KTO label balance.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

# The first examples kept per error or warning kind; the counts are always complete.
EXAMPLES_PER_KIND = 5


class ErrorKind(StrEnum):
    """Kinds of problem that make a record or the dataset invalid, each counted in the report."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NAN_OR_INFINITY = "nan_or_infinity"
    DUPLICATE_KEY = "duplicate_key"
    RECORD_TOO_LARGE = "record_too_large"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    MIXED_FORMATS = "mixed_formats"
    TYPE_DRIFT = "type_drift"
    UNKNOWN_FORMAT = "unknown_format"
    EMPTY_FIELD = "empty_field"
    IDENTICAL_ANSWERS = "identical_answers"
    INVALID_ROLE = "invalid_role"
    BAD_TURN_ORDER = "bad_turn_order"
    MISSING_PROMPT = "missing_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    LABEL_IMBALANCE = "label_imbalance"
    EMPTY_DATASET = "empty_dataset"
    FILE_TOO_LARGE = "file_too_large"
    UNREADABLE_FILE = "unreadable_file"
    INVALID_CSV = "invalid_csv"
    BACKEND_LIMIT = "backend_limit"
    EMPTY_SPLIT = "empty_split"
    UNSUPPORTED_METHOD = "unsupported_method"


class WarningKind(StrEnum):
    """Problems that training survives but a person should know about."""

    BOM_STRIPPED = "bom_stripped"
    BLANK_LINES = "blank_lines"
    DUPLICATES_DROPPED = "duplicates_dropped"
    EXCEEDS_MAX_LENGTH = "exceeds_max_length"
    TOKENS_ESTIMATED = "tokens_estimated"
    LABEL_SKEW = "label_skew"
    MAPPED_FORMAT = "mapped_format"


class Example(BaseModel):
    """One located problem. `line` is the file line for JSONL and CSV, the element number for a
    JSON array and the row number for Parquet, all counted from 1; None for dataset-wide problems."""

    kind: str
    line: int | None = None
    field: str | None = None
    message: str


class Stats(BaseModel):
    records: int = 0
    blank_lines: int = 0
    characters: int = 0
    estimated_tokens: int = 0
    tokens_per_character: float = 0.0
    token_estimate: str = "estimate"
    duplicates: int = 0
    bytes_read: int = 0
    # Estimated tokens per record, bucketed; see `length_bucket`. Keys are bucket indexes as strings.
    length_histogram: dict[str, int] = Field(default_factory=dict)
    length_percentiles: dict[str, int] = Field(default_factory=dict)


class Report(BaseModel):
    source: str
    method: str
    file_format: str = "jsonl"
    format: str | None = None
    valid: bool = False
    records: int = 0
    valid_records: int = 0
    invalid_records: int = 0
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    warnings_by_kind: dict[str, int] = Field(default_factory=dict)
    errors: list[Example] = Field(default_factory=list)
    warnings: list[Example] = Field(default_factory=list)
    stats: Stats = Field(default_factory=Stats)
    content_hash: str | None = None
    train_records: int = 0
    eval_records: int = 0
    # Physical lines this report covers; merging adds them up to turn slice lines into file lines.
    lines: int = 0
    slice_start: int | None = None
    slice_end: int | None = None
    label_counts: dict[str, int] = Field(default_factory=dict)
    column_types: dict[str, str] = Field(default_factory=dict)


def length_bucket(tokens: int) -> int:
    """Return a histogram bucket with four buckets per power of two (about 19 % wide)."""
    bits = tokens.bit_length()
    if bits < 3:
        return tokens
    return (bits << 2) | ((tokens >> (bits - 3)) & 3)


def bucket_upper_bound(bucket: int) -> int:
    if bucket < 8:
        return bucket
    bits, quarter = bucket >> 2, bucket & 3
    return ((4 | quarter) + 1) << (bits - 3)


class ReportBuilder:
    """Collects counts and the first examples while records stream past."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.error_counts: dict[str, int] = {}
        self.warning_counts: dict[str, int] = {}

    @classmethod
    def from_report(cls, report: Report) -> ReportBuilder:
        builder = cls(report)
        builder.error_counts = dict(report.errors_by_kind)
        builder.warning_counts = dict(report.warnings_by_kind)
        return builder

    def error(self, kind: ErrorKind, line: int | None, field: str | None, message: str) -> None:
        count = self.error_counts.get(kind, 0)
        self.error_counts[kind] = count + 1
        if count < EXAMPLES_PER_KIND:
            self.report.errors.append(Example(kind=kind, line=line, field=field, message=message))

    def warning(self, kind: WarningKind, line: int | None, field: str | None, message: str) -> None:
        count = self.warning_counts.get(kind, 0)
        self.warning_counts[kind] = count + 1
        if count < EXAMPLES_PER_KIND:
            self.report.warnings.append(Example(kind=kind, line=line, field=field, message=message))

    def build(self) -> Report:
        self.report.errors_by_kind = dict(sorted(self.error_counts.items()))
        self.report.warnings_by_kind = dict(sorted(self.warning_counts.items()))
        return self.report


def merge_reports(reports: list[Report]) -> Report:
    """Merge the reports of consecutive byte ranges of one file into one unfinished report.

    Line numbers of later slices are shifted by the lines of the slices before them. Duplicates
    are counted within each slice only (see `slice_parts.CrossSliceDuplicates` for the rest).
    """
    if not reports:
        raise ValueError("merge_reports needs at least one slice report.")
    ordered = sorted(reports, key=lambda report: report.slice_start or 0)
    first = ordered[0]
    merged = Report(source=first.source, method=first.method, file_format=first.file_format)
    builder = ReportBuilder(merged)
    line_offset = 0
    for part in ordered:
        _merge_one(merged, builder, part, line_offset)
        line_offset += part.lines
    merged.lines = line_offset
    merged.slice_start = None
    merged.slice_end = None
    stats = merged.stats
    if all(part.slice_start is not None and part.slice_end is not None for part in ordered):
        # Each slice reads a little past its range to finish its last line, so the file's size is the ranges' sum.
        stats.bytes_read = sum(part.slice_end - part.slice_start for part in ordered)
    if stats.characters:
        stats.tokens_per_character = round(stats.estimated_tokens / stats.characters, 4)
    _warn_once_per_dataset(merged, builder)
    return builder.build()


def blank_lines_message(count: int) -> str:
    return f"{count} blank lines were skipped."


def _warn_once_per_dataset(merged: Report, builder: ReportBuilder) -> None:
    """Keep one warning of each kind that every slice gives about the whole dataset, as one pass does."""
    for kind in (WarningKind.TOKENS_ESTIMATED, WarningKind.MAPPED_FORMAT, WarningKind.BLANK_LINES):
        found = [index for index, example in enumerate(merged.warnings) if example.kind == kind]
        if not found:
            continue
        if kind == WarningKind.BLANK_LINES:
            merged.warnings[found[0]] = Example(kind=kind, message=blank_lines_message(merged.stats.blank_lines))
        for index in reversed(found[1:]):
            del merged.warnings[index]
        builder.warning_counts[kind] = 1


def _merge_one(merged: Report, builder: ReportBuilder, part: Report, line_offset: int) -> None:
    formats = {merged.format, part.format} - {None}
    if len(formats) > 1:
        builder.error(
            ErrorKind.MIXED_FORMATS,
            line_offset + 1,
            None,
            f"This part of the file is in format {part.format!r} but an earlier part is {merged.format!r}; "
            "use one format for the whole dataset.",
        )
    merged.format = merged.format or part.format
    for attribute in ("records", "valid_records", "invalid_records", "train_records", "eval_records"):
        setattr(merged, attribute, getattr(merged, attribute) + getattr(part, attribute))
    _merge_counts(builder.error_counts, part.errors_by_kind)
    _merge_counts(builder.warning_counts, part.warnings_by_kind)
    _merge_counts(merged.label_counts, part.label_counts)
    _merge_examples(merged.errors, part.errors, line_offset)
    _merge_examples(merged.warnings, part.warnings, line_offset)
    _merge_stats(merged.stats, part.stats)
    for column, type_name in part.column_types.items():
        known = merged.column_types.setdefault(column, type_name)
        if known != type_name:
            builder.error(
                ErrorKind.TYPE_DRIFT,
                line_offset + 1,
                column,
                f"Column {column!r} is {type_name} in this part of the file but {known} earlier; "
                "give every record the same type.",
            )


def _merge_counts(total: dict[str, int], part: dict[str, int]) -> None:
    for key, count in part.items():
        total[key] = total.get(key, 0) + count


def _merge_examples(total: list[Example], part: list[Example], line_offset: int) -> None:
    for example in part:
        if sum(1 for kept in total if kept.kind == example.kind) >= EXAMPLES_PER_KIND:
            continue
        line = None if example.line is None else example.line + line_offset
        total.append(example.model_copy(update={"line": line}))


def _merge_stats(total: Stats, part: Stats) -> None:
    for attribute in ("records", "blank_lines", "characters", "estimated_tokens", "duplicates", "bytes_read"):
        setattr(total, attribute, getattr(total, attribute) + getattr(part, attribute))
    total.tokens_per_character = part.tokens_per_character
    total.token_estimate = part.token_estimate
    _merge_counts(total.length_histogram, part.length_histogram)


def percentiles(histogram: dict[str, int]) -> dict[str, int]:
    """Return p50/p90/p99/max estimated tokens per record from a length histogram (bucket upper bounds)."""
    total = sum(histogram.values())
    if total == 0:
        return {}
    buckets = sorted((int(bucket), count) for bucket, count in histogram.items())
    result: dict[str, int] = {}
    for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        target = fraction * total
        seen = 0
        for bucket, count in buckets:
            seen += count
            if seen >= target:
                result[name] = bucket_upper_bound(bucket)
                break
    return result
