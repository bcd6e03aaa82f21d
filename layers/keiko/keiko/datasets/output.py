"""The normalised training data: a deterministic train/evaluation split and a content hash.

A record goes to evaluation when its split key, the xxh3 digest of its normalised JSON (the one
duplicates are found by) mixed with the seed, falls below `eval_fraction` of the 32-bit range. So
the same record lands in the same split on every run and in every slice, whatever the order of the
file. Files are written only when the dataset is valid:
sinks write to a temporary place and `commit` publishes, `abort` discards.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from keiko.datasets import accelerator
from keiko.datasets.digests import digest


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class FileSink:
    """Writes to a temporary file beside `path` and renames it into place on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self.temporary = Path(temporary)
        self.file = os.fdopen(descriptor, "wb")

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.close()
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        self.file.close()
        self.temporary.unlink(missing_ok=True)


def split_seed(seed: int) -> int:
    return digest(f"keiko-split-{seed}".encode())


# An odd 64-bit constant (2**64 divided by the golden ratio): multiplying by it mixes every bit of
# the digest into the top 32 bits that make the split key.
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def split_keys(digests: Sequence[int], seed: int) -> list[int]:
    """Return the 32-bit split key of each record digest under the mixed seed from `split_seed`."""
    return [(((value ^ seed) * _MIX) & _MASK) >> 32 for value in digests]


def partition(items: list, digests: list[int], seed: int, threshold: int) -> tuple[list, list]:
    """Return (train, evaluation): the items whose split keys are at or above the threshold, and below it."""
    train: list = []
    evaluation: list = []
    for key, item in zip(split_keys(digests, seed), items, strict=True):
        (evaluation if key < threshold else train).append(item)
    return train, evaluation


# Records held back in memory while one side of the split is still empty, so that `balance` can
# move one record across. Past this many bytes the writer streams them out and no longer can.
HOLD_BYTES = 16 * 1024 * 1024


class SplitWriter:
    """Splits normalised records into train and evaluation and hashes what it writes.

    A record goes to evaluation when its split key is below the threshold. While either side is
    still empty, records are held in memory, with the train record of the lowest key and the
    evaluation record of the highest. `balance`, called once every record is written, moves that
    record across when the other side is empty, so a dataset of two or more distinct records gets
    both splits. The choice depends only on the records and the seed, not on their order.
    """

    def __init__(
        self,
        eval_fraction: float,
        seed: int,
        train: Sink | None = None,
        evaluation: Sink | None = None,
        hold_bytes: int = HOLD_BYTES,
        numbered: bool = False,
    ):
        # Numbered: each record is written after its line number and a tab, for the slice parts
        # that MergeDatasetSlices reads (see `slice_parts`). The split still depends on the record only.
        self.numbered = numbered
        self.partition = accelerator.partition() or partition
        self.threshold = int(eval_fraction * 2**32)
        self.seed = split_seed(seed)
        self.train = train
        self.evaluation = evaluation
        self.train_hash = hashlib.sha256()
        self.eval_hash = hashlib.sha256()
        self.train_records = 0
        self.eval_records = 0
        self.hold_bytes = hold_bytes
        self.holding = True
        self.held_bytes = 0
        self.held_train: list[bytes] = []
        self.held_eval: list[bytes] = []
        # (split key, record, item written) of the train record that would move to evaluation, and the reverse
        self.lowest_train: tuple[int, bytes, bytes] | None = None
        self.highest_eval: tuple[int, bytes, bytes] | None = None

    def write(self, records: list[bytes], digests: list[int] | None = None, lines: Sequence[int] = ()) -> None:
        """Write one batch of encoded records, each without its newline. `digests` are their digests
        (`keiko.datasets.digests.digest`), computed here when not given. A numbered writer needs the
        line number of each record in `lines`."""
        if digests is None:
            digests = list(map(digest, records))
        items = [b"%d\t%b" % pair for pair in zip(lines, records, strict=True)] if self.numbered else records
        if self.holding:
            self._hold(records, items, split_keys(digests, self.seed))
            return
        train, evaluation = self.partition(items, digests, self.seed, self.threshold)
        self.train_records += len(train)
        self.eval_records += len(evaluation)
        self._write(train, self.train, self.train_hash)
        self._write(evaluation, self.evaluation, self.eval_hash)

    def _hold(self, records: list[bytes], items: list[bytes], keys: list[int]) -> None:
        threshold = self.threshold
        for record, item, key in zip(records, items, keys, strict=True):
            if key < threshold:
                self.held_eval.append(item)
                self.highest_eval = max(self.highest_eval or (key, record, item), (key, record, item))
            else:
                self.held_train.append(item)
                self.lowest_train = min(self.lowest_train or (key, record, item), (key, record, item))
            self.held_bytes += len(item) + 1
        self.train_records = len(self.held_train)
        self.eval_records = len(self.held_eval)
        if (self.train_records and self.eval_records) or self.held_bytes > self.hold_bytes:
            self._release()

    def balance(self) -> None:
        """Move one record to the empty side of the split when the other side has two or more.

        Call it once, after the last `write`. It changes nothing once the held records have been
        released: when both sides have records, or past `hold_bytes` of records.
        """
        if not self.holding:
            return
        if not self.held_eval and len(self.held_train) >= 2:
            item = self.lowest_train[2]
            self.held_train.remove(item)
            self.held_eval.append(item)
        elif not self.held_train and len(self.held_eval) >= 2:
            item = self.highest_eval[2]
            self.held_eval.remove(item)
            self.held_train.append(item)
        self.train_records = len(self.held_train)
        self.eval_records = len(self.held_eval)
        self._release()

    def _release(self) -> None:
        """Write the held records, in the order they arrived, and stream from now on."""
        if not self.holding:
            return
        self.holding = False
        train, evaluation = self.held_train, self.held_eval
        self.held_train, self.held_eval = [], []
        self.lowest_train = self.highest_eval = None
        self._write(train, self.train, self.train_hash)
        self._write(evaluation, self.evaluation, self.eval_hash)

    @staticmethod
    def _write(records: list[bytes], sink: Sink | None, digest) -> None:
        if not records or sink is None:
            return
        records.append(b"")
        data = b"\n".join(records)
        digest.update(data)
        sink.write(data)

    def content_hash(self) -> str | None:
        """Return SHA-256 over the SHA-256 digests of train.jsonl and eval.jsonl, as "sha256:<hex>",
        or None when the writer has no sinks. Releases any held records, so call `balance` first."""
        if self.train is None and self.evaluation is None:
            return None
        self._release()
        return "sha256:" + hashlib.sha256(self.train_hash.digest() + self.eval_hash.digest()).hexdigest()

    def commit(self) -> None:
        self._release()
        for sink in (self.train, self.evaluation):
            if sink is not None:
                sink.commit()

    def abort(self) -> None:
        for sink in (self.train, self.evaluation):
            if sink is not None:
                sink.abort()
