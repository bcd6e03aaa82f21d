"""CreateTrainingJob requests for every job a run submits.

All jobs follow SageMaker's training toolkit contract: `sagemaker_program` names the script inside the
`sagemaker_submit_directory` tarball, every other hyperparameter arrives as `--key value`, inputs
arrive as channels, and the model directory becomes `<output path>/<job name>/output/model.tar.gz`.
The recipe travels as the flat hyperparameters of `keiko.job_parameters.job_hyperparameters`; an `s3://` base
model also arrives as the `base` channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keiko.job_parameters import job_hyperparameters
from keiko.payloads import PlanResult, StageInput
from keiko.recipe import Method, Recipe
from keiko.settings import JobSettings
from keiko.training_metrics import evaluation_metric_definitions, training_metric_definitions

MAX_HYPERPARAMETER_LENGTH = 2500  # SageMaker's limit on one hyperparameter value
MAX_HYPERPARAMETERS = 100  # SageMaker's limit on the number of hyperparameters
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
MAX_WAIT_SECONDS = 28 * 24 * 3600  # SageMaker's limit on MaxWaitTimeInSeconds
STAGES = ("train", "evaluate", "generate", "dpo", "dpo-evaluate")


class JobSpecError(ValueError):
    """A job cannot be built from the run state; the message names the missing piece."""


@dataclass(frozen=True)
class JobSpec:
    """The parts of a job that differ by stage: script, recipe, inputs and extra hyperparameters."""

    stage: str
    program: str
    recipe: Recipe
    channels: dict[str, str]
    hyperparameters: dict[str, str] = field(default_factory=dict)
    trains: bool = True

    def metric_definitions(self) -> list[dict[str, str]]:
        if self.trains:
            return training_metric_definitions(self.recipe.method.value)
        return evaluation_metric_definitions()


def _require(value: str | None, what: str) -> str:
    if not value:
        raise JobSpecError(f"cannot build the job: {what} is missing from the run state")
    return value


def preference_recipe(recipe: Recipe) -> Recipe:
    """Return the recipe of the preference iteration: the same run, trained with `preference.method`."""
    hyperparameters = recipe.hyperparameters
    profile = {"profile": hyperparameters["profile"]} if "profile" in hyperparameters else {}
    data = recipe.model_dump(mode="json")
    data.update(method=Method(recipe.preference.method).value, hyperparameters=profile)
    return Recipe.model_validate(data)


def stage_spec(stage: str, run: StageInput) -> JobSpec:
    """Return the job spec of `stage`: one of train, evaluate, generate, dpo, dpo-evaluate."""
    recipe = run.parsed_recipe()
    if run.dataset is None:
        raise JobSpecError("cannot build the job: the run state has no dataset result")
    eval_uri = _require(run.dataset.eval_uri, "dataset.eval_uri")
    sft_model = run.training.model_artifacts if run.training else None

    if stage == "train":
        channels = {"train": _require(run.dataset.train_uri, "dataset.train_uri"), "validation": eval_uri}
        return JobSpec(stage, "train.py", recipe, channels)
    if stage == "evaluate":
        channels = {"model": _require(sft_model, "training.model_artifacts"), "validation": eval_uri}
        return JobSpec(stage, "evaluate.py", recipe, channels, trains=False)
    if stage == "generate":
        channels = {
            "model": _require(sft_model, "training.model_artifacts"),
            "prompts": _require(run.dataset.train_uri, "dataset.train_uri"),
        }
        extra = {
            "num_prompts": str(recipe.preference.prompts),
            "responses_per_prompt": "2",
            "max_new_tokens": str(recipe.preference.max_new_tokens),
        }
        return JobSpec(stage, "generate.py", recipe, channels, extra, trains=False)
    if stage == "dpo":
        channels = {
            "train": _require(run.preference and run.preference.pairs_uri, "preference.pairs_uri"),
            "model": _require(sft_model, "training.model_artifacts"),
        }
        return JobSpec(stage, "train.py", preference_recipe(recipe), channels)
    if stage == "dpo-evaluate":
        preference_model = run.preference_training.model_artifacts if run.preference_training else None
        channels = {
            "model": _require(preference_model, "preference_training.model_artifacts"),
            "validation": eval_uri,
        }
        return JobSpec(stage, "evaluate.py", recipe, channels, trains=False)
    raise JobSpecError(f"unknown job stage {stage!r}: expected one of {', '.join(STAGES)}")


def _channel(name: str, uri: str) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}, "InputMode": "File"}


def job_hyperparameter_values(spec: JobSpec, run_id: str, code_uri: str) -> dict[str, str]:
    """Return the job's HyperParameters, checked against SageMaker's limits."""
    values = {
        "sagemaker_program": spec.program,
        "sagemaker_submit_directory": code_uri,
        **job_hyperparameters(spec.recipe),
        **spec.hyperparameters,
    }
    if len(values) > MAX_HYPERPARAMETERS:
        raise JobSpecError(f"{len(values)} hyperparameters; SageMaker allows {MAX_HYPERPARAMETERS} per job")
    for name, value in values.items():
        if len(value) > MAX_HYPERPARAMETER_LENGTH:
            raise JobSpecError(
                f"run {run_id}: hyperparameter {name!r} is {len(value)} characters; SageMaker allows "
                f"{MAX_HYPERPARAMETER_LENGTH}. Shorten it in the recipe."
            )
    return values


def build_training_job(
    job_name: str, spec: JobSpec, run: StageInput, plan: PlanResult, settings: JobSettings, code_uri: str
) -> dict[str, Any]:
    """Build the CreateTrainingJob request for one job of a run."""
    recipe = spec.recipe
    channels = dict(spec.channels)
    if recipe.model.base.startswith("s3://"):
        channels["base"] = recipe.model.base

    stopping: dict[str, int] = {"MaxRuntimeInSeconds": plan.max_runtime_seconds}
    if recipe.backend.spot:
        # Spot jobs may wait for capacity; SageMaker requires MaxWaitTime >= MaxRuntime.
        stopping["MaxWaitTimeInSeconds"] = min(plan.max_runtime_seconds * 2, MAX_WAIT_SECONDS)

    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": recipe.backend.image_uri or settings.training_image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": spec.metric_definitions(),
        },
        "RoleArn": settings.sagemaker_role_arn,
        "HyperParameters": job_hyperparameter_values(spec, run.run_id, code_uri),
        "InputDataConfig": [_channel(name, uri) for name, uri in sorted(channels.items())],
        "OutputDataConfig": {"S3OutputPath": f"s3://{run.bucket}/{run.run_prefix}jobs/"},
        "ResourceConfig": {
            "InstanceType": plan.instance_type,
            # Evaluation and generation are single-process scripts, so extra instances would idle.
            "InstanceCount": plan.instance_count if spec.trains else 1,
            "VolumeSizeInGB": 50 if plan.parameters_billion < 1 else 200,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": recipe.backend.spot,
        "CheckpointConfig": {
            "S3Uri": f"s3://{run.bucket}/{run.run_prefix}checkpoints/{job_name}/",
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        "Tags": [
            {"Key": "keiko:run-id", "Value": run.run_id},
            {"Key": "keiko:stage", "Value": spec.stage},
            {"Key": "keiko:project", "Value": run.project or "none"},
        ],
    }
