"""One entry point per Lambda handler: validate the payload, build the stage's clients, run the stage.

Handlers in functions/<name>/app.py call exactly one function here. Settings are read on the first
call (cached per process), and boto3 clients are created on first use, never at import.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from keiko import callback, evaluation, judge, notify, planning, registry, synthetic, validation_plan
from keiko.aws import client
from keiko.bedrock import BedrockChat
from keiko.errors import InvalidStageInput
from keiko.intake import Intake
from keiko.observability import logger
from keiko.payloads import DatasetResult, JobResult, RunInput, StageInput
from keiko.recipe import format_validation_error
from keiko.runs import RunStore
from keiko.settings import (
    IntakeSettings,
    JobSettings,
    NotifySettings,
    StorageSettings,
    ValidationSettings,
    load_settings,
)
from keiko.submit import JobSubmitter, SubmitInput

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], payload: Any) -> ModelT:
    """Validate a state payload, raising InvalidStageInput that names each bad field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidStageInput(f"invalid {model.__name__} payload:\n{format_validation_error(exc)}") from exc


def start_runs(event: dict[str, Any]) -> dict[str, Any]:
    """Intake: start one execution per dataset object in an S3 or schedule event."""
    return {"runs": Intake(load_settings(IntakeSettings)).handle(event)}


def plan_validation(event: dict[str, Any]) -> dict[str, Any]:
    """PlanValidation: choose one pass or parallel byte ranges for the dataset."""
    run = parse(RunInput, event)
    plan = validation_plan.plan_validation(client("s3"), run, load_settings(ValidationSettings))
    logger.info("validation planned", extra={"size": plan["size"], "slices": plan["slice_count"]})
    return plan


def _validation_options(run: StageInput) -> dict[str, Any]:
    recipe = run.parsed_recipe()
    return {
        "bucket": run.bucket,
        "key": run.dataset_key,
        "version_id": run.version_id,
        "method": recipe.method,
        "max_length": recipe.dataset.max_length,
        "eval_fraction": recipe.dataset.eval_fraction,
        "seed": recipe.dataset.seed,
        "output_prefix": run.run_prefix,
    }


def validate_dataset_slice(event: dict[str, Any]) -> dict[str, Any]:
    """ValidateDatasetSlice: validate the records that start in one byte range."""
    from keiko.datasets import validate_s3_slice

    run = parse(StageInput, event.get("run") if isinstance(event, dict) else None)
    byte_range = event.get("slice") or {}
    if not {"index", "start", "end"} <= set(byte_range):
        raise InvalidStageInput(f"ValidateDatasetSlice needs slice.index, slice.start and slice.end, got {byte_range}")
    return validate_s3_slice(
        client("s3"),
        index=byte_range["index"],
        start=byte_range["start"],
        end=byte_range["end"],
        **_validation_options(run),
    )


def merge_dataset_slices(event: dict[str, Any]) -> dict[str, Any]:
    """MergeDatasetSlices: join the slices' reports and splits into one validation result."""
    from keiko.datasets import merge_s3_slices

    run = parse(StageInput, event)
    slice_count = (event.get("validation_plan") or {}).get("slice_count")
    if not isinstance(slice_count, int) or slice_count < 1:
        raise InvalidStageInput(
            f"MergeDatasetSlices needs the PlanValidation result under 'validation_plan' with slice_count >= 1, "
            f"got {event.get('validation_plan')!r}"
        )
    summary = merge_s3_slices(client("s3"), slice_count=slice_count, **_validation_options(run))
    return parse(DatasetResult, summary.model_dump(mode="json")).model_dump(mode="json")


def validate_dataset(event: dict[str, Any]) -> dict[str, Any]:
    """ValidateDataset: check the dataset against the method's format and write the split."""
    # Imported here so the other handlers do not load the dataset validators.
    from keiko.datasets import validate_s3_dataset

    run = parse(StageInput, event)
    summary = validate_s3_dataset(client("s3"), **_validation_options(run))
    result = parse(DatasetResult, summary.model_dump(mode="json"))
    logger.info(
        "dataset validated",
        extra={"valid": result.valid, "records": result.records, "invalid_records": result.invalid_records},
    )
    return result.model_dump(mode="json")


