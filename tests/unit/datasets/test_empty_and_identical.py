import pytest
from dataset_helpers import only_error


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"prompt": "a?", "completion": "  "}, "completion"),
        ({"prompt": "", "completion": "b."}, "prompt"),
        (
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]},
            "messages[1].content",
        ),
    ],
)
def test_empty_answer(validate_lines, record, field):
    error = only_error(validate_lines([record]))
    assert error.kind == "empty_field"
    assert error.field == field


def test_empty_rejected(validate_lines):
    error = only_error(validate_lines([{"prompt": "a?", "chosen": "b.", "rejected": "\n"}], "dpo"))
    assert error.kind == "empty_field"
    assert error.field == "rejected"


@pytest.mark.parametrize("method", ["dpo", "orpo", "reward"])
def test_identical_answers(validate_lines, method):
    report = validate_lines([{"prompt": "a?", "chosen": "b.", "rejected": "b. "}], method)
    error = only_error(report)
    assert error.kind == "identical_answers"
    assert error.line == 1


def test_implicit_prompt_without_shared_start(validate_lines):
    error = only_error(validate_lines([{"chosen": "Yes, it is.", "rejected": "No."}], "dpo"))
    assert error.kind == "missing_prompt"
