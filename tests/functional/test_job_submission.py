"""SubmitTrainingJob against moto's CreateTrainingJob, and TrainingJobCallback against a real
`.waitForTaskToken` wait in moto's executing Step Functions engine."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from keiko import aws
from keiko.runs import RunStore
from keiko.settings import load_settings
from moto import mock_aws

from tests.functional.conftest import BUCKET, REGION, create_resources, load_event, load_handler, wait_for

CODE_KEY = "code/keiko-training/sourcedir.tar.gz"


def test_submit_creates_job_and_stores_token(account, lambda_context):
    # given the training code in the bucket and a planned run
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=b"code")
    event = load_event("submit_training_job.json")

    # when SubmitTrainingJob runs for the train stage
    result = load_handler("submit_training_job").lambda_handler(event, lambda_context)

    # then SageMaker accepted the job as built, the token waits under the job name, and the code is pinned
    job_name = result["job_name"]
    assert job_name == "keiko-demo-support-chat-36bbab24db9a-train-1"
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=job_name)
    run_prefix = f"s3://{BUCKET}/runs/{event['run_id']}/"
    assert job["HyperParameters"]["sagemaker_program"] == "train.py"
    assert job["HyperParameters"]["sagemaker_submit_directory"] == f"{run_prefix}code/sourcedir.tar.gz"
    assert job["HyperParameters"]["method"] == "sft"
    assert job["OutputDataConfig"]["S3OutputPath"] == f"{run_prefix}jobs/"
    assert job["CheckpointConfig"]["S3Uri"] == f"{run_prefix}checkpoints/{job_name}/"
    assert {channel["ChannelName"] for channel in job["InputDataConfig"]} == {"train", "validation"}
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert job["StoppingCondition"]["MaxWaitTimeInSeconds"] >= job["StoppingCondition"]["MaxRuntimeInSeconds"]
    token = RunStore("keiko-runs").get_task_token(job_name)
    assert token["task_token"] == event["task_token"]
    assert token["expires_at"] > 0
    assert s3.get_object(Bucket=BUCKET, Key=f"runs/{event['run_id']}/code/sourcedir.tar.gz")["Body"].read() == b"code"


def test_submit_retry_waits_for_earlier_job(account, lambda_context):
    # Given an attempt whose CreateTrainingJob succeeded before the invocation failed
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=CODE_KEY, Body=b"code")
    event = load_event("submit_training_job.json")
    handler = load_handler("submit_training_job")
    first = handler.lambda_handler(event, lambda_context)

    # When the state retries with a new task token
    retried = handler.lambda_handler({**event, "attempt": 1, "task_token": "retry-token"}, lambda_context)

    # Then no second job starts: the retry takes over the first job, whose token is now the new one
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert retried["job_name"] == first["job_name"]
    assert retried["adopted"] is True
    assert len(sagemaker.list_training_jobs()["TrainingJobSummaries"]) == 1
    assert RunStore("keiko-runs").get_task_token(first["job_name"])["task_token"] == "retry-token"


def test_submit_retry_after_failed_create_uses_next_name(account, lambda_context):
    # Given a first attempt that never created its job
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=CODE_KEY, Body=b"code")
    event = load_event("submit_training_job.json")

    # When the retry runs
    retried = load_handler("submit_training_job").lambda_handler({**event, "attempt": 1}, lambda_context)

    # Then it creates the job under the next attempt's name
    assert retried["job_name"].endswith("-train-2")


def test_submit_without_training_code_fails(account, lambda_context):
    from keiko.errors import TrainingJobSubmissionFailed

    with pytest.raises(TrainingJobSubmissionFailed, match="keiko.packaging"):
        load_handler("submit_training_job").lambda_handler(load_event("submit_training_job.json"), lambda_context)


def test_submit_preference_job_starts_from_the_trained_adapter(account, lambda_context):
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=CODE_KEY, Body=b"code")
    event = load_event("submit_training_job.json")
    judged = load_event("judge_responses.json")
    run = {
        **judged,
        "plan": event["run"]["plan"],
        "preference": {
            "iteration": 1,
            "pairs_uri": f"s3://{BUCKET}/runs/x/preference/iteration-1/pairs.jsonl",
            "pairs": 8,
            "skipped": 0,
            "judge_model_id": "judge",
        },
    }

    result = load_handler("submit_training_job").lambda_handler({**event, "stage": "dpo", "run": run}, lambda_context)

    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=result["job_name"])
    channels = {
        channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"] for channel in job["InputDataConfig"]
    }
    assert job["HyperParameters"]["method"] == "dpo"
    assert channels["model"] == judged["training"]["model_artifacts"]
    assert channels["train"].endswith("preference/iteration-1/pairs.jsonl")


# ---------------------------------------------------------------- callback with a real task-token wait

WAITING_MACHINE = {
    "StartAt": "TrainModel",
    "States": {
        "TrainModel": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl.$": "$.queue_url", "MessageBody": {"task_token.$": "$$.Task.Token"}},
            "TimeoutSeconds": 300,
            "End": True,
        }
    },
}


@pytest.fixture
def waiting_execution(aws_environment, monkeypatch):
    """A running execution whose TrainModel state waits on a token, stored under the sample job name."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        resources = create_resources()
        monkeypatch.setenv("KEIKO_TOPIC_ARN", resources.topic_arn)
        aws.reset_clients()
        load_settings.cache_clear()
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="waiting",
            definition=json.dumps(WAITING_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/states",
        )["stateMachineArn"]
        execution_arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"queue_url": queue_url}))[
            "executionArn"
        ]
        message = wait_for(
            lambda: sqs.receive_message(QueueUrl=queue_url).get("Messages"), "the waiting state's message"
        )[0]
        token = json.loads(message["Body"])["task_token"]
        job_name = load_event("sagemaker-training-job-completed.json")["detail"]["TrainingJobName"]
        RunStore("keiko-runs").put_task_token(job_name, token, "demo-support-chat-36bbab24db9a", "train", 30)
        yield sfn, execution_arn


