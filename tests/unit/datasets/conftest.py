"""Fixtures for dataset validation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import encode
from keiko.datasets import Report, validate_path


@pytest.fixture
def validate_lines(tmp_path: Path):
    """Return a function that writes records (dicts or raw bytes lines) as JSONL and validates them."""

    def run(records: list[dict | bytes], method: str = "sft", *, name: str = "data.jsonl", **options) -> Report:
        path = tmp_path / name
        path.write_bytes(b"".join(encode(record) + b"\n" for record in records))
        return validate_path(path, method, **options)

    return run
