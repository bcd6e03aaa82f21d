"""Pretraining, continued pretraining, SFT (full, LoRA, QLoRA), prompt tuning and p-tuning.

All run on TRL's SFTTrainer; pretraining and cpt pack raw text into full `max_length` blocks.
"""

from __future__ import annotations

from typing import Any

from keiko.hyperparameters import SftHyperparameters
from keiko.recipe import Method

from ..runtime import Job, trainer_arguments
from .policy import build_trainer, policy_model


def sft_config(job: Job, **overrides: Any):
    from trl import SFTConfig

    return SFTConfig(**trainer_arguments(job), max_length=job.params.max_length, **overrides)


def build_pretrain(job: Job) -> tuple[Any, str, str | None]:
    """Pretraining from a config-initialised model: the base's architecture with random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from trl import SFTTrainer

    config = AutoConfig.from_pretrained(job.base.location)
    torch.manual_seed(job.hyperparameters.seed)
    model = AutoModelForCausalLM.from_config(config)
    trainer = build_trainer(SFTTrainer, job, model, _packed_text_config(job))
    return trainer, "full", None


def build_cpt(job: Job) -> tuple[Any, str, str | None]:
    from trl import SFTTrainer

    model, peft_config, peft_type = policy_model(job)
    trainer = build_trainer(SFTTrainer, job, model, _packed_text_config(job), peft_config)
    return trainer, _output_format(peft_type), peft_type


def build_sft(job: Job) -> tuple[Any, str, str | None]:
    from trl import SFTTrainer

    hp = job.hyperparameters
    model, peft_config, peft_type = policy_model(job)
    overrides: dict[str, Any] = {}
    if isinstance(hp, SftHyperparameters):
        # Distillation without a teacher also lands here, with TRL's SFT defaults.
        overrides = {
            "packing": hp.packing,
            "assistant_only_loss": hp.assistant_only_loss,
            "completion_only_loss": hp.completion_only_loss,
            "neftune_noise_alpha": hp.neftune_noise_alpha,
        }
    trainer = build_trainer(SFTTrainer, job, model, sft_config(job, **overrides), peft_config)
    return trainer, _output_format(peft_type), peft_type


def build_prompt_learning(job: Job) -> tuple[Any, str, str | None]:
    """Prompt tuning or p-tuning: train virtual-token embeddings (PEFT) and freeze the model."""
    from peft import PromptEncoderConfig, PromptTuningConfig
    from trl import SFTTrainer

    from ..models import load_causal_lm

    hp = job.hyperparameters
    if job.params.method is Method.PROMPT_TUNING:
        peft_config = PromptTuningConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=hp.num_virtual_tokens,
            prompt_tuning_init=hp.prompt_tuning_init,
            prompt_tuning_init_text=hp.prompt_tuning_init_text,
            tokenizer_name_or_path=job.base.location if hp.prompt_tuning_init == "TEXT" else None,
        )
    else:
        peft_config = PromptEncoderConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=hp.num_virtual_tokens,
            encoder_reparameterization_type=hp.encoder_reparameterization_type,
            encoder_hidden_size=hp.encoder_hidden_size,
        )
    trainer = build_trainer(SFTTrainer, job, load_causal_lm(job.start or job.base), sft_config(job), peft_config)
    return trainer, "adapter", peft_config.peft_type.value


def _packed_text_config(job: Job):
    # "wrapped" packing concatenates every text and cuts full max_length blocks, the classic
    # pretraining layout; TRL's default "bfd" keeps texts whole and needs padding-free attention.
    packing = job.hyperparameters.packing
    return sft_config(
        job,
        dataset_text_field="text",
        packing=packing,
        packing_strategy="wrapped" if packing else "bfd",
    )


def _output_format(peft_type: str | None) -> str:
    return "adapter" if peft_type is not None else "full"
