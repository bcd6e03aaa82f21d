"""Fixtures for workflow tests: template.yaml deployed into the emulated account, a tiny model in S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workflow_support import DEMO_DATASET, ROOT, TINY_MODEL_PREFIX, data_bucket

from keiko_local.account import LocalAccount
from keiko_local.project import upload_training_code


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keiko_training.tiny import build_tiny_model

    texts = []
    for line in DEMO_DATASET.read_text(encoding="utf-8").splitlines():
        texts.extend(message["content"] for message in json.loads(line)["messages"])
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts)


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path):
    with LocalAccount(project_root=ROOT, workdir=tmp_path_factory.mktemp("account")) as account:
        upload_training_code(account)
        bucket = data_bucket(account)
        for path in sorted(tiny_model_dir.iterdir()):
            if path.is_file():
                key = TINY_MODEL_PREFIX + path.name
                account.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        yield account
