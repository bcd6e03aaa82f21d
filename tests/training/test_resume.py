"""An interrupted job resumes from its last checkpoint and ends where an uninterrupted one does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training_support import assert_succeeded, records_for, run_entry, write_jsonl

pytestmark = pytest.mark.training

HYPERPARAMETERS = {
    "method": "sft",
    "model_name_or_path": "tiny-llama",
    "profile": "local",
    "max_length": "128",
    "max_steps": "10",
    "save_steps": "2",
    "save_total_limit": "null",
    "peft_type": "lora",
    "lora_r": "8",
    "lora_alpha": "16",
}


def test_resumed_run_matches_uninterrupted(tiny_base: Path, tmp_path: Path) -> None:
    # Given an uninterrupted run that kept a checkpoint every 2 steps
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))
    channels = {"train": train, "base": tiny_base}
    full = run_entry("train.py", tmp_path / "full", HYPERPARAMETERS, channels)
    assert_succeeded(full)

    # And the checkpoint folder a run stopped after step 4 leaves behind (later checkpoints never written)
    interrupted = tmp_path / "interrupted-checkpoints"
    interrupted.mkdir()
    shutil.copytree(full.checkpoint_dir / "checkpoint-4", interrupted / "checkpoint-4")

    # When the job starts again with that checkpoint folder
    resumed = run_entry("train.py", tmp_path / "resumed", HYPERPARAMETERS, channels, checkpoint_dir=interrupted)

    # Then it continues from step 5 and writes the same adapter weights
    assert_succeeded(resumed)
    assert "resuming from checkpoint" in resumed.stderr
    assert len(resumed.metrics("loss")) == 6
    expected = load_file(full.model_dir / "adapter_model.safetensors")
    actual = load_file(resumed.model_dir / "adapter_model.safetensors")
    assert expected.keys() == actual.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, rtol=0, atol=0, msg=name)


def test_checkpoints_land_in_checkpoint_dir(tiny_base: Path, tmp_path: Path) -> None:
    # Given a job that saves every 2 steps and keeps 2 checkpoints
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))

    # When it runs 6 steps
    result = run_entry(
        "train.py",
        tmp_path,
        {**HYPERPARAMETERS, "max_steps": "6", "save_total_limit": "2"},
        {"train": train, "base": tiny_base},
    )

    # Then the newest two checkpoints are in KEIKO_CHECKPOINT_DIR
    assert_succeeded(result)
    checkpoints = sorted(path.name for path in result.checkpoint_dir.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-4", "checkpoint-6"]


def test_sigterm_saves_checkpoint_and_fails(tiny_base: Path, tmp_path: Path) -> None:
    # Given a long job that would not save a checkpoint for 1000 steps
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))
    hyperparameters = {**HYPERPARAMETERS, "max_steps": "100000", "save_steps": "1000"}

    # When SageMaker stops it with SIGTERM after its first logged step
    result = run_entry(
        "train.py", tmp_path, hyperparameters, {"train": train, "base": tiny_base}, signal_after="name=loss "
    )

    # Then it saves a checkpoint at the current step, writes no final model, and reports why it stopped
    assert result.returncode == 1
    assert "received SIGTERM at step" in result.failure
    checkpoints = list(result.checkpoint_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 1
    assert (checkpoints[0] / "trainer_state.json").exists()
    assert not (result.model_dir / "adapter_model.safetensors").exists()


@pytest.mark.parametrize(
    "length",
    [{"max_steps": "4"}, {"max_steps": "-1", "epochs": "1"}],
    ids=["max_steps", "epochs"],
)
def test_rerun_of_finished_job_trains_nothing(tiny_base: Path, tmp_path: Path, length: dict[str, str]) -> None:
    # Given a job that trained to its last step and saved its model
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))
    validation = write_jsonl(tmp_path / "validation", records_for("prompt-completion")[:4])
    channels = {"train": train, "validation": validation, "base": tiny_base}
    hyperparameters = {**HYPERPARAMETERS, **length}
    first = run_entry("train.py", tmp_path / "job", hyperparameters, channels)
    assert_succeeded(first)
    checkpoints = sorted(path.name for path in first.checkpoint_dir.glob("checkpoint-*"))
    adapter = load_file(first.model_dir / "adapter_model.safetensors")
    metrics = first.manifest["metrics"]

    # When the same job runs again with the same folders, as a SageMaker retry or spot restart does
    second = run_entry("train.py", tmp_path / "job", hyperparameters, channels)

    # Then it trains no step, writes no checkpoint, and keeps the finished model and its metrics
    assert_succeeded(second)
    assert second.metrics("loss") == []
    assert sorted(path.name for path in second.checkpoint_dir.glob("checkpoint-*")) == checkpoints
    rerun_adapter = load_file(second.model_dir / "adapter_model.safetensors")
    assert rerun_adapter.keys() == adapter.keys()
    for name, tensor in adapter.items():
        torch.testing.assert_close(rerun_adapter[name], tensor, rtol=0, atol=0, msg=name)
    assert second.manifest["metrics"] == metrics


def test_rerun_without_recorded_metrics_evaluates(tiny_base: Path, tmp_path: Path) -> None:
    # Given a job whose last checkpoint is at its last step but contains no final metrics,
    # as when SIGTERM arrives during the last step
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))
    validation = write_jsonl(tmp_path / "validation", records_for("prompt-completion")[:4])
    channels = {"train": train, "validation": validation, "base": tiny_base}
    hyperparameters = {**HYPERPARAMETERS, "max_steps": "4"}
    first = run_entry("train.py", tmp_path / "job", hyperparameters, channels)
    assert_succeeded(first)
    (first.checkpoint_dir / "checkpoint-4" / "keiko-final-metrics.json").unlink()
    adapter = load_file(first.model_dir / "adapter_model.safetensors")

    # When the same job runs again
    second = run_entry("train.py", tmp_path / "job", hyperparameters, channels)

    # Then it trains no step, keeps the adapter, evaluates it again and notes the missing training metrics
    assert_succeeded(second)
    assert second.metrics("loss") == []
    assert not (second.checkpoint_dir / "checkpoint-5").exists()
    rerun_adapter = load_file(second.model_dir / "adapter_model.safetensors")
    for name, tensor in adapter.items():
        torch.testing.assert_close(rerun_adapter[name], tensor, rtol=0, atol=0, msg=name)
    metrics = second.manifest["metrics"]
    assert "train_loss" not in metrics
    assert metrics["eval_loss"] == pytest.approx(first.manifest["metrics"]["eval_loss"])
    assert "before its metrics were recorded" in second.manifest["notes"][-1]
