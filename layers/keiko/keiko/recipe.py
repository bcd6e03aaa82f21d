"""Run configuration ("recipe"): what to train, on what, and when a result is good enough.

A recipe is the YAML file `keiko.yaml` (or `<dataset>.keiko.yaml`) uploaded beside a dataset. It is
validated once, at intake, and travels through the lifecycle as a plain dict (`Recipe.model_dump()`).
The training container validates the same model again from its hyperparameters.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from keiko.hyperparameters import (
    DistillHyperparameters,
    DpoHyperparameters,
    GrpoHyperparameters,
    Hyperparameters,
    KtoHyperparameters,
    MergeHyperparameters,
    OrpoHyperparameters,
    PretrainHyperparameters,
    PromptTuningHyperparameters,
    PTuningHyperparameters,
    RewardHyperparameters,
    RlooHyperparameters,
    SftHyperparameters,
)


class Method(StrEnum):
    """Training methods. The same names are used in recipes, reports, the CLI and the docs."""

    PRETRAIN = "pretrain"
    CPT = "cpt"
    SFT = "sft"
    DPO = "dpo"
    ORPO = "orpo"
    KTO = "kto"
    REWARD = "reward"
    GRPO = "grpo"
    RLOO = "rloo"
    DISTILL = "distill"
    PROMPT_TUNING = "prompt-tuning"
    P_TUNING = "p-tuning"
    MERGE = "merge"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    base: Annotated[
        str,
        Field(
            min_length=1,
            description="Hugging Face model id, or an s3:// URI of a model folder or model.tar.gz.",
        ),
    ]
    parameters_billion: Annotated[
        float | None,
        Field(gt=0, description="Parameter count in billions; inferred from the model id when omitted."),
    ] = None


class PeftSpec(Strict):
    type: Literal["none", "lora", "qlora"] = "lora"
    r: Annotated[int, Field(ge=1, le=1024)] = 16
    alpha: Annotated[int, Field(ge=1)] = 32
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    target_modules: str | list[str] = "all-linear"


class DatasetSpec(Strict):
    max_length: Annotated[int, Field(ge=16, le=1_048_576, description="Maximum tokens per record.")] = 2048
    eval_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.1
    seed: int = 42


class BackendSpec(Strict):
    type: Literal["sagemaker", "hyperpod", "bedrock"] = "sagemaker"
    instance_type: Annotated[str, Field(description='An ml.* instance type, or "auto" to plan it.')] = "auto"
    instance_count: Annotated[int | Literal["auto"], Field(description="Number of instances.")] = "auto"
    spot: bool = True
    max_runtime_hours: Annotated[float, Field(gt=0, le=28 * 24)] = 24
    image_uri: str | None = None


class BudgetSpec(Strict):
    max_usd: Annotated[float, Field(gt=0, description="Stop before training when the estimate exceeds it.")] = 500


class GateSpec(Strict):
    """Conditions a candidate checkpoint must meet to be registered."""

    max_eval_loss: Annotated[float | None, Field(gt=0)] = None
    min_loss_improvement: Annotated[
        float, Field(ge=0, description="Required relative drop of held-out loss versus the base model.")
    ] = 0.0


class SyntheticSpec(Strict):
    enabled: bool = False
    model_id: str = "anthropic.claude-3-5-haiku-20241022-v1:0"
    records: Annotated[int, Field(ge=1, le=100_000)] = 32
    seed_examples: Annotated[int, Field(ge=1, le=64)] = 8


class PreferenceSpec(Strict):
    enabled: bool = False
    method: Literal["dpo"] = "dpo"
    iterations: Annotated[int, Field(ge=1, description="Preference iterations per run; one is supported today.")] = 1
    prompts: Annotated[int, Field(ge=1, le=10_000, description="Prompts sampled per iteration.")] = 16
    judge_model_id: str = "anthropic.claude-3-5-sonnet-20241022-v2:0"
    max_new_tokens: Annotated[int, Field(ge=1, le=8192)] = 128

    @field_validator("iterations")
    @classmethod
    def _one_iteration(cls, value: int) -> int:
        # NOTE: the lifecycle state machine runs one preference iteration per run. The loop until a
        # gate passes or a cap stops it is not built yet, so more are rejected rather than ignored.
        if value != 1:
            raise ValueError(
                f"{value} iterations requested, but a run performs one preference iteration; set "
                "preference.iterations to 1"
            )
        return value


class RegistrySpec(Strict):
    model_package_group: str | None = Field(
        default=None, description="SageMaker model package group; defaults to keiko-<project>."
    )
    approval_status: Literal["PendingManualApproval", "Approved"] = "PendingManualApproval"


MethodHyperparameters = Hyperparameters | MergeHyperparameters

HYPERPARAMETER_MODELS: dict[Method, type[MethodHyperparameters]] = {
    Method.PRETRAIN: PretrainHyperparameters,
    Method.CPT: PretrainHyperparameters,
    Method.SFT: SftHyperparameters,
    Method.PROMPT_TUNING: PromptTuningHyperparameters,
    Method.P_TUNING: PTuningHyperparameters,
    Method.DPO: DpoHyperparameters,
    Method.ORPO: OrpoHyperparameters,
    Method.KTO: KtoHyperparameters,
    Method.REWARD: RewardHyperparameters,
    Method.GRPO: GrpoHyperparameters,
    Method.RLOO: RlooHyperparameters,
    Method.DISTILL: DistillHyperparameters,
    Method.MERGE: MergeHyperparameters,
}

# Methods that train LoRA (or QLoRA) adapters when the recipe's peft.type is lora (or qlora). Pretraining
# trains every weight; prompt tuning and p-tuning are PEFT methods of their own; merge trains nothing.
LORA_METHODS = frozenset(
    {
        Method.CPT,
        Method.SFT,
        Method.DPO,
        Method.ORPO,
        Method.KTO,
        Method.REWARD,
        Method.GRPO,
        Method.RLOO,
        Method.DISTILL,
    }
)


class Recipe(Strict):
    method: Method
    model: ModelSpec
    peft: PeftSpec = PeftSpec()
    hyperparameters: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    dataset: DatasetSpec = DatasetSpec()
    backend: BackendSpec = BackendSpec()
    budget: BudgetSpec = BudgetSpec()
    evaluation: GateSpec = GateSpec()
    synthetic: SyntheticSpec = SyntheticSpec()
    preference: PreferenceSpec = PreferenceSpec()
    registry: RegistrySpec = RegistrySpec()

    @field_validator("hyperparameters", mode="after")
    @classmethod
    def _validate_hyperparameters(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        method = info.data.get("method")
        if method is None:
            return value  # the method itself is invalid, and its own error reports that
        return HYPERPARAMETER_MODELS[method].model_validate(value).model_dump()

    @model_validator(mode="after")
    def _check_peft(self) -> Recipe:
        if self.method is Method.PRETRAIN and "peft" in self.model_fields_set and self.peft.type != "none":
            raise ValueError(
                f"peft.type {self.peft.type!r} does not apply to pretrain, which trains every weight of a "
                "config-initialised model: set peft.type to none or remove the peft section"
            )
        return self

    def typed_hyperparameters(self) -> MethodHyperparameters:
        return HYPERPARAMETER_MODELS[self.method].model_validate(self.hyperparameters)


class RecipeError(ValueError):
    """A recipe that cannot be parsed or is invalid. The message names each field and the fix."""


def parse_recipe(text: str | bytes, source: str = "recipe") -> Recipe:
    """Parse and validate recipe YAML, raising RecipeError with one line per invalid field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{source}: invalid YAML: {exc}. Fix the syntax and upload the recipe again.") from exc
    if not isinstance(data, dict):
        raise RecipeError(
            f"{source}: expected a mapping with at least 'method' and 'model', got {type(data).__name__}."
        )

    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(f"{source}: invalid recipe:\n{format_validation_error(exc)}") from exc


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"  {path}: {error['msg']} (got {error.get('input')!r})")
    return "\n".join(lines)
