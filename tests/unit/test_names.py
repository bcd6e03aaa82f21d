"""Run ids and SageMaker job names."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from keiko.names import JOB_NAME_PATTERN, RUN_ID_PATTERN, make_job_name, make_run_id, object_hash

STAGES = ["train", "evaluate", "generate", "dpo", "dpo-evaluate"]


def test_run_id_hashes_bucket_key_and_version():
    run_id = make_run_id("demo", "support-chat", "bucket", "datasets/demo/support-chat.jsonl", "v1")

    assert run_id == f"demo-support-chat-{object_hash('bucket', 'datasets/demo/support-chat.jsonl', 'v1')}"
    assert RUN_ID_PATTERN.match(run_id)


def test_run_id_differs_per_version():
    first = make_run_id("demo", "chat", "bucket", "datasets/demo/chat.jsonl", "v1")
    second = make_run_id("demo", "chat", "bucket", "datasets/demo/chat.jsonl", "v2")

    assert first != second


def test_run_id_of_unversioned_object_uses_null():
    assert object_hash("b", "k", None) == object_hash("b", "k", "null")


def test_run_id_lowercases_and_replaces_symbols():
    run_id = make_run_id("Support Team", "Chats+v2 日本語", "b", "k", "v")

    assert run_id.startswith("support-team-chats-v2-")


def test_run_id_shortens_long_parts_to_63():
    run_id = make_run_id("p" * 80, "n" * 80, "b", "k", "v")

    assert len(run_id) == 63
    assert run_id.startswith("pppppppp")
    assert "-nnn" in run_id


@given(
    project=st.text(min_size=0, max_size=120),
    name=st.text(min_size=0, max_size=120),
    version=st.one_of(st.none(), st.text(max_size=40)),
)
def test_run_id_always_valid(project, name, version):
    run_id = make_run_id(project, name, "bucket", "datasets/x.jsonl", version)

    assert len(run_id) <= 63
    assert RUN_ID_PATTERN.match(run_id), run_id


@given(
    project=st.text(max_size=120),
    name=st.text(max_size=120),
    stage=st.sampled_from(STAGES),
    attempt=st.integers(min_value=1, max_value=999),
)
def test_job_name_always_valid(project, name, stage, attempt):
    run_id = make_run_id(project, name, "bucket", "datasets/x.jsonl", "v")

    job_name = make_job_name(run_id, stage, attempt)

    assert len(job_name) <= 63
    assert JOB_NAME_PATTERN.match(job_name), job_name
    assert job_name.startswith("keiko-")
    assert job_name.endswith(f"-{stage}-{attempt}")
    assert run_id[-12:] in job_name


def test_long_job_name_keeps_hash():
    run_id = make_run_id("p" * 80, "n" * 80, "b", "k", "v")

    job_name = make_job_name(run_id, "dpo-evaluate", 12)

    assert re.fullmatch(r"keiko-p+-n*-?[0-9a-f]{12}-dpo-evaluate-12", job_name)


def test_job_name_retries_differ():
    run_id = make_run_id("demo", "chat", "b", "k", "v")

    assert make_job_name(run_id, "train", 1) != make_job_name(run_id, "train", 2)
