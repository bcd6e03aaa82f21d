"""Measure the steps of validating JSONL pieces with text fields decoded as `msgspec.Raw`.

Usage: python benchmarks/probe_raw_fields.py PATH {sft,dpo}. PATH is a clean corpus from corpus.py
(no bad records): chat records for sft, preference records for dpo. Prints the CPU milliseconds of each
step, summed over the file's 64 KB pieces, for keiko's decoding (Structs with `str` fields,
re-encoded for duplicate digests) and for the same pieces decoded with `Raw` text fields.

The `Raw` steps are a lower bound on such a validator. The record check reads roles and literal
lengths only. It does not look for blank text or compare answers after trimming whitespace, and
it counts bytes, not characters. Nothing is reported, and no piece falls back to slower decoding.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from itertools import accumulate, repeat
from operator import add

import msgspec
import xxhash
from keiko.datasets.shapes import Messages, Preference
from keiko.datasets.stream import Block, iter_blocks
from keiko.datasets.turns import NEXT_ROLES
from keiko.datasets.validator import PIECE_BYTES

# `\/`, which msgspec never writes, and `\u`, which it writes only for control characters. A literal
# containing either may differ from its normalised form, so its bytes cannot be hashed as they are.
NON_CANONICAL_ESCAPE = re.compile(rb"\\[u/]")


class RawMessage(msgspec.Struct):
    role: str
    content: msgspec.Raw


class RawMessages(msgspec.Struct):
    messages: list[RawMessage]


class RawPreference(msgspec.Struct):
    prompt: msgspec.Raw
    chosen: msgspec.Raw
    rejected: msgspec.Raw


def check_raw_messages(record: RawMessages) -> tuple[int, int] | None:
    """Return (prompt bytes, record bytes) of the text literals, or None for a bad turn order."""
    previous = None
    size = prompt = 0
    for message in record.messages:
        role = message.role
        if role not in NEXT_ROLES[previous]:
            return None
        if role == "assistant":
            prompt = size
        size += len(message.content) - 2
        previous = role
    return (prompt, size) if previous == "assistant" else None


def check_raw_preference(record: RawPreference) -> tuple[int, int] | None:
    """Return (prompt bytes, record bytes) of the text literals, or None for byte-identical answers."""
    if record.chosen == record.rejected:
        return None
    prompt = len(record.prompt) - 2
    return prompt, prompt + max(len(record.chosen), len(record.rejected)) - 2


def pieces(path: str):
    """Yield each 64 KB piece of whole lines as a memoryview, cut as keiko cuts them."""
    with open(path, "rb") as file:
        for block in iter_blocks(file.read):
            if not isinstance(block, Block):
                raise SystemExit(f"{path} has a line over the record size cap; probe a corpus from corpus.py.")
            data, start, end = block
            while start < end:
                stop = data.rfind(b"\n", start, min(start + PIECE_BYTES, end)) + 1
                if stop <= start:
                    stop = data.find(b"\n", start, end) + 1 or end
                yield memoryview(data)[start:stop]
                start = stop


def lines_match(piece: memoryview, encoded: list[bytes]) -> bool:
    """Return True when each encoded record, plus a newline, is exactly as long as its line."""
    newline_at = list(accumulate(map(add, map(len, encoded), repeat(1)), initial=-1))[1:]
    return bool(newline_at) and bytes(map(piece.__getitem__, newline_at)) == b"\n" * len(newline_at)


def probe(path: str, method: str) -> Counter:
    str_type, raw_type, check_raw = (
        (Messages, RawMessages, check_raw_messages)
        if method == "sft"
        else (Preference, RawPreference, check_raw_preference)
    )
    decode_str = msgspec.json.Decoder(str_type).decode_lines
    decode_raw = msgspec.json.Decoder(raw_type).decode_lines
    encode = msgspec.json.Encoder().encode
    steps: Counter = Counter()
    clock = time.process_time

    started = clock()
    for piece in pieces(path):
        t0 = clock()
        try:
            records = decode_str(piece)
            t1 = clock()
            list(map(encode, records))
            t2 = clock()
            raw_records = decode_raw(piece)
            t3 = clock()
        except msgspec.DecodeError as exc:
            raise SystemExit(
                f"{path} has a bad record ({exc}); probe a corpus from corpus.py with no bad records."
            ) from exc
        raw_encoded = list(map(encode, raw_records))
        t4 = clock()
        if not lines_match(piece, raw_encoded):
            raise SystemExit(
                f"{path} has a line that is not one compact record; probe a corpus from corpus.py with no bad records."
            )
        t5 = clock()
        NON_CANONICAL_ESCAPE.search(piece)
        t6 = clock()
        non_ascii = [record for record in raw_encoded if not record.isascii()]
        b"".join(non_ascii).decode("utf-8")
        t7 = clock()
        list(map(check_raw, raw_records))
        t8 = clock()
        list(map(xxhash.xxh3_64_intdigest, raw_encoded))
        t9 = clock()
        steps.update(
            {
                "str: decode_lines": t1 - t0,
                "str: re-encode": t2 - t1,
                "raw: decode_lines": t3 - t2,
                "raw: re-encode": t4 - t3,
                "raw: one record per line": t5 - t4,
                "raw: escape scan": t6 - t5,
                "raw: UTF-8 check of non-ASCII records": t7 - t6,
                "raw: record check (roles, lengths)": t8 - t7,
                "xxh3 digests": t9 - t8,
            }
        )
    steps["read and cut into pieces"] = clock() - started - sum(steps.values())
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="A clean JSONL corpus written by corpus.py.")
    parser.add_argument("method", choices=("sft", "dpo"), help="sft for chat records, dpo for preference records.")
    args = parser.parse_args()
    for step, seconds in probe(args.path, args.method).items():
        print(f"{step:<42} {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
