"""The state payloads the lifecycle passes between stages.

Payloads carry S3 URIs and small summaries only, because Step Functions limits a state's data to
256 KB. The execution input is a `RunInput`. Each stage adds its result under its own key (`dataset`,
`plan`, `training`, ...), and each handler validates the part it reads with one of these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from keiko.recipe import Recipe


class Payload(BaseModel):
    # State payloads grow stage by stage, so models ignore keys that later stages add.
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunInput(Payload):
    """The execution input that intake writes."""

    run_id: str
    project: str
    name: str
    bucket: str
    dataset_key: str
    version_id: str | None = None
    recipe_key: str
    recipe: dict[str, Any]
    trigger: str

    @property
    def dataset_uri(self) -> str:
        return f"s3://{self.bucket}/{self.dataset_key}"

    @property
    def run_prefix(self) -> str:
        return f"runs/{self.run_id}/"

    def parsed_recipe(self) -> Recipe:
        return Recipe.model_validate(self.recipe)


class DatasetResult(Payload):
    """Result of ValidateDataset, or of GenerateSyntheticData, which extends the training split."""

    valid: bool
    format: str | None = None
    records: int = 0
    valid_records: int = 0
    invalid_records: int = 0
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    estimated_tokens: int = 0
    content_hash: str | None = None
    report_uri: str | None = None
    report_markdown_uri: str | None = None
    train_uri: str | None = None
    eval_uri: str | None = None
    train_records: int = 0
    eval_records: int = 0
    synthetic_uri: str | None = None
    synthetic_records: int = 0


class PlanResult(Payload):
    instance_type: str
    instance_count: int
    tier: str
    parameters_billion: float
    estimated_hours: float
    estimated_usd: float
    max_usd: float
    within_budget: bool
    max_runtime_seconds: int
    wait_timeout_seconds: int
    notes: list[str] = Field(default_factory=list)


class JobResult(Payload):
    """Task success output that TrainingJobCallback sends when a job completes."""

    job_name: str
    status: str
    model_artifacts: str
    training_seconds: int | None = None
    billable_seconds: int | None = None
    final_metrics: dict[str, float] = Field(default_factory=dict)


class EvaluationResult(Payload):
    """Result of CompareCheckpoints: held-out loss and perplexity before and after, and the gates."""

    metrics_uri: str
    base_eval_loss: float | None
    candidate_eval_loss: float | None
    base_perplexity: float | None
    candidate_perplexity: float | None
    loss_improvement: float
    passed: bool
    reasons: list[str] = Field(default_factory=list)


class PreferenceResult(Payload):
    """Result of JudgeResponses: the chosen/rejected pairs file and counts."""

    iteration: int
    pairs_uri: str
    pairs: int
    skipped: int
    judge_model_id: str


class Failure(Payload):
    """A Catch result (`Error`, `Cause`) or a Pass state's named failure."""

    Error: str
    Cause: str | None = None


class StageInput(RunInput):
    """The state as later stages see it: the run input plus what earlier stages added."""

    dataset: DatasetResult | None = None
    plan: PlanResult | None = None
    training: JobResult | None = None
    evaluation_job: JobResult | None = None
    evaluation: EvaluationResult | None = None
    responses_job: JobResult | None = None
    preference: PreferenceResult | None = None
    preference_training: JobResult | None = None
    preference_evaluation_job: JobResult | None = None
    preference_evaluation: EvaluationResult | None = None
    registration: dict[str, Any] | None = None
    failure: Failure | None = None
