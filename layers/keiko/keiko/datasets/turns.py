"""Checks on chat turns: roles, turn order and empty content."""

from __future__ import annotations

import msgspec

ROLES = ("system", "user", "assistant", "tool")

# The roles allowed after each role (None: the start of a conversation). A system message may only
# open a conversation; user and assistant alternate; tool results follow an assistant turn.
NEXT_ROLES: dict[str | None, tuple[str, ...]] = {
    None: ("system", "user"),
    "system": ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("assistant", "tool"),
}

# A record problem: (error kind, field path, message).
Problem = tuple[str, str, str]


class Message(msgspec.Struct):
    role: str
    content: str


def check_turns(
    messages: list[Message], field: str, after: str | None, last_roles: tuple[str, ...]
) -> tuple[Problem | None, int, int]:
    """Check one list of chat messages.

    `after` is the role that comes before the first message (None at the start of a conversation)
    and `last_roles` the roles the list may end with. Returns (problem or None, characters, characters
    before the last assistant message), the last being the prompt part of a full conversation.
    """
    if not messages:
        return ("empty_field", field, f"{field} has no messages; add at least one."), 0, 0
    previous = after
    characters = 0
    prompt_characters = 0
    for index, message in enumerate(messages):
        role = message.role
        if role not in NEXT_ROLES[previous]:
            return _role_problem(field, index, role, previous), 0, 0
        content = message.content
        if not content or content.isspace():
            path = f"{field}[{index}].content"
            return ("empty_field", path, f"{path} is empty; give every {role} turn some text."), 0, 0
        if role == "assistant":
            prompt_characters = characters
        characters += len(content)
        previous = role
    if previous not in last_roles:
        expected = " or ".join(last_roles)
        problem = (
            "bad_turn_order",
            f"{field}[{len(messages) - 1}].role",
            f"{field} ends with a {previous} turn; it must end with {expected}.",
        )
        return problem, 0, 0
    return None, characters, prompt_characters


def _role_problem(field: str, index: int, role: str, previous: str | None) -> Problem:
    path = f"{field}[{index}].role"
    if role not in ROLES:
        return "invalid_role", path, f"{path} is {role!r}; use one of {', '.join(ROLES)}."
    expected = " or ".join(NEXT_ROLES[previous])
    where = "the first turn" if previous is None else f"after {previous}"
    return "bad_turn_order", path, f"{path} is {role} {where}; expected {expected}."


def is_blank(text: str) -> bool:
    return not text or text.isspace()
