"""Amazon Bedrock Converse, the one Bedrock API keiko calls.

Every request carries `requestMetadata={"keiko_task": <task>}`: AWS records it in model invocation
logs, and the local Bedrock stand-in uses it to choose its deterministic responder. Throttling is
retried by botocore's adaptive mode first, then surfaces as TransientError for the state's Retry.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from keiko.aws import client
from keiko.errors import BedrockRequestFailed, TransientError

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "InternalServerException",
    }
)


class ContextLengthExceeded(BedrockRequestFailed):
    """The prompt does not fit the model's context window; shorten it or choose a larger model."""


def _is_context_length_error(exc: ClientError) -> bool:
    # Bedrock reports an over-long prompt as a plain ValidationException; only its message distinguishes it.
    message = exc.response.get("Error", {}).get("Message", "").lower()
    return any(marker in message for marker in ("too long", "context length", "context window", "too many tokens"))


class BedrockChat:
    """Send single-turn Converse requests and return the response text."""

    def __init__(self, runtime: Any = None) -> None:
        self.runtime = runtime or client("bedrock-runtime")

    def converse(
        self,
        model_id: str,
        prompt: str,
        *,
        task: str,
        system: str | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.7,
    ) -> str:
        """Return the text of the model's reply to `prompt`, tagged with `task` in request metadata."""
        request: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
            "requestMetadata": {"keiko_task": task},
        }
        if system:
            request["system"] = [{"text": system}]

        try:
            response = self.runtime.converse(**request)
        except ClientError as exc:
            raise self._translate(exc, model_id) from exc

        if response.get("stopReason") == "model_context_window_exceeded":
            raise ContextLengthExceeded(f"{model_id}: the prompt and reply exceed the model's context window")
        return self._text(response, model_id)

    @staticmethod
    def _translate(exc: ClientError, model_id: str) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in TRANSIENT_CODES:
            return TransientError(f"Bedrock Converse on {model_id} failed with {code} after retries: {message}")
        if code == "ValidationException" and _is_context_length_error(exc):
            return ContextLengthExceeded(f"{model_id}: prompt too long for the model's context window: {message}")
        if code in {"AccessDeniedException", "ResourceNotFoundException"}:
            return BedrockRequestFailed(
                f"{model_id}: {code}: {message}. Enable access to the model in the Bedrock console for this "
                "region, or set another model id in the recipe."
            )
        return BedrockRequestFailed(f"Bedrock Converse on {model_id} failed with {code}: {message}")

    @staticmethod
    def _text(response: dict[str, Any], model_id: str) -> str:
        # Reasoning models may put a reasoningContent block first, and tool use returns toolUse blocks,
        # so the reply is the text of every text block, not the first block.
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        texts = [block["text"] for block in blocks if isinstance(block.get("text"), str)]
        if not texts:
            kinds = ", ".join(sorted({key for block in blocks for key in block})) or "no content"
            raise BedrockRequestFailed(f"{model_id} returned no text block (got {kinds})")
        return "".join(texts)
