"""Preference methods on paired or labelled answers: DPO, ORPO, KTO and reward modelling.

ORPO lives in `trl.experimental.orpo` in TRL 1.16. DPO and KTO take the reference model from the
policy itself: with fresh LoRA the reference is the base (adapter disabled), and when they continue
a starting adapter (e.g. the SFT one) TRL keeps a frozen copy of it as the reference.
"""

from __future__ import annotations

from typing import Any

from ..contract import ContractError
from ..models import preferred_dtype
from ..runtime import Job, trainer_arguments
from .policy import build_trainer, lora_config, policy_model


def build_dpo(job: Job) -> tuple[Any, str, str | None]:
    from trl import DPOConfig, DPOTrainer

    hp = job.hyperparameters
    model, peft_config, peft_type = policy_model(job)
    args = DPOConfig(**trainer_arguments(job), max_length=job.params.max_length, beta=hp.beta, loss_type=[hp.loss_type])
    trainer = build_trainer(DPOTrainer, job, model, args, peft_config)
    return trainer, _output_format(peft_type), peft_type


def build_orpo(job: Job) -> tuple[Any, str, str | None]:
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    model, peft_config, peft_type = policy_model(job)
    args = ORPOConfig(**trainer_arguments(job), max_length=job.params.max_length, beta=job.hyperparameters.beta)
    trainer = build_trainer(ORPOTrainer, job, model, args, peft_config)
    return trainer, _output_format(peft_type), peft_type


def build_kto(job: Job) -> tuple[Any, str, str | None]:
    from trl import KTOConfig, KTOTrainer

    hp = job.hyperparameters
    labels = set(job.train_dataset["label"])
    if len(labels) < 2:
        raise ContractError(
            f"every KTO training record has label {labels.pop()}: KTO needs both desirable (true) and "
            "undesirable (false) examples"
        )
    model, peft_config, peft_type = policy_model(job)
    args = KTOConfig(
        **trainer_arguments(job),
        max_length=job.params.max_length,
        beta=hp.beta,
        desirable_weight=hp.desirable_weight,
        undesirable_weight=hp.undesirable_weight,
    )
    trainer = build_trainer(KTOTrainer, job, model, args, peft_config)
    return trainer, _output_format(peft_type), peft_type


def build_reward(job: Job) -> tuple[Any, str, str | None]:
    """Build a reward-model trainer: the base with a one-output classification head, on chosen/rejected pairs."""
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    if job.start is not None and job.start.is_adapter:
        raise ContractError(
            "reward training cannot start from an adapter: give a full model in the MODEL channel, "
            "or leave the channel out to start from the base"
        )
    source = job.start or job.base
    model = AutoModelForSequenceClassification.from_pretrained(source.location, num_labels=1, dtype=preferred_dtype())
    model.config.pad_token_id = job.tokenizer.pad_token_id
    peft_config = lora_config(job, task_type="SEQ_CLS")
    args = RewardConfig(
        **trainer_arguments(job),
        max_length=job.params.max_length,
        center_rewards_coefficient=job.hyperparameters.center_rewards_coefficient,
    )
    trainer = build_trainer(RewardTrainer, job, model, args, peft_config)
    peft_type = peft_config.peft_type.value if peft_config is not None else None
    return trainer, _output_format(peft_type), peft_type


def _output_format(peft_type: str | None) -> str:
    return "adapter" if peft_type is not None else "full"
