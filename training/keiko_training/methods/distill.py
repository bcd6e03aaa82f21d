"""Distillation into the student (the base model, or a starting model, with the recipe's LoRA).

- With a teacher (TEACHER channel or teacher_model_name_or_path): logit distillation. Records with
  `messages`, or `prompt` + `completion`, train with TRL's GKD (`trl.experimental.gkd`), which mixes
  the records' completions with student-generated ones (`lmbda`). Prompt-only records train with
  TRL's DistillationTrainer, which is GKD fully on-policy: the student generates each completion and
  the teacher scores its tokens.
- Without a teacher: the records are teacher outputs (e.g. written by a model on Bedrock), so this
  is SFT on them.
"""

from __future__ import annotations

from typing import Any

from ..contract import ContractError
from ..models import ModelSource, load_causal_lm, resolve_source
from ..runtime import Job, trainer_arguments
from .policy import build_trainer, policy_model
from .supervised import build_sft


def teacher_source(job: Job) -> ModelSource | None:
    channel = job.paths.channel("teacher")
    name = job.hyperparameters.teacher_model_name_or_path
    if channel is None and name is None:
        return None
    return resolve_source(channel, name, "teacher")


def build_distill(job: Job) -> tuple[Any, str, str | None]:
    teacher = teacher_source(job)
    columns = set(job.train_dataset.column_names)
    if teacher is None:
        if "messages" not in columns and "completion" not in columns:
            raise ContractError(
                "distill without a teacher trains SFT on teacher-written completions, but the records have only "
                "prompts: give the TEACHER channel or teacher_model_name_or_path, or records with messages "
                "or prompt and completion"
            )
        job.notes.append("no teacher model: trained with SFT on the teacher-written records")
        return build_sft(job)
    if "messages" not in columns and "completion" not in columns:
        return _build_on_policy(job, teacher)
    return _build_gkd(job, teacher)


def _build_gkd(job: Job, teacher: ModelSource) -> tuple[Any, str, str | None]:
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    hp = job.hyperparameters
    model, peft_config, peft_type = policy_model(job)
    args = GKDConfig(
        **trainer_arguments(job),
        max_length=job.params.max_length,
        temperature=hp.temperature,
        lmbda=hp.lmbda,
        beta=hp.beta,
        max_new_tokens=hp.max_new_tokens,
    )
    trainer = build_trainer(
        GKDTrainer,
        job,
        model,
        args,
        peft_config,
        teacher_model=load_causal_lm(teacher),
        train_dataset=job.train_dataset.map(_as_messages, remove_columns=job.train_dataset.column_names),
        eval_dataset=_map_optional(job.eval_dataset),
    )
    return trainer, "adapter" if peft_type is not None else "full", peft_type


def _build_on_policy(job: Job, teacher: ModelSource) -> tuple[Any, str, str | None]:
    from trl import DistillationConfig, DistillationTrainer

    hp = job.hyperparameters
    model, peft_config, peft_type = policy_model(job)
    args = DistillationConfig(
        **trainer_arguments(job),
        temperature=hp.temperature,
        beta=hp.beta,
        max_completion_length=hp.max_new_tokens,
    )
    trainer = build_trainer(DistillationTrainer, job, model, args, peft_config, teacher_model=load_causal_lm(teacher))
    return trainer, "adapter" if peft_type is not None else "full", peft_type


def _as_messages(record: dict[str, Any]) -> dict[str, Any]:
    """GKD reads whole conversations; a prompt/completion pair becomes one."""
    if record.get("messages"):
        return {"messages": record["messages"]}
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(completion, str):
        completion = [{"role": "assistant", "content": completion}]
    return {"messages": list(prompt) + list(completion)}


def _map_optional(dataset):
    if dataset is None:
        return None
    return dataset.map(_as_messages, remove_columns=dataset.column_names)
