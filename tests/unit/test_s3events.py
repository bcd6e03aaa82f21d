"""Decoding the events that start runs: EventBridge, S3 notifications and schedules."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keiko.s3events import DatasetObject, UnsupportedEvent, decode_key, parse_start_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("datasets/a/my+file.jsonl", "datasets/a/my file.jsonl"),
        ("datasets/a/c%2B%2B.jsonl", "datasets/a/c++.jsonl"),
        ("datasets/a/%E6%97%A5%E6%9C%AC.jsonl", "datasets/a/日本.jsonl"),
        ("datasets/a/100%25.jsonl", "datasets/a/100%.jsonl"),
        ("datasets/a/k%3Dv.jsonl", "datasets/a/k=v.jsonl"),
    ],
)
def test_decode_key_as_s3_encodes_it(encoded, decoded):
    assert decode_key(encoded) == decoded


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_decode_key_inverts_form_encoding(key):
    assert decode_key(quote_plus(key, safe="/")) == key


def test_eventbridge_event_decodes_key_once():
    (dataset,) = parse_start_event(load("s3-object-created-encoded-key.json"))

    assert dataset.key == "datasets/support/customer chats+v2 日本語.jsonl"
    assert dataset.bucket == "keiko-databucket-example"
    assert dataset.version_id == "Wd8Ujz8mzWkRC4iUiH5Bc"
    assert dataset.project == "support"
    assert dataset.name == "customer chats+v2 日本語"
    assert dataset.skip_reason() is None


def test_notification_event_matches_eventbridge_event():
    (from_notification,) = parse_start_event(load("s3-notification-object-created.json"))
    (from_eventbridge,) = parse_start_event(load("s3-object-created-encoded-key.json"))

    assert from_notification.key == from_eventbridge.key
    assert from_notification.version_id == from_eventbridge.version_id
    assert from_notification.size == from_eventbridge.size


def test_folder_marker_is_skipped():
    (dataset,) = parse_start_event(load("s3-folder-marker.json"))

    assert dataset.skip_reason() == "console folder marker"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("datasets/demo/keiko.yaml", "recipe file"),
        ("datasets/demo/chat.keiko.yaml", "recipe file"),
        ("datasets/demo/notes.docx", "not a dataset file"),
        ("runs/x/data/train.jsonl", "outside datasets/"),
        ("datasets/chat.jsonl", "dataset must be in a project folder"),
    ],
)
def test_non_datasets_are_skipped(key, reason):
    event = load("s3-object-created.json")
    event["detail"]["object"]["key"] = quote_plus(key, safe="/")

    (dataset,) = parse_start_event(event)

    assert dataset.skip_reason().startswith(reason)


def test_schedule_event_names_dataset_and_recipe():
    event = load("scheduled-event.json")
    event["detail"]["recipe_key"] = "datasets/demo/weekly.keiko.yaml"

    (dataset,) = parse_start_event(event)

    assert dataset.key == "datasets/demo/support-chat.jsonl"
    assert dataset.recipe_key == "datasets/demo/weekly.keiko.yaml"
    assert dataset.version_id is None
    assert dataset.trigger == "schedule"


def test_plain_aws_schedule_event_says_what_is_missing():
    event = load("scheduled-event.json")
    event["detail"] = {}

    with pytest.raises(UnsupportedEvent, match="detail.dataset_key"):
        parse_start_event(event)


def test_unknown_event_is_rejected():
    with pytest.raises(UnsupportedEvent, match="detail-type 'Object Deleted'"):
        parse_start_event({"detail-type": "Object Deleted"})


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("datasets/p/chats.jsonl", "chats"),
        ("datasets/p/chats.jsonl.gz", "chats"),
        ("datasets/p/chats.csv", "chats"),
        ("datasets/p/chats.v2.parquet", "chats.v2"),
    ],
)
def test_dataset_name_drops_whole_extension(key, name):
    dataset = DatasetObject(bucket="b", key=key, trigger="s3")

    assert dataset.name == name
    assert dataset.skip_reason() is None
