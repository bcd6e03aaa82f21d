"""The whole lifecycle from one S3 upload, in the emulated account, with real training on a tiny model."""

from __future__ import annotations

import json

import pytest
from workflow_support import (
    DEMO_DATASET,
    data_bucket,
    entered_states,
    executions_for,
    jobs_of_run,
    model_section,
    run_record,
    tiny_recipe,
    upload_run,
    wait_for_run,
)

# One worker runs every workflow test: an account is process-wide and costly to deploy.
pytestmark = [pytest.mark.workflow, pytest.mark.training, pytest.mark.xdist_group("workflow")]

EVERY_STAGE = [
    "ValidateDataset",
    "PlanTraining",
    "TrainModel",
    "EvaluateCheckpoint",
    "CompareCheckpoints",
    "GenerateResponses",
    "JudgeResponses",
    "TrainPreferenceModel",
    "EvaluatePreferenceModel",
    "ComparePreferenceCheckpoints",
    "RegisterModel",
    "NotifyRunSucceeded",
]
INVALID_DATASET = (
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'
    b'{"messages": [{"role": "user", "content": "Where is my bike?"}]}\n'
    b'{"messages": "not a list"}\n'
)


def test_upload_runs_every_stage(account):
    # Given a recipe and a chat dataset uploaded under datasets/
    key = "datasets/happy/support-chat.jsonl"

    # When the dataset upload starts a run
    upload_run(account, key, DEMO_DATASET.read_bytes(), tiny_recipe(account))
    execution = wait_for_run(account, key)

    # Then every stage ran and the run succeeded with a registered model package
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    states = entered_states(account, execution["executionArn"])
    for stage in EVERY_STAGE:
        assert stage in states, f"{stage} never ran; states: {states}"
    assert "MarkRunFailed" not in states

    record = run_record(account, execution["name"])
    assert record["status"] == "SUCCEEDED"
    packages = account.client("sagemaker").list_model_packages(ModelPackageGroupName="keiko-happy")
    assert len(packages["ModelPackageSummaryList"]) == 1

    # And held-out loss after training is lower than before
    output = json.loads(execution["output"])
    evaluation = output["evaluation"]
    assert evaluation["candidate_eval_loss"] < evaluation["base_eval_loss"]


def test_failed_training_job_fails_run(account):
    # Given a recipe whose base model location contains no model
    key = "datasets/broken-model/support-chat.jsonl"
    recipe = tiny_recipe(account, model=model_section(f"s3://{data_bucket(account)}/models/missing/"))

    # When the run reaches training
    upload_run(account, key, DEMO_DATASET.read_bytes(), recipe)
    execution = wait_for_run(account, key)

    # Then the run failed with the job's failure reason and no later stage ran
    assert execution["status"] == "FAILED"
    states = entered_states(account, execution["executionArn"])
    assert "TrainModel" in states
    assert "EvaluateCheckpoint" not in states
    assert "RegisterModel" not in states

    jobs = jobs_of_run(account, execution["name"])
    assert len(jobs) == 1
    job = account.training_job(jobs[0])
    assert job.status == "Failed"
    assert job.failure_reason
    record = run_record(account, execution["name"])
    assert record["status"] == "FAILED"
    assert job.failure_reason[:60] in json.dumps(record)


def test_duplicate_s3_event_starts_one_run(account):
    # Given a dataset upload whose Object Created event reached EventBridge once
    key = "datasets/duplicates/support-chat.jsonl"
    upload_run(account, key, INVALID_DATASET, tiny_recipe(account))
    delivered = [delivery["input"] for delivery in account.delivered_events if _object_key(delivery["input"]) == key]
    assert len(delivered) == 1
    event = delivered[0]

    # When EventBridge delivers the same event twice more
    for _ in range(2):
        account.client("events").put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )

    # Then exactly one execution exists for the object
    wait_for_run(account, key)
    assert len(executions_for(account, key)) == 1


def test_folder_marker_starts_no_run(account):
    # Given the console's "create folder" marker: an empty object whose key ends in "/"
    key = "datasets/folder-marker/"

    # When it is uploaded
    account.client("s3").put_object(Bucket=data_bucket(account), Key=key, Body=b"")

    # Then intake received it and started no run
    received = [d for d in account.delivered_events if key in json.dumps(d["input"])]
    assert received, "the Object Created event never reached intake"
    assert executions_for(account, key) == []


def test_invalid_dataset_stops_before_training(account):
    # Given a chat dataset with a missing assistant turn and a malformed record
    key = "datasets/invalid/support-chat.jsonl"

    # When it is uploaded
    upload_run(account, key, INVALID_DATASET, tiny_recipe(account))
    execution = wait_for_run(account, key)

    # Then the run failed at validation, the report is in S3 and no training job was created
    assert execution["status"] == "FAILED"
    states = entered_states(account, execution["executionArn"])
    assert "PlanTraining" not in states
    assert "TrainModel" not in states
    assert jobs_of_run(account, execution["name"]) == []

    report_key = f"runs/{execution['name']}/validation/report.json"
    report = json.loads(account.client("s3").get_object(Bucket=data_bucket(account), Key=report_key)["Body"].read())
    assert report["valid"] is False
    assert report["invalid_records"] == 2


def test_encoded_key_decoded_once(account):
    # Given a dataset key with spaces, a plus sign and non-ASCII characters, which S3 events URL-encode
    key = "datasets/encoded/support chat+v2 日本語.jsonl"
    recipe = tiny_recipe(account, budget="budget:\n  max_usd: 0.0001")

    # When it is uploaded (the tiny budget stops the run right after validation and planning)
    upload_run(account, key, DEMO_DATASET.read_bytes(), recipe)
    execution = wait_for_run(account, key)

    # Then the run read the object under its decoded key exactly
    assert json.loads(execution["input"])["dataset_key"] == key
    states = entered_states(account, execution["executionArn"])
    assert "PlanTraining" in states, f"validation did not read the object: {execution.get('cause')}"
    assert "TrainModel" not in states
    assert execution["status"] == "FAILED"


def _object_key(event: object) -> str | None:
    """Return the decoded object key of an EventBridge S3 event, or None for other events."""
    from urllib.parse import unquote_plus

    if not isinstance(event, dict) or event.get("source") != "aws.s3":
        return None
    return unquote_plus(event["detail"]["object"]["key"])
