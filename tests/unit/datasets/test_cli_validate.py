"""`keiko validate` on the sample datasets, through the real command-line entry point."""

import json
from pathlib import Path

import pytest

from keiko_cli.main import main

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "methods"

VALID = [
    ("pretrain.jsonl", "pretrain", [], "text"),
    ("cpt.jsonl", "cpt", [], "text"),
    ("sft-messages.jsonl", "sft", [], "messages"),
    ("sft-messages.jsonl.gz", "sft", [], "messages"),
    ("sft-prompt-completion.jsonl", "sft", [], "prompt-completion"),
    ("sft-prompt-completion.csv", "sft", [], "prompt-completion"),
    ("sft-instruction.jsonl", "sft", [], "instruction-input-output"),
    ("prompt-tuning.json", "prompt-tuning", [], "prompt-completion"),
    ("p-tuning.jsonl", "p-tuning", [], "prompt-completion"),
    ("dpo-explicit-prompt.jsonl", "dpo", [], "preference-explicit-prompt"),
    ("dpo-implicit-prompt.jsonl", "dpo", [], "preference-implicit-prompt"),
    ("dpo-conversational.jsonl", "dpo", [], "conversational-preference-explicit-prompt"),
    ("orpo.jsonl", "orpo", [], "preference-explicit-prompt"),
    ("reward.jsonl", "reward", [], "conversational-preference-implicit-prompt"),
    ("kto.jsonl", "kto", [], "unpaired-preference"),
    ("grpo.jsonl", "grpo", ["--reward-column", "solution"], "prompt-only"),
    ("rloo.jsonl", "rloo", ["--reward-column", "solution"], "conversational-prompt-only"),
    ("distill.jsonl", "distill", [], "prompt-only"),
    ("bedrock-sft.jsonl", "sft", ["--backend", "bedrock"], "bedrock-conversation-2024"),
]

INVALID = [
    ("invalid/sft-mixed-formats.jsonl", "sft", [], {"mixed_formats": 1}),
    ("invalid/sft-bad-turns.jsonl", "sft", [], {"bad_turn_order": 1, "invalid_role": 1}),
    ("invalid/dpo-identical-and-empty.jsonl", "dpo", [], {"empty_field": 1, "identical_answers": 1}),
    ("invalid/kto-one-label.jsonl", "kto", [], {"label_imbalance": 1}),
    (
        "invalid/grpo-missing-column.jsonl",
        "grpo",
        ["--reward-column", "solution"],
        {"missing_field": 1, "type_drift": 1},
    ),
    ("invalid/sft-encoding.jsonl", "sft", [], {"invalid_utf8": 1, "nan_or_infinity": 1}),
]


@pytest.mark.parametrize(("name", "method", "extra", "record_format"), VALID)
def test_valid_sample_exits_zero(capsys, name, method, extra, record_format):
    code = main(["validate", str(SAMPLES / name), "--method", method, "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["valid"] is True
    assert report["format"] == record_format
    assert report["invalid_records"] == 0


@pytest.mark.parametrize(("name", "method", "extra", "errors"), INVALID)
def test_invalid_sample_exits_one(capsys, name, method, extra, errors):
    code = main(["validate", str(SAMPLES / name), "--method", method, "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["errors_by_kind"] == errors


def test_readable_summary(capsys):
    code = main(["validate", str(SAMPLES / "invalid/sft-mixed-formats.jsonl"), "--method", "sft"])
    output = capsys.readouterr().out
    assert code == 1
    assert "INVALID" in output
    assert "line 4:" in output


def test_output_dir_gets_split(tmp_path, capsys):
    code = main(["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--output-dir", str(tmp_path)])
    assert code == 0
    lines = (tmp_path / "train.jsonl").read_text().splitlines() + (tmp_path / "eval.jsonl").read_text().splitlines()
    assert len(lines) == 8


def test_missing_file_is_usage_error(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "missing.jsonl"), "--method", "sft"])
    assert code == 2
    assert "is not a file" in capsys.readouterr().err


def test_unknown_method_names_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "lora"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'lora'" in error
    assert "'sft'" in error
    assert "'kto'" in error
