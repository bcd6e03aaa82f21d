"""Copying between the emulated S3 and local folders, for training job inputs and outputs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any


def split_s3_uri(uri: str) -> tuple[str, str]:
    """Split s3://bucket/key into (bucket, key); raise ValueError for anything else."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise ValueError(f"Not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def download_prefix(s3: Any, uri: str, folder: Path) -> int:
    """Copy every object under an S3 prefix into a folder; return how many objects were copied.

    As SageMaker does for an S3Prefix channel, an object's path in the folder is its key after the
    last "/" of the prefix, so s3://b/data/train.jsonl and s3://b/data/ both give train.jsonl.
    """
    bucket, prefix = split_s3_uri(uri)
    if not prefix or prefix.endswith("/"):
        base = prefix
    elif "/" in prefix:
        base = prefix.rsplit("/", 1)[0] + "/"
    else:
        base = ""
    folder.mkdir(parents=True, exist_ok=True)
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            relative = entry["Key"][len(base) :]
            if not relative or relative.endswith("/"):
                continue
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, entry["Key"], str(target))
            copied += 1
    return copied


def upload_folder(s3: Any, folder: Path, uri: str) -> int:
    """Copy every file of a folder under an S3 prefix; return how many files were copied."""
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix.rstrip("/")
    copied = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder).as_posix()}" if prefix else path.relative_to(folder).as_posix()
            s3.upload_file(str(path), bucket, key)
            copied += 1
    return copied


def tar_folder(folder: Path) -> bytes:
    """Return a gzip tarball of a folder's contents, paths relative to the folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for path in sorted(folder.iterdir()):
            bundle.add(path, arcname=path.name)
    return buffer.getvalue()
