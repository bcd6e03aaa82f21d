"""Record schemas and limits of Amazon Bedrock model customization.

Bedrock reads the training data itself, so records are checked against its schemas and written
unchanged: `bedrock-conversation-2024` chat records for fine-tuning and distillation, and
`{"input": ...}` text for continued pre-training.
"""

from __future__ import annotations

import msgspec

from keiko.datasets.shapes import PROMPT_COMPLETION, Shape
from keiko.datasets.turns import Problem

SCHEMA_VERSION = "bedrock-conversation-2024"

# NOTE: Bedrock's record quotas differ by base model and can be raised per account. This default
# is a guess, so check it against the account's "Sum of training and validation records" quota.
DEFAULT_MAX_RECORDS = 10_000


class ContentBlock(msgspec.Struct):
    text: str


class BedrockMessage(msgspec.Struct):
    role: str
    content: list[ContentBlock]


class Conversation(msgspec.Struct):
    schemaVersion: str  # noqa: N815 - Bedrock's field name
    messages: list[BedrockMessage]
    system: list[ContentBlock] = []


class ContinuedPretraining(msgspec.Struct):
    input: str


def _check_conversation(record: Conversation, require_answer: bool):
    if record.schemaVersion != SCHEMA_VERSION:
        message = f"schemaVersion is {record.schemaVersion!r}; Bedrock expects {SCHEMA_VERSION!r}."
        return ("wrong_type", "schemaVersion", message), None, 0, 0
    characters = sum(len(block.text) for block in record.system)
    prompt = characters
    expected = "user"
    for index, message in enumerate(record.messages):
        problem = _check_message(message, index, expected)
        if problem:
            return problem, None, 0, 0
        if message.role == "assistant":
            prompt = characters
        characters += sum(len(block.text) for block in message.content)
        expected = "assistant" if expected == "user" else "user"
    last = record.messages[-1].role if record.messages else None
    if last is None or (require_answer and last != "assistant"):
        what = "an assistant turn" if require_answer else "a user turn"
        return ("bad_turn_order", "messages", f"messages must end with {what}."), None, 0, 0
    return None, record, prompt if require_answer else characters, characters


def _check_message(message: BedrockMessage, index: int, expected: str) -> Problem | None:
    path = f"messages[{index}]"
    if message.role not in ("user", "assistant"):
        return (
            "invalid_role",
            f"{path}.role",
            f"{path}.role is {message.role!r}; Bedrock accepts user and assistant.",
        )
    if message.role != expected:
        return (
            "bad_turn_order",
            f"{path}.role",
            f"{path}.role is {message.role}; expected {expected} (turns alternate).",
        )
    if not message.content or all(not block.text.strip() for block in message.content):
        return "empty_field", f"{path}.content", f"{path}.content has no text; give every turn some text."
    return None


def _check_continued_pretraining(record: ContinuedPretraining):
    if not record.input.strip():
        return ("empty_field", "input", "input is empty; give every record some text."), None, 0, 0
    return None, record, 0, len(record.input)


CONVERSATION = Shape(
    "bedrock-conversation-2024",
    Conversation,
    ("schemaVersion", "messages"),
    lambda record: _check_conversation(record, require_answer=True),
    nested_keys=("role", "content"),
)
CONVERSATION_PROMPTS = Shape(
    "bedrock-conversation-2024",
    Conversation,
    ("schemaVersion", "messages"),
    lambda record: _check_conversation(record, require_answer=False),
    nested_keys=("role", "content"),
)
CONTINUED_PRETRAINING = Shape(
    "bedrock-continued-pretraining",
    ContinuedPretraining,
    ("input",),
    _check_continued_pretraining,
    count_keys=lambda record: 1,
    canonical_length=True,
)

BEDROCK_SHAPES_BY_METHOD: dict[str, tuple[Shape, ...]] = {
    "sft": (CONVERSATION, PROMPT_COMPLETION),
    "cpt": (CONTINUED_PRETRAINING,),
    "pretrain": (CONTINUED_PRETRAINING,),
    "distill": (CONVERSATION_PROMPTS,),
}
