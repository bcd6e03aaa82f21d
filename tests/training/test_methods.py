"""Every training method, run through train.py on the tiny model as a SageMaker job would run it."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest
import torch
from conftest import assert_succeeded, records_for, run_entry, write_jsonl
from keiko_training.models import ModelSource, load_candidate

pytestmark = pytest.mark.training

LORA = {"peft_type": "lora", "lora_r": "8", "lora_alpha": "16"}
COMMON = {"model_name_or_path": "tiny-llama", "profile": "local", "max_length": "128"}


def loss_fell(values: list[float]) -> bool:
    assert len(values) >= 6, f"too few loss values logged: {values}"
    return mean(values[-3:]) < mean(values[:3])


def load_output(tiny_base: Path, model_dir: Path):
    model = load_candidate(ModelSource("tiny-llama", tiny_base), model_dir)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(logits).all()
    return model


@pytest.mark.parametrize(
    ("method", "shape", "extra"),
    [
        ("pretrain", "text", {"max_steps": "20", "max_length": "32"}),
        ("cpt", "text", {"max_steps": "20", "max_length": "32", **LORA}),
        ("sft", "prompt-completion", {"max_steps": "20", **LORA}),
        ("sft", "messages", {"max_steps": "20", "peft_type": "none", "learning_rate": "1e-3"}),
        ("sft", "messages", {"max_steps": "20", "peft_type": "qlora", "lora_r": "8", "lora_alpha": "16"}),
        ("prompt-tuning", "prompt-completion", {"max_steps": "20", "num_virtual_tokens": "4"}),
        ("p-tuning", "prompt-completion", {"max_steps": "20", "num_virtual_tokens": "4"}),
        ("dpo", "preference", {"max_steps": "20", **LORA}),
        ("orpo", "preference", {"max_steps": "20", **LORA}),
        ("kto", "unpaired", {"max_steps": "20", **LORA}),
        ("reward", "preference", {"max_steps": "20", **LORA}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_method_loss_falls(
    tiny_base: Path, tmp_path: Path, method: str, shape: str, extra: dict[str, str]
) -> None:
    # Given a tiny base model and records of the method's dataset shape
    train = write_jsonl(tmp_path / "train", records_for(shape))
    validation = write_jsonl(tmp_path / "validation", records_for(shape)[:4])

    # When the job runs the method
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": method, **COMMON, **extra},
        {"train": train, "validation": validation, "base": tiny_base},
    )

    # Then the loss falls and the saved model loads
    assert_succeeded(result)
    assert loss_fell(result.metrics("loss")), result.metrics("loss")
    assert result.manifest["method"] == method
    if method != "reward":
        load_output(tiny_base, result.model_dir)
