"""Turning dataset records into prompt text and answers for evaluation and generation."""

from __future__ import annotations

from typing import Any


def is_conversation(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "role" in item for item in value)


def prompt_messages(record: dict[str, Any]) -> Any:
    """Return the prompt of a record: its `prompt`, or its `messages` without a final assistant turn."""
    if "prompt" in record and record["prompt"] not in (None, "", []):
        return record["prompt"]
    messages = record.get("messages") or []
    if messages and messages[-1].get("role") == "assistant":
        return messages[:-1]
    return messages


def render_prompt(tokenizer, prompt: Any) -> str:
    """Prompt text for the model: chat template with a generation prompt, or the raw string."""
    if is_conversation(prompt):
        return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    return str(prompt)


def render_completion(tokenizer, prompt: Any, completion: Any) -> str:
    """Completion text as it follows the rendered prompt (chat template applied to the whole turn)."""
    if is_conversation(prompt) and is_conversation(completion):
        whole = tokenizer.apply_chat_template(list(prompt) + list(completion), tokenize=False)
        head = render_prompt(tokenizer, prompt)
        return whole[len(head) :] if whole.startswith(head) else whole
    if is_conversation(completion):
        return "".join(message["content"] for message in completion) + (tokenizer.eos_token or "")
    return str(completion) + (tokenizer.eos_token or "")


def scored_pair(record: dict[str, Any]) -> tuple[Any, Any] | None:
    """(prompt, completion) whose completion likelihood measures a model on this record, if any."""
    if "text" in record and record["text"]:
        return "", record["text"]
    if record.get("messages"):
        messages = record["messages"]
        if messages[-1].get("role") == "assistant":
            return messages[:-1], messages[-1:]
        return None
    prompt = record.get("prompt", "")
    if record.get("chosen") is not None:
        return prompt, record["chosen"]
    if record.get("completion") is not None and record.get("label", True) is True:
        return prompt, record["completion"]
    return None
