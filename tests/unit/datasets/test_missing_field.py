from dataset_helpers import chat, only_error


def test_missing_completion(validate_lines):
    # Given a prompt-completion dataset where line 2 has no completion
    report = validate_lines([{"prompt": "a?", "completion": "b."}, {"prompt": "c?", "answer": "d."}])
    # Then the error names the missing field
    error = only_error(report)
    assert error.kind == "missing_field"
    assert error.line == 2
    assert error.field == "completion"


def test_missing_reward_column(validate_lines):
    # Given GRPO prompts where the reward functions need a "solution" column
    records = [{"prompt": "1 + 1?", "solution": "2"}, {"prompt": "2 + 2?"}]
    report = validate_lines(records, "grpo", reward_columns=("solution",))
    error = only_error(report)
    assert error.kind == "missing_field"
    assert error.line == 2
    assert error.field == "solution"


def test_missing_field_inside_message(validate_lines):
    line = {"messages": [{"role": "user"}, {"role": "assistant", "content": "Hi"}]}
    report = validate_lines([chat(), line])
    error = only_error(report)
    assert error.kind == "missing_field"
    assert error.field == "messages[0].content"


def test_unknown_format_lists_expected(validate_lines):
    report = validate_lines([{"question": "a?", "answer": "b."}])
    assert report.errors_by_kind == {"unknown_format": 1}
    assert "prompt-completion (prompt, completion)" in report.errors[0].message
    assert "['answer', 'question']" in report.errors[0].message


def test_missing_content_names_message(validate_lines):
    # Given a chat record whose second message has no content, after a valid record
    line = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant"}]}
    report = validate_lines([chat(), line])
    # Then the message names the missing field and where to add it, not the record's top-level key
    error = only_error(report)
    assert error.field == "messages[1].content"
    assert error.message == "messages[1].content is missing; add 'content' to messages[1]."


def test_missing_content_in_only_record(validate_lines):
    # Given a dataset of one chat record with a message missing its content
    line = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant"}]}
    report = validate_lines([line])
    # Then the missing field is named, not an unknown format
    error = only_error(report)
    assert error.kind == "missing_field"
    assert error.field == "messages[1].content"
