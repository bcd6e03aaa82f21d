"""SageMaker training jobs run as local processes under the training toolkit contract."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from keiko_local.s3_transfer import tar_folder

SCRIPTS = Path(__file__).parent / "fixtures" / "training"
METRICS = [{"Name": "train:loss", "Regex": r"keiko_metric name=loss value=([0-9.]+)"}]


@pytest.fixture(scope="module")
def bucket(project_account):
    name = project_account.outputs["DataBucketName"]
    s3 = project_account.client("s3")
    s3.put_object(Bucket=name, Key="code/sourcedir.tar.gz", Body=tar_folder(SCRIPTS))
    s3.put_object(Bucket=name, Key="runs/r1/data/train.jsonl", Body=b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')
    return name


def _create_job(account, bucket, name, program, hyperparameters=None, **extra):
    account.client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/keiko-training:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": METRICS,
        },
        HyperParameters={
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
            **(hyperparameters or {}),
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/runs/r1/data/train.jsonl"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/runs/r1/jobs"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition=extra.pop("StoppingCondition", {"MaxRuntimeInSeconds": 300}),
        **extra,
    )
    return account.training_job(name)


def _tar_members(account, bucket, key):
    body = account.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as bundle:
        return {member.name: bundle.extractfile(member).read() for member in bundle.getmembers() if member.isfile()}


def _queued_events(account):
    sqs = account.client("sqs")
    url = sqs.get_queue_url(QueueName=account.resource("TrainingEventsQueue").physical_id.rsplit("/", 1)[-1])[
        "QueueUrl"
    ]
    events = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        events.extend(json.loads(message["Body"]) for message in messages)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        )
    return events


def test_job_completes_with_model_and_metrics(project_account, bucket):
    # Given a checkpoint left by an earlier attempt, and a job that runs the trivial training script
    s3 = project_account.client("s3")
    s3.put_object(Bucket=bucket, Key="runs/r1/checkpoints/train-ok/step.txt", Body=b"1")
    _queued_events(project_account)

    # When the job is created and runs to the end
    job = _create_job(
        project_account,
        bucket,
        "train-ok",
        "train.py",
        hyperparameters={"epochs": "3", "learning_rate": "0.5"},
        Environment={"KEIKO_TEST_VARIABLE": "from-request"},
        CheckpointConfig={"S3Uri": f"s3://{bucket}/runs/r1/checkpoints/train-ok"},
    )
    assert project_account.wait_for_training_job("train-ok", timeout_s=60).status == "Completed"

    # Then DescribeTrainingJob reports Completed with the model, metrics and transitions
    described = project_account.client("sagemaker").describe_training_job(TrainingJobName="train-ok")
    assert described["TrainingJobStatus"] == "Completed"
    assert described["SecondaryStatus"] == "Completed"
    model_uri = f"s3://{bucket}/runs/r1/jobs/train-ok/output/model.tar.gz"
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": model_uri}
    assert [(m["MetricName"], m["Value"]) for m in described["FinalMetricDataList"]] == [("train:loss", 0.3333)]
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert described["AlgorithmSpecification"]["MetricDefinitions"] == METRICS

    # And the model tarball contains what the script wrote, under the toolkit contract
    model = json.loads(_tar_members(project_account, bucket, "runs/r1/jobs/train-ok/output/model.tar.gz")["model.json"])
    assert model["records"] == 3
    assert model["epochs"] == 3
    assert model["learning_rate"] == 0.5
    assert model["hps"] == {"epochs": 3, "learning_rate": 0.5}
    assert model["hosts"] == ["algo-1"]
    assert model["current_host"] == "algo-1"
    assert model["training_env_job"] == "train-ok"
    assert model["hub_offline"] == "1"
    assert model["custom"] == "from-request"
    assert model["resumed_from"] == "1"
    output = _tar_members(project_account, bucket, "runs/r1/jobs/train-ok/output/output.tar.gz")
    assert output == {"summary.txt": b"done\n"}

    # And the checkpoint was synced back, the log kept and metrics exposed
    checkpoint = s3.get_object(Bucket=bucket, Key="runs/r1/checkpoints/train-ok/step.txt")["Body"].read()
    assert checkpoint == b"3"
    assert "keiko_metric name=loss value=0.3333" in job.stdout_log.read_text()
    assert job.metrics == {"train:loss": 0.3333}

    # And EventBridge delivered InProgress then Completed state changes
    events = _queued_events(project_account)
    assert [e["detail"]["TrainingJobStatus"] for e in events] == ["InProgress", "Completed"]
    completed = events[-1]
    assert completed["source"] == "aws.sagemaker"
    assert completed["detail-type"] == "SageMaker Training Job State Change"
    assert completed["resources"] == [job.arn]
    assert completed["detail"]["TrainingJobName"] == "train-ok"
    assert completed["detail"]["ModelArtifacts"] == {"S3ModelArtifacts": model_uri}
    assert completed["detail"]["HyperParameters"]["epochs"] == "3"
    assert isinstance(completed["detail"]["TrainingEndTime"], int)


def test_job_fails_with_failure_file_reason(project_account, bucket):
    _queued_events(project_account)

    _create_job(project_account, bucket, "train-fail", "fail.py", Environment={"KEIKO_TEST_WRITE_FAILURE": "1"})
    job = project_account.wait_for_training_job("train-fail", timeout_s=60)

    assert job.status == "Failed"
    described = project_account.client("sagemaker").describe_training_job(TrainingJobName="train-fail")
    assert described["FailureReason"] == "AlgorithmError: ValueError: learning rate must be positive"
    events = _queued_events(project_account)
    assert [e["detail"]["TrainingJobStatus"] for e in events] == ["InProgress", "Failed"]
    assert events[-1]["detail"]["FailureReason"] == described["FailureReason"]
    assert "ModelArtifacts" not in events[-1]["detail"]


def test_job_fails_with_stderr_tail(project_account, bucket):
    _create_job(project_account, bucket, "train-fail-quiet", "fail.py")
    job = project_account.wait_for_training_job("train-fail-quiet", timeout_s=60)

    assert job.status == "Failed"
    assert job.exit_code == 3
    assert "ExitCode 3" in job.failure_reason
    assert "Traceback: something broke" in job.failure_reason


def test_missing_channel_data_is_client_error(project_account, bucket):
    project_account.client("sagemaker").create_training_job(
        TrainingJobName="train-no-data",
        AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"s3://{bucket}/code/sourcedir.tar.gz"',
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/nothing/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    job = project_account.wait_for_training_job("train-no-data", timeout_s=30)

    assert job.status == "Failed"
    assert job.failure_reason.startswith("ClientError: Channel train: no S3 objects found")


def test_stop_training_job(project_account, bucket):
    # Given a long-running job that has printed its first line
    started = []
    project_account.on_training_output(
        lambda job, stream, line: started.append(job.name) if line == "started" else None
    )
    job = _create_job(project_account, bucket, "train-stop", "sleep.py")
    assert job.status == "InProgress"
    _wait_until(lambda: "train-stop" in started)

    # When StopTrainingJob is called
    project_account.client("sagemaker").stop_training_job(TrainingJobName="train-stop")
    project_account.wait_for_training_job("train-stop", timeout_s=30)

    # Then the job is Stopped and the model saved on SIGTERM was uploaded
    described = project_account.client("sagemaker").describe_training_job(TrainingJobName="train-stop")
    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    members = _tar_members(project_account, bucket, "runs/r1/jobs/train-stop/output/model.tar.gz")
    assert members == {"partial.txt": b"saved on SIGTERM"}


def test_max_runtime_enforced(project_account, bucket):
    _create_job(project_account, bucket, "train-timeout", "sleep.py", StoppingCondition={"MaxRuntimeInSeconds": 1})
    job = project_account.wait_for_training_job("train-timeout", timeout_s=30)

    assert job.status == "Stopped"
    assert job.secondary_status == "MaxRuntimeExceeded"


def test_stop_finished_job_rejected(project_account, bucket):
    _create_job(project_account, bucket, "train-ended", "fail.py")
    project_account.wait_for_training_job("train-ended", timeout_s=60)

    with pytest.raises(ClientError, match="status Failed"):
        project_account.client("sagemaker").stop_training_job(TrainingJobName="train-ended")


def test_duplicate_job_name_rejected(project_account, bucket):
    _create_job(project_account, bucket, "train-twice", "fail.py")
    project_account.wait_for_training_job("train-twice", timeout_s=60)

    with pytest.raises(ClientError) as caught:
        _create_job(project_account, bucket, "train-twice", "fail.py")

    assert caught.value.response["Error"]["Code"] == "ResourceInUse"
    assert "must be unique" in caught.value.response["Error"]["Message"]


def _wait_until(condition, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
