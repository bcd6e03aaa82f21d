from dataset_helpers import chat, only_error


def test_invalid_json_names_line(validate_lines):
    # Given a valid record followed by a truncated one
    records = [chat(), b'{"messages": [{"role": "user", "content": "Hi"}']
    # When it is validated
    report = validate_lines(records)
    # Then the second line is an invalid_json error and the dataset is invalid
    error = only_error(report)
    assert error.kind == "invalid_json"
    assert error.line == 2
    assert report.errors_by_kind == {"invalid_json": 1}
    assert not report.valid


def test_array_line_is_not_an_object(validate_lines):
    report = validate_lines([chat(), b'["user", "assistant"]'])
    error = only_error(report)
    assert error.kind == "not_an_object"
    assert error.line == 2
