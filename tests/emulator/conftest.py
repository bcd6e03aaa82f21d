"""Emulated accounts deployed from the fixture templates, one per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from keiko_local import LocalAccount

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = FIXTURES / "project"
MINIMAL = FIXTURES / "minimal"


@pytest.fixture(scope="module")
def project_account(tmp_path_factory):
    with LocalAccount(PROJECT, workdir=tmp_path_factory.mktemp("project-account")) as account:
        yield account


@pytest.fixture(scope="module")
def minimal_account(tmp_path_factory):
    with LocalAccount(MINIMAL, workdir=tmp_path_factory.mktemp("minimal-account")) as account:
        yield account
