"""Reward functions for GRPO and RLOO, in TRL's reward-function signature.

TRL calls each with `prompts`, `completions`, `completion_ids` and every extra dataset column as
keyword arguments, and expects one float per completion (None skips a completion).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from .contract import ContractError

RewardFunction = Callable[..., list[float | None]]


def completion_text(completion: Any) -> str:
    """Return the text of a completion: the string itself, or the joined content of its messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion)


def normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


def make_exact_match(column: str = "answer") -> RewardFunction:
    """1.0 when the completion, normalised, equals the record's reference answer in `column`, else 0.0."""

    def exact_match(completions: list[Any], **columns: Any) -> list[float]:
        answers = columns.get(column)
        if answers is None:
            raise ContractError(f"the exact_match reward needs a {column!r} column in every training record")
        return [
            float(normalize(completion_text(completion)) == normalize(str(answer)))
            for completion, answer in zip(completions, answers, strict=True)
        ]

    return exact_match


def make_format_reward(pattern: str) -> RewardFunction:
    """1.0 when the completion contains a match of `pattern`, else 0.0."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ContractError(f"format_pattern {pattern!r} is not a valid regular expression: {exc}") from exc

    def format_reward(completions: list[Any], **_: Any) -> list[float]:
        return [float(compiled.search(completion_text(c)) is not None) for c in completions]

    return format_reward


def make_length_reward(target_length: int) -> RewardFunction:
    """0.0 at `target_length` completion tokens, falling linearly to -1.0 at zero or twice the target."""

    def length_reward(completions: list[Any], completion_ids: list[list[int]], **_: Any) -> list[float]:
        return [max(-1.0, -abs(len(ids) - target_length) / target_length) for ids in completion_ids]

    return length_reward


def import_function(spec: str, role: str = "reward function") -> Callable[..., Any]:
    """Import a custom function given as "package.module:function" (a reward function or a judge)."""
    module_name, _, function_name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ContractError(
            f"{role} {spec!r} cannot be imported ({exc}): ship its module in the source directory"
        ) from exc
    if not callable(function):
        raise ContractError(f"{role} {spec!r} is not callable")
    return function


def named(function: RewardFunction, name: str) -> RewardFunction:
    """Give a reward function the name TRL logs its reward under (rewards/<name>/mean)."""
    function.__name__ = name
    return function
