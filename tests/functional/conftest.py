"""Fixtures for handler tests on moto: an emulated account with the template's resources and env vars.

Handlers are imported from functions/<name>/app.py by path, as Lambda would load them, and called
with the sample events from events/. moto lacks Bedrock Converse, so each test that needs it registers
a botocore `before-send` hook (ConverseStandIn) on keiko's bedrock-runtime client, which returns the
response while botocore's retry logic still runs.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from keiko import aws
from keiko.settings import load_settings
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
BUCKET = "keiko-databucket-example"
TABLE = "keiko-runs"
REGION = "us-east-1"
STATE_MACHINE_NAME = "keiko-lifecycle"
# A one-state machine: moto's non-executing backend records executions without running them.
PLACEHOLDER_DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


@pytest.fixture
def aws_environment(monkeypatch) -> None:
    """Dummy credentials and the variables template.yaml sets on every function."""
    variables = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "keiko",
        "POWERTOOLS_METRICS_NAMESPACE": "keiko",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "KEIKO_DATA_BUCKET": BUCKET,
        "KEIKO_RUN_TABLE": TABLE,
        "KEIKO_TRAINING_IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/keiko-training:latest",
        "KEIKO_TRAINING_CODE_KEY": "code/keiko-training/sourcedir.tar.gz",
        # botocore runs every before-send handler, and moto's raises NotImplementedError for Converse
        # on bedrock-runtime URLs. Another endpoint keeps moto out, and ConverseStandIn returns the
        # response before any connection is made.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://localhost:9",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    load_settings.cache_clear()
    yield
    aws.reset_clients()
    load_settings.cache_clear()


def create_resources(account_id: str = "123456789012") -> SimpleNamespace:
    """Create the bucket, table, topic, state machine and SageMaker role as template.yaml declares them."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    iam = boto3.client("iam", region_name=REGION)
    role_arn = iam.create_role(
        RoleName="keiko-sagemaker",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]

    topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="keiko-runs")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="keiko-runs-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )

    state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=PLACEHOLDER_DEFINITION,
        roleArn=f"arn:aws:iam::{account_id}:role/keiko-states",
    )["stateMachineArn"]
    return SimpleNamespace(
        bucket=BUCKET,
        table=TABLE,
        role_arn=role_arn,
        topic_arn=topic_arn,
        queue_url=queue_url,
        state_machine_arn=state_machine_arn,
    )


@pytest.fixture
def account(aws_environment, monkeypatch) -> Iterator[SimpleNamespace]:
    """An emulated account holding keiko's resources, with the handlers' environment pointing at them."""
    with mock_aws():
        resources = create_resources()
        monkeypatch.setenv("KEIKO_TOPIC_ARN", resources.topic_arn)
        monkeypatch.setenv("KEIKO_STATE_MACHINE_ARN", resources.state_machine_arn)
        monkeypatch.setenv("KEIKO_SAGEMAKER_ROLE_ARN", resources.role_arn)
        yield resources


def published_messages(resources: SimpleNamespace) -> list[str]:
    """Return the SNS messages delivered so far to the topic's test subscription."""
    sqs = boto3.client("sqs", region_name=REGION)
    response = sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10)
    return [message["Body"] for message in response.get("Messages", [])]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/app.py under a unique module name, as the emulated account does."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"keiko_handler_{function}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="keiko-test",
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:keiko-test",
        aws_request_id="52fdfc07-2182-154f-163f-5f0f9a621d72",
    )


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def json_response(status: int, body: dict[str, Any], error_code: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/json"}
    if error_code:
        headers["x-amzn-ErrorType"] = error_code
    return AWSResponse(
        "https://bedrock-runtime.us-east-1.amazonaws.com", status, headers, _Body(json.dumps(body).encode())
    )


def converse_reply(text: str | None = None, blocks: list[dict[str, Any]] | None = None) -> AWSResponse:
    content = blocks if blocks is not None else [{"text": text}]
    return json_response(
        200,
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 10, "totalTokens": 20},
            "metrics": {"latencyMs": 5},
        },
    )


class ConverseStandIn:
    """Return Bedrock Converse responses for one client from a responder, recording each request."""

    def __init__(self, responder: Callable[[dict[str, Any]], AWSResponse]) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request, **_: Any) -> AWSResponse:
        body = json.loads(request.body)
        self.requests.append(body)
        return self.responder(body)

    def attach(self, client) -> None:
        client.meta.events.register_first("before-send.bedrock-runtime.Converse", self)


def bedrock_client(max_attempts: int = 3):
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        config=Config(retries={"mode": "adaptive", "max_attempts": max_attempts}),
    )


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    """Poll `condition` until it returns a truthy value; fail naming `what` after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {deadline_s} s waiting for {what}")
