"""Validate datasets stored in S3 (moto) and check the objects written back."""

from __future__ import annotations

import json

import boto3
import pytest
from keiko.datasets import merge_s3_slices, plan_slices, validate_s3_dataset, validate_s3_slice
from keiko.recipe import Method
from moto import mock_aws

BUCKET = "keiko-data"
PREFIX = "runs/support-chat-0123456789ab/"


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def chat_lines(count: int, bad_line: int | None = None) -> bytes:
    lines = []
    for index in range(count):
        record = {
            "messages": [
                {"role": "user", "content": f"Question {index}: how do I export data?"},
                {"role": "assistant", "content": f"Answer {index}: Settings, Privacy, Export."},
            ]
        }
        if index + 1 == bad_line:
            record["messages"][1]["role"] = "user"
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def read(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_valid_dataset_writes_report_and_split(s3):
    # Given a versioned chat dataset in S3
    version = s3.put_object(Bucket=BUCKET, Key="datasets/support/chat.jsonl", Body=chat_lines(200))["VersionId"]
    # When the handler's entry point validates it
    summary = validate_s3_dataset(
        s3,
        bucket=BUCKET,
        key="datasets/support/chat.jsonl",
        version_id=version,
        method=Method.SFT,
        max_length=2048,
        eval_fraction=0.1,
        seed=42,
        output_prefix=PREFIX,
    )
    # Then the summary is small and valid, and report, Markdown and split objects exist
    assert summary.valid
    assert summary.format == "messages"
    assert summary.records == summary.valid_records == 200
    assert summary.train_records + summary.eval_records == 200
    assert 5 <= summary.eval_records <= 40
    assert summary.report_uri == f"s3://{BUCKET}/{PREFIX}validation/report.json"
    assert summary.train_uri == f"s3://{BUCKET}/{PREFIX}data/train.jsonl"
    assert len(summary.model_dump_json()) < 2048

    report = json.loads(read(s3, f"{PREFIX}validation/report.json"))
    assert report["source"] == f"s3://{BUCKET}/datasets/support/chat.jsonl?versionId={version}"
    assert report["content_hash"] == summary.content_hash
    assert "**VALID**" in read(s3, f"{PREFIX}validation/report.md").decode()

    train = read(s3, f"{PREFIX}data/train.jsonl").splitlines()
    evaluation = read(s3, f"{PREFIX}data/eval.jsonl").splitlines()
    assert len(train) == summary.train_records
    assert len(evaluation) == summary.eval_records
    assert set(json.loads(train[0])) == {"messages"}


def test_invalid_dataset_writes_report_only(s3):
    s3.put_object(Bucket=BUCKET, Key="datasets/support/chat.jsonl", Body=chat_lines(50, bad_line=17))
    summary = validate_s3_dataset(
        s3,
        bucket=BUCKET,
        key="datasets/support/chat.jsonl",
        method="sft",
        output_prefix=PREFIX,
    )
    assert not summary.valid
    assert summary.errors_by_kind == {"bad_turn_order": 1}
    assert summary.train_uri is None
    report = json.loads(read(s3, f"{PREFIX}validation/report.json"))
    assert report["errors"][0]["line"] == 17
    assert report["errors"][0]["field"] == "messages[1].role"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}data/").get("KeyCount", 0)
    assert listed == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_large_output_uses_multipart(s3):
    # Given a dataset whose training split is larger than one 8 MiB part
    body = chat_lines(150_000)
    s3.put_object(Bucket=BUCKET, Key="datasets/support/big.jsonl", Body=body)
    summary = validate_s3_dataset(
        s3, bucket=BUCKET, key="datasets/support/big.jsonl", method="sft", output_prefix=PREFIX
    )
    assert summary.valid
    head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}data/train.jsonl")
    assert "-" in head["ETag"]  # multipart ETags end in -<part count>
    assert len(read(s3, f"{PREFIX}data/train.jsonl").splitlines()) == summary.train_records


