"""Where a job's model comes from: a tarball base, a starting adapter, QLoRA's CPU fallback."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from safetensors.torch import load_file
from training_support import assert_succeeded, records_for, run_entry, write_jsonl

pytestmark = pytest.mark.training

COMMON = {"model_name_or_path": "tiny-llama", "profile": "local", "max_length": "128", "max_steps": "10"}
LORA = {"peft_type": "lora", "lora_r": "8", "lora_alpha": "16"}


def tarball(folder: Path, channel: Path) -> Path:
    """Pack a model folder as SageMaker packs SM_MODEL_DIR: model.tar.gz with files at the top."""
    channel.mkdir(parents=True)
    with tarfile.open(channel / "model.tar.gz", "w:gz") as archive:
        for path in folder.iterdir():
            archive.add(path, arcname=path.name)
    return channel


def test_dpo_continues_sft_adapter_from_tarballs(tiny_base: Path, tmp_path: Path) -> None:
    # Given an SFT job whose output and base both arrive as model.tar.gz, as in the preference loop
    base_channel = tarball(tiny_base, tmp_path / "base-channel")
    sft = run_entry(
        "train.py",
        tmp_path / "sft",
        {"method": "sft", **COMMON, **LORA},
        {"train": write_jsonl(tmp_path / "sft-data", records_for("prompt-completion")), "base": base_channel},
    )
    assert_succeeded(sft)

    # When DPO starts from the SFT adapter in the MODEL channel
    dpo = run_entry(
        "train.py",
        tmp_path / "dpo",
        {"method": "dpo", **COMMON},
        {
            "train": write_jsonl(tmp_path / "dpo-data", records_for("preference")),
            "base": base_channel,
            "model": tarball(sft.model_dir, tmp_path / "sft-channel"),
        },
    )

    # Then it trains that adapter further: same modules, new weights, and the manifest records the start
    assert_succeeded(dpo)
    assert dpo.metrics("loss")[-1] < dpo.metrics("loss")[0]
    before = load_file(sft.model_dir / "adapter_model.safetensors")
    after = load_file(dpo.model_dir / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not (before[name] == after[name]).all() for name in before)
    assert dpo.manifest["started_from"]["method"] == "sft"
    assert dpo.manifest["base_model"] == "tiny-llama"


def test_qlora_without_gpu_trains_lora(tiny_base: Path, tmp_path: Path) -> None:
    # Given a QLoRA request on a machine without a CUDA GPU
    train = write_jsonl(tmp_path / "train", records_for("messages"))

    # When the SFT job runs
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "sft", **COMMON, "peft_type": "qlora", "lora_r": "8", "lora_alpha": "16"},
        {"train": train, "base": tiny_base},
    )

    # Then it logs why and trains LoRA instead
    assert_succeeded(result)
    assert "QLoRA needs a CUDA GPU and bitsandbytes" in result.stderr
    assert any("training LoRA instead" in note for note in result.manifest["notes"])
    assert result.manifest["peft_type"] == "LORA"


def test_hub_id_without_channel_fails_offline(tmp_path: Path) -> None:
    # Given no BASE channel, a hub id, and KEIKO_OFFLINE=1 with an empty hub cache
    train = write_jsonl(tmp_path / "train", records_for("messages"))

    # When the job runs
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "sft", **COMMON, "model_name_or_path": "example-org/absent-model"},
        {"train": train},
    )

    # Then it fails without a network call and names the model
    assert result.returncode == 1
    assert "absent-model" in result.failure


def test_torchrun_two_processes_share_batches(tiny_base: Path, tmp_path: Path) -> None:
    # Given 16 records, 2 per device batch, and two processes on this host
    train = write_jsonl(tmp_path / "train", records_for("prompt-completion"))

    # When train.py launches itself with torchrun
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "sft", **COMMON, "max_steps": "4", **LORA},
        {"train": train, "base": tiny_base},
        extra_environ={"KEIKO_NPROC_PER_NODE": "2", "KEIKO_MASTER_PORT": "29531"},
    )

    # Then each step consumes 4 records (2 processes x 2), metrics print once per step, the adapter is saved
    assert_succeeded(result)
    assert result.metrics("epoch")[:2] == [0.25, 0.5]
    assert len(result.metrics("loss")) == 4
    assert (result.model_dir / "adapter_model.safetensors").exists()
