"""PlanValidation: decide whether a dataset is validated in one pass or in parallel byte ranges.

Large uncompressed JSONL files are split into byte ranges (`keiko.datasets.plan_slices`) that the
ValidateDatasetSlices Map state validates in parallel, and MergeDatasetSlices then joins their
reports and splits. Other formats and smaller files are validated by ValidateDataset in one pass.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from keiko.aws import error_code, raise_if_transient
from keiko.payloads import RunInput
from keiko.settings import ValidationSettings

# The cap bounds the slice invocations per run and keeps the Map's gathered results small. Larger
# files get proportionally larger slices instead.
MAX_SLICES = 40


class DatasetNotFound(ValueError):
    """The dataset version the run names is gone from S3."""


def plan_validation(s3: Any, run: RunInput, settings: ValidationSettings) -> dict[str, Any]:
    """Return `{"size", "sliced", "slices"}` for the run's dataset version."""
    # Imported here so the handlers that import keiko.stages do not load the dataset validators.
    from keiko.datasets import plan_slices

    request = {"Bucket": run.bucket, "Key": run.dataset_key}
    if run.version_id:
        request["VersionId"] = run.version_id
    try:
        size = s3.head_object(**request)["ContentLength"]
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}:
            raise DatasetNotFound(
                f"{run.dataset_uri} (version {run.version_id}) no longer exists: upload the dataset again"
            ) from exc
        raise_if_transient(exc, f"HeadObject {run.dataset_uri}")
        raise

    sliced = run.dataset_key.endswith(".jsonl") and size > settings.validation_slice_threshold_bytes
    if not sliced:
        return {"size": size, "sliced": False, "slices": []}
    slice_bytes = max(settings.validation_slice_bytes, -(-size // MAX_SLICES))
    return {"size": size, "sliced": True, "slices": plan_slices(size, slice_bytes=slice_bytes)}
