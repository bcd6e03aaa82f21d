"""Intake handler on moto with the S3 and schedule events from events/."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.functional.conftest import BUCKET, REGION, load_event, load_handler, published_messages

DEMO_KEY = "datasets/demo/support-chat.jsonl"
ODD_KEY = "datasets/support/customer chats+v2 日本語.jsonl"
RECIPE = b"method: sft\nmodel:\n  base: HuggingFaceTB/SmolLM2-135M-Instruct\n"


@pytest.fixture
def intake(account):
    return load_handler("intake")


def put(key: str, body: bytes) -> str:
    return boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]


def executions(account) -> list[dict]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.list_executions(stateMachineArn=account.state_machine_arn)["executions"]


def execution_input(execution: dict) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def run_record(run_id: str) -> dict:
    from keiko.runs import RunStore

    return RunStore("keiko-runs").get_run(run_id)


def test_intake_three_deliveries_start_one_execution(account, intake, lambda_context):
    # given a recipe and the Object Created event of one dataset version
    put("datasets/demo/support-chat.keiko.yaml", RECIPE)
    event = load_event("s3-object-created.json")

    # when EventBridge delivers the event three times
    results = [intake.lambda_handler(event, lambda_context)["runs"][0] for _ in range(3)]

    # then one execution exists, named by the run id, and later deliveries are duplicates
    assert len(executions(account)) == 1
    assert executions(account)[0]["name"] == results[0]["run_id"]
    assert [result["outcome"] for result in results] == ["started", "duplicate", "duplicate"]
    assert run_record(results[0]["run_id"])["status"] == "RUNNING"


def test_intake_ignores_console_folder_marker(account, intake, lambda_context):
    result = intake.lambda_handler(load_event("s3-folder-marker.json"), lambda_context)["runs"][0]

    assert result["outcome"] == "skipped"
    assert result["reason"] == "console folder marker"
    assert executions(account) == []


@pytest.mark.parametrize("event_file", ["s3-object-created-encoded-key.json", "s3-notification-object-created.json"])
def test_intake_decodes_key_once(account, intake, lambda_context, event_file):
    # given a recipe beside a dataset whose key has spaces, a plus sign and Japanese characters
    put("datasets/support/keiko.yaml", RECIPE)
    event = load_event(event_file)

    # when the URL-encoded event arrives
    result = intake.lambda_handler(event, lambda_context)["runs"][0]

    # then the execution input carries the key exactly as uploaded
    assert result["outcome"] == "started"
    run_input = execution_input(executions(account)[0])
    assert run_input["dataset_key"] == ODD_KEY
    assert run_input["name"] == "customer chats+v2 日本語"
    assert run_input["recipe_key"] == "datasets/support/keiko.yaml"
    assert run_input["version_id"] == "Wd8Ujz8mzWkRC4iUiH5Bc"
    assert result["run_id"].startswith("support-customer-chats-v2-")


def test_intake_prefers_the_named_recipe(account, intake, lambda_context):
    put("datasets/demo/keiko.yaml", b"method: dpo\nmodel:\n  base: org/model-1B\n")
    put("datasets/demo/support-chat.keiko.yaml", RECIPE)

    intake.lambda_handler(load_event("s3-object-created.json"), lambda_context)

    run_input = execution_input(executions(account)[0])
    assert run_input["recipe_key"] == "datasets/demo/support-chat.keiko.yaml"
    assert run_input["recipe"]["method"] == "sft"


def test_intake_missing_recipe_is_recorded_and_published(account, intake, lambda_context):
    # given a dataset event with no recipe in the project
    event = load_event("s3-object-created.json")

    # when intake handles it
    result = intake.lambda_handler(event, lambda_context)["runs"][0]

    # then no execution starts, and the run record and the SNS message name the recipe keys to upload
    assert executions(account) == []
    assert result["outcome"] == "rejected"
    record = run_record(result["run_id"])
    assert record["status"] == "FAILED"
    assert record["error"] == "RecipeNotFound"
    assert "datasets/demo/support-chat.keiko.yaml" in record["cause"]
    assert "datasets/demo/keiko.yaml" in record["cause"]
    messages = published_messages(account)
    assert len(messages) == 1
    assert "datasets/demo/keiko.yaml" in messages[0]


def test_intake_invalid_recipe_names_the_field(account, intake, lambda_context):
    put("datasets/demo/keiko.yaml", b"method: sft\nmodel:\n  base: org/model\nbudget:\n  max_usd: -5\n")

    result = intake.lambda_handler(load_event("s3-object-created.json"), lambda_context)["runs"][0]

    assert result["outcome"] == "rejected"
    assert result["error"] == "RecipeError"
    assert "budget.max_usd" in result["cause"]
    assert "s3://keiko-databucket-example/datasets/demo/keiko.yaml" in result["cause"]
    assert executions(account) == []


def test_intake_schedule_uses_the_current_dataset_version(account, intake, lambda_context):
    # given a dataset and its recipe, and the schedule rule's event naming the dataset
    version = put(DEMO_KEY, b'{"messages": []}\n')
    put("datasets/demo/keiko.yaml", RECIPE)

    # when the schedule fires twice with no new upload in between
    first = intake.lambda_handler(load_event("scheduled-event.json"), lambda_context)["runs"][0]
    second = intake.lambda_handler(load_event("scheduled-event.json"), lambda_context)["runs"][0]

    # then one run starts, for the current version
    assert first["outcome"] == "started"
    assert second["outcome"] == "duplicate"
    assert execution_input(executions(account)[0])["version_id"] == version
    assert execution_input(executions(account)[0])["trigger"] == "schedule"


def test_intake_schedule_for_missing_dataset_fails_clearly(account, intake, lambda_context):
    with pytest.raises(ValueError, match="datasets/demo/support-chat.jsonl does not exist"):
        intake.lambda_handler(load_event("scheduled-event.json"), lambda_context)


def test_intake_rejects_unknown_event(account, intake, lambda_context):
    from keiko.s3events import UnsupportedEvent

    with pytest.raises(UnsupportedEvent, match="detail-type 'Object Deleted'"):
        intake.lambda_handler({"detail-type": "Object Deleted", "detail": {}}, lambda_context)
