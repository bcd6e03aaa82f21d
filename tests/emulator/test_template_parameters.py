"""Template parameters in the emulated account are checked as CloudFormation checks them."""

import pytest

from keiko_local.template import TemplateError, parameter_values

TEMPLATE = {
    "Parameters": {
        "State": {"Type": "String", "Default": "DISABLED", "AllowedValues": ["ENABLED", "DISABLED"]},
        "Key": {"Type": "String", "Default": "datasets/a.jsonl", "AllowedPattern": "^datasets/.+$"},
        "Bytes": {"Type": "Number", "Default": 4, "MinValue": 2, "MaxValue": 8},
    }
}


def test_defaults_fill_missing_values():
    assert parameter_values(TEMPLATE, {"Bytes": "8"}) == {"State": "DISABLED", "Key": "datasets/a.jsonl", "Bytes": "8"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"State": "ON"}, "State='ON' is not one of ENABLED, DISABLED"),
        ({"Key": "models/a"}, "Key='models/a' does not match ^datasets/.+$"),
        ({"Bytes": "1"}, "Bytes='1' is below MinValue 2"),
        ({"Bytes": "9"}, "Bytes='9' is above MaxValue 8"),
        ({"Bytes": "many"}, "Bytes='many' is not a number"),
        ({"Size": "1"}, "Unknown template parameter(s) Size; the template declares: Bytes, Key, State"),
    ],
)
def test_invalid_override_is_named(overrides, message):
    with pytest.raises(TemplateError) as raised:
        parameter_values(TEMPLATE, overrides)

    assert message in str(raised.value)
