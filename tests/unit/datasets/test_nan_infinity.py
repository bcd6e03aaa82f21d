import pytest
from dataset_helpers import only_error


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
