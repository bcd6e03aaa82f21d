"""Validate a dataset in S3 and write the report and the normalised split back to S3.

`validate_s3_dataset` reads the object once, streaming. Above a size threshold the state machine
instead fans out over byte ranges: `plan_slices`, then `validate_s3_slice` for each range in a
Distributed Map, then `merge_s3_slices`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

from keiko.datasets.dataset_checks import finish_report
from keiko.datasets.local import validate_stream
from keiko.datasets.markdown import render_markdown
from keiko.datasets.output import HOLD_BYTES, SplitWriter
from keiko.datasets.report import Report, merge_reports
from keiko.datasets.slice_parts import EVAL, TRAIN, CrossSliceDuplicates, part_keys, part_lines
from keiko.datasets.validator import ValidationOptions

# S3 multipart parts must be at least 5 MiB except the last.
PART_BYTES = 8 * 1024 * 1024
DEFAULT_SLICE_BYTES = 256 * 1024 * 1024
MIN_SLICE_BYTES = 1024 * 1024


class ValidationSummary(BaseModel):
    """The small result a state carries on; the full report is in S3."""

    valid: bool
    format: str | None
    records: int
    valid_records: int
    invalid_records: int
    errors_by_kind: dict[str, int]
    warnings_count: int
    estimated_tokens: int
    content_hash: str | None
    report_uri: str
    report_markdown_uri: str
    train_uri: str | None = None
    eval_uri: str | None = None
    train_records: int = 0
    eval_records: int = 0


class S3Sink:
    """Writes one object in multipart parts as data arrives; nothing is visible until `commit`."""

    def __init__(self, s3_client, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3_client, bucket, key
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.buffer.append(data)
        self.buffered += len(data)
        if self.buffered >= PART_BYTES:
            self._upload_part()

    def _upload_part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        response = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=b"".join(self.buffer),
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})
        self.buffer, self.buffered = [], 0

    def commit(self) -> None:
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=b"".join(self.buffer))
            return
        if self.buffer:
            self._upload_part()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


def _options(method, max_length: int, eval_fraction: float, seed: int, extra: dict[str, Any]) -> ValidationOptions:
    return ValidationOptions(method=str(method), max_length=max_length, eval_fraction=eval_fraction, seed=seed, **extra)


def _get_object(s3_client, bucket: str, key: str, version_id: str | None, first_byte: int | None = None):
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    if first_byte:
        request["Range"] = f"bytes={first_byte}-"
    return s3_client.get_object(**request)["Body"]


def validate_s3_dataset(
    s3_client,
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    method,
    max_length: int = 2048,
    eval_fraction: float = 0.1,
    seed: int = 42,
    output_prefix: str,
    **options: Any,
) -> ValidationSummary:
    """Validate s3://bucket/key and write `<output_prefix>validation/report.json` and `report.md`;
    when the dataset is valid, also `<output_prefix>data/train.jsonl` and `eval.jsonl`."""
    settings = _options(method, max_length, eval_fraction, seed, options)
    train_key, eval_key = f"{output_prefix}data/train.jsonl", f"{output_prefix}data/eval.jsonl"
    writer = SplitWriter(eval_fraction, seed, S3Sink(s3_client, bucket, train_key), S3Sink(s3_client, bucket, eval_key))
    body = _get_object(s3_client, bucket, key, version_id)
    try:
        report = validate_stream(body, key, settings, writer)
    except BaseException:
        writer.abort()
        raise
    finally:
        body.close()
    report.source = f"s3://{bucket}/{key}" + (f"?versionId={version_id}" if version_id else "")
    report = finish_report(report, settings, writer)
    if report.valid:
        writer.commit()
    else:
        writer.abort()
    return _write_report(s3_client, bucket, output_prefix, report)


def _write_report(s3_client, bucket: str, output_prefix: str, report: Report) -> ValidationSummary:
    report_key = f"{output_prefix}validation/report.json"
    markdown_key = f"{output_prefix}validation/report.md"
    s3_client.put_object(
        Bucket=bucket,
        Key=report_key,
        Body=report.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    s3_client.put_object(
        Bucket=bucket,
        Key=markdown_key,
        Body=render_markdown(report).encode(),
        ContentType="text/markdown; charset=utf-8",
    )
    data = f"s3://{bucket}/{output_prefix}data/"
    return ValidationSummary(
        valid=report.valid,
        format=report.format,
        records=report.records,
        valid_records=report.valid_records,
        invalid_records=report.invalid_records,
        errors_by_kind=report.errors_by_kind,
        warnings_count=sum(report.warnings_by_kind.values()),
        estimated_tokens=report.stats.estimated_tokens,
        content_hash=report.content_hash,
        report_uri=f"s3://{bucket}/{report_key}",
        report_markdown_uri=f"s3://{bucket}/{markdown_key}",
        train_uri=f"{data}train.jsonl" if report.valid else None,
        eval_uri=f"{data}eval.jsonl" if report.valid else None,
        train_records=report.train_records if report.valid else 0,
        eval_records=report.eval_records if report.valid else 0,
    )


def plan_slices(size: int, slice_bytes: int = DEFAULT_SLICE_BYTES) -> list[dict[str, int]]:
    """Return byte ranges {"index", "start", "end"} that cover an object of `size` bytes."""
    if slice_bytes < MIN_SLICE_BYTES:
        raise ValueError(f"slice_bytes must be at least {MIN_SLICE_BYTES}; got {slice_bytes}.")
    starts = range(0, max(size, 1), slice_bytes)
    return [
        {"index": index, "start": start, "end": min(start + slice_bytes, size)} for index, start in enumerate(starts)
    ]


def validate_s3_slice(
    s3_client,
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    index: int,
    start: int,
    end: int,
    method,
    max_length: int = 2048,
    eval_fraction: float = 0.1,
    seed: int = 42,
    output_prefix: str,
    **options: Any,
) -> dict[str, Any]:
    """Validate the lines that start in [start, end) of an uncompressed JSONL object.

    Writes the slice report and the slice's normalised records under
    `<output_prefix>validation/slices/`, and returns a small dict for the Map state's result.
    """
    settings = _options(method, max_length, eval_fraction, seed, options)
    report_key, train_key, eval_key = part_keys(output_prefix, index)
    writer = SplitWriter(
        eval_fraction,
        seed,
        S3Sink(s3_client, bucket, train_key),
        S3Sink(s3_client, bucket, eval_key),
        numbered=True,
    )
    body = _get_object(s3_client, bucket, key, version_id, first_byte=max(start - 1, 0))
    try:
        report = validate_stream(body, key, settings, writer, start=start, end=end, file_format="jsonl")
    finally:
        body.close()
    writer.commit()
    s3_client.put_object(Bucket=bucket, Key=report_key, Body=report.model_dump_json().encode())
    return {"index": index, "records": report.records, "invalid_records": report.invalid_records}


def merge_s3_slices(
    s3_client,
    *,
    bucket: str,
    key: str,
    version_id: str | None = None,
    slice_count: int,
    method,
    max_length: int = 2048,
    eval_fraction: float = 0.1,
    seed: int = 42,
    output_prefix: str,
    **options: Any,
) -> ValidationSummary:
    """Merge the slice reports, finish the checks and, when valid, join the slices' records into
    `<output_prefix>data/train.jsonl` and `eval.jsonl`. Returns the same summary as `validate_s3_dataset`."""
    settings = _options(method, max_length, eval_fraction, seed, options)
    reports = []
    for index in range(slice_count):
        report_key, _, _ = part_keys(output_prefix, index)
        body = s3_client.get_object(Bucket=bucket, Key=report_key)["Body"].read()
        reports.append(Report.model_validate_json(body))
    report = merge_reports(reports)
    duplicates = CrossSliceDuplicates(reports)
    writer = joined = None
    if report.valid_records and not (report.train_records and report.eval_records):
        writer = _split_again(s3_client, bucket, output_prefix, slice_count, settings, duplicates)
    if writer is None:
        # Written only while the dataset may still be valid; read in any case to count duplicates.
        write = report.valid_records > 0 and not report.errors_by_kind
        joined = _JoinedSplit(s3_client, bucket, output_prefix, write)
        joined.join(slice_count, duplicates)
        report.train_records -= duplicates.dropped[TRAIN]
        report.eval_records -= duplicates.dropped[EVAL]
    duplicates.add_to(report)
    report = finish_report(report, settings, writer)
    report.source = f"s3://{bucket}/{key}" + (f"?versionId={version_id}" if version_id else "")
    finished = writer if writer is not None else joined
    if not report.valid:
        finished.abort()
        report.content_hash = None
    else:
        finished.commit()
        if joined is not None:  # a writer's hash is already in the report (finish_report)
            report.content_hash = joined.content_hash()
    _delete_parts(s3_client, bucket, output_prefix, slice_count)
    return _write_report(s3_client, bucket, output_prefix, report)


def _split_again(
    s3_client,
    bucket: str,
    output_prefix: str,
    slice_count: int,
    settings: ValidationOptions,
    duplicates: CrossSliceDuplicates,
) -> SplitWriter | None:
    """Return a writer that has received the slices' records again, in slice order, so that
    `finish_report` can balance a split with an empty side as a single pass does. Returns None when
    the records exceed what a single pass holds back (`HOLD_BYTES`), because it would not balance."""
    parts = [(index, split) for split in (TRAIN, EVAL) for index in range(slice_count)]
    keys = {part: part_keys(output_prefix, part[0])[part[1]] for part in parts}
    sizes = [s3_client.head_object(Bucket=bucket, Key=key)["ContentLength"] for key in keys.values()]
    if sum(sizes) > HOLD_BYTES:
        return None
    train_key, eval_key = f"{output_prefix}data/train.jsonl", f"{output_prefix}data/eval.jsonl"
    writer = SplitWriter(
        settings.eval_fraction,
        settings.seed,
        S3Sink(s3_client, bucket, train_key),
        S3Sink(s3_client, bucket, eval_key),
    )
    for (index, split), key in keys.items():
        for lines in part_lines(s3_client, bucket, key):
            writer.write(duplicates.keep(index, split, lines))
    return writer


class _JoinedSplit:
    """train.jsonl and eval.jsonl joined from the slices' parts, less the duplicates across slices;
    nothing is visible until `commit`."""

    def __init__(self, s3_client, bucket: str, output_prefix: str, write: bool) -> None:
        self.s3, self.bucket, self.output_prefix = s3_client, bucket, output_prefix
        self.sinks = {
            split: S3Sink(s3_client, bucket, f"{output_prefix}data/{name}") if write else None
            for split, name in ((TRAIN, "train.jsonl"), (EVAL, "eval.jsonl"))
        }
        self.digests = {TRAIN: hashlib.sha256(), EVAL: hashlib.sha256()}

    def join(self, slice_count: int, duplicates: CrossSliceDuplicates) -> None:
        for split in (TRAIN, EVAL):
            sink, digest = self.sinks[split], self.digests[split]
            for index in range(slice_count):
                key = part_keys(self.output_prefix, index)[split]
                for lines in part_lines(self.s3, self.bucket, key):
                    records = duplicates.keep(index, split, lines)
                    if records and sink is not None:
                        records.append(b"")
                        data = b"\n".join(records)
                        digest.update(data)
                        sink.write(data)

    def content_hash(self) -> str:
        """SHA-256 over the SHA-256 digests of train.jsonl and eval.jsonl, as a single pass computes it."""
        return "sha256:" + hashlib.sha256(self.digests[TRAIN].digest() + self.digests[EVAL].digest()).hexdigest()

    def commit(self) -> None:
        for sink in self.sinks.values():
            if sink is not None:
                sink.commit()

    def abort(self) -> None:
        for sink in self.sinks.values():
            if sink is not None:
                sink.abort()


def _delete_parts(s3_client, bucket: str, output_prefix: str, slice_count: int) -> None:
    for index in range(slice_count):
        _, train_key, eval_key = part_keys(output_prefix, index)
        s3_client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": train_key}, {"Key": eval_key}]})
