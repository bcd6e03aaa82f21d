"""CreateTrainingJob requests built from the run state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keiko.job_parameters import parse_job_hyperparameters
from keiko.jobs import JobSpecError, build_training_job, stage_spec
from keiko.payloads import StageInput
from keiko.settings import JobSettings

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = JobSettings(
    data_bucket="keiko-databucket-example",
    run_table="keiko-runs",
    training_image_uri="image:latest",
    training_code_key="code/sourcedir.tar.gz",
    sagemaker_role_arn="arn:aws:iam::123456789012:role/keiko-sagemaker",
)
CODE_URI = "s3://keiko-databucket-example/runs/x/code/sourcedir.tar.gz"


def planned_run(**changes) -> StageInput:
    data = json.loads((EVENTS / "submit_training_job.json").read_text())["run"]
    data.update(changes)
    return StageInput.model_validate(data)


def build(stage: str, run: StageInput) -> dict:
    return build_training_job(f"keiko-job-{stage}-1", stage_spec(stage, run), run, run.plan, SETTINGS, CODE_URI)


def channels(request: dict) -> dict[str, str]:
    return {item["ChannelName"]: item["DataSource"]["S3DataSource"]["S3Uri"] for item in request["InputDataConfig"]}


def test_train_job_follows_the_toolkit_contract():
    run = planned_run()

    request = build("train", run)

    hyperparameters = request["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == "train.py"
    assert hyperparameters["sagemaker_submit_directory"] == CODE_URI
    assert hyperparameters["model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert all(isinstance(value, str) for value in hyperparameters.values())
    assert channels(request) == {"train": run.dataset.train_uri, "validation": run.dataset.eval_uri}
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://keiko-databucket-example/runs/{run.run_id}/jobs/"
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert request["CheckpointConfig"]["S3Uri"].endswith("/checkpoints/keiko-job-train-1/")


def test_train_job_hyperparameters_read_back_as_the_recipe():
    run = planned_run()

    parsed = parse_job_hyperparameters(build("train", run)["HyperParameters"])

    recipe = run.parsed_recipe()
    assert parsed.method == recipe.method
    assert parsed.hyperparameters.learning_rate == recipe.typed_hyperparameters().learning_rate
    assert parsed.peft.r == recipe.peft.r


def test_spot_job_waits_at_least_its_runtime():
    request = build("train", planned_run())

    assert request["EnableManagedSpotTraining"] is True
    stopping = request["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]


def test_on_demand_job_sets_no_wait_time():
    run = planned_run()
    recipe = {**run.recipe, "backend": {**run.recipe["backend"], "spot": False}}

    request = build("train", planned_run(recipe=recipe))

    assert request["EnableManagedSpotTraining"] is False
    assert "MaxWaitTimeInSeconds" not in request["StoppingCondition"]


def test_s3_base_model_arrives_as_base_channel():
    run = planned_run()
    recipe = {**run.recipe, "model": {"base": "s3://models/smollm2/model.tar.gz", "parameters_billion": 0.135}}

    request = build("train", planned_run(recipe=recipe))

    assert channels(request)["base"] == "s3://models/smollm2/model.tar.gz"


def test_training_metrics_match_the_method():
    names = {item["Name"] for item in build("train", planned_run())["AlgorithmSpecification"]["MetricDefinitions"]}

    assert {"loss", "eval_loss", "mean_token_accuracy"} <= names


def test_evaluate_job_reads_trained_model_on_one_instance():
    run = planned_run(
        training={
            "job_name": "j",
            "status": "Completed",
            "model_artifacts": "s3://b/runs/x/jobs/j/output/model.tar.gz",
        },
        plan={**planned_run().plan.model_dump(), "instance_count": 4},
    )

    request = build("evaluate", run)

    assert request["HyperParameters"]["sagemaker_program"] == "evaluate.py"
    assert channels(request)["model"] == "s3://b/runs/x/jobs/j/output/model.tar.gz"
    assert request["ResourceConfig"]["InstanceCount"] == 1
    names = {item["Name"] for item in request["AlgorithmSpecification"]["MetricDefinitions"]}
    assert "candidate_perplexity" in names


def test_evaluate_before_training_names_the_missing_field():
    with pytest.raises(JobSpecError, match="training.model_artifacts"):
        stage_spec("evaluate", planned_run())


def test_unknown_stage_lists_the_stages():
    with pytest.raises(JobSpecError, match="train, evaluate, generate, dpo, dpo-evaluate"):
        stage_spec("distill-everything", planned_run())


def test_generate_job_asks_for_two_responses():
    run = planned_run(training={"job_name": "j", "status": "Completed", "model_artifacts": "s3://b/m.tar.gz"})

    request = build("generate", run)

    assert request["HyperParameters"]["responses_per_prompt"] == "2"
    assert request["HyperParameters"]["num_prompts"] == str(run.parsed_recipe().preference.prompts)
    assert set(channels(request)) == {"model", "prompts"}


def test_overlong_hyperparameter_is_rejected_with_its_name():
    run = planned_run()
    recipe = {**run.recipe, "peft": {**run.recipe["peft"], "target_modules": ["module_" + "x" * 40] * 80}}

    with pytest.raises(JobSpecError, match="'lora_target_modules' is .* characters; SageMaker allows 2500"):
        build("train", planned_run(recipe=recipe))
