"""Prompt-only shapes that carry the extra columns the configured reward functions read (GRPO, RLOO).

TRL passes every dataset column to each reward function as a keyword argument, so these columns are
kept in the training data, must be present in every record and must keep one JSON type.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec

from keiko.datasets.shapes import (
    CHAT_PROMPT_ONLY,
    PROMPT_ONLY,
    Shape,
    check_chat_prompt_only,
    check_prompt_only,
)
from keiko.datasets.turns import Message

JSON_TYPE_NAMES = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


def json_type_name(value: Any) -> str:
    return "null" if value is None else JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def prompt_shapes_with_columns(columns: tuple[str, ...]) -> tuple[Shape, ...]:
    """Return the prompt-only shapes extended with required reward-function columns."""
    if not columns:
        return (PROMPT_ONLY, CHAT_PROMPT_ONLY)
    extra = [(column, Any) for column in columns]
    plain = msgspec.defstruct("PromptWithColumns", [("prompt", str), *extra])
    chat = msgspec.defstruct("ChatPromptWithColumns", [("prompt", list[Message]), *extra])
    return (
        replace(
            PROMPT_ONLY,
            type=plain,
            keys=("prompt", *columns),
            check=_with_columns(check_prompt_only, columns),
            count_keys=None,
            canonical_length=False,
        ),
        replace(
            CHAT_PROMPT_ONLY,
            type=chat,
            keys=("prompt", *columns),
            check=_with_columns(check_chat_prompt_only, columns),
            count_keys=None,
            canonical_length=False,
        ),
    )


def _with_columns(check_prompt, columns: tuple[str, ...]):
    def check(record):
        problem, _, prompt, characters = check_prompt(record)
        if problem:
            return problem, None, 0, 0
        for column in columns:
            if getattr(record, column) is None:
                message = f"{column} is null; the reward functions need a value in every record."
                return ("missing_field", column, message), None, 0, 0
        return None, record, prompt, characters

    return check
