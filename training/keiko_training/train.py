"""`train.py --method <method>`: build the job from the container contract and train."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from keiko.job_parameters import TrainingJobParameters, parse_job_hyperparameters
from keiko.recipe import Method

from .contract import ContainerPaths
from .data import load_dataset
from .models import ModelSource, find_model_folder, load_tokenizer, resolve_source
from .runtime import Job, train_and_save

logger = logging.getLogger(__name__)


def builders() -> dict[Method, Callable[[Job], tuple[Any, str, str | None]]]:
    from .methods import distill, online, preference, supervised

    return {
        Method.PRETRAIN: supervised.build_pretrain,
        Method.CPT: supervised.build_cpt,
        Method.SFT: supervised.build_sft,
        Method.PROMPT_TUNING: supervised.build_prompt_learning,
        Method.P_TUNING: supervised.build_prompt_learning,
        Method.DPO: preference.build_dpo,
        Method.ORPO: preference.build_orpo,
        Method.KTO: preference.build_kto,
        Method.REWARD: preference.build_reward,
        Method.GRPO: online.build_grpo,
        Method.RLOO: online.build_rloo,
        Method.DISTILL: distill.build_distill,
    }


def train(paths: ContainerPaths, values: dict[str, str]) -> dict[str, float]:
    """Run one training job: parse hyperparameters, load models and data, train, save."""
    params = parse_job_hyperparameters(values)
    from transformers import set_seed

    set_seed(params.hyperparameters.seed)
    if params.method is Method.MERGE:
        from .merge import merge

        return merge(paths, params)

    job = build_job(paths, params)
    trainer, output_format, peft_type = builders()[params.method](job)
    metrics = train_and_save(trainer, job, output_format, peft_type)
    logger.info("wrote the %s model to %s", params.method.value, paths.model_dir)
    return metrics


def build_job(paths: ContainerPaths, params: TrainingJobParameters) -> Job:
    base = resolve_source(paths.channel("base"), params.model_name_or_path, "base")
    start_channel = paths.channel("model")
    start = ModelSource(name="channel:model", path=find_model_folder(start_channel)) if start_channel else None
    tokenizer_source = start if start is not None and not start.is_adapter else base
    job = Job(params=params, paths=paths, base=base, start=start, tokenizer=load_tokenizer(tokenizer_source))
    job.train_dataset = load_dataset(params.method, paths.require_channel("train", "training records"), "train")
    validation = paths.channel("validation")
    if validation is not None:
        job.eval_dataset = load_dataset(params.method, validation, "validation")
    return job
