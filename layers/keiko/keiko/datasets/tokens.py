"""Token counts estimated from character counts.

A real tokenizer is too heavy for a Lambda function and too slow for gigabytes, so record lengths
are characters times a tokens-per-character ratio. The ratio comes from a real tokenizer run on
a sample when the caller passes one; otherwise it is estimated from the sample's script mix.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from typing import Any

from keiko.datasets.report import length_bucket

# NOTE: rough ratios for byte-level BPE tokenizers of current open models: English prose is about
# four characters per token; Japanese, Chinese and other non-ASCII text about one per token.
ASCII_TOKENS_PER_CHARACTER = 0.25
OTHER_TOKENS_PER_CHARACTER = 1.0
SAMPLE_RECORDS = 256


def estimate_ratio(texts: Iterable[str]) -> float:
    """Estimate tokens per character from the share of ASCII characters in the sample."""
    ascii_characters = 0
    other_characters = 0
    for text in texts:
        ascii_count = len(text.encode("ascii", "ignore"))
        ascii_characters += ascii_count
        other_characters += len(text) - ascii_count
    total = ascii_characters + other_characters
    if total == 0:
        return ASCII_TOKENS_PER_CHARACTER
    tokens = ascii_characters * ASCII_TOKENS_PER_CHARACTER + other_characters * OTHER_TOKENS_PER_CHARACTER
    return tokens / total


def calibrate_ratio(tokenizer: Any, texts: Iterable[str]) -> float:
    """Measure tokens per character with a real tokenizer: an object with `encode(text)` (Hugging Face
    tokenizers and tiktoken encodings both have one) or a callable returning token ids."""
    encode = tokenizer.encode if hasattr(tokenizer, "encode") else tokenizer
    characters = 0
    tokens = 0
    for text in texts:
        characters += len(text)
        tokens += len(encode(text))
    return tokens / characters if characters else ASCII_TOKENS_PER_CHARACTER


def strings_in(value: Any) -> Iterable[str]:
    """Yield every string inside a decoded JSON value (for building a tokenizer sample)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


class LengthHistogram:
    """Characters and estimated tokens per record, counted a batch at a time.

    Buckets are those of `length_bucket` applied to `int(characters * tokens_per_character)`. A
    lookup table from character counts to buckets keeps the per-record work in C; records of
    `TABLE_CHARACTERS` characters or more take a slower path.
    """

    TABLE_CHARACTERS = 1 << 20

    def __init__(self, tokens_per_character: float) -> None:
        self.ratio = tokens_per_character
        self.table = _bucket_table(tokens_per_character, self.TABLE_CHARACTERS)
        self.counts: Counter[int] = Counter()
        self.characters = 0

    def add(self, lengths: list[int]) -> None:
        """Count records of the given character counts."""
        if not lengths:
            return
        self.characters += sum(lengths)
        if max(lengths) < len(self.table):
            self.counts.update(map(self.table.__getitem__, lengths))
            return
        for characters in lengths:
            self.counts[length_bucket(int(characters * self.ratio))] += 1


def _bucket_table(ratio: float, size: int) -> bytes:
    """Return the bucket of every character count below `size`, built one run of equal buckets at a
    time (the bucket never decreases as the count grows)."""

    def bucket(characters: int) -> int:
        return length_bucket(int(characters * ratio))

    table = bytearray()
    start = 0
    while start < size:
        value = bucket(start)
        end = bisect.bisect_right(range(size), value, lo=start, key=bucket)
        table += bytes([value]) * (end - start)
        start = end
    return bytes(table)
