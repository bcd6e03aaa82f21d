from dataset_helpers import only_error


def test_duplicate_top_level_key(validate_lines):
    # Given a record where "completion" appears twice
    line = b'{"prompt": "a?", "completion": "b.", "completion": "c."}'
    # When it is validated
    report = validate_lines([{"prompt": "x?", "completion": "y."}, line])
    # Then it is a duplicate_key error on that field
    error = only_error(report)
    assert error.kind == "duplicate_key"
    assert error.line == 2
    assert error.field == "completion"


def test_duplicate_key_inside_message(validate_lines):
    line = (
        b'{"messages": [{"role": "user", "content": "Hi", "content": "Hello"}, '
        b'{"role": "assistant", "content": "Hey"}]}'
    )
    report = validate_lines([line])
    error = only_error(report)
    assert error.kind == "duplicate_key"
    assert error.field == "content"


def test_key_name_inside_text_is_not_duplicate(validate_lines):
    # Given text that quotes the key name, escaped as JSON requires
    record = {"prompt": 'Explain the "prompt" field.', "completion": 'It holds the "prompt".'}
    report = validate_lines([record, {"prompt": "x?", "completion": "y."}])
    assert report.valid
