"""ValidateDataset, PlanTraining, CompareCheckpoints, RegisterModel and the two notification
handlers on moto, with the payloads from events/."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest

from tests.functional.conftest import BUCKET, REGION, load_event, load_handler, published_messages


def s3():
    return boto3.client("s3", region_name=REGION)


def model_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put_uri(uri: str, body: bytes) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3().put_object(Bucket=bucket, Key=key, Body=body)


def chat_lines(count: int) -> bytes:
    lines = []
    for index in range(count):
        messages = [
            {"role": "user", "content": f"How do I export report {index}?"},
            {"role": "assistant", "content": f"Open Reports, choose report {index}, then Export."},
        ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


def test_validate_dataset_writes_split_and_summary(account, lambda_context):
    # given the uploaded demo dataset at the version the run names
    event = load_event("validate_dataset.json")
    version = s3().put_object(Bucket=BUCKET, Key=event["dataset_key"], Body=chat_lines(40))["VersionId"]
    event["version_id"] = version

    # when ValidateDataset runs
    result = load_handler("validate_dataset").lambda_handler(event, lambda_context)

    # then the summary is valid and points at the split it wrote under the run's prefix
    assert result["valid"] is True
    assert result["records"] == 40
    assert result["train_records"] + result["eval_records"] == 40
    assert result["train_uri"] == f"s3://{BUCKET}/runs/{event['run_id']}/data/train.jsonl"
    assert s3().get_object(Bucket=BUCKET, Key=f"runs/{event['run_id']}/data/train.jsonl")["ContentLength"] > 0


def test_validate_dataset_reports_invalid_records(account, lambda_context):
    event = load_event("validate_dataset.json")
    body = chat_lines(10) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n'
    event["version_id"] = s3().put_object(Bucket=BUCKET, Key=event["dataset_key"], Body=body)["VersionId"]

    result = load_handler("validate_dataset").lambda_handler(event, lambda_context)

    assert result["valid"] is False
    assert result["invalid_records"] == 1
    assert result["report_uri"].endswith("/validation/report.json")


def test_plan_training_estimates_within_budget(account, lambda_context):
    result = load_handler("plan_training").lambda_handler(load_event("plan_training.json"), lambda_context)

    assert result["instance_type"] == "ml.g4dn.xlarge"
    assert result["tier"] == "single-gpu"
    assert result["within_budget"] is True
    assert result["estimated_usd"] > 0


def test_plan_training_flags_over_budget(account, lambda_context):
    event = load_event("plan_training.json")
    event["recipe"]["model"]["base"] = "meta-llama/Llama-3.1-70B"
    event["recipe"]["budget"]["max_usd"] = 1
    event["dataset"]["train_records"] = 1_000_000

    result = load_handler("plan_training").lambda_handler(event, lambda_context)

    assert result["tier"] == "hyperpod"
    assert result["within_budget"] is False
    assert any("HyperPod" in note for note in result["notes"])


def test_compare_checkpoints_reads_metrics_and_applies_gates(account, lambda_context):
    # given an evaluation job whose model.tar.gz contains metrics.json
    event = load_event("compare_checkpoints.json")
    metrics = {
        "base": {"eval_loss": 2.4, "perplexity": 11.0},
        "candidate": {"eval_loss": 1.8, "perplexity": 6.0},
    }
    put_uri(event["job"]["model_artifacts"], model_tar({"metrics.json": json.dumps(metrics).encode()}))

    # when CompareCheckpoints runs with the recipe's gate of a 5% loss improvement
    result = load_handler("compare_checkpoints").lambda_handler(event, lambda_context)

    # then it reports both losses and passes
    assert result["base_eval_loss"] == 2.4
    assert result["candidate_eval_loss"] == 1.8
    assert result["loss_improvement"] == pytest.approx(0.25)
    assert result["passed"] is True


def test_compare_checkpoints_fails_gate_with_reason(account, lambda_context):
    event = load_event("compare_checkpoints.json")
    metrics = {
        "base": {"eval_loss": 2.0, "perplexity": 7.4},
        "candidate": {"eval_loss": 1.99, "perplexity": 7.3},
    }
    put_uri(event["job"]["model_artifacts"], model_tar({"./metrics.json": json.dumps(metrics).encode()}))

    result = load_handler("compare_checkpoints").lambda_handler(event, lambda_context)

    assert result["passed"] is False
    assert "min_loss_improvement is 5.00%" in result["reasons"][0]


def test_compare_checkpoints_without_metrics_names_the_job(account, lambda_context):
    from keiko.errors import EvaluationMetricsMissing

    event = load_event("compare_checkpoints.json")
    put_uri(event["job"]["model_artifacts"], model_tar({"adapter_config.json": b"{}"}))

    with pytest.raises(EvaluationMetricsMissing, match=event["job"]["job_name"]):
        load_handler("compare_checkpoints").lambda_handler(event, lambda_context)


def test_register_model_creates_package_with_lineage(account, lambda_context):
    # given a run that trained and passed evaluation
    event = load_event("register_model.json")

    # when RegisterModel runs
    result = load_handler("register_model").lambda_handler(event, lambda_context)

    # then the package is in group keiko-demo with the run's lineage and metrics
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    package = sagemaker.describe_model_package(ModelPackageName=result["model_package_arn"])
    assert result["model_package_group"] == "keiko-demo"
    assert package["ModelPackageGroupName"] == "keiko-demo"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    lineage = package["CustomerMetadataProperties"]
    assert lineage["run_id"] == event["run_id"]
    assert lineage["dataset_uri"] == f"s3://{BUCKET}/datasets/demo/support-chat.jsonl"
    assert lineage["dataset_content_hash"] == event["dataset"]["content_hash"]
    assert event["training"]["job_name"] in lineage["training_jobs"]
    metrics_key = f"runs/{event['run_id']}/registry/metrics.json"
    assert json.loads(s3().get_object(Bucket=BUCKET, Key=metrics_key)["Body"].read())["passed"] is True


def test_register_model_twice_reuses_the_group(account, lambda_context):
    handler = load_handler("register_model")
    event = load_event("register_model.json")

    first = handler.lambda_handler(event, lambda_context)
    second = handler.lambda_handler(event, lambda_context)

    assert first["model_package_group"] == second["model_package_group"]
    assert first["model_package_arn"] != second["model_package_arn"]


def run_record(run_id: str) -> dict:
    from keiko.runs import RunStore

    return RunStore("keiko-runs").get_run(run_id)


def test_mark_run_failed_records_reason_and_publishes(account, lambda_context):
    # given a run whose training job failed
    event = load_event("mark_run_failed.json")

    # when MarkRunFailed runs
    result = load_handler("mark_run_failed").lambda_handler(event, lambda_context)

    # then the record is FAILED with the job's reason, and SNS carries the same reason
    assert result["error"] == "TrainingJobFailed"
    record = run_record(event["run_id"])
    assert record["status"] == "FAILED"
    assert "CUDA out of memory" in record["cause"]
    assert "errorMessage" not in record["cause"]
    messages = published_messages(account)
    assert len(messages) == 1
    assert "CUDA out of memory" in messages[0]


def test_mark_run_failed_points_to_the_validation_report(account, lambda_context):
    event = load_event("validate_dataset.json")
    event["dataset"] = {**load_event("plan_training.json")["dataset"], "valid": False}
    event["failure"] = {"Error": "DatasetInvalid", "Cause": "The dataset failed validation."}

    load_handler("mark_run_failed").lambda_handler(event, lambda_context)

    assert run_record(event["run_id"])["cause"].endswith("validation/report.md")


def test_notify_run_succeeded_records_package(account, lambda_context):
    event = load_event("notify_run_succeeded.json")

    result = load_handler("notify_run_succeeded").lambda_handler(event, lambda_context)

    record = run_record(event["run_id"])
    assert result["status"] == "SUCCEEDED"
    assert record["status"] == "SUCCEEDED"
    assert record["model_package_arn"] == event["registration"]["model_package_arn"]
    assert record["candidate_eval_loss"] == pytest.approx(1.82)
    assert "succeeded" in published_messages(account)[0]


def test_stage_rejects_payload_missing_fields(account, lambda_context):
    from keiko.errors import InvalidStageInput

    with pytest.raises(InvalidStageInput, match="run_id"):
        load_handler("plan_training").lambda_handler({"dataset": {}}, lambda_context)


def test_handler_logs_carry_run_id(account, lambda_context):
    from keiko.observability import logger

    # given the shared logger writing to a buffer (its stream was fixed when it was first imported)
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    event = load_event("plan_training.json")

    # when a handler runs
    try:
        load_handler("plan_training").lambda_handler(event, lambda_context)
    finally:
        logger.registered_handler.setStream(previous)

    # then every JSON line it wrote names the run
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert lines
    assert all(line["run_id"] == event["run_id"] for line in lines)
