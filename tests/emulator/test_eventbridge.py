"""EventBridge delivery: targets, input transformation, schedules and the S3 event shape."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from keiko_local.s3_events import encode_key, next_sequencer, object_event
from keiko_local.target_input import target_input


def _deliveries_to(account, arn):
    return [delivery for delivery in account.delivered_events if delivery["target"] == arn]


def test_put_events_reaches_lambda_with_transformer(project_account):
    # Given a rule whose target has an InputTransformer
    echo_arn = project_account.resource("EchoFunction").arn
    rule_name = project_account.resource("TransformedRule").physical_id
    before = len(_deliveries_to(project_account, echo_arn))

    # When a matching event is put
    entries = project_account.client("events").put_events(
        Entries=[{"Source": "keiko.test", "DetailType": "Test", "Detail": json.dumps({"name": "ds", "size": 3})}]
    )

    # Then the function received the rendered template
    assert entries["FailedEntryCount"] == 0
    delivered = _deliveries_to(project_account, echo_arn)[before:]
    assert [d["input"] for d in delivered] == [{"greeting": "hi ds", "size": 3, "rule": rule_name}]


def test_disabled_schedule_cannot_fire(project_account):
    with pytest.raises(ValueError, match="is DISABLED"):
        project_account.fire_schedule("ScheduledRule")


def test_schedule_rule_ignores_put_events(project_account):
    echo_arn = project_account.resource("EchoFunction").arn
    before = len(_deliveries_to(project_account, echo_arn))

    project_account.client("events").put_events(
        Entries=[{"Source": "other.source", "DetailType": "Test", "Detail": "{}"}]
    )

    assert len(_deliveries_to(project_account, echo_arn)) == before


EVENT = {
    "id": "e-1",
    "source": "aws.s3",
    "time": "2026-01-01T00:00:00Z",
    "detail": {"object": {"key": "a b", "size": 5}, "list": [1, 2]},
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"Input": '{"fixed": true}'}, {"fixed": True}),
        ({"InputPath": "$.detail.object"}, {"key": "a b", "size": 5}),
        (
            {"InputTransformer": {"InputPathsMap": {"k": "$.detail.object.key"}, "InputTemplate": '{"key": <k>}'}},
            {"key": "a b"},
        ),
        (
            {"InputTransformer": {"InputPathsMap": {"k": "$.detail.object.key"}, "InputTemplate": '"file <k> landed"'}},
            "file a b landed",
        ),
        (
            {"InputTransformer": {"InputPathsMap": {"l": "$.detail.list"}, "InputTemplate": '{"items": <l>}'}},
            {"items": [1, 2]},
        ),
        (
            {"InputTransformer": {"InputPathsMap": {}, "InputTemplate": '{"rule": <aws.events.rule-name>}'}},
            {"rule": "my-rule"},
        ),
        (
            {"InputTransformer": {"InputPathsMap": {"m": "$.detail.missing"}, "InputTemplate": '{"m": <m>}'}},
            {"m": None},
        ),
    ],
)
def test_target_input_cases(target, expected):
    assert target_input(target, EVENT, "my-rule", "arn:aws:events:us-east-1:1:rule/my-rule") == expected


def test_target_without_settings_gets_event():
    assert target_input({"Arn": "x"}, EVENT, "r", "arn") == EVENT


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("datasets/p/plain.jsonl", "datasets/p/plain.jsonl"),
        ("datasets/p/my data.jsonl", "datasets/p/my+data.jsonl"),
        ("datasets/p/a+b=c.jsonl", "datasets/p/a%2Bb%3Dc.jsonl"),
        ("datasets/p/日本.jsonl", "datasets/p/%E6%97%A5%E6%9C%AC.jsonl"),
    ],
)
def test_key_encoding(key, encoded):
    assert encode_key(key) == encoded


def test_sequencers_increase():
    sequencers = [next_sequencer() for _ in range(100)]

    assert sequencers == sorted(sequencers)
    assert len(set(sequencers)) == 100


def test_object_created_shape_versioned():
    # Given a versioned bucket and an object version
    bucket = SimpleNamespace(name="b", arn="arn:aws:s3:::b", region_name="us-east-1", is_versioned=True)
    key = SimpleNamespace(name="datasets/x y.jsonl", size=7, etag='"abc"', version_id="v1")

    # When the Object Created event is built
    event = object_event("123456789012", bucket, "s3:ObjectCreated:Put", key)

    # Then it has the fields and names AWS uses
    assert event["detail-type"] == "Object Created"
    assert event["source"] == "aws.s3"
    assert event["resources"] == ["arn:aws:s3:::b"]
    assert event["detail"]["object"]["key"] == "datasets/x+y.jsonl"
    assert event["detail"]["object"]["etag"] == "abc"
    assert event["detail"]["object"]["version-id"] == "v1"
    assert event["detail"]["object"]["size"] == 7
    assert event["detail"]["reason"] == "PutObject"
    assert event["time"].endswith("Z")


def test_object_created_unversioned_has_no_version():
    bucket = SimpleNamespace(name="b", arn="arn:aws:s3:::b", region_name="us-east-1", is_versioned=False)
    key = SimpleNamespace(name="k", size=1, etag='"e"', version_id="null")

    event = object_event("123456789012", bucket, "s3:ObjectCreated:Put", key)

    assert "version-id" not in event["detail"]["object"]
