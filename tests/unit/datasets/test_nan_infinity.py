import pytest
from dataset_helpers import chat, only_error


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_number_is_error(validate_lines, constant):
    # Given a GRPO record whose reward column is a non-finite number
    line = b'{"prompt": "2 + 2?", "solution": ' + constant + b"}"
    # When it is validated
    report = validate_lines([{"prompt": "1 + 1?", "solution": 2}, line], "grpo", reward_columns=("solution",))
    # Then the error names the line and the field
    error = only_error(report)
    assert error.kind == "nan_or_infinity"
    assert error.line == 2
    assert error.field == "solution"


def test_non_finite_in_message_names_path(validate_lines):
    # Given a chat record whose first message content is NaN
    line = b'{"messages": [{"role": "user", "content": NaN}, {"role": "assistant", "content": "Hi."}]}'
    # When it is validated after a valid record
    report = validate_lines([chat(), line])
    # Then the error names the field path and says what a text field takes
    error = only_error(report)
    assert error.kind == "nan_or_infinity"
    assert error.field == "messages[0].content"
    assert "messages[0].content is NaN" in error.message
    assert "string" in error.message
    assert "number or null" not in error.message


def test_non_finite_in_first_record_names_path(validate_lines):
    # Given only a chat record with Infinity as content, so no record shows the format
    line = b'{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": -Infinity}]}'
    error = only_error(validate_lines([line]))
    assert error.kind == "nan_or_infinity"
    assert error.field == "messages[1].content"
    assert "-Infinity" in error.message


def test_non_finite_label_asks_for_boolean(validate_lines):
    line = b'{"prompt": "a?", "completion": "b.", "label": NaN}'
    records = [
        {"prompt": "c?", "completion": "d.", "label": True},
        line,
        {"prompt": "e?", "completion": "f.", "label": False},
    ]
    error = only_error(validate_lines(records, "kto"))
    assert error.field == "label"
    assert "true or false" in error.message


def test_non_finite_reward_column_asks_for_number(validate_lines):
    line = b'{"prompt": "2 + 2?", "solution": NaN}'
    report = validate_lines([{"prompt": "1 + 1?", "solution": 2}, line], "grpo", reward_columns=("solution",))
    assert "number or null" in only_error(report).message
