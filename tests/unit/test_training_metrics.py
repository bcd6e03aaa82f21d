"""The Lambda layer's copy of the metric line format agrees with the training scripts' module."""

from __future__ import annotations

import re

import pytest
from keiko import training_metrics as layer
from keiko_training import metrics as training


def test_constants_agree():
    assert layer.PREFIX == training.PREFIX
    assert layer.FLOAT_PATTERN == training.FLOAT_PATTERN
    assert layer.COMMON_METRICS == training.COMMON_METRICS
    assert layer.METHOD_METRICS == training.METHOD_METRICS
    assert layer.EVALUATION_METRICS == training.EVALUATION_METRICS


@pytest.mark.parametrize("method", sorted(training.METHOD_METRICS))
def test_definitions_agree(method):
    assert layer.training_metric_definitions(method) == training.metric_definitions(method)


def test_evaluation_definitions_agree():
    assert layer.evaluation_metric_definitions() == training.evaluation_metric_definitions()


@pytest.mark.parametrize("value", [1.5, -0.25, 3e-05, 12.0, float("inf")])
def test_definitions_capture_printed_values(value):
    line = training.format_metric("eval_loss", value, 7)
    (definition,) = [item for item in layer.training_metric_definitions("sft") if item["Name"] == "eval_loss"]

    match = re.search(definition["Regex"], line)

    assert match is not None
    assert float(match.group(1)) == value
