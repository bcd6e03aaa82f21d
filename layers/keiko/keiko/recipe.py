"""Run configuration ("recipe"): what to train, on what, and when a result is good enough.

A recipe is the YAML file `keiko.yaml` (or `<dataset>.keiko.yaml`) uploaded beside a dataset. It is
validated once, at intake, and travels through the lifecycle as a plain dict (`Recipe.model_dump()`).
The training container validates the same model again from its hyperparameters.
"""

from __future__ import annotations

import ast
import json
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

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
        # NOTE: the lifecycle state machine runs one preference iteration per run; the loop until a
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


class Hyperparameters(BaseModel):
    """Hyperparameters every training method shares. Method-specific models extend this one.

    Defaults suit real models (hundreds of millions of parameters and up). `profile: local` fills every
    field the recipe leaves out from the model's `local_defaults` instead: settings that make a tiny
    model learn in a few CPU steps, where TRL's learning rates would barely move it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    local_defaults: ClassVar[dict[str, Any]] = {
        "learning_rate": 5e-3,
        "per_device_batch_size": 2,
        "warmup_ratio": 0.0,
        "logging_steps": 1,
        "save_steps": 5,
        "gradient_checkpointing": False,
    }

    profile: Annotated[
        Literal["default", "local"], Field(description='"local" applies the tiny-model CPU defaults.')
    ] = "default"
    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 2e-4
    epochs: Annotated[float, Field(gt=0, le=100)] = 1
    max_steps: Annotated[int, Field(ge=-1, description="Overrides epochs when positive.")] = -1
    per_device_batch_size: Annotated[int, Field(ge=1, le=4096)] = 4
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 1
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.03
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    weight_decay: Annotated[float, Field(ge=0, lt=1)] = 0.0
    seed: int = 42
    save_steps: Annotated[int, Field(ge=1)] = 200
    save_total_limit: Annotated[int | None, Field(ge=1, description="Checkpoints kept; None keeps all.")] = 2
    logging_steps: Annotated[int, Field(ge=1)] = 10
    eval_steps: Annotated[
        int | None, Field(ge=1, description="Evaluate every N steps; None evaluates once, after training.")
    ] = None
    gradient_checkpointing: bool = True

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("profile") == "local":
            return {**cls.local_defaults, **data}
        return data


class PretrainHyperparameters(Hyperparameters):
    """Pretraining from a config-initialised model, or continued pretraining (cpt), on packed raw text."""

    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 1e-2}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 3e-4
    packing: Annotated[bool, Field(description="Concatenate texts into full max_length blocks.")] = True


class SftHyperparameters(Hyperparameters):
    packing: bool = False
    completion_only_loss: Annotated[
        bool | None, Field(description="Loss on completions only; None lets TRL decide from the data.")
    ] = None
    assistant_only_loss: Annotated[
        bool,
        Field(description="Loss on assistant turns only; needs a chat template with generation markers."),
    ] = False
    neftune_noise_alpha: Annotated[float | None, Field(gt=0)] = None


class PromptTuningHyperparameters(Hyperparameters):
    """PEFT prompt tuning: trains only `num_virtual_tokens` soft-prompt embeddings."""

    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 5e-2}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 3e-2
    num_virtual_tokens: Annotated[int, Field(ge=1, le=1024)] = 20
    prompt_tuning_init: Literal["RANDOM", "TEXT"] = "RANDOM"
    prompt_tuning_init_text: Annotated[str | None, Field(min_length=1)] = None

    @model_validator(mode="after")
    def _require_init_text(self) -> PromptTuningHyperparameters:
        if self.prompt_tuning_init == "TEXT" and self.prompt_tuning_init_text is None:
            raise ValueError('prompt_tuning_init "TEXT" needs prompt_tuning_init_text, the text to start from')
        return self


class PTuningHyperparameters(Hyperparameters):
    """PEFT p-tuning: virtual tokens produced by a small prompt encoder (MLP or LSTM)."""

    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 1e-2}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 1e-3
    num_virtual_tokens: Annotated[int, Field(ge=1, le=1024)] = 20
    encoder_reparameterization_type: Literal["MLP", "LSTM"] = "MLP"
    encoder_hidden_size: Annotated[int, Field(ge=1)] = 128


class DpoHyperparameters(Hyperparameters):
    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 1e-3}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 5e-6
    beta: Annotated[float, Field(gt=0)] = 0.1
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = "sigmoid"


class OrpoHyperparameters(Hyperparameters):
    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 1e-3}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 8e-6
    beta: Annotated[float, Field(gt=0, description="Weight of the odds-ratio term (lambda in the paper).")] = 0.1


class KtoHyperparameters(Hyperparameters):
    local_defaults: ClassVar[dict[str, Any]] = {**Hyperparameters.local_defaults, "learning_rate": 1e-3}

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 5e-6
    beta: Annotated[float, Field(gt=0)] = 0.1
    desirable_weight: Annotated[float, Field(gt=0)] = 1.0
    undesirable_weight: Annotated[float, Field(gt=0)] = 1.0


class RewardHyperparameters(Hyperparameters):
    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 1e-4
    center_rewards_coefficient: Annotated[
        float | None, Field(ge=0, description="Pulls mean rewards toward zero; 0.01 is a common value.")
    ] = None


REWARD_FUNCTIONS = ("exact_match", "format", "length", "reward_model")


class OnlineRlHyperparameters(Hyperparameters):
    """Online RL (GRPO, RLOO): sample completions, score them with reward functions, update the policy.

    `reward_functions` lists built-in rewards (exact_match, format, length, reward_model) or custom
    ones as "package.module:function"; `reward_weights` weighs them in the same order.
    """

    local_defaults: ClassVar[dict[str, Any]] = {
        **Hyperparameters.local_defaults,
        "learning_rate": 1e-3,
        "per_device_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 16,
    }

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 1e-6
    per_device_batch_size: Annotated[int, Field(ge=1, le=4096)] = 8
    num_generations: Annotated[int, Field(ge=2, description="Completions sampled per prompt.")] = 8
    max_completion_length: Annotated[int, Field(ge=1)] = 256
    temperature: Annotated[float, Field(gt=0)] = 1.0
    beta: Annotated[float, Field(ge=0, description="KL coefficient against the reference model.")] = 0.0
    reward_functions: Annotated[list[str], Field(min_length=1)]
    reward_weights: list[float] | None = None
    format_pattern: Annotated[
        str, Field(description="Regular expression a completion must match for the format reward.")
    ] = r"(?s)<answer>.+</answer>"
    target_length: Annotated[int, Field(ge=1, description="Completion tokens the length reward aims at.")] = 128
    answer_column: Annotated[
        str, Field(min_length=1, description="Dataset column holding the reference answer for exact_match.")
    ] = "answer"
    reward_model_name_or_path: Annotated[
        str | None, Field(description="Reward model when no REWARD channel is given.")
    ] = None

    @model_validator(mode="after")
    def _check_rewards(self) -> OnlineRlHyperparameters:
        for name in self.reward_functions:
            if name not in REWARD_FUNCTIONS and ":" not in name:
                raise ValueError(
                    f"unknown reward function {name!r}: use one of {', '.join(REWARD_FUNCTIONS)} "
                    'or "package.module:function"'
                )
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_functions):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} values but reward_functions has "
                f"{len(self.reward_functions)}: give one weight per function"
            )
        # TRL needs each generation batch (per-device batch x processes x accumulation steps) to hold
        # whole groups of num_generations. Requiring it per process makes it hold for any process count.
        if (self.per_device_batch_size * self.gradient_accumulation_steps) % self.num_generations:
            raise ValueError(
                f"per_device_batch_size {self.per_device_batch_size} x gradient_accumulation_steps "
                f"{self.gradient_accumulation_steps} is not a multiple of num_generations {self.num_generations}: "
                "each prompt's completions must share a generation batch"
            )
        return self


class GrpoHyperparameters(OnlineRlHyperparameters):
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"


class RlooHyperparameters(OnlineRlHyperparameters):
    beta: Annotated[float, Field(ge=0, description="KL coefficient against the reference model.")] = 0.05


class DistillHyperparameters(Hyperparameters):
    """Logit distillation (TRL's GKD) when a teacher is given, else SFT on teacher-written records."""

    local_defaults: ClassVar[dict[str, Any]] = {
        **Hyperparameters.local_defaults,
        "learning_rate": 1e-3,
        "max_new_tokens": 16,
    }

    learning_rate: Annotated[float, Field(gt=0, lt=1)] = 1e-4
    temperature: Annotated[float, Field(gt=0)] = 0.9
    lmbda: Annotated[float, Field(ge=0, le=1, description="Share of steps on student-generated outputs.")] = 0.5
    beta: Annotated[float, Field(ge=0, le=1, description="0 is forward KL, 1 reverse KL, between is JSD.")] = 0.5
    max_new_tokens: Annotated[int, Field(ge=1)] = 128
    teacher_model_name_or_path: Annotated[
        str | None, Field(description="Teacher model when no TEACHER channel is given.")
    ] = None


class MergeHyperparameters(BaseModel):
    """Merging of LoRA adapters (PEFT `add_weighted_adapter`), optionally into the base weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Literal["default", "local"] = "default"
    combination_type: Literal["linear", "ties", "dare_linear", "dare_ties"] = "ties"
    weights: Annotated[
        list[float] | None, Field(description="One weight per adapter, in folder-name order; default all 1.")
    ] = None
    density: Annotated[float, Field(gt=0, le=1, description="Share of weights kept by TIES and DARE.")] = 0.5
    majority_sign_method: Literal["total", "frequency"] = "total"
    merge_into_base: Annotated[bool, Field(description="Write full weights instead of a merged adapter.")] = False
    seed: int = 42


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


class TrainingJobParameters(Strict):
    """Training-job parameters taken from a recipe, in the shape the training container reads back.

    On the job they travel as flat `--key value` strings (SageMaker's HyperParameters): `method`,
    `model_name_or_path`, `max_length`, the LoRA settings for methods that use them (`peft_type`,
    `lora_r`, `lora_alpha`, `lora_dropout`, `lora_target_modules`), then every method hyperparameter.
    """

    method: Method
    model_name_or_path: Annotated[str, Field(min_length=1)]
    max_length: Annotated[int, Field(ge=16, le=1_048_576)] = 2048
    peft: PeftSpec | None = None
    hyperparameters: MethodHyperparameters

    @model_validator(mode="before")
    @classmethod
    def _type_hyperparameters(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("hyperparameters"), dict) and "method" in data:
            model = HYPERPARAMETER_MODELS[Method(data["method"])]
            data = {**data, "hyperparameters": model.model_validate(data["hyperparameters"])}
        return data

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> TrainingJobParameters:
        return cls(
            method=recipe.method,
            model_name_or_path=recipe.model.base,
            max_length=recipe.dataset.max_length,
            peft=recipe.peft if recipe.method in LORA_METHODS else None,
            hyperparameters=recipe.typed_hyperparameters(),
        )

    def to_job_hyperparameters(self) -> dict[str, str]:
        """Flatten to SageMaker HyperParameters: string values, lists as JSON, None values left out."""
        flat: dict[str, Any] = {
            "method": self.method.value,
            "model_name_or_path": self.model_name_or_path,
            "max_length": self.max_length,
        }
        if self.peft is not None:
            for name, value in self.peft.model_dump().items():
                flat[_PEFT_KEYS[name]] = value
        flat.update(self.hyperparameters.model_dump())
        # A None that is also the field's default is left out; any other None travels as "null".
        return {
            key: _encode_value(value)
            for key, value in flat.items()
            if not (value is None and _default_of(type(self.hyperparameters), key) is None)
        }


_PEFT_KEYS = {
    "type": "peft_type",
    "r": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "target_modules": "lora_target_modules",
}
_JOB_KEYS = {"method", "model_name_or_path", "max_length"}


def job_hyperparameters(recipe: Recipe) -> dict[str, str]:
    """Turn a recipe into the `--key value` hyperparameters of its training job."""
    return TrainingJobParameters.from_recipe(recipe).to_job_hyperparameters()


def parse_job_hyperparameters(values: dict[str, str]) -> TrainingJobParameters:
    """Read a training job's hyperparameters back, raising RecipeError that names each invalid key.

    Keys starting with `sagemaker_` belong to the SageMaker training toolkit and are ignored.
    """
    values = {key: value for key, value in values.items() if not key.startswith("sagemaker_")}
    if "method" not in values:
        raise RecipeError("hyperparameters: missing --method; pass one of " + ", ".join(m.value for m in Method))
    try:
        method = Method(values["method"])
    except ValueError:
        raise RecipeError(
            f"hyperparameters: invalid --method {values['method']!r}; use one of " + ", ".join(m.value for m in Method)
        ) from None
    model = HYPERPARAMETER_MODELS[method]
    peft_fields = {field: key for field, key in _PEFT_KEYS.items() if key in values}
    data: dict[str, Any] = {key: values[key] for key in _JOB_KEYS if key in values}
    if peft_fields:
        data["peft"] = {field: _decode_value(PeftSpec, field, values[key]) for field, key in peft_fields.items()}
    used = _JOB_KEYS | set(peft_fields.values())
    data["hyperparameters"] = {
        key: _decode_value(model, key, value) for key, value in values.items() if key not in used
    }
    try:
        return TrainingJobParameters.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(
            f"hyperparameters: invalid training job hyperparameters:\n{format_validation_error(exc)}"
        ) from exc


def _encode_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _decode_value(model: type[BaseModel], key: str, value: str) -> Any:
    """Decode "null" and JSON lists where the field takes them; pydantic converts other strings itself."""
    field = model.model_fields.get(key)
    if field is None or not isinstance(value, str):
        return value
    if value in ("null", "None") and _accepts(field.annotation, type(None)):
        return None
    if not _accepts(field.annotation, list):
        return value
    if not value.lstrip().startswith("["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        # The SageMaker training toolkit passes decoded lists back as Python literals ("['a', 'b']").
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value


def _accepts(annotation: Any, kind: type) -> bool:
    if annotation is kind or get_origin(annotation) is kind:
        return True
    return any(_accepts(argument, kind) for argument in get_args(annotation))


def _default_of(model: type[BaseModel], key: str) -> Any:
    field = model.model_fields.get(key)
    return field.default if field is not None else None
