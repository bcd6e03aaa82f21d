from dataset_helpers import chat, only_error


def test_wrong_type_names_field(validate_lines):
    # Given a chat record whose content is a number
    bad = {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "Hi"}]}
    report = validate_lines([chat(), bad])
    error = only_error(report)
    assert error.kind == "wrong_type"
    assert error.line == 2
    assert error.field == "messages[0].content"


def test_mixed_formats(validate_lines):
    # Given chat records with one prompt-completion record among them
    report = validate_lines([chat(), {"prompt": "a?", "completion": "b."}, chat(user="Other question?")])
    error = only_error(report)
    assert error.kind == "mixed_formats"
    assert error.line == 2
    assert report.format == "messages"


def test_reward_column_type_drift(validate_lines):
    records = [{"prompt": "1 + 1?", "solution": "2"}, {"prompt": "2 + 2?", "solution": 4}]
    report = validate_lines(records, "grpo", reward_columns=("solution",))
    error = only_error(report)
    assert error.kind == "type_drift"
    assert error.line == 2
    assert error.field == "solution"


def test_kto_integer_label_is_wrong_type(validate_lines):
    records = [
        {"prompt": "a?", "completion": "b.", "label": True},
        {"prompt": "c?", "completion": "d.", "label": 1},
        {"prompt": "e?", "completion": "f.", "label": False},
    ]
    report = validate_lines(records, "kto")
    error = only_error(report)
    assert error.kind == "wrong_type"
    assert error.field == "label"
    assert "true or false" in error.message
