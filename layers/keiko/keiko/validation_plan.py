"""PlanValidation: decide whether a dataset is validated in one pass or in parallel byte ranges.

Large uncompressed JSONL files are split into byte ranges (`keiko.datasets.plan_slices`). The ranges
are written to S3 as a JSON array, the manifest, which the ValidateDatasetSlices Distributed Map
reads with its ItemReader, so the list never passes through the execution's state. Each range is
validated in a child execution, and MergeDatasetSlices then joins their reports and splits. Other
formats and smaller files are validated by ValidateDataset in one pass.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from keiko.aws import error_code, raise_if_transient
from keiko.errors import TransientError
from keiko.payloads import RunInput
from keiko.settings import ValidationSettings

# MergeDatasetSlices reads every slice's report in one Lambda invocation, so the count is capped.
# Larger files get proportionally larger slices instead.
MAX_SLICES = 100
MANIFEST_NAME = "validation/slices.json"


class DatasetNotFound(ValueError):
    """The dataset version the run names is gone from S3."""


class ManifestConflict(RuntimeError):
    """A different slice manifest already exists for this run."""


def plan_validation(s3: Any, run: RunInput, settings: ValidationSettings) -> dict[str, Any]:
    """Return `{"size", "sliced", "slice_count"}` for the run's dataset version, and for a sliced
    plan the S3 location of its manifest under `"manifest"`."""
    # Imported here so the handlers that import keiko.stages do not load the dataset validators.
    from keiko.datasets import plan_slices

    size = _dataset_size(s3, run)
    sliced = run.dataset_key.endswith(".jsonl") and size > settings.validation_slice_threshold_bytes
    if not sliced:
        return {"size": size, "sliced": False, "slice_count": 0}
    slice_bytes = max(settings.validation_slice_bytes, -(-size // MAX_SLICES))
    slices = plan_slices(size, slice_bytes=slice_bytes)
    manifest = {"bucket": run.bucket, "key": run.run_prefix + MANIFEST_NAME}
    _write_manifest(s3, manifest, json.dumps(slices, separators=(",", ":")).encode())
    return {"size": size, "sliced": True, "slice_count": len(slices), "manifest": manifest}


def _dataset_size(s3: Any, run: RunInput) -> int:
    request = {"Bucket": run.bucket, "Key": run.dataset_key}
    if run.version_id:
        request["VersionId"] = run.version_id
    try:
        return s3.head_object(**request)["ContentLength"]
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}:
            raise DatasetNotFound(
                f"{run.dataset_uri} (version {run.version_id}) no longer exists: upload the dataset again"
            ) from exc
        raise_if_transient(exc, f"HeadObject {run.dataset_uri}")
        raise


def _write_manifest(s3: Any, manifest: dict[str, str], body: bytes) -> None:
    """Write the manifest once. A retried PlanValidation finds its own manifest and keeps it; a
    different one under the same run is an error, never overwritten."""
    uri = f"s3://{manifest['bucket']}/{manifest['key']}"
    try:
        s3.put_object(
            Bucket=manifest["bucket"],
            Key=manifest["key"],
            Body=body,
            ContentType="application/json",
            IfNoneMatch="*",
        )
        return
    except ClientError as exc:
        code = error_code(exc)
        if code == "ConditionalRequestConflict":  # a concurrent write of the same key: retry
            raise TransientError(f"PutObject {uri} conflicted with a concurrent write") from exc
        if code != "PreconditionFailed":
            raise_if_transient(exc, f"PutObject {uri}")
            raise
    existing = s3.get_object(Bucket=manifest["bucket"], Key=manifest["key"])["Body"].read()
    if existing != body:
        raise ManifestConflict(
            f"{uri} already has a different slice plan for this run (the slice settings changed between "
            "attempts); delete it, or start a new run by uploading the dataset again."
        )
