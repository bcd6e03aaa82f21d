"""Settings read from the Lambda environment."""

from __future__ import annotations

import pytest
from keiko.notify import failure_message
from keiko.payloads import Failure
from keiko.settings import IntakeSettings, SettingsError, StorageSettings, ValidationSettings, load_settings


@pytest.fixture(autouse=True)
def fresh_settings():
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


def test_missing_variable_is_named(monkeypatch):
    monkeypatch.setenv("KEIKO_DATA_BUCKET", "bucket")
    monkeypatch.delenv("KEIKO_RUN_TABLE", raising=False)

    with pytest.raises(SettingsError, match="KEIKO_RUN_TABLE: Field required"):
        load_settings(StorageSettings)


def test_invalid_arn_is_named(monkeypatch):
    monkeypatch.setenv("KEIKO_DATA_BUCKET", "bucket")
    monkeypatch.setenv("KEIKO_RUN_TABLE", "table")
    monkeypatch.setenv("KEIKO_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:runs")
    monkeypatch.setenv("KEIKO_STATE_MACHINE_ARN", "lifecycle")

    with pytest.raises(SettingsError, match="KEIKO_STATE_MACHINE_ARN"):
        load_settings(IntakeSettings)


def test_settings_are_read_once(monkeypatch):
    monkeypatch.setenv("KEIKO_DATA_BUCKET", "first")
    monkeypatch.setenv("KEIKO_RUN_TABLE", "table")
    first = load_settings(StorageSettings)

    monkeypatch.setenv("KEIKO_DATA_BUCKET", "second")

    assert load_settings(StorageSettings) is first
    assert first.data_bucket == "first"


def test_failure_message_unwraps_lambda_error():
    failure = Failure(Error="PlanningError", Cause='{"errorMessage": "set model.parameters_billion", "errorType": "x"}')

    assert failure_message(failure) == ("PlanningError", "set model.parameters_billion")


def test_failure_message_keeps_plain_cause():
    assert failure_message(Failure(Error="States.Timeout", Cause="timed out")) == ("States.Timeout", "timed out")
    assert failure_message(None)[0] == "Unknown"


@pytest.mark.parametrize(("value", "expected"), [("2097152.5", 2_097_152), ("3e6", 3_000_000), ("4194304", 4_194_304)])
def test_slice_bytes_round_down_as_number_parameters_allow(monkeypatch, value, expected):
    # given a slice size as CloudFormation passes a Number parameter through
    monkeypatch.setenv("KEIKO_DATA_BUCKET", "bucket")
    monkeypatch.setenv("KEIKO_RUN_TABLE", "table")
    monkeypatch.setenv("KEIKO_VALIDATION_SLICE_BYTES", value)

    # then it is read as whole bytes
    assert load_settings(ValidationSettings).validation_slice_bytes == expected


@pytest.mark.parametrize("value", ["1000.9", "many", "nan"])
def test_invalid_slice_bytes_named(monkeypatch, value):
    monkeypatch.setenv("KEIKO_DATA_BUCKET", "bucket")
    monkeypatch.setenv("KEIKO_RUN_TABLE", "table")
    monkeypatch.setenv("KEIKO_VALIDATION_SLICE_BYTES", value)

    with pytest.raises(SettingsError, match="KEIKO_VALIDATION_SLICE_BYTES"):
        load_settings(ValidationSettings)
