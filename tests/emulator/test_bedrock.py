"""The Bedrock Converse stand-in: deterministic replies per keiko_task, real errors for fault injection."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def _converse(account, text, task=None, client=None, **extra):
    client = client or account.client("bedrock-runtime")
    metadata = {"requestMetadata": {"keiko_task": task}} if task else {}
    return client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": text}]}], **metadata, **extra)


def _text(response):
    return response["output"]["message"]["content"][-1]["text"]


def test_synthetic_records_from_seeds(minimal_account):
    # Given two seed examples and a request for three records
    seeds = [{"instruction": "Say hi", "response": "Hi!"}, {"instruction": "Count to 2", "response": "1 2"}]
    text = "Write 3 new examples like these:\n" + "\n".join(json.dumps(seed) for seed in seeds)

    # When the stand-in answers the synthetic task
    response = _converse(minimal_account, text, task="synthetic")

    # Then the reply is JSONL derived from the seeds, in the real response shape
    records = [json.loads(line) for line in _text(response).splitlines()]
    assert records == [
        {"instruction": "Variation 1: Say hi", "response": "Hi!"},
        {"instruction": "Variation 1: Count to 2", "response": "1 2"},
        {"instruction": "Variation 2: Say hi", "response": "Hi!"},
    ]
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["role"] == "assistant"
    assert response["usage"]["totalTokens"] == response["usage"]["inputTokens"] + response["usage"]["outputTokens"]
    assert "latencyMs" in response["metrics"]


def test_synthetic_without_seeds_rejected(minimal_account):
    with pytest.raises(ClientError) as caught:
        _converse(minimal_account, "no seeds here", task="synthetic")

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "seed examples" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("response_a", "response_b", "preferred"),
    [
        ("Paris is the capital of France.", "I like turtles.", "A"),
        ("Bananas.", "The capital of France is Paris, a city on the Seine.", "B"),
        ("", "Paris", "B"),
        ("Same answer", "Same answer", "A"),
    ],
)
def test_judge_prefers_on_topic_response(minimal_account, response_a, response_b, preferred):
    text = f"Prompt:\nWhat is the capital of France?\n\nResponse A:\n{response_a}\n\nResponse B:\n{response_b}"

    verdict = json.loads(_text(_converse(minimal_account, text, task="judge")))

    assert verdict["preferred"] == preferred
    assert verdict["reason"]


def test_judge_rejects_unknown_format(minimal_account):
    with pytest.raises(ClientError, match="Response A"):
        _converse(minimal_account, "Which is better, A or B?", task="judge")


def test_default_reply_is_deterministic(minimal_account):
    first = _text(_converse(minimal_account, "Tell me about keiko"))
    second = _text(_converse(minimal_account, "Tell me about keiko"))

    assert first == second
    assert first.startswith("Local Bedrock stand-in reply ")


def test_max_tokens_cuts_reply(minimal_account):
    response = _converse(minimal_account, "one two three four five six", inferenceConfig={"maxTokens": 3})

    assert response["stopReason"] == "max_tokens"
    assert len(_text(response).split()) == 3


def test_request_recorded(minimal_account):
    _converse(minimal_account, "hello", task="synthetic-unknown")

    request = minimal_account.bedrock.requests[-1]
    assert request["modelId"] == MODEL
    assert request["requestMetadata"] == {"keiko_task": "synthetic-unknown"}


def test_throttling_without_retries(minimal_account):
    # Given throttling injected for the next call and a client that does not retry
    client = boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    minimal_account.bedrock.inject_throttling(times=1)

    # When the client calls Converse
    with pytest.raises(ClientError) as caught:
        _converse(minimal_account, "hello", client=client)

    # Then it sees Bedrock's throttling error with HTTP 429
    error = caught.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Message"] == "Too many requests, please wait before trying again."


def test_throttling_retried_by_botocore(minimal_account):
    # Given one throttled call ahead and a client with legacy retries (botocore's default mode)
    client = boto3.client("bedrock-runtime", config=Config(retries={"total_max_attempts": 3, "mode": "legacy"}))
    minimal_account.bedrock.inject_throttling(times=1)

    # When the client calls Converse
    response = _converse(minimal_account, "hello", client=client)

    # Then botocore retried once and succeeded
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert _text(response).startswith("Local Bedrock stand-in reply")


def test_context_length_error(minimal_account):
    minimal_account.bedrock.inject_context_length_error()

    with pytest.raises(ClientError) as caught:
        _converse(minimal_account, "a very long prompt")

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "too long" in caught.value.response["Error"]["Message"]


def test_leading_reasoning_block(minimal_account):
    minimal_account.bedrock.inject_leading_reasoning()

    content = _converse(minimal_account, "hello")["output"]["message"]["content"]

    assert "reasoningContent" in content[0]
    assert "text" in content[1]
