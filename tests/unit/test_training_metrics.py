"""The MetricDefinitions the submitting Lambda sends capture the lines the training scripts print."""

from __future__ import annotations

import re

import pytest
from keiko import training_metrics
from keiko_training.metrics import format_metric


def _definition(definitions: list[dict[str, str]], name: str) -> dict[str, str]:
    (definition,) = [item for item in definitions if item["Name"] == name]
    return definition


@pytest.mark.parametrize("value", [1.5, -0.25, 3e-05, 12.0, float("inf")])
def test_definition_captures_printed_value(value):
    line = format_metric("eval_loss", value, 7)
    definition = _definition(training_metrics.training_metric_definitions("sft"), "eval_loss")

    match = re.search(definition["Regex"], line)

    assert match is not None
    assert float(match.group(1)) == value


@pytest.mark.parametrize("method", sorted(training_metrics.METHOD_METRICS))
def test_every_method_metric_captured(method):
    definitions = training_metrics.training_metric_definitions(method)

    for name in training_metrics.METHOD_METRICS[method]:
        match = re.search(_definition(definitions, name)["Regex"], format_metric(name, 0.5, 3))
        assert match is not None, name
        assert float(match.group(1)) == 0.5


def test_definition_ignores_other_metric():
    definition = _definition(training_metrics.training_metric_definitions("dpo"), "rewards/accuracies")

    assert re.search(definition["Regex"], format_metric("eval_rewards/accuracies", 0.9, 1)) is None
