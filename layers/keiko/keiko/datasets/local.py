"""Validate a dataset file on the local disk, as `keiko validate` does before an upload."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from keiko.datasets.dataset_checks import finish_report
from keiko.datasets.formats import (
    FileFormatError,
    FileTooLargeError,
    detect_file_format,
    iter_batches,
    open_reader,
)
from keiko.datasets.output import FileSink, SplitWriter
from keiko.datasets.report import ErrorKind, Report, ReportBuilder, WarningKind
from keiko.datasets.stream import StreamState
from keiko.datasets.validator import RecordValidator, UnsupportedMethodError, ValidationOptions


def validate_path(
    path: str | Path,
    method: str,
    *,
    max_length: int = 2048,
    eval_fraction: float = 0.1,
    seed: int = 42,
    output_dir: str | Path | None = None,
    **options: Any,
) -> Report:
    """Validate a local dataset file and return its report.

    The report always gets the train and evaluation counts. With `output_dir`, a valid dataset is
    also written there as train.jsonl and eval.jsonl in TRL's standard format, and the report gets
    the content hash. Other keyword
    arguments are `ValidationOptions` fields (tokenizer, reward_columns, backend, max_record_bytes,
    max_records).
    """
    path = Path(path)
    settings = ValidationOptions(
        method=str(method), max_length=max_length, eval_fraction=eval_fraction, seed=seed, **options
    )
    if output_dir is None:
        writer = SplitWriter(eval_fraction, seed)
    else:
        writer = SplitWriter(
            eval_fraction,
            seed,
            FileSink(Path(output_dir) / "train.jsonl"),
            FileSink(Path(output_dir) / "eval.jsonl"),
        )
    with path.open("rb") as raw:
        report = validate_stream(raw, path.name, settings, writer)
    report = finish_report(report, settings, writer)
    if report.valid:
        writer.commit()
    else:
        writer.abort()
    return report


def validate_stream(
    raw,
    name: str,
    options: ValidationOptions,
    writer: SplitWriter | None,
    start: int = 0,
    end: int | None = None,
    file_format: str | None = None,
) -> Report:
    """Validate the bytes of one file and return the report before dataset-wide checks (see
    `finish_report`). A slice [start, end) of an uncompressed JSONL file is read with
    `file_format="jsonl"` from a stream positioned at byte `start - 1` (or 0)."""
    report = Report(source=name, method=str(options.method))
    if start or end is not None:
        report.slice_start, report.slice_end = start, end
    try:
        validator = RecordValidator(options, report, writer)
    except UnsupportedMethodError as exc:
        builder = ReportBuilder(report)
        builder.error(ErrorKind.UNSUPPORTED_METHOD, None, None, str(exc))
        return builder.build()

    if file_format is None:
        try:
            read, head, compressed = open_reader(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return _unreadable(validator, exc)
        report.file_format = detect_file_format(name, head) + ("+gzip" if compressed else "")
        file_format = report.file_format.removesuffix("+gzip")
    else:
        read = raw.read
        report.file_format = file_format
    state = StreamState()
    bounds = {"start": start, "end": end} if file_format == "jsonl" else {}
    try:
        for batch in iter_batches(file_format, read, state, options.max_record_bytes, **bounds):
            validator.feed(batch)
    except (FileFormatError, FileTooLargeError) as exc:
        kind = ErrorKind.FILE_TOO_LARGE if isinstance(exc, FileTooLargeError) else ErrorKind.INVALID_JSON
        validator.builder.error(kind, getattr(exc, "line", None), None, str(exc))
    except (OSError, EOFError, zlib.error) as exc:  # a damaged gzip stream
        validator.builder.error(ErrorKind.UNREADABLE_FILE, None, None, _unreadable_message(exc))
    report = validator.finish()
    report.stats.bytes_read = state.bytes_read
    if state.bom_stripped:
        builder = ReportBuilder.from_report(report)
        builder.warning(
            WarningKind.BOM_STRIPPED, 1, None, "the file starts with a UTF-8 byte order mark; it was ignored."
        )
        report = builder.build()
    return report


def _unreadable_message(exc: Exception) -> str:
    return f"the file cannot be read ({exc}); upload it again or decompress it and upload the JSONL."


def _unreadable(validator: RecordValidator, exc: Exception) -> Report:
    validator.builder.error(ErrorKind.UNREADABLE_FILE, None, None, _unreadable_message(exc))
    return validator.finish()
