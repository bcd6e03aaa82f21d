"""GenerateSyntheticData: new instruction/response pairs from seed examples, via Bedrock Converse.

The model is shown `synthetic.seed_examples` records from the training split and returns new pairs as
JSON Lines. Pairs that are malformed, empty, or repeat a seed or each other are dropped. The kept
records are written to `runs/<run-id>/synthetic/records.jsonl` and appended to a copy of the
training split, whose URI replaces `dataset.train_uri` for training.
"""

from __future__ import annotations

import json
from typing import Any

from keiko.artifacts import read_jsonl, split_uri, write_jsonl
from keiko.bedrock import BedrockChat
from keiko.errors import BedrockRequestFailed
from keiko.observability import logger, metrics
from keiko.payloads import DatasetResult
from keiko.recipe import SyntheticSpec

RECORDS_PER_REQUEST = 8
MAX_TRAIN_BYTES_READ = 1024 * 1024  # seeds come from the start of the training split
SYSTEM_PROMPT = (
    "You write training data for a language model. Given example instruction/response pairs, write "
    "new, different pairs of the same kind and quality. Reply with JSON Lines only: one object per "
    'line, {"instruction": "...", "response": "..."}, and nothing else.'
)


class SyntheticDataError(BedrockRequestFailed):
    """Synthetic generation could not produce records (unsupported data shape or no valid reply)."""


def to_pair(record: dict[str, Any]) -> tuple[str, str] | None:
    """Return (instruction, response) from a chat, prompt/completion or instruction/response record."""
    messages = record.get("messages")
    if isinstance(messages, list):
        user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
        assistant = next((m.get("content") for m in messages if m.get("role") == "assistant"), None)
        pair = (user, assistant)
    elif "prompt" in record:
        pair = (record.get("prompt"), record.get("completion", record.get("response")))
    else:
        pair = (record.get("instruction"), record.get("response", record.get("output")))
    instruction, response = pair
    if isinstance(instruction, str) and isinstance(response, str) and instruction.strip() and response.strip():
        return instruction.strip(), response.strip()
    return None


def from_pair(instruction: str, response: str, like: dict[str, Any]) -> dict[str, Any]:
    """Build a record in the same shape as the seed record `like`."""
    if "messages" in like:
        return {"messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]}
    if "prompt" in like:
        return {"prompt": instruction, "completion": response}
    return {"instruction": instruction, "response": response}


def parse_generated(text: str) -> list[tuple[str, str]]:
    """Read the pairs a reply contains, skipping lines that are not valid pair objects."""
    pairs = []
    for line in text.splitlines():
        line = line.strip().strip(",")
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        pair = to_pair(record) if isinstance(record, dict) else None
        if pair:
            pairs.append(pair)
    return pairs


def request_prompt(seeds: list[tuple[str, str]], count: int) -> str:
    examples = "\n".join(json.dumps({"instruction": i, "response": r}, ensure_ascii=False) for i, r in seeds)
    return f"Examples:\n{examples}\n\nWrite {count} new records."


def generate_pairs(chat: BedrockChat, spec: SyntheticSpec, seeds: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Ask for pairs until `spec.records` distinct new ones exist or two requests in a row add none."""
    seen = {instruction.casefold() for instruction, _ in seeds}
    kept: list[tuple[str, str]] = []
    empty_replies = 0
    while len(kept) < spec.records and empty_replies < 2:
        count = min(RECORDS_PER_REQUEST, spec.records - len(kept))
        reply = chat.converse(
            spec.model_id,
            request_prompt(seeds, count),
            task="synthetic",
            system=SYSTEM_PROMPT,
            max_tokens=4096,
            temperature=0.9,
        )
        added = 0
        for instruction, response in parse_generated(reply):
            if instruction.casefold() not in seen and len(kept) < spec.records:
                seen.add(instruction.casefold())
                kept.append((instruction, response))
                added += 1
        empty_replies = 0 if added else empty_replies + 1
    return kept


def generate_synthetic_data(
    s3: Any, chat: BedrockChat, spec: SyntheticSpec, dataset: DatasetResult, run_prefix: str, bucket: str
) -> DatasetResult:
    """Generate records, write them, and return the dataset result with the extended training split."""
    if not dataset.train_uri:
        raise SyntheticDataError("cannot generate synthetic data: the dataset result has no train_uri")
    train_bucket, train_key = split_uri(dataset.train_uri)
    # NOTE: the whole training split is read into memory to append to it, so the function's memory
    # bounds the split. A multipart UploadPartCopy would lift that limit.
    train_body = s3.get_object(Bucket=train_bucket, Key=train_key)["Body"].read()
    head = train_body[:MAX_TRAIN_BYTES_READ].rsplit(b"\n", 1)[0]
    records = list(read_jsonl(head, dataset.train_uri))
    seed_records = [record for record in records if to_pair(record)][: spec.seed_examples]
    if not seed_records:
        raise SyntheticDataError(
            f"no instruction/response seed examples in {dataset.train_uri}: synthetic generation needs "
            "chat (messages), prompt/completion or instruction/response records"
        )

    pairs = generate_pairs(chat, spec, [to_pair(record) for record in seed_records])
    if not pairs:
        raise SyntheticDataError(f"{spec.model_id} returned no valid instruction/response pairs")
    generated = [from_pair(instruction, response, seed_records[0]) for instruction, response in pairs]

    synthetic_uri = f"s3://{bucket}/{run_prefix}synthetic/records.jsonl"
    write_jsonl(s3, synthetic_uri, generated)
    merged_key = f"{run_prefix}data/train-with-synthetic.jsonl"
    appended = b"".join(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n" for record in generated)
    separator = b"" if train_body.endswith(b"\n") or not train_body else b"\n"
    s3.put_object(
        Bucket=bucket, Key=merged_key, Body=train_body + separator + appended, ContentType="application/jsonl"
    )

    metrics.add_metric(name="SyntheticRecords", unit="Count", value=len(generated))
    logger.info("synthetic records generated", extra={"records": len(generated), "requested": spec.records})
    return dataset.model_copy(
        update={
            "train_uri": f"s3://{bucket}/{merged_key}",
            "train_records": dataset.train_records + len(generated),
            "synthetic_uri": synthetic_uri,
            "synthetic_records": len(generated),
        }
    )
