"""Deploying a SAM template into the emulated account, and the moto fixes that make it run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keiko_local.stack import DeployError, substitute_definition

PROJECT = Path(__file__).parent / "fixtures" / "project"


def _wait_for_object(account, bucket, key, timeout_s=10.0):
    waiter = account.client("s3").get_waiter("object_exists")
    waiter.wait(Bucket=bucket, Key=key, WaiterConfig={"Delay": 0.05, "MaxAttempts": int(timeout_s / 0.05)})
    return json.loads(account.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_resources_by_logical_id(project_account):
    # Given the fixture project deployed
    # When its resources and outputs are read
    bucket = project_account.resource("DataBucket")
    machine = project_account.resource("LifecycleMachine")

    # Then each carries its physical id and ARN, and outputs are resolved
    assert bucket.physical_id == project_account.outputs["DataBucketName"]
    assert bucket.arn == f"arn:aws:s3:::{bucket.physical_id}"
    assert machine.arn == project_account.outputs["LifecycleMachineArn"]
    assert project_account.resource("EchoFunction").arn.endswith(
        ":function:" + project_account.resource("EchoFunction").physical_id
    )


def test_unknown_resource_names_deployed_ones(project_account):
    with pytest.raises(KeyError, match="EchoFunction"):
        project_account.resource("NoSuchFunction")


def test_upload_runs_state_machine(project_account):
    # Given the bucket sends events to EventBridge and a rule starts the machine on datasets/ keys
    bucket = project_account.outputs["DataBucketName"]
    machine_arn = project_account.outputs["LifecycleMachineArn"]
    s3 = project_account.client("s3")
    stepfunctions = project_account.client("stepfunctions")

    # When a dataset with a space and a plus in its name is uploaded
    s3.put_object(Bucket=bucket, Key="datasets/demo/my data+v2.jsonl", Body=b'{"a": 1}\n')

    # Then an execution starts with the S3 event, key encoded as AWS encodes it
    executions = stepfunctions.list_executions(stateMachineArn=machine_arn)["executions"]
    assert len(executions) == 1
    execution_arn = executions[0]["executionArn"]
    started = json.loads(stepfunctions.describe_execution(executionArn=execution_arn)["input"])
    assert started["detail-type"] == "Object Created"
    assert started["detail"]["object"]["key"] == "datasets/demo/my+data%2Bv2.jsonl"
    assert started["detail"]["reason"] == "PutObject"

    # And the task token reached the handler intact ($$ was not turned into $)
    token_record = _wait_for_object(project_account, bucket, f"tokens/{executions[0]['name']}.json")
    assert token_record["token"]
    assert token_record["execution_name"] == executions[0]["name"]

    # When the callback sends task success
    stepfunctions.send_task_success(taskToken=token_record["token"], output=json.dumps({"ok": True}))
    result = project_account.wait_for_execution(execution_arn, timeout_s=30)

    # Then the handler's DatasetInvalid is caught by class name and the run recovers
    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["callback"] == {"ok": True}
    assert output["echo"]["event"]["execution_name"] == executions[0]["name"]
    assert output["error"]["Error"] == "DatasetInvalid"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "line 3: missing field 'response'"


def test_upload_outside_prefix_starts_nothing(project_account):
    bucket = project_account.outputs["DataBucketName"]
    machine_arn = project_account.outputs["LifecycleMachineArn"]
    stepfunctions = project_account.client("stepfunctions")
    before = len(stepfunctions.list_executions(stateMachineArn=machine_arn)["executions"])

    project_account.client("s3").put_object(Bucket=bucket, Key="runs/x/report.json", Body=b"{}")

    after = len(stepfunctions.list_executions(stateMachineArn=machine_arn)["executions"])
    assert after == before


def test_substitution_keeps_context_paths():
    definition = '{"Resource": "${Fn}", "Parameters": {"token.$": "$$.Task.Token", "n": ${Count}}}'

    result = substitute_definition(definition, {"Fn": "arn:aws:lambda:f", "Count": 3}, "Machine")

    assert json.loads(result) == {"Resource": "arn:aws:lambda:f", "Parameters": {"token.$": "$$.Task.Token", "n": 3}}


def test_substitution_names_missing_placeholder():
    with pytest.raises(DeployError, match=r"Machine: placeholder \$\{Missing\}.*defined: Fn"):
        substitute_definition('{"Resource": "${Missing}"}', {"Fn": "x"}, "Machine")


def test_task_failure_keeps_cause(project_account):
    # Given an execution waiting on a task token
    bucket = project_account.outputs["DataBucketName"]
    stepfunctions = project_account.client("stepfunctions")
    project_account.client("s3").put_object(Bucket=bucket, Key="datasets/demo/cause.jsonl", Body=b'{"a": 1}\n')
    machine_arn = project_account.outputs["LifecycleMachineArn"]
    executions = stepfunctions.list_executions(stateMachineArn=machine_arn)["executions"]
    execution = next(
        item
        for item in executions
        if "cause.jsonl" in stepfunctions.describe_execution(executionArn=item["executionArn"])["input"]
    )
    token_record = _wait_for_object(project_account, bucket, f"tokens/{execution['name']}.json")

    # When the callback sends task failure with an error and a cause
    stepfunctions.send_task_failure(
        taskToken=token_record["token"], error="TrainingJobFailed", cause="AlgorithmError: out of memory"
    )
    result = project_account.wait_for_execution(execution["executionArn"], timeout_s=30)

    # Then the execution fails with both
    assert result["status"] == "FAILED"
    assert result["error"] == "TrainingJobFailed"
    assert result["cause"] == "AlgorithmError: out of memory"
