"""Opening and closing the emulated account: environment, parameters, one account at a time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keiko_local import LocalAccount
from keiko_local.template import TemplateError

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = FIXTURES / "project"
MINIMAL = FIXTURES / "minimal"


def test_account_restores_environment(tmp_path):
    # Given a variable that would point boto3 at a real profile
    os.environ["AWS_PROFILE"] = "someone-real"
    try:
        # When an account opens and closes
        with LocalAccount(MINIMAL, workdir=tmp_path) as account:
            assert "AWS_PROFILE" not in os.environ
            assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
            assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
            assert account.outputs["DataBucketName"]
        # Then the environment is as before
        assert os.environ["AWS_PROFILE"] == "someone-real"
    finally:
        os.environ.pop("AWS_PROFILE", None)


def test_unknown_parameter_rejected(tmp_path):
    with pytest.raises(TemplateError, match="NoSuchParameter.*ScheduleState"):
        with LocalAccount(PROJECT, workdir=tmp_path, parameters={"NoSuchParameter": "x"}):
            pass


def test_second_open_account_rejected(tmp_path):
    with LocalAccount(MINIMAL, workdir=tmp_path / "first"):
        with pytest.raises(RuntimeError, match="Another LocalAccount"):
            LocalAccount(MINIMAL, workdir=tmp_path / "second").start()
