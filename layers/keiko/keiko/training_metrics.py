"""MetricDefinitions for keiko's SageMaker jobs, matching the training scripts' metric lines.

Scripts print `keiko_metric name=<name> value=<float> step=<int>` (keiko_training.metrics formats
the lines from the constants here), and SageMaker records the first capture group of each
definition's regex. Standard library only: the submitting Lambda imports it without torch.
"""

from __future__ import annotations

import re

PREFIX = "keiko_metric"
FLOAT_PATTERN = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
MAX_DEFINITIONS = 40  # SageMaker's limit per job

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


def metric_definition(name: str) -> dict[str, str]:
    return {"Name": name, "Regex": rf"{PREFIX} name={re.escape(name)} value=({FLOAT_PATTERN}) step="}


def training_metric_definitions(method: str) -> list[dict[str, str]]:
    """Return the MetricDefinitions of a training job of `method`."""
    names = dict.fromkeys((*COMMON_METRICS, *METHOD_METRICS[method]))
    return [metric_definition(name) for name in names][:MAX_DEFINITIONS]


def evaluation_metric_definitions() -> list[dict[str, str]]:
    """Return the MetricDefinitions of an evaluation or generation job."""
    return [metric_definition(name) for name in ("eval_loss", *EVALUATION_METRICS)]
