"""The container contract: arguments, channels, failure reports, metric lines and their regexes."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keiko.recipe import Method
from keiko_training.contract import ContainerPaths, ContractError, configure_offline, parse_arguments, write_failure
from keiko_training.data import check_columns, read_records
from keiko_training.metrics import (
    METHOD_METRICS,
    evaluation_metric_definitions,
    format_metric,
    metric_definitions,
    parse_metric,
)
from keiko_training.models import find_model_folder
from training_support import records_for, run_entry, write_jsonl

METRIC_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_/.-0123456789", min_size=1, max_size=40)


@given(name=METRIC_NAMES, value=st.floats(allow_nan=False), step=st.integers(min_value=0, max_value=10**9))
def test_metric_line_round_trips(name: str, value: float, step: int) -> None:
    line = format_metric(name, value, step)

    parsed = parse_metric(line)

    assert parsed is not None
    assert parsed.name == name
    assert parsed.value == value
    assert parsed.step == step


@given(value=st.floats(allow_nan=False), step=st.integers(min_value=0, max_value=10**6))
def test_metric_definitions_extract_value(value: float, step: int) -> None:
    for method in METHOD_METRICS:
        for definition in metric_definitions(method):
            line = format_metric(definition["Name"], value, step)

            matches = [d["Name"] for d in metric_definitions(method) if re.search(d["Regex"], line)]

            assert matches == [definition["Name"]], line
            assert float(re.search(definition["Regex"], line).group(1)) == value


def test_metric_definitions_fit_sagemaker_limits() -> None:
    for method in Method:
        definitions = metric_definitions(method.value)
        assert len(definitions) <= 40
        assert all(len(d["Regex"]) <= 500 and 1 <= len(d["Name"]) <= 255 for d in definitions)
    assert {d["Name"] for d in evaluation_metric_definitions()} >= {"candidate_loss", "loss_improvement"}


def test_metric_name_replaces_invalid_characters() -> None:
    assert (
        format_metric("rewards/my reward:mean", 1.0, 2) == "keiko_metric name=rewards/my_reward_mean value=1.0 step=2"
    )


def test_parse_metric_ignores_other_lines() -> None:
    assert parse_metric("{'loss': 1.0}") is None
    assert parse_metric("keiko_metric name=loss value=abc step=1") is None


def test_parse_arguments_accepts_both_forms() -> None:
    assert parse_arguments(["--learning-rate", "0.1", "--method=sft"]) == {"learning_rate": "0.1", "method": "sft"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--method"], "--method has no value"), (["sft"], "unexpected argument 'sft'"), (["--"], "unexpected")],
)
def test_parse_arguments_rejects_malformed(argv: list[str], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_arguments(argv)


def test_container_paths_defaults_and_channels(tmp_path: Path) -> None:
    paths = ContainerPaths.from_environ({"SM_CHANNEL_TRAIN": str(tmp_path), "SM_CHANNELS": '["train"]'})

    assert paths.model_dir == Path("/opt/ml/model")
    assert paths.output_dir == Path("/opt/ml/output")
    assert paths.checkpoint_dir == Path("/opt/ml/checkpoints")
    assert paths.channel("train") == tmp_path
    assert paths.channel("validation") is None
    with pytest.raises(ContractError, match="missing input channel TEACHER"):
        paths.require_channel("teacher", "the teacher model")


def test_missing_channel_folder_is_named(tmp_path: Path) -> None:
    paths = ContainerPaths.from_environ({"SM_CHANNEL_BASE": str(tmp_path / "absent")})

    with pytest.raises(ContractError, match="SM_CHANNEL_BASE"):
        paths.channel("base")


def test_write_failure_is_one_line(tmp_path: Path) -> None:
    path = write_failure(tmp_path, "ValueError: first line\nsecond line " + "x" * 2000)

    text = path.read_text()
    assert text.count("\n") == 1
    assert text.startswith("ValueError: first line second line")
    assert len(text) == 1025


@pytest.mark.parametrize(
    ("environ", "hub_needed", "offline"),
    [({}, False, True), ({}, True, False), ({"KEIKO_OFFLINE": "1"}, True, True)],
)
def test_configure_offline(environ: dict[str, str], hub_needed: bool, offline: bool) -> None:
    assert configure_offline(environ, hub_needed) is offline
    assert (environ.get("HF_HUB_OFFLINE") == "1") is offline


def test_read_records_names_bad_line(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"text": "a"}\n{"text": \n')

    with pytest.raises(ContractError, match="data.jsonl line 2: invalid JSON"):
        read_records(tmp_path)


def test_check_columns_names_record() -> None:
    records = records_for("preference")[:2] + [{"prompt": "x", "chosen": "y"}]

    with pytest.raises(ContractError, match=r"train record 3: dpo needs the columns \{chosen, rejected\}"):
        check_columns(Method.DPO, records, "train")


def test_find_model_folder_extracts_tarball(tiny_base: Path, tmp_path: Path) -> None:
    channel = tmp_path / "base"
    channel.mkdir()
    with tarfile.open(channel / "model.tar.gz", "w:gz") as archive:
        for path in tiny_base.iterdir():
            archive.add(path, arcname=path.name)

    folder = find_model_folder(channel, work_dir=tmp_path)

    assert (folder / "config.json").exists()
    assert folder != channel


def test_find_model_folder_rejects_empty(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no model in"):
        find_model_folder(tmp_path)


@pytest.mark.parametrize(
    ("hyperparameters", "channels", "reason"),
    [
        ({"method": "tune"}, {}, "invalid --method 'tune'"),
        ({"method": "sft", "model_name_or_path": "m", "learning_rate": "2"}, {}, "learning_rate"),
        ({"method": "sft", "model_name_or_path": "m"}, {"base": "BASE"}, "missing input channel TRAIN"),
        ({"method": "dpo", "model_name_or_path": "m"}, {"base": "BASE", "train": "SFT_DATA"}, "record 1: dpo needs"),
        ({"method": "kto", "model_name_or_path": "m"}, {"base": "BASE", "train": "KTO_ONE_LABEL"}, "both desirable"),
        ({"method": "distill", "model_name_or_path": "m"}, {"base": "BASE", "train": "PROMPTS"}, "give the TEACHER"),
    ],
    ids=["method", "learning-rate", "train-channel", "columns", "kto-labels", "distill-prompts"],
)
@pytest.mark.training
def test_failure_reason_written(
    tiny_base: Path, tmp_path: Path, hyperparameters: dict, channels: dict, reason: str
) -> None:
    # Given a job with one invalid input
    data = {
        "BASE": tiny_base,
        "SFT_DATA": write_jsonl(tmp_path / "sft", records_for("prompt-completion")),
        "KTO_ONE_LABEL": write_jsonl(tmp_path / "kto", [r for r in records_for("unpaired") if r["label"]]),
        "PROMPTS": write_jsonl(tmp_path / "prompts", records_for("prompt")),
    }

    # When train.py runs
    result = run_entry("train.py", tmp_path, hyperparameters, {name: data[key] for name, key in channels.items()})

    # Then it exits non-zero with a one-line reason in the failure file
    assert result.returncode == 1
    assert reason in result.failure
    assert result.failure.count("\n") == 1
