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


def run_slices(run: dict, lambda_context) -> dict:
    """Run the three stages as the state machine does: plan, each slice, merge."""
    plan = load_handler("plan_validation").lambda_handler(run, lambda_context)
    state = {**run, "validation_plan": plan}
    slice_handler = load_handler("validate_dataset_slice")
    for byte_range in plan["slices"]:
        slice_handler.lambda_handler({"run_id": run["run_id"], "run": state, "slice": byte_range}, lambda_context)
    return load_handler("merge_dataset_slices").lambda_handler(state, lambda_context)


def test_large_dataset_is_planned_in_slices(large_dataset_run, lambda_context):
    plan = load_handler("plan_validation").lambda_handler(large_dataset_run, lambda_context)

    assert plan["sliced"] is True
    assert len(plan["slices"]) == -(-plan["size"] // SLICE_BYTES)
    assert plan["slices"][0]["start"] == 0
    assert plan["slices"][-1]["end"] == plan["size"]


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

    assert plan["sliced"] is False
    assert plan["slices"] == []


def test_missing_dataset_version_is_named(account, lambda_context):
    from keiko.validation_plan import DatasetNotFound

    event = load_event("validate_dataset.json")

    with pytest.raises(DatasetNotFound, match="upload the dataset again"):
        load_handler("plan_validation").lambda_handler(event, lambda_context)
