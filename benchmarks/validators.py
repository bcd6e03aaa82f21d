"""The validators the benchmark compares, each run alone in a fresh process.

Usage: python benchmarks/validators.py {raw,reference,keiko} PATH {sft,dpo}. Prints one JSON
object: CPU seconds, peak RSS in MB, and the valid, invalid and duplicate record counts.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import msgspec

CHUNK = 2 * 1024 * 1024
MAX_LENGTH = 2048  # tokens, keiko's default
SAMPLE_RECORDS = 256
NEXT_ROLES = {
    None: ("system", "user"),
    "system": ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("assistant", "tool"),
}


class Message(msgspec.Struct):
    role: str
    content: str


class Chat(msgspec.Struct):
    messages: list[Message]


class Preference(msgspec.Struct):
    prompt: str
    chosen: str
    rejected: str


def chat_prompt(record: Chat) -> int | None:
    """Return the characters before the last assistant turn, or None when the record is invalid."""
    previous = None
    characters = prompt = 0
    for message in record.messages:
        role, content = message.role, message.content
        if role not in NEXT_ROLES[previous] or not content or content.isspace():
            return None
        if role == "assistant":
            prompt = characters
        characters += len(content)
        previous = role
    return prompt if previous == "assistant" else None


def preference_prompt(record: Preference) -> int | None:
    chosen, rejected = record.chosen.strip(), record.rejected.strip()
    if not (record.prompt.strip() and chosen and rejected and chosen != rejected):
        return None
    return len(record.prompt)


def chat_keys(record: Chat) -> int:
    return 1 + 2 * len(record.messages)


def preference_keys(record: Preference) -> int:
    return 3


def tokens_per_character(records) -> float:
    """Estimate tokens per character as keiko does without a tokenizer: 0.25 per ASCII character,
    1.0 per other character, over every string of the sampled records."""
    ascii_characters = other_characters = 0
    for record in records:
        for value in msgspec.to_builtins(record).values():
            texts = [value] if isinstance(value, str) else [text for item in value for text in item.values()]
            for text in texts:
                count = len(text.encode("ascii", "ignore"))
                ascii_characters += count
                other_characters += len(text) - count
    total = ascii_characters + other_characters
    return (ascii_characters * 0.25 + other_characters) / total if total else 0.25


def reference(path: str, method: str) -> dict:
    """Validate line by line with msgspec Structs, doing the checks keiko does, in a minimal loop.

    Per line: decode into a Struct, the role, turn-order, empty and identical-answer checks, the
    prompt-length check, a one-scan duplicate-key test, and duplicate detection on the hash of the
    re-encoded record. There is no report, statistics or output.
    """
    struct, prompt_of, keys = (
        (Chat, chat_prompt, chat_keys) if method == "sft" else (Preference, preference_prompt, preference_keys)
    )
    decode = msgspec.json.Decoder(struct).decode
    encode = msgspec.json.Encoder().encode
    seen: set[int] = set()
    valid = invalid = duplicates = 0
    max_characters = None
    for batch in lines(path):
        if max_characters is None:
            max_characters = MAX_LENGTH / tokens_per_character(sample(batch, decode, prompt_of))
        for line in batch:
            try:
                record = decode(line)
            except msgspec.DecodeError:
                if line.strip():
                    invalid += 1
                continue
            if line.count(b'":') > keys(record) and find_duplicate_key(line):
                invalid += 1
                continue
            prompt = prompt_of(record)
            if prompt is None or prompt >= max_characters:
                invalid += 1
                continue
            valid += 1
            digest = hash(encode(record))
            if digest in seen:
                duplicates += 1
            seen.add(digest)
    return {"valid": valid, "invalid": invalid, "duplicates": duplicates}


def sample(batch: list[bytes], decode, prompt_of) -> list:
    """Return the first records of the batch that decode and pass the record checks."""
    records = []
    for line in batch:
        try:
            record = decode(line)
        except msgspec.DecodeError:
            continue
        if prompt_of(record) is not None:
            records.append(record)
            if len(records) == SAMPLE_RECORDS:
                break
    return records


def lines(path: str):
    with open(path, "rb") as file:
        carry = b""
        while chunk := file.read(CHUNK):
            parts = chunk.split(b"\n")
            parts[0] = carry + parts[0]
            carry = parts.pop()
            yield parts
        if carry:
            yield [carry]


def find_duplicate_key(line: bytes) -> bool:
    def pairs(items):
        keys = [key for key, _ in items]
        if len(keys) != len(set(keys)):
            raise KeyError("duplicate")
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except KeyError:
        return True
    except ValueError:
        return False
    return False


def raw(path: str, method: str) -> dict:
    size = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            size += len(chunk)
    return {"bytes": size}


def keiko_validator(path: str, method: str) -> dict:
    from keiko.datasets import validate_path

    report = validate_path(path, method)
    return {"valid": report.valid_records, "invalid": report.invalid_records, "duplicates": report.stats.duplicates}


def main() -> None:
    runner, path, method = sys.argv[1:4]
    function = {"raw": raw, "reference": reference, "keiko": keiko_validator}[runner]
    if runner == "keiko":
        import keiko.datasets  # noqa: F401 - import cost is not validation time
    start = time.process_time()
    result = function(path, method)
    result["cpu_s"] = time.process_time() - start
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
