"""Run ids and SageMaker job names.

Run id: `<project>-<name>-<hash12>`, where hash12 is the first 12 hex digits of SHA-256 over
`bucket/key@version`. Lower-case `[a-z0-9-]`, at most 63 characters, so it is also a valid Step
Functions execution name, and a duplicate S3 event for the same object version maps to the same name.

Job name: `keiko-<run-prefix>-<stage>-<attempt>`, within SageMaker's `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
The `keiko-` prefix lets the EventBridge rule select keiko's jobs. SageMaker rejects a second job
with an existing name, so the attempt number (the state's retry count) is part of the name.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
HASH_LENGTH = 12
JOB_NAME_PREFIX = "keiko-"
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RUN_ID_PATTERN = re.compile(r"^[a-z0-9](-?[a-z0-9])*-[0-9a-f]{12}$")


def slugify(text: str) -> str:
    """Lower-case `text` and collapse every run of characters outside `[a-z0-9]` into one hyphen."""
    return _NOT_ALLOWED.sub("-", text.lower()).strip("-")


def object_hash(bucket: str, key: str, version_id: str | None) -> str:
    """Return hash12 of `bucket/key@version`; an unversioned object hashes with the version `null`."""
    source = f"{bucket}/{key}@{version_id or 'null'}"
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def make_run_id(project: str, name: str, bucket: str, key: str, version_id: str | None) -> str:
    """Build the run id, shortening the project and name parts (project first keeps at least 8) to fit."""
    digest = object_hash(bucket, key, version_id)
    project_part = slugify(project) or "project"
    name_part = slugify(name) or "dataset"
    budget = MAX_NAME_LENGTH - HASH_LENGTH - 2

    if len(project_part) + len(name_part) > budget:
        project_part = project_part[: max(8, budget - len(name_part))].rstrip("-")
        name_part = name_part[: budget - len(project_part)].rstrip("-")
    return f"{project_part}-{name_part}-{digest}"


def make_job_name(run_id: str, stage: str, attempt: int) -> str:
    """Build the SageMaker job name for `stage` of a run; `attempt` counts from 1."""
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    suffix = f"-{slugify(stage)}-{attempt}"
    digest = run_id[-HASH_LENGTH:]
    head = run_id[: -HASH_LENGTH - 1]
    room = MAX_NAME_LENGTH - len(JOB_NAME_PREFIX) - len(suffix) - HASH_LENGTH - 1
    if room < 1:
        raise ValueError(f"stage name {stage!r} is too long for a 63-character SageMaker job name")

    name = f"{JOB_NAME_PREFIX}{head[:room].rstrip('-')}-{digest}{suffix}"
    if not JOB_NAME_PATTERN.match(name):
        raise ValueError(f"built an invalid SageMaker job name {name!r} from run id {run_id!r}")
    return name
