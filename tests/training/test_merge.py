"""Merging LoRA adapters through train.py --method merge."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from keiko_training.models import ModelSource, load_candidate
from training_support import assert_succeeded, run_entry

pytestmark = pytest.mark.training

INPUT = torch.tensor([[3, 17, 42, 99, 5]])


def make_adapter(base: Path, folder: Path, seed: int, rank: int = 4) -> Path:
    """Save a LoRA adapter with random, non-zero weights (as if trained)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), config)
    model.save_pretrained(folder)
    return folder


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits


@pytest.fixture
def adapters(tiny_base: Path, tmp_path: Path) -> Path:
    channel = tmp_path / "adapters"
    make_adapter(tiny_base, channel / "a-math", seed=1)
    make_adapter(tiny_base, channel / "b-support", seed=2)
    return channel


@pytest.mark.parametrize("combination", ["linear", "ties", "dare_ties", "dare_linear"])
def test_merge_adapters_loads(tiny_base: Path, tmp_path: Path, adapters: Path, combination: str) -> None:
    # Given two LoRA adapters of the tiny base
    base = ModelSource("tiny-llama", tiny_base)

    # When they are merged into one adapter
    result = run_entry(
        "train.py",
        tmp_path,
        {
            "method": "merge",
            "model_name_or_path": "tiny-llama",
            "combination_type": combination,
            "weights": "[0.7, 0.3]",
        },
        {"adapters": adapters, "base": tiny_base},
    )

    # Then one adapter comes out, loads on the base and changes its output
    assert_succeeded(result)
    assert (result.model_dir / "adapter_config.json").exists()
    assert result.manifest["format"] == "adapter"
    merged = logits(load_candidate(base, result.model_dir))
    assert not torch.allclose(merged, logits(load_candidate(base, None)))


def test_merge_into_base_matches_adapter(tiny_base: Path, tmp_path: Path, adapters: Path) -> None:
    # Given the same adapters merged once as an adapter and once into the base weights
    channels = {"adapters": adapters, "base": tiny_base}
    common = {"method": "merge", "model_name_or_path": "tiny-llama", "combination_type": "ties"}
    as_adapter = run_entry("train.py", tmp_path / "adapter", common, channels)
    into_base = run_entry("train.py", tmp_path / "full", {**common, "merge_into_base": "true"}, channels)

    # When both outputs are loaded
    assert_succeeded(as_adapter)
    assert_succeeded(into_base)
    base = ModelSource("tiny-llama", tiny_base)

    # Then the full weights give the same logits as base + merged adapter
    assert into_base.manifest["format"] == "full"
    assert not (into_base.model_dir / "adapter_config.json").exists()
    torch.testing.assert_close(
        logits(load_candidate(base, into_base.model_dir)),
        logits(load_candidate(base, as_adapter.model_dir)),
        atol=1e-4,
        rtol=1e-4,
    )


def test_merge_single_adapter_needs_merge_into_base(tiny_base: Path, tmp_path: Path) -> None:
    # Given one adapter only
    channel = tmp_path / "adapters"
    make_adapter(tiny_base, channel / "only", seed=3)

    # When a merge without merge_into_base runs
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "merge", "model_name_or_path": "tiny-llama"},
        {"adapters": channel, "base": tiny_base},
    )

    # Then it fails with a reason that names the fix
    assert result.returncode != 0
    assert "merge_into_base" in result.failure
