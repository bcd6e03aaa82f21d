"""Intake: turn an S3 upload or a schedule event into one lifecycle execution per dataset version.

The execution is named by the run id, which hashes bucket/key@version, so Step Functions rejects a
second execution for a redelivered event (ExecutionAlreadyExists), and intake logs and ignores it.
A missing or invalid recipe starts no execution: intake records a FAILED run and publishes the error.
"""

from __future__ import annotations

import posixpath
from typing import Any

from botocore.exceptions import ClientError

from keiko.aws import client, error_code, raise_if_transient
from keiko.names import make_run_id
from keiko.notify import Notifier
from keiko.observability import logger, metrics
from keiko.payloads import RunInput
from keiko.recipe import RecipeError, parse_recipe
from keiko.runs import RunStatus, RunStore
from keiko.s3events import DatasetObject, parse_start_event
from keiko.settings import IntakeSettings

MAX_RECIPE_BYTES = 256 * 1024


class RecipeNotFound(RecipeError):
    """Neither the dataset's named recipe nor the project recipe exists."""


def recipe_candidates(dataset: DatasetObject) -> list[str]:
    """Return the recipe keys to try, the named one first."""
    folder = posixpath.dirname(dataset.key)
    project_recipe = f"datasets/{dataset.project}/keiko.yaml"
    return list(dict.fromkeys([f"{folder}/{dataset.name}.keiko.yaml", f"{folder}/keiko.yaml", project_recipe]))


class Intake:
    """Start runs for the datasets an event refers to."""

    def __init__(
        self,
        settings: IntakeSettings,
        s3: Any = None,
        sfn: Any = None,
        store: RunStore | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3 or client("s3")
        self.sfn = sfn or client("stepfunctions")
        self.store = store or RunStore(settings.run_table)
        self.notifier = notifier or Notifier(settings)

    def handle(self, event: Any) -> list[dict[str, Any]]:
        """Start a run for each dataset in `event`; return one outcome per object."""
        return [self.start_run(dataset) for dataset in parse_start_event(event)]

    def start_run(self, dataset: DatasetObject) -> dict[str, Any]:
        """Start the execution for one dataset object, or explain why none starts."""
        skip_reason = dataset.skip_reason()
        if skip_reason:
            logger.info("object starts no run", extra={"key": dataset.key, "reason": skip_reason})
            return {"key": dataset.key, "outcome": "skipped", "reason": skip_reason}

        if dataset.version_id is None and dataset.trigger == "schedule":
            dataset = dataset.model_copy(update={"version_id": self._current_version(dataset)})
        run_id = make_run_id(dataset.project, dataset.name, dataset.bucket, dataset.key, dataset.version_id)
        logger.append_keys(run_id=run_id)

        try:
            recipe_key, recipe = self._load_recipe(dataset)
        except RecipeError as exc:
            return self._reject(run_id, dataset, exc)

        run_input = RunInput(
            run_id=run_id,
            project=dataset.project,
            name=dataset.name,
            bucket=dataset.bucket,
            dataset_key=dataset.key,
            version_id=dataset.version_id,
            recipe_key=recipe_key,
            recipe=recipe.model_dump(mode="json"),
            trigger=dataset.trigger,
        )
        return self._start_execution(run_input)

    def _start_execution(self, run_input: RunInput) -> dict[str, Any]:
        # Step Functions returns the running execution for a repeated name and input instead of
        # raising, so a run record that already exists is what marks a redelivered event.
        is_new = self.store.create_run(
            run_input.run_id,
            project=run_input.project,
            dataset_uri=run_input.dataset_uri,
            version_id=run_input.version_id,
            recipe_key=run_input.recipe_key,
            trigger=run_input.trigger,
            method=run_input.recipe["method"],
        )
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.settings.state_machine_arn,
                name=run_input.run_id,
                input=run_input.model_dump_json(),
            )
        except ClientError as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise_if_transient(exc, "StartExecution")
                raise
            return self._duplicate(run_input)
        if not is_new:
            return self._duplicate(run_input)

        execution_arn = response["executionArn"]
        self.store.update_run(run_input.run_id, execution_arn=execution_arn)
        self.notifier.publish(
            "Run Started",
            run_input.run_id,
            {"dataset_uri": run_input.dataset_uri, "execution_arn": execution_arn},
            f"Run {run_input.run_id} started for {run_input.dataset_uri}.",
        )
        metrics.add_metric(name="RunsStarted", unit="Count", value=1)
        logger.info("run started", extra={"execution_arn": execution_arn})
        return {"run_id": run_input.run_id, "outcome": "started", "execution_arn": execution_arn}

    def _duplicate(self, run_input: RunInput) -> dict[str, Any]:
        logger.info("duplicate event: this object version already has a run")
        metrics.add_metric(name="DuplicateEvents", unit="Count", value=1)
        return {"run_id": run_input.run_id, "outcome": "duplicate"}

    def _load_recipe(self, dataset: DatasetObject):
        candidates = [dataset.recipe_key] if dataset.recipe_key else recipe_candidates(dataset)
        for key in candidates:
            text = self._read_optional(dataset.bucket, key)
            if text is not None:
                return key, parse_recipe(text, source=f"s3://{dataset.bucket}/{key}")
        raise RecipeNotFound(
            f"no recipe for s3://{dataset.bucket}/{dataset.key}: looked for {', '.join(candidates)}. "
            "Upload a recipe with at least 'method' and 'model.base', then upload the dataset again."
        )

    def _read_optional(self, bucket: str, key: str) -> bytes | None:
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise_if_transient(exc, f"GetObject s3://{bucket}/{key}")
            raise
        if response.get("ContentLength", 0) > MAX_RECIPE_BYTES:
            raise RecipeError(
                f"s3://{bucket}/{key}: recipe is larger than {MAX_RECIPE_BYTES} bytes; "
                "check that the key names a recipe"
            )
        return response["Body"].read()

    def _current_version(self, dataset: DatasetObject) -> str | None:
        try:
            return self.s3.head_object(Bucket=dataset.bucket, Key=dataset.key).get("VersionId")
        except ClientError as exc:
            if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                raise ValueError(
                    f"scheduled dataset s3://{dataset.bucket}/{dataset.key} does not exist: "
                    "fix the schedule's DatasetKey parameter or upload the dataset"
                ) from exc
            raise

    def _reject(self, run_id: str, dataset: DatasetObject, exc: RecipeError) -> dict[str, Any]:
        error = type(exc).__name__
        dataset_uri = f"s3://{dataset.bucket}/{dataset.key}"
        logger.warning("recipe rejected; no run started", extra={"error": error, "cause": str(exc)})
        self.store.put_run(
            run_id,
            RunStatus.FAILED,
            project=dataset.project,
            dataset_uri=dataset_uri,
            version_id=dataset.version_id,
            trigger=dataset.trigger,
            error=error,
            cause=str(exc),
        )
        self.notifier.publish(
            "Run Failed",
            run_id,
            {"error": error, "cause": str(exc), "dataset_uri": dataset_uri},
            f"Run {run_id} was not started ({error}).\n\n{exc}",
        )
        metrics.add_metric(name="RecipesRejected", unit="Count", value=1)
        return {"run_id": run_id, "outcome": "rejected", "error": error, "cause": str(exc)}