def test_slices_merge_like_one_pass(s3):
    # Given a 4.9 MB dataset with one bad record, validated whole and as five 1 MiB slices
    body = chat_lines(30_000, bad_line=25_001)
    s3.put_object(Bucket=BUCKET, Key="datasets/support/big.jsonl", Body=body)
    common = {"bucket": BUCKET, "key": "datasets/support/big.jsonl", "method": "sft"}
    whole = validate_s3_dataset(s3, output_prefix="runs/whole/", **common)
    slices = plan_slices(len(body), slice_bytes=1024 * 1024)
    assert len(slices) == 5
    for item in slices:
        validate_s3_slice(s3, output_prefix="runs/sliced/", **item, **common)
    # When the slices are merged
    merged = merge_s3_slices(s3, slice_count=len(slices), output_prefix="runs/sliced/", **common)
    # Then the summary matches the single pass, with the error at its file line
    assert merged.records == whole.records == 30_000
    assert merged.errors_by_kind == whole.errors_by_kind == {"bad_turn_order": 1}
    report = json.loads(read(s3, "runs/sliced/validation/report.json"))
    assert report["errors"][0]["line"] == 25_001


def test_sliced_valid_dataset_joins_split(s3):
    body = chat_lines(20_000)
    s3.put_object(Bucket=BUCKET, Key="datasets/support/big.jsonl", Body=body)
    common = {"bucket": BUCKET, "key": "datasets/support/big.jsonl", "method": "sft"}
    whole = validate_s3_dataset(s3, output_prefix="runs/whole/", **common)
    slices = plan_slices(len(body), slice_bytes=1024 * 1024)
    for item in slices:
        validate_s3_slice(s3, output_prefix="runs/sliced/", **item, **common)
    merged = merge_s3_slices(s3, slice_count=len(slices), output_prefix="runs/sliced/", **common)
    assert merged.valid
    assert merged.content_hash == whole.content_hash
    assert read(s3, "runs/sliced/data/eval.jsonl") == read(s3, "runs/whole/data/eval.jsonl")


def test_duplicates_only_dataset_is_invalid(s3):
    # Given six identical records: one distinct record cannot fill both train and evaluation
    line = chat_lines(1)
    s3.put_object(Bucket=BUCKET, Key="datasets/support/same.jsonl", Body=line * 6)
    # When it is validated
    summary = validate_s3_dataset(
        s3, bucket=BUCKET, key="datasets/support/same.jsonl", method="sft", output_prefix=PREFIX
    )
    # Then the summary is invalid, so the lifecycle stops before training, and no data is written
    assert not summary.valid
    assert summary.errors_by_kind == {"empty_split": 1}
    assert summary.train_uri is None
    report = json.loads(read(s3, f"{PREFIX}validation/report.json"))
    message = report["errors"][0]["message"]
    assert "train 0, evaluation 1" in message
    assert "after dropping 5 duplicates" in message
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}data/").get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_sliced_split_moves_record_like_one_pass(s3):
    # Given a 1.2 MB dataset and an eval_fraction that puts none of its records in evaluation
    body = chat_lines(8_000)
    s3.put_object(Bucket=BUCKET, Key="datasets/support/big.jsonl", Body=body)
    common = {"bucket": BUCKET, "key": "datasets/support/big.jsonl", "method": "sft", "eval_fraction": 1e-9}
    whole = validate_s3_dataset(s3, output_prefix="runs/whole/", **common)
    slices = plan_slices(len(body), slice_bytes=1024 * 1024)
    assert len(slices) == 2
    for item in slices:
        validate_s3_slice(s3, output_prefix="runs/sliced/", **item, **common)
    # When the slices are merged
    merged = merge_s3_slices(s3, slice_count=len(slices), output_prefix="runs/sliced/", **common)
    # Then both hold out the same single record for evaluation
    assert whole.valid
    assert merged.valid
    assert (merged.train_records, merged.eval_records) == (whole.train_records, whole.eval_records) == (7_999, 1)
    assert read(s3, "runs/sliced/data/eval.jsonl") == read(s3, "runs/whole/data/eval.jsonl")
    assert merged.content_hash == whole.content_hash
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/sliced/validation/slices/").get("KeyCount", 0) == 2


