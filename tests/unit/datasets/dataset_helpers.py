"""Records and assertions shared by the dataset validation tests."""

from __future__ import annotations

import json

from keiko.datasets import Report


def chat(user: str = "How do I reset my password?", assistant: str = "Open Settings, then Security.") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def encode(record: dict | bytes) -> bytes:
    return record if isinstance(record, bytes) else json.dumps(record, ensure_ascii=False).encode()


def only_error(report: Report):
    """Return the single error example of a report, failing when there is not exactly one."""
    assert len(report.errors) == 1, report.errors
    return report.errors[0]
