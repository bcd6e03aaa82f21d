"""The validators the benchmark compares, each run alone in a fresh process.

Prints one JSON object: CPU seconds, peak RSS in MB, and the valid and invalid record counts.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import msgspec

CHUNK = 2 * 1024 * 1024
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


def chat_ok(record: Chat) -> bool:
    previous = None
    for message in record.messages:
        if message.role not in NEXT_ROLES[previous] or not message.content.strip():
            return False
        previous = message.role
    return previous == "assistant"


def preference_ok(record: Preference) -> bool:
    chosen, rejected = record.chosen.strip(), record.rejected.strip()
    return bool(record.prompt.strip() and chosen and rejected and chosen != rejected)


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


def chat_keys(record: Chat) -> int:
    return 1 + 2 * len(record.messages)


def preference_keys(record: Preference) -> int:
    return 3


def reference(path: str, method: str) -> dict:
    """Validate with the same per-record work as keiko in a minimal loop.

    The work is: decode into a msgspec Struct, the record checks, a one-scan duplicate-key test and
    duplicate detection on the re-encoded record. There is no report, statistics or output.
    """
    struct, ok, keys = (Chat, chat_ok, chat_keys) if method == "sft" else (Preference, preference_ok, preference_keys)
    decode = msgspec.json.Decoder(struct).decode
    encode = msgspec.json.Encoder().encode
    seen: set[int] = set()
    valid = invalid = duplicates = 0
    for batch in lines(path):
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
            if not ok(record):
                invalid += 1
                continue
            valid += 1
            digest = hash(encode(record))
            if digest in seen:
                duplicates += 1
            seen.add(digest)
    return {"valid": valid, "invalid": invalid, "duplicates": duplicates}


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
