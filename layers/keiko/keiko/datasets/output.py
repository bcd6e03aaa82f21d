"""The normalised training data: a deterministic train/evaluation split and a content hash.

A record goes to evaluation when the seeded CRC-32 of its normalised JSON falls below
`eval_fraction` of the 32-bit range. So the same record lands in the same split on every run and in
every slice, whatever the order of the file. Files are written only when the dataset is valid:
sinks write to a temporary place and `commit` publishes, `abort` discards.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from pathlib import Path
from typing import Protocol


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
    return zlib.crc32(f"keiko-split-{seed}".encode())


class SplitWriter:
    """Splits normalised records into train and evaluation and hashes what it writes."""

    def __init__(self, eval_fraction: float, seed: int, train: Sink | None = None, evaluation: Sink | None = None):
        self.threshold = int(eval_fraction * 2**32)
        self.seed = split_seed(seed)
        self.train = train
        self.evaluation = evaluation
        self.train_hash = hashlib.sha256()
        self.eval_hash = hashlib.sha256()
        self.train_records = 0
        self.eval_records = 0

    def write(self, records: list[bytes]) -> None:
        """Write one batch of encoded records, each without its newline."""
        crc32, seed, threshold = zlib.crc32, self.seed, self.threshold
        train: list[bytes] = []
        evaluation: list[bytes] = []
        for record in records:
            (evaluation if crc32(record, seed) < threshold else train).append(record)
        self.train_records += len(train)
        self.eval_records += len(evaluation)
        self._write(train, self.train, self.train_hash)
        self._write(evaluation, self.evaluation, self.eval_hash)

    @staticmethod
    def _write(records: list[bytes], sink: Sink | None, digest) -> None:
        if not records:
            return
        records.append(b"")
        data = b"\n".join(records)
        digest.update(data)
        if sink is not None:
            sink.write(data)

    def content_hash(self) -> str:
        """Return SHA-256 over the SHA-256 digests of train.jsonl and eval.jsonl, as "sha256:<hex>"."""
        return "sha256:" + hashlib.sha256(self.train_hash.digest() + self.eval_hash.digest()).hexdigest()

    def commit(self) -> None:
        for sink in (self.train, self.evaluation):
            if sink is not None:
                sink.commit()

    def abort(self) -> None:
        for sink in (self.train, self.evaluation):
            if sink is not None:
                sink.abort()
