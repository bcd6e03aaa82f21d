"""A local stand-in for the Amazon Bedrock Converse API: deterministic replies, no model behind them.

moto's bedrock-runtime has only InvokeModel. The emulated account adds Converse, so a boto3
`bedrock-runtime` client reaches `BedrockStandIn.converse` in-process. The reply is chosen by
`requestMetadata["keiko_task"]`:

- `synthetic`: the last user message contains seed examples, one JSON object per line, each with an
  instruction field (`instruction`, `prompt`, `question` or `input`) and a response field
  (`response`, `completion`, `answer` or `output`). The reply is JSONL with as many records as the
  message asks for ("<N> records" or "<N> examples"), else one per seed: record i takes seed
  i mod S, keeps its keys and response, and prefixes its instruction with "Variation <k>: ",
  where k = i div S + 1.
- `judge`: the last user message reads `Prompt:\\n...\\n\\nResponse A:\\n...\\n\\nResponse B:\\n...`.
  The reply is `{"preferred": "A"|"B", "reason": "..."}`. An empty response loses; otherwise each
  response scores the number of distinct lower-case words it shares with the prompt plus a tenth of
  its number of distinct words, the higher score wins and a tie goes to A.
- anything else: "Local Bedrock stand-in reply <8 hex digits of SHA-256 of the input>: " followed by
  the first 50 words of the last user message.

Token counts in `usage` are whitespace-separated words, not a model's tokens. `maxTokens` cuts the
reply to that many words with stopReason "max_tokens".
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

INSTRUCTION_KEYS = ("instruction", "prompt", "question", "input")
RESPONSE_KEYS = ("response", "completion", "answer", "output")
_COUNT = re.compile(r"\b(\d{1,4})\s+(?:new\s+)?(?:records|examples)\b", re.IGNORECASE)
_JUDGE = re.compile(r"Prompt:\n(?P<prompt>.*?)\n\nResponse A:\n(?P<a>.*?)\n\nResponse B:\n(?P<b>.*)\Z", re.DOTALL)
_WORD = re.compile(r"\w+")


class ThrottlingException(ServiceException):
    """Bedrock's throttling error (HTTP 429), which botocore's retry logic retries."""

    code = "ThrottlingException"
    message = "Too many requests, please wait before trying again."


class ValidationException(ServiceException):
    """Bedrock's error for a request it rejects (HTTP 400)."""

    code = "ValidationException"


def _words(text: str) -> list[str]:
    return text.split()


def _distinct_words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return "\n".join(block["text"] for block in message.get("content", []) if "text" in block)
    return ""


def synthetic_records(text: str) -> list[dict[str, Any]]:
    """Derive new instruction/response records from the seed examples in `text`."""
    seeds = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        instruction_key = next((key for key in INSTRUCTION_KEYS if key in record), None)
        if instruction_key and any(key in record for key in RESPONSE_KEYS):
            seeds.append((instruction_key, record))
    if not seeds:
        raise ValidationException(
            "keiko_task=synthetic expects seed examples in the last user message, one JSON object per line "
            f"with one of {', '.join(INSTRUCTION_KEYS)} and one of {', '.join(RESPONSE_KEYS)}"
        )

    requested = _COUNT.search(text)
    count = int(requested.group(1)) if requested else len(seeds)
    records = []
    for index in range(count):
        instruction_key, seed = seeds[index % len(seeds)]
        record = dict(seed)
        record[instruction_key] = f"Variation {index // len(seeds) + 1}: {seed[instruction_key]}"
        records.append(record)
    return records


