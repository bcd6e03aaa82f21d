from dataset_helpers import only_error


def test_invalid_utf8_names_line_and_byte(validate_lines):
    # Given a line with a Latin-1 byte (0xe9) inside a string
    bad = b'{"prompt": "caf\xe9", "completion": "ok"}'
    # When it is validated
    report = validate_lines([{"prompt": "tea", "completion": "fine"}, bad])
    # Then the error names line 2, byte 16 and the byte value
    error = only_error(report)
    assert error.kind == "invalid_utf8"
    assert error.line == 2
    assert "byte 16" in error.message
    assert "0xe9" in error.message
