"""A large dataset validated by the ValidateDatasetSlices Distributed Map, in the emulated account.

The account is deployed with a lowered slicing threshold, so a few megabytes of JSONL are split
into 2 MiB byte ranges read from the manifest that PlanValidation writes.
"""

from __future__ import annotations

import json

import pytest
from workflow_support import ROOT, data_bucket, entered_states, jobs_of_run, tiny_recipe, upload_run, wait_for_run

from keiko_local.account import LocalAccount

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

SLICE_BYTES = 2 * 1024 * 1024
RECORDS = 20_000


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory):
    parameters = {"ValidationSliceThresholdBytes": 1024 * 1024, "ValidationSliceBytes": SLICE_BYTES}
    with LocalAccount(project_root=ROOT, workdir=tmp_path_factory.mktemp("sliced"), parameters=parameters) as account:
        yield account


def chat_dataset(bad_lines: tuple[int, ...] = ()) -> bytes:
    """Distinct two-turn chats; the records on `bad_lines` (1-based) lack their assistant turn."""
    lines = []
    for number in range(1, RECORDS + 1):
        messages = [{"role": "user", "content": f"How do I export report {number}?"}]
        if number not in bad_lines:
            answer = f"Open Reports, choose report {number}, then Export and pick CSV or PDF. " * 2
            messages.append({"role": "assistant", "content": answer})
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


def read_json(account: LocalAccount, key: str) -> object:
    return json.loads(account.client("s3").get_object(Bucket=data_bucket(account), Key=key)["Body"].read())


def test_invalid_large_dataset_fails_after_merging_slices(account):
    # Given a dataset of several byte ranges with bad records in the first and the last range
    dataset = chat_dataset(bad_lines=(7, RECORDS - 3))
    assert len(dataset) > 2 * SLICE_BYTES
    key = "datasets/large-invalid/support-chat.jsonl"

    # When it is uploaded
    upload_run(account, key, dataset, tiny_recipe(account))
    execution = wait_for_run(account, key)

    # Then the slices were validated by the Distributed Map and merged into one report
    run_id = execution["name"]
    states = entered_states(account, execution["executionArn"])
    assert execution["status"] == "FAILED"
    assert "ValidateDatasetSlices" in states
    assert "MergeDatasetSlices" in states
    assert "ValidateDataset" not in states
    assert "PlanTraining" not in states
    assert jobs_of_run(account, run_id) == []

    manifest = read_json(account, f"runs/{run_id}/validation/slices.json")
    assert len(manifest) == -(-len(dataset) // SLICE_BYTES)
    stepfunctions = account.client("stepfunctions")
    (map_run,) = stepfunctions.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    counts = stepfunctions.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    assert counts["succeeded"] == counts["total"] == len(manifest)
    report = read_json(account, f"runs/{run_id}/validation/report.json")
    assert report["records"] == RECORDS
    assert report["invalid_records"] == 2
    assert sorted(error["line"] for error in report["errors"]) == [7, RECORDS - 3]


def test_valid_large_dataset_reaches_planning(account):
    # Given a valid dataset of several byte ranges and a budget too small to train
    key = "datasets/large-valid/support-chat.jsonl"
    recipe = tiny_recipe(account, budget="budget:\n  max_usd: 0.0001")

    # When it is uploaded
    upload_run(account, key, chat_dataset(), recipe)
    execution = wait_for_run(account, key)

    # Then the merged split has every record and the run went on to planning
    run_id = execution["name"]
    states = entered_states(account, execution["executionArn"])
    assert "MergeDatasetSlices" in states
    assert "PlanTraining" in states, execution.get("cause")
    report = read_json(account, f"runs/{run_id}/validation/report.json")
    assert report["valid"] is True
    assert report["train_records"] + report["eval_records"] == RECORDS
    bucket, s3 = data_bucket(account), account.client("s3")
    lines = sum(
        s3.get_object(Bucket=bucket, Key=f"runs/{run_id}/data/{name}")["Body"].read().count(b"\n")
        for name in ("train.jsonl", "eval.jsonl")
    )
    assert lines == RECORDS
