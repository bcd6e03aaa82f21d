"""RegisterModel: a SageMaker Model Registry package with metrics and lineage.

The package goes into group `keiko-<project>` (or the recipe's `registry.model_package_group`). Its
customer metadata records the lineage (dataset URI, version and content hash, recipe, job names), and
its model quality statistics point at `runs/<run-id>/registry/metrics.json`.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from keiko.aws import error_code, raise_if_transient
from keiko.errors import RegistrationFailed
from keiko.names import slugify
from keiko.observability import logger
from keiko.payloads import StageInput

MAX_METADATA_VALUE = 256  # SageMaker's limit on a CustomerMetadataProperties value
GROUP_NAME_LENGTH = 63


def package_group_name(run: StageInput) -> str:
    """Return `keiko-<project>`, or the recipe's group; keiko's IAM policy covers only `keiko-*` groups,
    so a configured name without that prefix gets it."""
    configured = run.parsed_recipe().registry.model_package_group
    name = slugify(configured) if configured else slugify(run.project) or "default"
    if not name.startswith("keiko-"):
        name = f"keiko-{name}"
    return name[:GROUP_NAME_LENGTH].rstrip("-")


def lineage(run: StageInput) -> dict[str, str]:
    """Return the customer metadata that ties the package to its data, recipe and jobs."""
    dataset = run.dataset
    jobs = [
        job.job_name
        for job in (
            run.training,
            run.evaluation_job,
            run.responses_job,
            run.preference_training,
            run.preference_evaluation_job,
        )
        if job
    ]
    values = {
        "run_id": run.run_id,
        "dataset_uri": run.dataset_uri,
        "dataset_version_id": run.version_id or "null",
        "dataset_content_hash": (dataset.content_hash if dataset else None) or "unknown",
        "recipe_uri": f"s3://{run.bucket}/{run.recipe_key}",
        "method": str(run.recipe.get("method")),
        "base_model": str(run.recipe.get("model", {}).get("base")),
        "training_jobs": ",".join(jobs),
    }
    return {key: value[:MAX_METADATA_VALUE] for key, value in values.items()}


def final_model(run: StageInput) -> str:
    """Return the artifacts of the last trained model: the preference model when that iteration ran."""
    job = run.preference_training or run.training
    if job is None or not job.model_artifacts:
        raise RegistrationFailed("cannot register: the run state has no trained model artifacts")
    return job.model_artifacts


def register_model(run: StageInput, sagemaker: Any, s3: Any, image_uri: str) -> dict[str, Any]:
    """Create the package (and its group on first use); return its ARN and group."""
    group = package_group_name(run)
    evaluation = run.preference_evaluation or run.evaluation
    metrics_key = f"{run.run_prefix}registry/metrics.json"
    s3.put_object(
        Bucket=run.bucket,
        Key=metrics_key,
        ContentType="application/json",
        Body=json.dumps(evaluation.model_dump(mode="json") if evaluation else {}).encode(),
    )

    _ensure_group(sagemaker, group)
    model_artifacts = final_model(run)
    try:
        response = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=f"keiko run {run.run_id} ({run.recipe.get('method')})"[:1024],
            ModelApprovalStatus=run.parsed_recipe().registry.approval_status,
            # NOTE: the training image serves as the inference image until keiko deploys models.
            InferenceSpecification={
                "Containers": [{"Image": image_uri, "ModelDataUrl": model_artifacts}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://{run.bucket}/{metrics_key}",
                    }
                }
            },
            CustomerMetadataProperties=lineage(run),
        )
    except ClientError as exc:
        raise_if_transient(exc, "CreateModelPackage")
        raise RegistrationFailed(f"SageMaker rejected the model package in group {group}: {exc}") from exc

    arn = response["ModelPackageArn"]
    logger.info("model registered", extra={"model_package_arn": arn, "group": group})
    return {"model_package_arn": arn, "model_package_group": group, "model_artifacts": model_artifacts}


def _ensure_group(sagemaker: Any, group: str) -> None:
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        return
    except ClientError as exc:
        if error_code(exc) not in {"ValidationException", "ResourceNotFound"}:
            raise
    try:
        sagemaker.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription="Models trained by keiko"
        )
    except ClientError as exc:
        # Two runs of one project may create the group at the same time; the loser finds it existing.
        if "already exists" not in exc.response.get("Error", {}).get("Message", ""):
            raise
