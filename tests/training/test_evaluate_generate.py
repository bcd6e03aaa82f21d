"""evaluate.py and generate.py on outputs of real training jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_support import assert_succeeded, records_for, run_entry, write_jsonl

pytestmark = pytest.mark.training

LORA = {"peft_type": "lora", "lora_r": "8", "lora_alpha": "16"}
COMMON = {"model_name_or_path": "tiny-llama", "profile": "local", "max_length": "128", "max_steps": "20"}


def train_job(tiny_base: Path, workdir: Path, method: str, shape: str) -> Path:
    train = write_jsonl(workdir / "train", records_for(shape))
    result = run_entry("train.py", workdir, {"method": method, **COMMON, **LORA}, {"train": train, "base": tiny_base})
    assert_succeeded(result)
    return result.model_dir


@pytest.fixture(scope="module")
def sft_adapter(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_job(tiny_base, tmp_path_factory.mktemp("sft"), "sft", "prompt-completion")


def test_evaluate_sft_reports_improvement(tiny_base: Path, sft_adapter: Path, tmp_path: Path) -> None:
    # Given an SFT adapter and held-out records with answers
    held_out = [{**record, "answer": record["completion"][0]["content"]} for record in records_for("prompt-completion")]
    validation = write_jsonl(tmp_path / "validation", held_out[:8])

    # When evaluate.py scores it against the base, with an external judge
    result = run_entry(
        "evaluate.py",
        tmp_path,
        {"model_name_or_path": "tiny-llama", "max_new_tokens": "4", "judge": "reward_plugins:response_length_judge"},
        {"validation": validation, "base": tiny_base, "model": sft_adapter},
        python_path=(Path(__file__).parent,),
    )

    # Then metrics.json has before/after loss, perplexity, exact match and the judge's score
    assert_succeeded(result)
    report = json.loads((result.model_dir / "metrics.json").read_text())
    assert report["schema_version"] == 1
    assert report["method"] == "sft"
    assert report["records"] == 8
    assert report["candidate"]["eval_loss"] < report["base"]["eval_loss"]
    assert report["loss_improvement"] > 0
    assert report["candidate"]["perplexity"] < report["base"]["perplexity"]
    assert 0 <= report["candidate"]["exact_match"] <= 1
    assert 0 <= report["candidate"]["judge_score"] <= 1
    assert result.metrics("loss_improvement") == [pytest.approx(report["loss_improvement"])]
    assert result.metrics("candidate_loss") == [pytest.approx(report["candidate"]["eval_loss"])]


def test_evaluate_dpo_preference_accuracy(tiny_base: Path, tmp_path: Path) -> None:
    # Given a DPO adapter trained on preference pairs
    adapter = train_job(tiny_base, tmp_path / "dpo", "dpo", "preference")
    validation = write_jsonl(tmp_path / "validation", records_for("preference")[:8])

    # When evaluate.py scores it with the base as reference
    result = run_entry(
        "evaluate.py",
        tmp_path / "eval",
        {"model_name_or_path": "tiny-llama"},
        {"validation": validation, "base": tiny_base, "model": adapter},
    )

    # Then the implicit reward ranks the chosen answers first more often than not
    assert_succeeded(result)
    report = json.loads((result.model_dir / "metrics.json").read_text())
    assert report["candidate"]["preference_accuracy"] > 0.5
    assert report["candidate"]["preference_margin"] > 0


def test_evaluate_reward_model_accuracy(tiny_base: Path, tmp_path: Path) -> None:
    # Given a reward model (LoRA on a classification head)
    adapter = train_job(tiny_base, tmp_path / "reward", "reward", "preference")
    validation = write_jsonl(tmp_path / "validation", records_for("preference")[:8])

    # When evaluate.py scores it
    result = run_entry(
        "evaluate.py",
        tmp_path / "eval",
        {"model_name_or_path": "tiny-llama"},
        {"validation": validation, "base": tiny_base, "model": adapter},
    )

    # Then it reports how often chosen outscores rejected
    assert_succeeded(result)
    report = json.loads((result.model_dir / "metrics.json").read_text())
    assert report["candidate"]["reward_accuracy"] > 0.5
    assert report["loss_improvement"] is None


def test_generate_is_seeded(tiny_base: Path, sft_adapter: Path, tmp_path: Path) -> None:
    # Given prompts as strings and as conversations
    prompts = [{"prompt": "Say something."}, {"messages": [{"role": "user", "content": "What do bees make?"}]}]
    channel = write_jsonl(tmp_path / "prompts", prompts * 2)
    hyperparameters = {"model_name_or_path": "tiny-llama", "num_prompts": "3", "max_new_tokens": "8"}
    channels = {"prompts": channel, "base": tiny_base, "model": sft_adapter}

    # When generate.py runs twice with the same seed
    first = run_entry("generate.py", tmp_path / "first", hyperparameters, channels)
    second = run_entry("generate.py", tmp_path / "second", hyperparameters, channels)

    # Then both write the same two responses for each of the first N prompts, prompts as given
    assert_succeeded(first)
    assert_succeeded(second)
    lines = [json.loads(line) for line in (first.model_dir / "responses.jsonl").read_text().splitlines()]
    assert (first.model_dir / "responses.jsonl").read_text() == (second.model_dir / "responses.jsonl").read_text()
    assert len(lines) == 3
    assert lines[0]["prompt"] == "Say something."
    assert lines[1]["prompt"] == prompts[1]["messages"]
    assert all(len(line["responses"]) == 2 for line in lines)
