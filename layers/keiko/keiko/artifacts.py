"""Read and write the S3 objects stages exchange: S3 URIs, JSON Lines files and files inside model.tar.gz."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlparse

import orjson


class ArtifactError(ValueError):
    """An artifact is missing, too large or unreadable; the message names its URI."""


def split_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ArtifactError(f"expected an s3://bucket/key URI, got {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_tar_member(s3: Any, uri: str, member: str, max_bytes: int) -> bytes:
    """Stream model.tar.gz at `uri` and return the file `member` (at the archive root or under `./`)."""
    bucket, key = split_uri(uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with tarfile.open(fileobj=body, mode="r|gz") as archive:
        for info in archive:
            if info.name.removeprefix("./") != member:
                continue
            if not info.isfile():
                raise ArtifactError(f"{member} in {uri} is not a regular file")
            if info.size > max_bytes:
                raise ArtifactError(f"{member} in {uri} is {info.size} bytes; the limit is {max_bytes}")
            extracted = archive.extractfile(info)
            if extracted is None:
                raise ArtifactError(f"{member} in {uri} could not be read")
            return extracted.read()
    raise ArtifactError(f"{member} not found in {uri}: the job did not write it to its model directory")


def read_jsonl(data: bytes, source: str) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines document, naming the line of the first bad one."""
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ArtifactError(f"{source} line {number}: invalid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise ArtifactError(f"{source} line {number}: expected a JSON object")
        yield record


def write_jsonl(s3: Any, uri: str, records: Iterable[dict[str, Any]]) -> int:
    """Write `records` as JSON Lines to `uri`; return how many were written."""
    lines = [orjson.dumps(record) for record in records]
    bucket, key = split_uri(uri)
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"\n".join(lines) + (b"\n" if lines else b""),
        ContentType="application/jsonl",
    )
    return len(lines)