def judge(text: str) -> dict[str, str]:
    """Pick the preferred response of two with the documented word-overlap heuristic."""
    match = _JUDGE.search(text)
    if match is None:
        raise ValidationException(
            "keiko_task=judge expects the last user message as 'Prompt:\\n...\\n\\nResponse A:\\n...\\n\\n"
            "Response B:\\n...'"
        )
    prompt_words = _distinct_words(match["prompt"])
    scores = {}
    for label in ("A", "B"):
        response = match[label.lower()]
        if not response.strip():
            scores[label] = float("-inf")
            continue
        response_words = _distinct_words(response)
        scores[label] = len(response_words & prompt_words) + len(response_words) / 10

    preferred = "B" if scores["B"] > scores["A"] else "A"
    other = "A" if preferred == "B" else "B"
    if scores["A"] == scores["B"]:
        reason = "Both responses score the same on prompt overlap and length; a tie goes to A."
    elif scores[other] == float("-inf"):
        reason = f"Response {other} is empty."
    else:
        reason = (
            f"Response {preferred} scores {scores[preferred]:.1f} against {scores[other]:.1f} "
            "on words shared with the prompt and distinct words."
        )
    return {"preferred": preferred, "reason": reason}


def default_reply(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"Local Bedrock stand-in reply {digest}: " + " ".join(_words(text)[:50])


class BedrockStandIn:
    """The Converse stand-in of one emulated account, with fault injection for tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttles_left = 0
        self._context_errors_left = 0
        self._reasoning_left = 0
        self.requests: list[dict[str, Any]] = []

    def inject_throttling(self, times: int = 1) -> None:
        """Make the next `times` Converse calls fail with ThrottlingException."""
        with self._lock:
            self._throttles_left += times

    def inject_context_length_error(self, times: int = 1) -> None:
        """Make the next `times` Converse calls fail with the input-too-long ValidationException."""
        with self._lock:
            self._context_errors_left += times

    def inject_leading_reasoning(self, times: int = 1) -> None:
        """Make the next `times` replies start with a reasoning block before the text block."""
        with self._lock:
            self._reasoning_left += times

    def converse(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Return the reply to one Converse request (the API's parameter names) or raise its error."""
        started = time.monotonic()
        with self._lock:
            self.requests.append(dict(request))
            fault = self._take_fault()
        if fault is not None:
            raise fault

        messages = request.get("messages") or []
        if not messages:
            raise ValidationException("messages must contain at least one message")
        task = (request.get("requestMetadata") or {}).get("keiko_task")
        text = _last_user_text(messages)
        if task == "synthetic":
            reply = "\n".join(json.dumps(record, ensure_ascii=False) for record in synthetic_records(text))
        elif task == "judge":
            reply = json.dumps(judge(text))
        else:
            reply = default_reply(text)
        return self._response(reply, text, request.get("inferenceConfig") or {}, started)

    def _take_fault(self) -> ServiceException | None:
        if self._throttles_left:
            self._throttles_left -= 1
            return ThrottlingException()
        if self._context_errors_left:
            self._context_errors_left -= 1
            return ValidationException("Input is too long for requested model.")
        return None

    def _response(self, reply: str, prompt: str, inference_config: Mapping[str, Any], started: float) -> dict:
        stop_reason = "end_turn"
        max_tokens = inference_config.get("maxTokens")
        if max_tokens is not None and len(_words(reply)) > max_tokens:
            reply = " ".join(_words(reply)[:max_tokens])
            stop_reason = "max_tokens"

        content: list[dict[str, Any]] = [{"text": reply}]
        with self._lock:
            if self._reasoning_left:
                self._reasoning_left -= 1
                reasoning = {"reasoningText": {"text": "Local stand-in reasoning.", "signature": "local"}}
                content.insert(0, {"reasoningContent": reasoning})

        input_tokens, output_tokens = len(_words(prompt)), len(_words(reply))
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }


def make_converse_action(stand_in: BedrockStandIn):
    """Return the Converse action added to moto's bedrock-runtime responses, bound to one stand-in."""
    names = ("modelId", "messages", "system", "inferenceConfig", "toolConfig", "requestMetadata")

    def converse(response_handler: Any) -> ActionResult:
        request = {name: response_handler._get_param(name) for name in names}
        return ActionResult(stand_in.converse({key: value for key, value in request.items() if value is not None}))

    return converse
