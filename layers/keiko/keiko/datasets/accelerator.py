"""The optional C accelerator of dataset validation (`_accelerator.c`).

It reads JSONL lines already in canonical form (what msgspec writes for the record). For the common
formats it accepts such lines when they are valid, measuring them as the Python checks do, without
building Python objects: the line is its own normalised record. Every other line takes the msgspec
path, which also names the problems. It also runs the per-record loops of duplicate detection and
of the train/evaluation split.

`pip install` builds it where a C compiler is found. Without it, or with KEIKO_ACCELERATOR=0, the
pure Python code runs instead, with the same results.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

try:
    from keiko.datasets import _accelerator
except ImportError:
    # NOTE: the Lambda layer is built by SAM's Python builder, which compiles nothing, so the
    # functions validate without the accelerator.
    _accelerator = None

# scan(data, start, stop) -> (offset reached, line ends, prompt characters, characters); see _accelerator.c.
Scan = Callable[[bytes, int, int], tuple[int, list[int], list[int], list[int]]]

_KINDS = {"messages": "MESSAGES", "prompt-completion": "PROMPT_COMPLETION", "preference-explicit-prompt": "PREFERENCE"}


def available() -> bool:
    """Return whether the accelerator is built and not turned off with KEIKO_ACCELERATOR=0."""
    return _accelerator is not None and os.environ.get("KEIKO_ACCELERATOR", "1") != "0"


def scanner(format_name: str) -> Scan | None:
    """Return the accelerator's scan for records of this format, or None to use msgspec only."""
    kind = _KINDS.get(format_name)
    if kind is None or not available():
        return None
    return partial(_scan, getattr(_accelerator, kind))


def _scan(kind: int, data: bytes, start: int, stop: int) -> tuple[int, list[int], list[int], list[int]]:
    return _accelerator.scan(data, start, stop, kind)


def add_digests() -> Callable[[memoryview, list[int]], list[int]] | None:
    """Return the accelerator's `add_digests(table, digests)`, or None."""
    return _accelerator.add_digests if available() else None


def partition() -> Callable[[list, list[int], int, int], tuple[list, list]] | None:
    """Return the accelerator's `partition(items, digests, seed, threshold)`, or None."""
    return _accelerator.partition if available() else None
