"""`keiko validate` on the sample datasets, through the real command-line entry point."""

import json
import os
import subprocess
import sys
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


def test_summary_without_output_dir_gives_split(capsys):
    # Given a valid sample validated without --output-dir
    code = main(["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft"])
    output = capsys.readouterr().out
    # Then the summary gives the split counts and says the files were not written, with no "None"
    assert code == 0
    assert "None" not in output
    split_line = next(line for line in output.splitlines() if line.strip().startswith("train "))
    train, evaluation = (int(part.split()[-1]) for part in split_line.split(";")[0].split(","))
    assert train + evaluation == 8
    assert evaluation >= 1
    assert "--output-dir" in split_line


def test_identical_records_exit_one(tmp_path, capsys):
    # Given six identical records, which leave one distinct record
    path = tmp_path / "same.jsonl"
    path.write_text('{"prompt": "a?", "completion": "b."}\n' * 6)
    # When it is validated, with and without output files
    code = main(["validate", str(path), "--method", "sft", "--output-dir", str(tmp_path / "out")])
    output = capsys.readouterr().out
    bare_code = main(["validate", str(path), "--method", "sft"])
    # Then it is invalid with the empty split named, and no files are written
    assert code == 1
    assert bare_code == 1
    assert "INVALID" in output
    assert "error empty_split: 1" in output
    assert "dataset: the evaluation split has no records" in output
    assert list((tmp_path / "out").iterdir()) == []


def test_closed_pipe_exits_quietly(tmp_path):
    # Given a reader that has closed its end of the pipe, as `head -1` does after one line
    read_end, write_end = os.pipe()
    os.close(read_end)
    # When keiko validate prints its JSON report into that pipe
    try:
        result = subprocess.run(
            [sys.executable, "-m", "keiko_cli.main", "validate", str(SAMPLES / "sft-messages.jsonl")]
            + ["--method", "sft", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    # Then it prints no traceback and still exits with the verdict
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr
    assert result.returncode == 0


def test_tokenizer_folder_calibrates_tokens(tmp_path, capsys):
    # Given a Hugging Face tokenizer saved in a local folder
    pytest.importorskip("transformers")
    from keiko_training.tiny import train_tokenizer

    texts = [line for line in (SAMPLES / "sft-messages.jsonl").read_text().splitlines()]
    train_tokenizer(texts, vocab_size=300).save_pretrained(tmp_path / "tokenizer")
    # When keiko validate is given that folder
    code = main(
        ["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--json"]
        + ["--tokenizer", str(tmp_path / "tokenizer")]
    )
    report = json.loads(capsys.readouterr().out)
    # Then token counts are measured with it and not flagged as estimates
    assert code == 0
    assert report["stats"]["token_estimate"].startswith("calibrated with")
    assert "tokens_estimated" not in report["warnings_by_kind"]


def test_tokenizer_folder_missing_is_usage_error(tmp_path, capsys):
    code = main(
        ["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--tokenizer", str(tmp_path / "none")]
    )
    error = capsys.readouterr().err
    assert code == 2
    assert "--tokenizer" in error
    assert str(tmp_path / "none") in error


def test_estimate_warning_names_real_option(capsys):
    main(["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--json"])
    report = json.loads(capsys.readouterr().out)
    warning = next(item for item in report["warnings"] if item["kind"] == "tokens_estimated")
    assert "--tokenizer" in warning["message"]
    assert "pass a tokenizer" not in warning["message"]


def test_output_dir_file_is_usage_error(tmp_path, capsys):
    # given an --output-dir path that is an existing file
    existing_file = tmp_path / "existing_file.jsonl"
    existing_file.write_text("keep me\n")

    # when keiko validate runs, then it is a usage error naming the path, and the file is untouched
    status = main(
        ["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--output-dir", str(existing_file)]
    )

    assert status == 2
    assert f"{existing_file} is not a folder" in capsys.readouterr().err
    assert existing_file.read_text() == "keep me\n"


def test_output_dir_below_a_file_is_usage_error(tmp_path, capsys):
    existing_file = tmp_path / "existing_file"
    existing_file.write_text("")

    status = main(
        ["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--output-dir", str(existing_file / "out")]
    )

    assert status == 2
    assert f"{existing_file} is not a folder" in capsys.readouterr().err


def test_eval_fraction_and_seed_change_split(capsys):
    # given the same sample validated with the defaults and with a recipe's split settings
    sample = str(SAMPLES / "sft-prompt-completion.jsonl")
    main(["validate", sample, "--method", "sft", "--json"])
    default = json.loads(capsys.readouterr().out)

    status = main(["validate", sample, "--method", "sft", "--json", "--eval-fraction", "0.4", "--seed", "7"])

    # then the split follows the settings
    custom = json.loads(capsys.readouterr().out)
    assert status == 0
    assert custom["eval_records"] > default["eval_records"]
    assert custom["train_records"] + custom["eval_records"] == default["train_records"] + default["eval_records"]


def test_eval_fraction_out_of_range_is_usage_error(capsys):
    status = main(["validate", str(SAMPLES / "sft-messages.jsonl"), "--method", "sft", "--eval-fraction", "0.5"])

    assert status == 2
    assert "--eval-fraction must be above 0 and below 0.5" in capsys.readouterr().err