def finished(sfn, execution_arn: str) -> dict | None:
    description = sfn.describe_execution(executionArn=execution_arn)
    return description if description["status"] != "RUNNING" else None


def test_callback_completed_resumes_with_artifacts(waiting_execution, lambda_context):
    sfn, execution_arn = waiting_execution
    callback = load_handler("training_job_callback")

    # when the job's Completed event arrives
    result = callback.lambda_handler(load_event("sagemaker-training-job-completed.json"), lambda_context)

    # then the waiting state succeeds with the job's artifacts and final metrics
    assert result["action"] == "task_success"
    description = wait_for(lambda: finished(sfn, execution_arn), "the execution to finish")
    assert description["status"] == "SUCCEEDED"
    output = json.loads(description["output"])
    assert output["model_artifacts"].endswith("/jobs/keiko-demo-support-chat-36bbab24db9a-train-1/output/model.tar.gz")
    assert output["final_metrics"] == {"train_loss": 1.64, "eval_loss": 1.82}


def test_callback_failed_sends_task_failure(waiting_execution, lambda_context):
    sfn, execution_arn = waiting_execution

    result = load_handler("training_job_callback").lambda_handler(
        load_event("sagemaker-training-job-failed.json"), lambda_context
    )

    assert result["action"] == "task_failure"
    description = wait_for(lambda: finished(sfn, execution_arn), "the execution to finish")
    assert description["status"] == "FAILED"
    assert description["error"] == "TrainingJobFailed"


def test_callback_ignores_in_progress_and_repeats(waiting_execution, lambda_context):
    sfn, execution_arn = waiting_execution
    callback = load_handler("training_job_callback")

    in_progress = callback.lambda_handler(load_event("sagemaker-training-job-in-progress.json"), lambda_context)
    assert in_progress["action"] == "ignored"
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    first = callback.lambda_handler(load_event("sagemaker-training-job-completed.json"), lambda_context)
    repeat = callback.lambda_handler(load_event("sagemaker-training-job-completed.json"), lambda_context)
    late_failure = callback.lambda_handler(load_event("sagemaker-training-job-failed.json"), lambda_context)

    assert first["action"] == "task_success"
    assert repeat == {**repeat, "action": "ignored", "reason": "already handled"}
    assert late_failure["action"] == "ignored"
    assert wait_for(lambda: finished(sfn, execution_arn), "the execution to finish")["status"] == "SUCCEEDED"


def test_callback_ignores_jobs_without_token(account, lambda_context):
    event = load_event("sagemaker-training-job-completed.json")
    event["detail"]["TrainingJobName"] = "keiko-someone-else-train-1"

    result = load_handler("training_job_callback").lambda_handler(event, lambda_context)

    assert result == {
        "job_name": "keiko-someone-else-train-1",
        "action": "ignored",
        "reason": "no task token",
    }


def test_callback_ignores_gone_token(waiting_execution, lambda_context):
    # given a stored token Step Functions does not know, so SendTaskSuccess raises InvalidToken
    job_name = load_event("sagemaker-training-job-completed.json")["detail"]["TrainingJobName"]
    RunStore("keiko-runs").put_task_token(job_name, "unknown-token", "demo-run-36bbab24db9a", "train", 30)

    # when the Completed event arrives
    event = load_event("sagemaker-training-job-completed.json")
    result = load_handler("training_job_callback").lambda_handler(event, lambda_context)

    # then the gone token is logged and ignored, and the outcome stays recorded
    assert result["action"] == "ignored"
    assert result["reason"] == "InvalidToken"
    assert RunStore("keiko-runs").get_task_token(job_name)["outcome"] == "Completed"


def test_callback_redelivery_succeeds_after_send_fails(waiting_execution, lambda_context):
    sfn, execution_arn = waiting_execution
    callback = load_handler("training_job_callback")
    event = load_event("sagemaker-training-job-completed.json")

    # given SendTaskSuccess fails once with an error the SDK does not retry. A before-call hook returns it
    # before the request is sent, so moto never sees (and never consumes) the token.
    def deny_once(**_):
        client.meta.events.unregister("before-call.sfn.SendTaskSuccess", deny_once)
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
        return SimpleNamespace(status_code=400, headers={}), {**error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client = aws.client("stepfunctions")
    client.meta.events.register_first("before-call.sfn.SendTaskSuccess", deny_once)

    # when EventBridge delivers the event, fails, and delivers it again
    with pytest.raises(ClientError, match="AccessDenied"):
        callback.lambda_handler(event, lambda_context)
    result = callback.lambda_handler(event, lambda_context)

    # then the second delivery resumes the state
    assert result["action"] == "task_success"
    assert wait_for(lambda: finished(sfn, execution_arn), "the execution to finish")["status"] == "SUCCEEDED"
