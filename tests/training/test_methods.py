"""Every training method, run through train.py on the tiny model as a SageMaker job would run it."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

import pytest
import torch
from keiko_training.models import ModelSource, load_candidate
from training_support import assert_succeeded, records_for, run_entry, write_jsonl

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
        ("sft", "prompt-completion", {"max_steps": "20", "eval_steps": "10", **LORA}),
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
def test_method_loss_falls(tiny_base: Path, tmp_path: Path, method: str, shape: str, extra: dict[str, str]) -> None:
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
    assert result.manifest["metrics"]["eval_loss"] == result.metrics("eval_loss")[-1]
    if "eval_steps" in extra:
        assert len(result.metrics("eval_loss")) == 2  # steps 10 and 20, and not again after training
    if method != "reward":
        load_output(tiny_base, result.model_dir)


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keiko_training.tiny import build_tiny_model
    from training_support import corpus

    # The same texts give the same tokenizer, which logit distillation needs; the seed changes the weights.
    return build_tiny_model(tmp_path_factory.mktemp("teacher") / "teacher", corpus(), seed=7)


@pytest.mark.parametrize(("shape", "component"), [("messages", "GKD"), ("prompt", "on-policy")])
def test_distill_from_teacher_loss_falls(
    tiny_base: Path, tiny_teacher: Path, tmp_path: Path, shape: str, component: str
) -> None:
    # Given a teacher with the student's vocabulary and distillation records
    train = write_jsonl(tmp_path / "train", records_for(shape))

    # When the distill job runs with the teacher channel
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "distill", **COMMON, "max_steps": "20", **LORA},
        {"train": train, "base": tiny_base, "teacher": tiny_teacher},
    )

    # Then the divergence from the teacher falls and the adapter loads
    assert_succeeded(result)
    assert loss_fell(result.metrics("loss")), (component, result.metrics("loss"))
    assert result.manifest["peft_type"] == "LORA"
    load_output(tiny_base, result.model_dir)


def test_distill_without_teacher_is_sft(tiny_base: Path, tmp_path: Path) -> None:
    # Given teacher-written records and no teacher model
    train = write_jsonl(tmp_path / "train", records_for("messages"))

    # When the distill job runs
    result = run_entry(
        "train.py",
        tmp_path,
        {"method": "distill", **COMMON, "max_steps": "20", **LORA},
        {"train": train, "base": tiny_base},
    )

    # Then it trains with SFT on the records and records that in the manifest
    assert_succeeded(result)
    assert loss_fell(result.metrics("loss"))
    assert any("SFT" in note for note in result.manifest["notes"])


@pytest.mark.parametrize("method", ["grpo", "rloo"])
def test_online_rl_reward_rises(tiny_base: Path, tmp_path: Path, method: str) -> None:
    # Given prompts with answers, a custom reward and the built-in ones (weighted 0, so only logged)
    train = write_jsonl(tmp_path / "train", records_for("prompt-answer"))
    rewards = '["reward_plugins:vowel_share", "exact_match", "format", "length"]'

    # When the job trains all weights of the tiny policy online
    result = run_entry(
        "train.py",
        tmp_path,
        {
            "method": method,
            **COMMON,
            "max_steps": "30",
            "peft_type": "none",
            "learning_rate": "1e-2",
            "reward_functions": rewards,
            "reward_weights": "[1, 0, 0, 0]",
        },
        {"train": train, "base": tiny_base},
        python_path=(Path(__file__).parent,),
    )

    # Then the custom reward rises, every reward function is logged, and the model loads
    assert_succeeded(result)
    reward = result.metrics("rewards/vowel_share/mean")
    assert mean(reward[-5:]) > mean(reward[:5]), reward
    for name in ("exact_match", "format", "length"):
        assert result.metrics(f"rewards/{name}/mean"), name
    assert result.manifest["format"] == "full"
    load_output(tiny_base, result.model_dir)


def test_grpo_with_reward_model_channel(tiny_base: Path, tmp_path: Path) -> None:
    # Given a reward model adapter trained by a reward job
    reward = run_entry(
        "train.py",
        tmp_path / "reward",
        {"method": "reward", **COMMON, "max_steps": "5", **LORA},
        {"train": write_jsonl(tmp_path / "pairs", records_for("preference")), "base": tiny_base},
    )
    assert_succeeded(reward)

    # When GRPO scores completions with it through the REWARD channel
    result = run_entry(
        "train.py",
        tmp_path / "grpo",
        {"method": "grpo", **COMMON, "max_steps": "3", **LORA, "reward_functions": '["reward_model"]'},
        {
            "train": write_jsonl(tmp_path / "prompts", records_for("prompt")),
            "base": tiny_base,
            "reward": reward.model_dir,
        },
    )

    # Then every step logs a reward from the model
    assert_succeeded(result)
    assert len(result.metrics("reward")) == 3
