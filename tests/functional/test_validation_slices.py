"""PlanValidation, ValidateDatasetSlice and MergeDatasetSlices on moto: a large dataset validated in
parallel byte ranges gives the same result as one pass."""

from __future__ import annotations

import json

import boto3
import pytest
from keiko.settings import load_settings

from tests.functional.conftest import BUCKET, REGION, load_event, load_handler

SLICE_BYTES = 2 * 1024 * 1024


def chat_dataset(count: int, bad_line: int | None = None) -> bytes:
    lines = []
    for index in range(count):
        answer = {"role": "assistant", "content": f"Open Reports, choose report {index}, then Export. " * 3}
        messages = [{"role": "user", "content": f"How do I export report {index}?"}, answer]
        if index + 1 == bad_line:
            messages = messages[:1]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def large_dataset_run(account, monkeypatch):
    """A run whose 5 MB dataset is above a lowered slicing threshold; one record is invalid."""
    monkeypatch.setenv("KEIKO_VALIDATION_SLICE_THRESHOLD_BYTES", "1")
    monkeypatch.setenv("KEIKO_VALIDATION_SLICE_BYTES", str(SLICE_BYTES))
    load_settings.cache_clear()
    event = load_event("validate_dataset.json")
    body = chat_dataset(25_000, bad_line=20_001)
    assert len(body) > 2 * SLICE_BYTES
    event["version_id"] = boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=event["dataset_key"], Body=body
    )["VersionId"]
    return event


def read_manifest(plan: dict) -> list[dict]:
    location = plan["manifest"]
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=location["bucket"], Key=location["key"])["Body"]
    return json.loads(body.read())


def run_slices(run: dict, lambda_context) -> dict:
    """Run the three stages as the state machine does: plan, each slice from the manifest, merge."""
    plan = load_handler("plan_validation").lambda_handler(run, lambda_context)
    state = {**run, "validation_plan": plan}
    slice_handler = load_handler("validate_dataset_slice")
    for byte_range in read_manifest(plan):
        slice_handler.lambda_handler({"run_id": run["run_id"], "run": state, "slice": byte_range}, lambda_context)
    return load_handler("merge_dataset_slices").lambda_handler(state, lambda_context)


def test_large_dataset_is_planned_in_slices(large_dataset_run, lambda_context):
    plan = load_handler("plan_validation").lambda_handler(large_dataset_run, lambda_context)

    # then the byte ranges are in a manifest under the run, not in the state
    slices = read_manifest(plan)
    assert plan["sliced"] is True
    assert plan["manifest"] == {"bucket": BUCKET, "key": f"runs/{large_dataset_run['run_id']}/validation/slices.json"}
    assert plan["slice_count"] == len(slices) == -(-plan["size"] // SLICE_BYTES)
    assert [item["index"] for item in slices] == list(range(len(slices)))
    assert slices[0]["start"] == 0
    assert slices[-1]["end"] == plan["size"]
    assert all(left["end"] == right["start"] for left, right in zip(slices[:-1], slices[1:], strict=True))
    assert "slices" not in plan


def test_retried_plan_keeps_its_manifest(large_dataset_run, lambda_context):
    # given a plan already made for the run
    handler = load_handler("plan_validation")
    first = handler.lambda_handler(large_dataset_run, lambda_context)
    location = first["manifest"]
    s3 = boto3.client("s3", region_name=REGION)
    versions_before = s3.list_object_versions(Bucket=BUCKET, Prefix=location["key"])["Versions"]

    # when PlanValidation is retried
    second = handler.lambda_handler(large_dataset_run, lambda_context)

    # then it returns the same plan and writes no second version of the manifest
    assert second == first
    assert s3.list_object_versions(Bucket=BUCKET, Prefix=location["key"])["Versions"] == versions_before


def test_different_plan_for_the_same_run_is_refused(large_dataset_run, lambda_context, monkeypatch):
    from keiko.validation_plan import ManifestConflict

    # given a plan already made for the run
    handler = load_handler("plan_validation")
    first = handler.lambda_handler(large_dataset_run, lambda_context)

    # when the slice size changes before a retry
    monkeypatch.setenv("KEIKO_VALIDATION_SLICE_BYTES", str(2 * SLICE_BYTES))
    load_settings.cache_clear()

    # then the retry names the manifest and leaves it as it was
    with pytest.raises(ManifestConflict, match="different slice plan"):
        handler.lambda_handler(large_dataset_run, lambda_context)
    assert read_manifest(first)[1]["start"] == SLICE_BYTES


def test_slices_merge_like_one_pass(large_dataset_run, lambda_context):
    # given the same dataset validated in slices and in one pass (under another run prefix)
    sliced = run_slices(large_dataset_run, lambda_context)
    whole = load_handler("validate_dataset").lambda_handler(
        {**large_dataset_run, "run_id": "demo-whole-000000000000"}, lambda_context
    )

    # then both find every record and the one invalid record
    assert sliced["records"] == whole["records"] == 25_000
    assert sliced["invalid_records"] == whole["invalid_records"] == 1
    assert sliced["valid"] is whole["valid"] is False
    assert sliced["report_uri"].endswith(f"runs/{large_dataset_run['run_id']}/validation/report.json")


def test_small_dataset_is_validated_in_one_pass(account, lambda_context):
    event = load_event("validate_dataset.json")
    event["version_id"] = boto3.client("s3", region_name=REGION).put_object(
        Bucket=BUCKET, Key=event["dataset_key"], Body=chat_dataset(10)
    )["VersionId"]

    plan = load_handler("plan_validation").lambda_handler(event, lambda_context)

    assert plan == {"size": len(chat_dataset(10)), "sliced": False, "slice_count": 0}


def test_missing_dataset_version_is_named(account, lambda_context):
    from keiko.validation_plan import DatasetNotFound

    event = load_event("validate_dataset.json")

    with pytest.raises(DatasetNotFound, match="upload the dataset again"):
        load_handler("plan_validation").lambda_handler(event, lambda_context)
