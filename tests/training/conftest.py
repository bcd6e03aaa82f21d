"""Fixtures for the training tests; the helpers they use live in training_support.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from keiko_training.tiny import build_tiny_model
from training_support import corpus


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "base", corpus())
