"""Record formats per training method, and their mapping to TRL's standard dataset formats.

Each `Shape` decodes a JSON line straight into a msgspec Struct (the fast path), checks it, and
returns the record to write for training. Format names appear in reports and docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from keiko.datasets.turns import Message, Problem, check_turns, is_blank

# check(record) -> (problem or None, record to write, prompt characters, all characters)
Check = Callable[[Any], tuple[Problem | None, Any, int, int]]


@dataclass(frozen=True)
class Shape:
    name: str
    type: Any
    keys: tuple[str, ...]
    check: Check
    mapped_from: str | None = None  # set when records are rewritten into another TRL format
    nested_keys: tuple[str, ...] = ()  # keys of message objects, probed for duplicates
    # Number of JSON keys in a decoded record (when it has no unknown keys); see make_duplicate_probe.
    count_keys: Callable[[Any], int] | None = None
    # True when a line is never shorter than the msgspec encoding of its record, and exactly as long
    # only when it contains nothing else: no whitespace, unneeded escapes, unknown or repeated keys.
    # This is true for formats of string, boolean and message fields without defaults, written unchanged.
    canonical_length: bool = False


# Input records. Unknown keys are ignored and not written to the training data.
class Text(msgspec.Struct):
    text: str


class PromptCompletion(msgspec.Struct):
    prompt: str
    completion: str


class ChatPromptCompletion(msgspec.Struct):
    prompt: list[Message]
    completion: list[Message]


class Messages(msgspec.Struct):
    messages: list[Message]


class Instruction(msgspec.Struct):
    instruction: str
    output: str
    input: str = ""


class Preference(msgspec.Struct):
    prompt: str
    chosen: str
    rejected: str


class ImplicitPreference(msgspec.Struct):
    chosen: str
    rejected: str


class ChatPreference(msgspec.Struct):
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]


class ChatImplicitPreference(msgspec.Struct):
    chosen: list[Message]
    rejected: list[Message]


class Unpaired(msgspec.Struct):
    prompt: str
    completion: str
    label: bool


class ChatUnpaired(msgspec.Struct):
    prompt: list[Message]
    completion: list[Message]
    label: bool


class PromptOnly(msgspec.Struct):
    prompt: str


class ChatPromptOnly(msgspec.Struct):
    prompt: list[Message]


def _empty(field: str, what: str) -> Problem:
    return "empty_field", field, f"{field} is empty; give every record {what}."


def check_text(record: Text):
    if is_blank(record.text):
        return _empty("text", "some text"), None, 0, 0
    return None, record, 0, len(record.text)


def check_prompt_completion(record: PromptCompletion):
    if is_blank(record.prompt):
        return _empty("prompt", "a prompt"), None, 0, 0
    if is_blank(record.completion):
        return _empty("completion", "a completion"), None, 0, 0
    prompt = len(record.prompt)
    return None, record, prompt, prompt + len(record.completion)


def check_chat_prompt_completion(record: ChatPromptCompletion):
    problem, prompt, _ = check_turns(record.prompt, "prompt", None, ("user",))
    if problem:
        return problem, None, 0, 0
    problem, completion, _ = check_turns(record.completion, "completion", "user", ("assistant",))
    if problem:
        return problem, None, 0, 0
    return None, record, prompt, prompt + completion


def check_messages(record: Messages):
    problem, characters, prompt = check_turns(record.messages, "messages", None, ("assistant",))
    if problem:
        return problem, None, 0, 0
    return None, record, prompt, characters


def check_instruction(record: Instruction):
    if is_blank(record.instruction):
        return _empty("instruction", "an instruction"), None, 0, 0
    if is_blank(record.output):
        return _empty("output", "an output"), None, 0, 0
    prompt = record.instruction if not record.input else f"{record.instruction}\n\n{record.input}"
    mapped = PromptCompletion(prompt=prompt, completion=record.output)
    return None, mapped, len(prompt), len(prompt) + len(record.output)


def _check_answers(chosen: str, rejected: str) -> Problem | None:
    if is_blank(chosen):
        return _empty("chosen", "a chosen answer")
    if is_blank(rejected):
        return _empty("rejected", "a rejected answer")
    if chosen.strip() == rejected.strip():
        return "identical_answers", "rejected", "chosen and rejected are identical; the pair teaches nothing."
    return None


def check_preference(record: Preference):
    if is_blank(record.prompt):
        return _empty("prompt", "a prompt"), None, 0, 0
    problem = _check_answers(record.chosen, record.rejected)
    if problem:
        return problem, None, 0, 0
    prompt = len(record.prompt)
    return None, record, prompt, prompt + max(len(record.chosen), len(record.rejected))


def split_shared_prompt(chosen, rejected):
    """Split the leading part that chosen and rejected share off as the prompt, as TRL's
    `extract_prompt` does (a space before the split point stays with the answers)."""
    index = 0
    for index in range(min(len(chosen), len(rejected))):
        if chosen[index] != rejected[index]:
            if index and chosen[index - 1] == " ":
                index -= 1
            break
    else:
        index = min(len(chosen), len(rejected))
    return chosen[:index], chosen[index:], rejected[index:]


def check_implicit_preference(record: ImplicitPreference):
    problem = _check_answers(record.chosen, record.rejected)
    if problem:
        return problem, None, 0, 0
    prompt, chosen, rejected = split_shared_prompt(record.chosen, record.rejected)
    if is_blank(prompt):
        message = "chosen and rejected share no leading prompt; add a 'prompt' field or repeat the prompt in both."
        return ("missing_prompt", "chosen", message), None, 0, 0
    problem = _check_answers(chosen, rejected)
    if problem:
        return problem, None, 0, 0
    mapped = Preference(prompt=prompt, chosen=chosen, rejected=rejected)
    return None, mapped, len(prompt), len(prompt) + max(len(chosen), len(rejected))


def _check_chat_answers(chosen: list[Message], rejected: list[Message], after: str | None):
    problem, chosen_chars, _ = check_turns(chosen, "chosen", after, ("assistant",))
    if problem:
        return problem, 0
    problem, rejected_chars, _ = check_turns(rejected, "rejected", after, ("assistant",))
    if problem:
        return problem, 0
    if chosen == rejected:
        return (
            "identical_answers",
            "rejected",
            "chosen and rejected are identical; the pair teaches nothing.",
        ), 0
    return None, max(chosen_chars, rejected_chars)


def check_chat_preference(record: ChatPreference):
    problem, prompt, _ = check_turns(record.prompt, "prompt", None, ("user",))
    if problem:
        return problem, None, 0, 0
    problem, answers = _check_chat_answers(record.chosen, record.rejected, "user")
    if problem:
        return problem, None, 0, 0
    return None, record, prompt, prompt + answers


def check_chat_implicit_preference(record: ChatImplicitPreference):
    prompt, chosen, rejected = split_shared_prompt(record.chosen, record.rejected)
    if not prompt:
        message = "chosen and rejected share no leading messages; add a 'prompt' field or repeat the prompt turns."
        return ("missing_prompt", "chosen", message), None, 0, 0
    mapped = ChatPreference(prompt=prompt, chosen=chosen, rejected=rejected)
    return check_chat_preference(mapped)


def check_unpaired(record: Unpaired):
    problem, _, prompt, characters = check_prompt_completion(record)
    return problem, (None if problem else record), prompt, characters


def check_chat_unpaired(record: ChatUnpaired):
    problem, _, prompt, characters = check_chat_prompt_completion(record)
    return problem, (None if problem else record), prompt, characters


def check_prompt_only(record: PromptOnly):
    if is_blank(record.prompt):
        return _empty("prompt", "a prompt"), None, 0, 0
    return None, record, len(record.prompt), len(record.prompt)


def check_chat_prompt_only(record: ChatPromptOnly):
    problem, characters, _ = check_turns(record.prompt, "prompt", None, ("user",))
    if problem:
        return problem, None, 0, 0
    return None, record, characters, characters


TEXT = Shape("text", Text, ("text",), check_text)
PROMPT_COMPLETION = Shape("prompt-completion", PromptCompletion, ("prompt", "completion"), check_prompt_completion)
CHAT = ("role", "content")
CHAT_PROMPT_COMPLETION = Shape(
    "conversational-prompt-completion",
    ChatPromptCompletion,
    ("prompt", "completion"),
    check_chat_prompt_completion,
    nested_keys=CHAT,
)
MESSAGES = Shape("messages", Messages, ("messages",), check_messages, nested_keys=CHAT)
INSTRUCTION = Shape(
    "instruction-input-output",
    Instruction,
    ("instruction", "output"),
    check_instruction,
    mapped_from="prompt-completion",
)
PREFERENCE = Shape("preference-explicit-prompt", Preference, ("prompt", "chosen", "rejected"), check_preference)
IMPLICIT_PREFERENCE = Shape(
    "preference-implicit-prompt",
    ImplicitPreference,
    ("chosen", "rejected"),
    check_implicit_preference,
    mapped_from="preference-explicit-prompt",
)
CHAT_PREFERENCE = Shape(
    "conversational-preference-explicit-prompt",
    ChatPreference,
    ("prompt", "chosen", "rejected"),
    check_chat_preference,
    nested_keys=CHAT,
)
CHAT_IMPLICIT_PREFERENCE = Shape(
    "conversational-preference-implicit-prompt",
    ChatImplicitPreference,
    ("chosen", "rejected"),
    check_chat_implicit_preference,
    mapped_from="conversational-preference-explicit-prompt",
    nested_keys=CHAT,
)
UNPAIRED = Shape("unpaired-preference", Unpaired, ("prompt", "completion", "label"), check_unpaired)
CHAT_UNPAIRED = Shape(
    "conversational-unpaired-preference",
    ChatUnpaired,
    ("prompt", "completion", "label"),
    check_chat_unpaired,
    nested_keys=CHAT,
)
PROMPT_ONLY = Shape("prompt-only", PromptOnly, ("prompt",), check_prompt_only)
CHAT_PROMPT_ONLY = Shape(
    "conversational-prompt-only", ChatPromptOnly, ("prompt",), check_chat_prompt_only, nested_keys=CHAT
)


def _flat_keys(count: int) -> Callable[[Any], int]:
    return lambda record: count


def _chat_keys(*fields: str) -> Callable[[Any], int]:
    def count(record) -> int:
        messages = 0
        for field in fields:
            value = getattr(record, field)
            if type(value) is list:
                messages += len(value)
        return len(fields) + 2 * messages

    return count


def _with_key_counts(shape: Shape) -> Shape:
    canonical_length = shape.mapped_from is None
    if shape.nested_keys:
        return replace(shape, count_keys=_chat_keys(*shape.keys), canonical_length=canonical_length)
    return replace(shape, count_keys=_flat_keys(len(shape.keys)), canonical_length=canonical_length)


(
    TEXT,
    PROMPT_COMPLETION,
    CHAT_PROMPT_COMPLETION,
    MESSAGES,
    INSTRUCTION,
    PREFERENCE,
    IMPLICIT_PREFERENCE,
    CHAT_PREFERENCE,
    CHAT_IMPLICIT_PREFERENCE,
    UNPAIRED,
    CHAT_UNPAIRED,
    PROMPT_ONLY,
    CHAT_PROMPT_ONLY,
) = (
    _with_key_counts(shape)
    for shape in (
        TEXT,
        PROMPT_COMPLETION,
        CHAT_PROMPT_COMPLETION,
        MESSAGES,
        INSTRUCTION,
        PREFERENCE,
        IMPLICIT_PREFERENCE,
        CHAT_PREFERENCE,
        CHAT_IMPLICIT_PREFERENCE,
        UNPAIRED,
        CHAT_UNPAIRED,
        PROMPT_ONLY,
        CHAT_PROMPT_ONLY,
    )
)

SFT_SHAPES = (MESSAGES, PROMPT_COMPLETION, CHAT_PROMPT_COMPLETION, INSTRUCTION, TEXT)
PREFERENCE_SHAPES = (PREFERENCE, CHAT_PREFERENCE, IMPLICIT_PREFERENCE, CHAT_IMPLICIT_PREFERENCE)
PROMPT_SHAPES = (PROMPT_ONLY, CHAT_PROMPT_ONLY)

SHAPES_BY_METHOD: dict[str, tuple[Shape, ...]] = {
    "pretrain": (TEXT,),
    "cpt": (TEXT,),
    "sft": SFT_SHAPES,
    "prompt-tuning": SFT_SHAPES,
    "p-tuning": SFT_SHAPES,
    "dpo": PREFERENCE_SHAPES,
    "orpo": PREFERENCE_SHAPES,
    "reward": PREFERENCE_SHAPES,
    "kto": (UNPAIRED, CHAT_UNPAIRED),
    "grpo": PROMPT_SHAPES,
    "rloo": PROMPT_SHAPES,
    "distill": PROMPT_SHAPES,
}


def detect_shape(record: Any, shapes: tuple[Shape, ...]) -> Shape | None:
    """Return the first shape a decoded JSON value converts to, or None."""
    if not isinstance(record, dict):
        return None
    for shape in shapes:
        if not all(key in record for key in shape.keys):
            continue
        try:
            msgspec.convert(record, shape.type)
        except msgspec.ValidationError:
            continue
        return shape
    return None


def describe_shapes(shapes: tuple[Shape, ...]) -> str:
    return "; ".join(f"{shape.name} ({', '.join(shape.keys)})" for shape in shapes)