def generate_synthetic_data(event: dict[str, Any]) -> dict[str, Any]:
    """GenerateSyntheticData: extend the training split with Bedrock-generated records."""
    run = parse(StageInput, event)
    if run.dataset is None:
        raise InvalidStageInput("GenerateSyntheticData needs the ValidateDataset result under 'dataset'")
    result = synthetic.generate_synthetic_data(
        client("s3"), BedrockChat(), run.parsed_recipe().synthetic, run.dataset, run.run_prefix, run.bucket
    )
    return result.model_dump(mode="json")


def plan_training(event: dict[str, Any]) -> dict[str, Any]:
    """PlanTraining: choose instances and estimate hours and cost."""
    run = parse(StageInput, event)
    if run.dataset is None:
        raise InvalidStageInput("PlanTraining needs the ValidateDataset result under 'dataset'")
    plan = planning.plan_training(run.parsed_recipe(), run.dataset)
    logger.info(
        "training planned",
        extra=plan.model_dump(include={"instance_type", "instance_count", "estimated_usd", "within_budget"}),
    )
    return plan.model_dump(mode="json")


def submit_training_job(event: dict[str, Any]) -> dict[str, Any]:
    """SubmitTrainingJob: create the stage's job and store the task token of the waiting state."""
    return JobSubmitter(load_settings(JobSettings)).submit(parse(SubmitInput, event))


def resume_waiting_state(event: dict[str, Any]) -> dict[str, Any]:
    """TrainingJobCallback: send task success or failure when a keiko job reaches a terminal status."""
    store = RunStore(load_settings(StorageSettings).run_table)
    return callback.JobCallback(store).handle(event)


def compare_checkpoints(event: dict[str, Any]) -> dict[str, Any]:
    """CompareCheckpoints: held-out loss and perplexity before and after, and the recipe's gates."""
    payload = event.get("job") if isinstance(event, dict) else None
    job = parse(JobResult, payload)
    run = parse(StageInput, event.get("run"))
    result = evaluation.compare_checkpoints(client("s3"), job, run.parsed_recipe().evaluation)
    logger.info("checkpoint compared", extra={"passed": result.passed, "reasons": result.reasons})
    return result.model_dump(mode="json")


def judge_responses(event: dict[str, Any]) -> dict[str, Any]:
    """JudgeResponses: pick chosen/rejected for each prompt with the AI judge."""
    run = parse(StageInput, event)
    if run.responses_job is None:
        raise InvalidStageInput("JudgeResponses needs the GenerateResponses job result under 'responses_job'")
    iteration = 1
    pairs_uri = f"s3://{run.bucket}/{run.run_prefix}preference/iteration-{iteration}/pairs.jsonl"
    result = judge.judge_responses(
        client("s3"),
        BedrockChat(),
        run.responses_job,
        pairs_uri,
        run.parsed_recipe().preference.judge_model_id,
        iteration,
    )
    return result.model_dump(mode="json")


def register_model(event: dict[str, Any]) -> dict[str, Any]:
    """RegisterModel: create the Model Registry package with metrics and lineage."""
    run = parse(StageInput, event)
    settings = load_settings(JobSettings)
    image = run.parsed_recipe().backend.image_uri or settings.training_image_uri
    return registry.register_model(run, client("sagemaker"), client("s3"), image)


def notify_run_succeeded(event: dict[str, Any]) -> dict[str, Any]:
    """NotifyRunSucceeded: record SUCCEEDED and publish the news."""
    settings = load_settings(NotifySettings)
    run = parse(StageInput, event)
    return notify.notify_run_succeeded(run, RunStore(settings.run_table), notify.Notifier(settings))


def mark_run_failed(event: dict[str, Any]) -> dict[str, Any]:
    """MarkRunFailed: record FAILED with the reason and publish the news."""
    settings = load_settings(NotifySettings)
    run = parse(StageInput, event)
    return notify.mark_run_failed(run, RunStore(settings.run_table), notify.Notifier(settings))
