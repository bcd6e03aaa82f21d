"""The metric line format that training jobs print, and the MetricDefinitions that match it.

A job prints one line per value, `keiko_metric name=<name> value=<float> step=<int>`, and SageMaker
extracts the value with the first capture group of the matching definition's regex.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

# The SageMaker MetricDefinitions live in the Lambda layer's package, which submits the jobs. The
# training code archive carries that package too, so both sides read one definition.
from keiko.training_metrics import (
    COMMON_METRICS,
    EVALUATION_METRICS,
    FLOAT_PATTERN,
    METHOD_METRICS,
    PREFIX,
    evaluation_metric_definitions,
    metric_definition,
)
from keiko.training_metrics import training_metric_definitions as metric_definitions

NAME_PATTERN = r"[A-Za-z0-9_./-]+"
LINE_PATTERN = re.compile(rf"^{PREFIX} name=({NAME_PATTERN}) value=({FLOAT_PATTERN}) step=(-?\d+)$")
_INVALID_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_./-]")

__all__ = [
    "COMMON_METRICS",
    "EVALUATION_METRICS",
    "METHOD_METRICS",
    "MetricLine",
    "evaluation_metric_definitions",
    "format_metric",
    "is_reportable",
    "metric_definition",
    "metric_definitions",
    "metric_name",
    "parse_metric",
]


class MetricLine(NamedTuple):
    name: str
    value: float
    step: int


def metric_name(raw: str) -> str:
    """Turn a trainer log key into a metric name: characters outside [A-Za-z0-9_./-] become '_'."""
    return _INVALID_NAME_CHARACTERS.sub("_", raw) or "_"


def format_metric(name: str, value: float, step: int) -> str:
    return f"{PREFIX} name={metric_name(name)} value={float(value)!r} step={int(step)}"


def parse_metric(line: str) -> MetricLine | None:
    """Parse one metric line; return None for any other line."""
    match = LINE_PATTERN.match(line.strip())
    if match is None:
        return None
    return MetricLine(match[1], float(match[2]), int(match[3]))


def is_reportable(value: object) -> bool:
    """Return whether a log value is a number to print as a metric line (bools and NaN are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(float(value))
