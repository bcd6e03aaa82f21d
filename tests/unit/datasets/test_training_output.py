import json

import pytest
from keiko.datasets import validate_path


def write(tmp_path, records):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def variant(value):
    """Return a distinct record of the same format: every text gets a suffix, roles and labels stay."""
    if isinstance(value, str):
        return value + " Again."
    if isinstance(value, list):
        return [variant(item) for item in value]
    if isinstance(value, dict):
        return {key: item if key in ("role", "schemaVersion") else variant(item) for key, item in value.items()}
    return value


def output(tmp_path, records, method, **options):
    """Validate the records plus a variant of the first, since a valid dataset fills both splits."""
    path = write(tmp_path, [*records, variant(records[0])])
    report = validate_path(path, method, output_dir=tmp_path / "out", eval_fraction=0.01, **options)
    assert report.valid, report.errors
    lines = (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    lines += (tmp_path / "out" / "eval.jsonl").read_text().splitlines()
    return report, [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("method", "record", "expected"),
    [
        ("pretrain", {"text": "Some text.", "id": 7}, {"text": "Some text."}),
        ("sft", {"prompt": "a?", "completion": "b.", "source": "x"}, {"prompt": "a?", "completion": "b."}),
        (
            "sft",
            {"instruction": "Translate.", "input": "Hallo", "output": "Hello"},
            {"prompt": "Translate.\n\nHallo", "completion": "Hello"},
        ),
        ("sft", {"instruction": "Say hi.", "output": "Hi"}, {"prompt": "Say hi.", "completion": "Hi"}),
        (
            "dpo",
            {"chosen": "Q: sky? A: blue", "rejected": "Q: sky? A: green"},
            {"prompt": "Q: sky? A:", "chosen": " blue", "rejected": " green"},
        ),
        (
            "kto",
            {"prompt": "a?", "completion": "b.", "label": False},
            {"prompt": "a?", "completion": "b.", "label": False},
        ),
        ("distill", {"prompt": "Explain tides.", "extra": 1}, {"prompt": "Explain tides."}),
    ],
)
def test_record_written_in_trl_format(tmp_path, method, record, expected):
    records = [record]
    if method == "kto":
        records.append({"prompt": "c?", "completion": "d.", "label": True})
    _, written = output(tmp_path, records, method)
    assert expected in written


def test_implicit_conversational_prompt_is_extracted(tmp_path):
    user = {"role": "user", "content": "Sky colour?"}
    record = {
        "chosen": [user, {"role": "assistant", "content": "Blue."}],
        "rejected": [user, {"role": "assistant", "content": "Green."}],
    }
    report, written = output(tmp_path, [record], "reward")
    assert report.format == "conversational-preference-implicit-prompt"
    expected = {
        "prompt": [user],
        "chosen": [{"role": "assistant", "content": "Blue."}],
        "rejected": [{"role": "assistant", "content": "Green."}],
    }
    assert expected in written


def test_grpo_keeps_reward_columns(tmp_path):
    _, written = output(
        tmp_path, [{"prompt": "1 + 1?", "solution": "2", "other": 1}], "grpo", reward_columns=("solution",)
    )
    assert {"prompt": "1 + 1?", "solution": "2"} in written


def test_bedrock_conversation_written_unchanged(tmp_path):
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Be brief."}],
        "messages": [
            {"role": "user", "content": [{"text": "Hi?"}]},
            {"role": "assistant", "content": [{"text": "Hello."}]},
        ],
    }
    _, written = output(tmp_path, [record], "sft", backend="bedrock")
    assert record in written


def test_bedrock_record_limit(tmp_path):
    records = [{"prompt": f"q{index}?", "completion": f"a{index}."} for index in range(5)]
    report = validate_path(write(tmp_path, records), "sft", backend="bedrock", max_records=4)
    assert report.errors_by_kind == {"backend_limit": 1}


def test_bedrock_rejects_unsupported_method(tmp_path):
    report = validate_path(write(tmp_path, [{"prompt": "a", "chosen": "b", "rejected": "c"}]), "dpo", backend="bedrock")
    assert report.errors_by_kind == {"unsupported_method": 1}
    assert not report.valid


def test_merge_method_takes_no_dataset(tmp_path):
    report = validate_path(write(tmp_path, [{"text": "x"}]), "merge")
    assert report.errors_by_kind == {"unsupported_method": 1}
