"""Online RL: GRPO and RLOO sample completions and learn from pluggable reward functions.

TRL removed PPO in 2026; GRPO and RLOO are its online RL trainers and need no value model.
"""

from __future__ import annotations

from typing import Any

from keiko.recipe import Method

from .. import rewards
from ..contract import ContractError
from ..models import from_pretrained, preferred_dtype, read_manifest, resolve_source
from ..runtime import Job, metric_callback, trainer_arguments
from .policy import policy_model


def reward_functions(job: Job) -> tuple[list[Any], list[Any]]:
    """Build the configured reward functions and, per function, its tokenizer (None except for models)."""
    hp = job.hyperparameters
    functions: list[Any] = []
    tokenizers: list[Any] = []
    for name in hp.reward_functions:
        tokenizer = None
        if name == "exact_match":
            function = rewards.make_exact_match(hp.answer_column)
            if hp.answer_column not in job.train_dataset.column_names:
                raise ContractError(
                    f"the exact_match reward needs the answer column {hp.answer_column!r} in the training "
                    f"records, which have {job.train_dataset.column_names}: set answer_column"
                )
        elif name == "format":
            function = rewards.named(rewards.make_format_reward(hp.format_pattern), "format")
        elif name == "length":
            function = rewards.named(rewards.make_length_reward(hp.target_length), "length")
        elif name == "reward_model":
            function, tokenizer = load_reward_model(job)
        else:
            function = rewards.import_function(name)
        functions.append(function)
        tokenizers.append(tokenizer)
    return functions, tokenizers


def load_reward_model(job: Job) -> tuple[Any, Any]:
    """Load the reward model from the REWARD channel (a keiko reward job's output or any model) or a hub id."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    channel = job.paths.channel("reward")
    source = resolve_source(channel, job.hyperparameters.reward_model_name_or_path, "reward")
    manifest = read_manifest(source.path) if source.path is not None else None
    if manifest is not None and manifest.get("task") != "sequence-classification":
        raise ContractError(
            f"the REWARD channel contains a {manifest.get('method')} model, not a reward model: "
            "give the output of a reward job"
        )
    tokenizer = from_pretrained(AutoTokenizer, source)
    if source.is_adapter:
        # A keiko reward adapter sits on the job's base model, like the policy.
        model = from_pretrained(AutoModelForSequenceClassification, job.base, num_labels=1, dtype=preferred_dtype())
        model = PeftModel.from_pretrained(model, str(source.path)).merge_and_unload()
    else:
        model = from_pretrained(AutoModelForSequenceClassification, source, num_labels=1, dtype=preferred_dtype())
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def build_grpo(job: Job) -> tuple[Any, str, str | None]:
    return _build_online(job)


def build_rloo(job: Job) -> tuple[Any, str, str | None]:
    return _build_online(job)


def _build_online(job: Job) -> tuple[Any, str, str | None]:
    hp = job.hyperparameters
    functions, tokenizers = reward_functions(job)
    model, peft_config, peft_type = policy_model(job)
    common = {
        **trainer_arguments(job),
        "num_generations": hp.num_generations,
        "max_completion_length": hp.max_completion_length,
        "temperature": hp.temperature,
        "beta": hp.beta,
        "reward_weights": hp.reward_weights,
    }
    if job.params.method is Method.GRPO:
        from trl import GRPOConfig, GRPOTrainer

        trainer_class, args = GRPOTrainer, GRPOConfig(**common, loss_type=hp.loss_type)
    else:
        from trl import RLOOConfig, RLOOTrainer

        trainer_class, args = RLOOTrainer, RLOOConfig(**common)
    trainer = trainer_class(
        model=model,
        reward_funcs=functions,
        args=args,
        train_dataset=job.train_dataset,
        eval_dataset=job.eval_dataset,
        processing_class=job.tokenizer,
        reward_processing_classes=tokenizers,
        peft_config=peft_config,
        callbacks=[metric_callback()],
    )
    return trainer, "adapter" if peft_type is not None else "full", peft_type
