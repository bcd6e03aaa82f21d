"""The metric line format and the SageMaker MetricDefinitions that match it.

Standard library only, so the code that submits jobs can import it without torch. A job prints one
line per value, `keiko_metric name=<name> value=<float> step=<int>`, and SageMaker extracts the value
with the first capture group of the matching definition's regex.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

PREFIX = "keiko_metric"
# Python's repr of a float: digits with an optional exponent, or nan / inf / -inf.
FLOAT_PATTERN = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
NAME_PATTERN = r"[A-Za-z0-9_./-]+"
LINE_PATTERN = re.compile(rf"^{PREFIX} name=({NAME_PATTERN}) value=({FLOAT_PATTERN}) step=(-?\d+)$")
_INVALID_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_./-]")

COMMON_METRICS = ("loss", "eval_loss", "learning_rate", "grad_norm", "train_loss", "epoch")
METHOD_METRICS: dict[str, tuple[str, ...]] = {
    "pretrain": (),
    "cpt": (),
    "sft": ("mean_token_accuracy", "eval_mean_token_accuracy"),
    "prompt-tuning": ("mean_token_accuracy",),
    "p-tuning": ("mean_token_accuracy",),
    "dpo": (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "eval_rewards/accuracies",
        "eval_rewards/margins",
    ),
    "orpo": ("rewards/accuracies", "rewards/margins", "log_odds_ratio", "eval_rewards/accuracies"),
    "kto": ("rewards/chosen", "rewards/rejected", "kl", "eval_rewards/margins"),
    "reward": ("accuracy", "margin", "eval_accuracy", "eval_margin"),
    "grpo": ("reward", "reward_std", "kl", "entropy", "completions/mean_length"),
    "rloo": ("reward", "reward_std", "kl", "entropy", "completions/mean_length"),
    "distill": ("eval_loss",),
    "merge": (),
}
EVALUATION_METRICS = (
    "base_loss",
    "base_perplexity",
    "candidate_loss",
    "candidate_perplexity",
    "loss_improvement",
    "reward_accuracy",
    "preference_accuracy",
    "exact_match",
    "judge_score",
)


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


def metric_definition(name: str) -> dict[str, str]:
    return {"Name": name, "Regex": rf"{PREFIX} name={re.escape(name)} value=({FLOAT_PATTERN}) step="}


def metric_definitions(method: str) -> list[dict[str, str]]:
    """SageMaker MetricDefinitions for a training job of `method` (at most 40, SageMaker's limit)."""
    names = dict.fromkeys((*COMMON_METRICS, *METHOD_METRICS[method]))
    return [metric_definition(name) for name in names][:40]


def evaluation_metric_definitions() -> list[dict[str, str]]:
    return [metric_definition(name) for name in ("eval_loss", *EVALUATION_METRICS)]


def is_reportable(value: object) -> bool:
    """Return whether a log value is a number to print as a metric line (bools and NaN are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(float(value))
