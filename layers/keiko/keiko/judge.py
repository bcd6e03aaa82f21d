"""JudgeResponses: an AI judge on Bedrock picks the better of two responses per prompt.

generate.py writes `responses.jsonl` (`{"prompt": ..., "responses": [a, b]}`, the prompt as text or
as chat messages) into its model directory. The judge turns each usable row into a DPO pair
`{"prompt", "chosen", "rejected"}`, conversational when the prompt is, in
`runs/<run-id>/preference/iteration-<n>/pairs.jsonl`. To offset the judges' known bias towards the
first answer, the order of the two responses alternates with a hash of the prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from keiko.artifacts import read_jsonl, read_tar_member, write_jsonl
from keiko.bedrock import BedrockChat, ContextLengthExceeded
from keiko.errors import JudgeFoundNoPairs
from keiko.observability import logger, metrics
from keiko.payloads import JobResult, PreferenceResult

MAX_RESPONSES_BYTES = 64 * 1024 * 1024
JUDGE_WORKERS = 4
JUDGE_SYSTEM = (
    "You compare two assistant responses to the same user prompt. Judge helpfulness, correctness and "
    'safety. Reply with only a JSON object: {"preferred": "A" or "B", "reason": "<one sentence>"}.'
)
_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_BARE_VERDICT = re.compile(r"^\W*(?:(?:winner|preferred)\W*)?([AB])\b", re.IGNORECASE)


class VerdictUnreadable(ValueError):
    """The judge's reply names no winner."""


@dataclass(frozen=True)
class Verdict:
    winner: str  # "A" or "B", in the order the judge saw
    reason: str


def parse_verdict(text: str) -> Verdict:
    """Read the winner from the judge's reply: a JSON object with `preferred` (or `winner`), or a reply
    that starts with A or B."""
    for candidate in _JSON_OBJECT.findall(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        winner = str(data.get("preferred", data.get("winner", ""))).strip().upper()
        if winner in {"A", "B"}:
            return Verdict(winner, str(data.get("reason", "")))
    match = _BARE_VERDICT.match(text)
    if match:
        return Verdict(match.group(1).upper(), text.strip())
    raise VerdictUnreadable(f"judge reply names no winner: {text[:200]!r}")


def judge_prompt(prompt: str, first: str, second: str) -> str:
    # The system prompt carries the instructions, so the message ends with response B.
    return f"Prompt:\n{prompt}\n\nResponse A:\n{first}\n\nResponse B:\n{second}"


def prompt_text(prompt: Any) -> str | None:
    """Return a prompt as text: a string as is, a chat prompt as `role: content` lines, else None."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(turn, dict) for turn in prompt):
        return "\n".join(f"{turn.get('role', 'user')}: {turn.get('content', '')}" for turn in prompt)
    return None


def skip_reason(row: dict[str, Any]) -> str | None:
    """Explain why a responses row cannot become a pair, or return None."""
    text, responses = prompt_text(row.get("prompt")), row.get("responses")
    if not text or not text.strip():
        return "missing prompt"
    if not isinstance(responses, list) or len(responses) < 2:
        return "fewer than two responses"
    first, second = responses[0], responses[1]
    if not all(isinstance(answer, str) and answer.strip() for answer in (first, second)):
        return "empty response"
    if first.strip() == second.strip():
        return "identical responses"
    return None


def preference_pair(prompt: Any, chosen: str, rejected: str) -> dict[str, Any]:
    """Return a DPO record in the prompt's shape: plain text, or TRL's conversational preference format."""
    if isinstance(prompt, str):
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


class Judge:
    def __init__(self, chat: BedrockChat, model_id: str) -> None:
        self.chat = chat
        self.model_id = model_id

    def pair(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Return the preference pair of one row, or None when the judge cannot decide."""
        text, (first, second) = prompt_text(row["prompt"]), row["responses"][:2]
        swapped = hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 1
        shown = (second, first) if swapped else (first, second)
        try:
            reply = self.chat.converse(
                self.model_id,
                judge_prompt(text, *shown),
                task="judge",
                system=JUDGE_SYSTEM,
                max_tokens=256,
                temperature=0.0,
            )
            verdict = parse_verdict(reply)
        except (VerdictUnreadable, ContextLengthExceeded) as exc:
            logger.warning("judge skipped a prompt", extra={"error": type(exc).__name__, "cause": str(exc)})
            return None
        chosen, rejected = shown if verdict.winner == "A" else shown[::-1]
        return preference_pair(row["prompt"], chosen, rejected)


def judge_responses(
    s3: Any, chat: BedrockChat, responses_job: JobResult, pairs_uri: str, model_id: str, iteration: int
) -> PreferenceResult:
    """Judge every row of the generation job's responses.jsonl and write the pairs file."""
    raw = read_tar_member(s3, responses_job.model_artifacts, "responses.jsonl", MAX_RESPONSES_BYTES)
    rows = list(read_jsonl(raw, f"responses.jsonl in {responses_job.model_artifacts}"))
    usable = [row for row in rows if skip_reason(row) is None]

    judge = Judge(chat, model_id)
    with ThreadPoolExecutor(max_workers=JUDGE_WORKERS) as pool:
        pairs = [pair for pair in pool.map(judge.pair, usable) if pair is not None]
    if not pairs:
        raise JudgeFoundNoPairs(
            f"no usable chosen/rejected pair from {len(rows)} rows of {responses_job.model_artifacts}: "
            "responses were missing, empty, identical, or the judge named no winner"
        )

    write_jsonl(s3, pairs_uri, pairs)
    skipped = len(rows) - len(pairs)
    metrics.add_metric(name="PreferencePairs", unit="Count", value=len(pairs))
    logger.info("responses judged", extra={"pairs": len(pairs), "skipped": skipped})
    return PreferenceResult(
        iteration=iteration, pairs_uri=pairs_uri, pairs=len(pairs), skipped=skipped, judge_model_id=model_id
    )
