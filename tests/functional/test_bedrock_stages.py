"""JudgeResponses and GenerateSyntheticData on moto, with Bedrock Converse responses returned by a botocore
`before-send` hook (moto has no Converse), so the SDK's own retry logic still runs."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from keiko import aws

from tests.functional.conftest import (
    REGION,
    ConverseStandIn,
    bedrock_client,
    converse_reply,
    json_response,
    load_event,
    load_handler,
)


def s3():
    return boto3.client("s3", region_name=REGION)


def put_uri(uri: str, body: bytes) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3().put_object(Bucket=bucket, Key=key, Body=body)


def read_jsonl(uri: str) -> list[dict]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return [json.loads(line) for line in s3().get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]


def responses_tar(rows: list[dict]) -> bytes:
    data = "\n".join(json.dumps(row) for row in rows).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("responses.jsonl")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def user_text(request: dict) -> str:
    return request["messages"][0]["content"][0]["text"]


def pick_correct(request: dict):
    """Judge like a careful reviewer: the response containing 'correct' wins."""
    shown_a = user_text(request).split("Response A:\n", 1)[1].split("\n\nResponse B:", 1)[0]
    return converse_reply(json.dumps({"winner": "A" if "correct" in shown_a else "B", "reason": "accurate"}))


ROWS = [
    {"prompt": "How do I reset my password?", "responses": ["correct: use Settings", "wrong: call us"]},
    {"prompt": "Where are invoices?", "responses": ["wrong: nowhere", "correct: Billing, Invoices"]},
    {"prompt": "Same twice?", "responses": ["identical", "identical"]},
    {"prompt": "Empty?", "responses": ["", "correct: something"]},
]


@pytest.fixture
def judge_event(account):
    event = load_event("judge_responses.json")
    put_uri(event["responses_job"]["model_artifacts"], responses_tar(ROWS))
    return event


def attach(responder) -> ConverseStandIn:
    stand_in = ConverseStandIn(responder)
    stand_in.attach(aws.client("bedrock-runtime"))
    return stand_in


def test_judge_writes_pairs_with_the_better_answer_chosen(judge_event, lambda_context):
    # given responses of which two rows are usable, and a judge that prefers correct responses
    bedrock = attach(pick_correct)

    # when JudgeResponses runs
    result = load_handler("judge_responses").lambda_handler(judge_event, lambda_context)

    # then pairs.jsonl contains the two usable prompts, with the correct answer chosen
    assert result["pairs"] == 2
    assert result["skipped"] == 2
    assert result["pairs_uri"].endswith(f"runs/{judge_event['run_id']}/preference/iteration-1/pairs.jsonl")
    pairs = read_jsonl(result["pairs_uri"])
    assert {pair["prompt"] for pair in pairs} == {"How do I reset my password?", "Where are invoices?"}
    assert all(pair["chosen"].startswith("correct") for pair in pairs)
    assert all(pair["rejected"].startswith("wrong") for pair in pairs)
    assert len(bedrock.requests) == 2
    assert all(request["requestMetadata"] == {"keiko_task": "judge"} for request in bedrock.requests)


def test_judge_reads_text_after_a_reasoning_block(judge_event, lambda_context):
    reasoning = {"reasoningContent": {"reasoningText": {"text": "thinking"}}}
    attach(lambda request: converse_reply(blocks=[reasoning, {"text": "A is better."}]))

    result = load_handler("judge_responses").lambda_handler(judge_event, lambda_context)

    assert result["pairs"] == 2


def test_judge_retries_throttling(judge_event, lambda_context):
    # given Bedrock throttles the first request
    calls = []

    def throttle_first(request):
        calls.append(request)
        if len(calls) == 1:
            return json_response(429, {"message": "Too many requests"}, "ThrottlingException")
        return pick_correct(request)

    attach(throttle_first)

    # when the judge runs, then botocore's retry absorbs it
    result = load_handler("judge_responses").lambda_handler(judge_event, lambda_context)
    assert result["pairs"] == 2
    assert len(calls) == 3


def test_judge_skips_prompts_too_long_for_the_model(judge_event, lambda_context):
    def too_long_for_invoices(request):
        if "invoices" in user_text(request):
            return json_response(400, {"message": "Input is too long for requested model."}, "ValidationException")
        return pick_correct(request)

    attach(too_long_for_invoices)

    result = load_handler("judge_responses").lambda_handler(judge_event, lambda_context)

    assert result["pairs"] == 1
    assert result["skipped"] == 3


def test_judge_without_usable_verdicts_fails_clearly(judge_event, lambda_context):
    from keiko.errors import JudgeFoundNoPairs

    attach(lambda request: converse_reply("I cannot decide."))

    with pytest.raises(JudgeFoundNoPairs, match="no usable chosen/rejected pair from 4 rows"):
        load_handler("judge_responses").lambda_handler(judge_event, lambda_context)


def test_bedrock_throttling_after_retries_is_transient(aws_environment):
    from keiko.bedrock import BedrockChat
    from keiko.errors import TransientError

    client = bedrock_client(max_attempts=1)
    ConverseStandIn(lambda request: json_response(429, {"message": "slow down"}, "ThrottlingException")).attach(client)

    with pytest.raises(TransientError, match="ThrottlingException"):
        BedrockChat(client).converse("model", "hello", task="judge")


def test_bedrock_access_denied_names_the_fix(aws_environment):
    from keiko.bedrock import BedrockChat
    from keiko.errors import BedrockRequestFailed

    client = bedrock_client()
    ConverseStandIn(lambda request: json_response(403, {"message": "no access"}, "AccessDeniedException")).attach(
        client
    )

    with pytest.raises(BedrockRequestFailed, match="Enable access to the model"):
        BedrockChat(client).converse("anthropic.model", "hello", task="synthetic")


# ---------------------------------------------------------------- synthetic data

SEEDS = [
    {"messages": [{"role": "user", "content": f"Question {index}?"}, {"role": "assistant", "content": f"A{index}."}]}
    for index in range(3)
]


def synthetic_reply(request: dict):
    lines = [
        json.dumps({"instruction": "Question 0?", "response": "repeats a seed"}),
        "not json at all",
        json.dumps({"instruction": "How do I add a user?", "response": "Admin, Users, Add."}),
        json.dumps({"instruction": "How do I change the plan?", "response": "Billing, Plan."}),
        json.dumps({"instruction": "", "response": "missing instruction"}),
        json.dumps({"instruction": "How do I export logs?", "response": "Logs, Export."}),
        json.dumps({"instruction": "How do I delete a project?", "response": "Project, Settings, Delete."}),
    ]
    return converse_reply("\n".join(lines))


def test_synthetic_data_extends_training_split(account, lambda_context):
    # given a training split of three chat records and a recipe asking for four synthetic records
    event = load_event("generate_synthetic_data.json")
    event["recipe"]["synthetic"] = {**event["recipe"]["synthetic"], "enabled": True, "records": 4}
    put_uri(event["dataset"]["train_uri"], b"".join(json.dumps(seed).encode() + b"\n" for seed in SEEDS))
    bedrock = attach(synthetic_reply)

    # when GenerateSyntheticData runs
    result = load_handler("generate_synthetic_data").lambda_handler(event, lambda_context)

    # then four new, distinct records in the seeds' chat shape follow the original records
    assert result["synthetic_records"] == 4
    assert result["train_records"] == event["dataset"]["train_records"] + 4
    merged = read_jsonl(result["train_uri"])
    assert merged[:3] == SEEDS
    assert len(merged) == 7
    assert merged[3]["messages"][0] == {"role": "user", "content": "How do I add a user?"}
    assert read_jsonl(result["synthetic_uri"]) == merged[3:]
    assert bedrock.requests[0]["requestMetadata"] == {"keiko_task": "synthetic"}
    assert result["eval_uri"] == event["dataset"]["eval_uri"]


def test_synthetic_data_stops_when_the_model_adds_nothing(account, lambda_context):
    from keiko.synthetic import SyntheticDataError

    event = load_event("generate_synthetic_data.json")
    put_uri(event["dataset"]["train_uri"], b"".join(json.dumps(seed).encode() + b"\n" for seed in SEEDS))
    bedrock = attach(lambda request: converse_reply("Sorry, I cannot help with that."))

    with pytest.raises(SyntheticDataError, match="no valid instruction/response pairs"):
        load_handler("generate_synthetic_data").lambda_handler(event, lambda_context)
    assert len(bedrock.requests) == 2


def test_judge_keeps_chat_prompts_conversational(account, lambda_context):
    # given generate.py output whose prompt is a list of chat messages, as for a chat dataset
    event = load_event("judge_responses.json")
    chat_prompt = [{"role": "user", "content": "How do I reset my password?"}]
    rows = [{"prompt": chat_prompt, "responses": ["wrong: call us", "correct: use Settings"]}]
    put_uri(event["responses_job"]["model_artifacts"], responses_tar(rows))
    bedrock = attach(pick_correct)

    # when JudgeResponses runs
    result = load_handler("judge_responses").lambda_handler(event, lambda_context)

    # then the judge saw the prompt as text, and the pair is in TRL's conversational preference format
    assert "user: How do I reset my password?" in user_text(bedrock.requests[0])
    (pair,) = read_jsonl(result["pairs_uri"])
    assert pair == {
        "prompt": chat_prompt,
        "chosen": [{"role": "assistant", "content": "correct: use Settings"}],
        "rejected": [{"role": "assistant", "content": "wrong: call us"}],
    }