def validate_whole_and_sliced(s3, body: bytes, **options) -> tuple:
    """Validate `body` in one pass and in 1 MiB slices; return both summaries and both reports."""
    s3.put_object(Bucket=BUCKET, Key="datasets/support/big.jsonl", Body=body)
    common = {"bucket": BUCKET, "key": "datasets/support/big.jsonl", **options}
    whole = validate_s3_dataset(s3, output_prefix="runs/whole/", **common)
    slices = plan_slices(len(body), slice_bytes=1024 * 1024)
    assert len(slices) >= 2
    for item in slices:
        validate_s3_slice(s3, output_prefix="runs/sliced/", **item, **common)
    merged = merge_s3_slices(s3, slice_count=len(slices), output_prefix="runs/sliced/", **common)
    reports = [json.loads(read(s3, f"runs/{name}/validation/report.json")) for name in ("whole", "sliced")]
    return whole, merged, *reports


def duplicate_lines(report: dict) -> list[int]:
    return [example["line"] for example in report["warnings"] if example["kind"] == "duplicates_dropped"]


def test_cross_slice_duplicates_dropped_like_one_pass(s3):
    # Given 20,000 chats whose last 40 repeat chats of the first slice, and one repeat inside a slice
    lines = chat_lines(20_000).splitlines(keepends=True)
    lines[19_960:] = lines[100:140]
    lines[11] = lines[10]
    body = b"".join(lines)

    # When it is validated in one pass and in slices
    whole, merged, whole_report, merged_report = validate_whole_and_sliced(s3, body, method="sft")

    # Then the slices drop the same 41 duplicates and write the same split
    assert whole.valid and merged.valid
    assert whole_report["stats"]["duplicates"] == merged_report["stats"]["duplicates"] == 41
    assert merged.warnings_count == whole.warnings_count
    assert duplicate_lines(merged_report) == duplicate_lines(whole_report) == [12, 19_961, 19_962, 19_963, 19_964]
    assert (merged.train_records, merged.eval_records) == (whole.train_records, whole.eval_records)
    assert merged.train_records + merged.eval_records == 20_000 - 41
    assert read(s3, "runs/sliced/data/train.jsonl") == read(s3, "runs/whole/data/train.jsonl")
    assert merged.content_hash == whole.content_hash
    assert merged_report["stats"]["bytes_read"] == whole_report["stats"]["bytes_read"] == len(body)


def test_kto_labels_skip_cross_slice_duplicates(s3):
    # Given KTO records whose last 30 repeat undesirable records of the first slice
    records = [
        {
            "prompt": f"Question {index}: how do I export data?",
            "completion": f"Answer {index}.",
            "label": index % 3 != 0,
        }
        for index in range(24_000)
    ]
    lines = [json.dumps(record).encode() + b"\n" for record in records]
    lines[23_970:] = [lines[index] for index in range(0, 90, 3)]

    # When it is validated in one pass and in slices
    whole, merged, whole_report, merged_report = validate_whole_and_sliced(s3, b"".join(lines), method="kto")

    # Then the label counts leave out the 30 duplicates in both
    assert merged_report["label_counts"] == whole_report["label_counts"]
    # (8,000 undesirable, less the 10 the repeats replaced; the 30 repeats are dropped)
    assert whole_report["label_counts"]["false"] == 8_000 - 10
    assert merged.content_hash == whole.content_hash


def test_invalid_slices_count_cross_slice_duplicates(s3):
    # Given a dataset with one bad record and 10 records repeating records of the first slice
    lines = chat_lines(20_000, bad_line=5).splitlines(keepends=True)
    lines[19_990:] = lines[200:210]

    # When it is validated in one pass and in slices
    whole, merged, whole_report, merged_report = validate_whole_and_sliced(s3, b"".join(lines), method="sft")

    # Then both count the duplicates, and the slices write no training data
    assert not merged.valid
    assert merged_report["stats"]["duplicates"] == whole_report["stats"]["duplicates"] == 10
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/sliced/data/").get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
