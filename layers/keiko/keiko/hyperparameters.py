"""Hyperparameter models: the fields every training method shares and each method's own.

The recipe's `hyperparameters` section is validated against the model its method selects
(`keiko.recipe.HYPERPARAMETER_MODELS`); `profile: local` swaps in defaults for tiny CPU runs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)


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
        str, Field(min_length=1, description="Dataset column that contains the reference answer for exact_match.")
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
