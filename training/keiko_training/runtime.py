"""Shared training steps: the job context, trainer arguments, resume, model output and metric lines."""

from __future__ import annotations

import logging
import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keiko.job_parameters import TrainingJobParameters

from .contract import ContainerPaths
from .metrics import format_metric, is_reportable
from .models import ModelSource, bf16_available, cuda_available, write_manifest
from .resume import last_checkpoint, reached_last_step, record_final_metrics, restore_finished_run

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One training job: its parameters, paths, models and data."""

    params: TrainingJobParameters
    paths: ContainerPaths
    base: ModelSource
    start: ModelSource | None = None
    tokenizer: Any = None
    train_dataset: Any = None
    eval_dataset: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def hyperparameters(self) -> Any:
        return self.params.hyperparameters


def metric_callback():
    """Build a TrainerCallback that prints every numeric log value as a `keiko_metric` line."""
    from transformers import TrainerCallback

    class MetricLineCallback(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:
                return
            for name, value in (logs or {}).items():
                if is_reportable(value):
                    print(format_metric(name, value, state.global_step), flush=True)

    return MetricLineCallback()


def print_metric(name: str, value: float, step: int = 0) -> None:
    print(format_metric(name, value, step), flush=True)


def trainer_arguments(job: Job) -> dict[str, Any]:
    """TrainingArguments fields every TRL config accepts, from the job's hyperparameters."""
    hp = job.hyperparameters
    evaluate_during_training = job.eval_dataset is not None and hp.eval_steps is not None
    return {
        "output_dir": str(job.paths.checkpoint_dir),
        "learning_rate": hp.learning_rate,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps,
        "per_device_train_batch_size": hp.per_device_batch_size,
        "per_device_eval_batch_size": hp.per_device_batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        # transformers 5 reads a float below 1 as a share of all steps.
        "warmup_steps": hp.warmup_ratio,
        "lr_scheduler_type": hp.lr_scheduler_type,
        "weight_decay": hp.weight_decay,
        "seed": hp.seed,
        "data_seed": hp.seed,
        "save_strategy": "steps",
        "save_steps": hp.save_steps,
        "save_total_limit": hp.save_total_limit,
        "logging_strategy": "steps",
        "logging_steps": hp.logging_steps,
        "eval_strategy": "steps" if evaluate_during_training else "no",
        "eval_steps": hp.eval_steps if evaluate_during_training else None,
        "gradient_checkpointing": hp.gradient_checkpointing,
        # TRL configs default to bf16, which fails on CPUs and on GPUs without bfloat16 support.
        "bf16": bf16_available(),
        "fp16": False,
        # Without a GPU, torchrun processes only form one data-parallel job when marked as CPU
        # processes (accelerate then uses the gloo backend).
        "use_cpu": not cuda_available(),
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


class TrainingInterrupted(RuntimeError):
    """The job received SIGTERM (a spot interruption or StopTrainingJob) and saved a checkpoint."""


def interruption_callback():
    """Build a TrainerCallback that, after SIGTERM, saves a checkpoint at the end of the step and stops.

    SageMaker sends SIGTERM when it stops a job or reclaims a spot instance, and then syncs the
    checkpoint folder, so the next attempt resumes from that step.
    """
    from transformers import TrainerCallback

    class SaveOnSigterm(TrainerCallback):
        def __init__(self) -> None:
            self.received: str | None = None
            signal.signal(signal.SIGTERM, self._handle)

        def _handle(self, signum, frame) -> None:
            self.received = signal.Signals(signum).name
            logger.warning("received %s: saving a checkpoint at the end of this step", self.received)

        def on_step_end(self, args, state, control, **kwargs):
            if self.received is not None:
                control.should_save = True
                control.should_training_stop = True

    return SaveOnSigterm()


def train_and_save(trainer, job: Job, output_format: str, peft_type: str | None) -> dict[str, float]:
    """Train (resuming from the last checkpoint), evaluate, save the model and its manifest.

    When the last checkpoint is at the last step, an earlier attempt of the job finished training.
    The job then saves that checkpoint's model with the metrics the attempt recorded, and trains
    no further step.
    """
    checkpoint = last_checkpoint(job.paths.checkpoint_dir)
    if checkpoint is not None and reached_last_step(trainer, checkpoint):
        logger.info("checkpoint %s is at the last step: saving its model without training", checkpoint)
        metrics = restore_finished_run(trainer, checkpoint)
        if metrics is None:
            job.notes.append(
                f"training had ended at {Path(checkpoint).name} before its metrics were recorded, "
                "so the metrics contain only the evaluation"
            )
            metrics = evaluation_metrics(trainer, job)
    else:
        metrics = train_from(trainer, job, checkpoint)
        metrics.update(evaluation_metrics(trainer, job))
        record_final_metrics(trainer, job.paths.checkpoint_dir, metrics)

    job.paths.model_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(job.paths.model_dir))
    if trainer.is_world_process_zero():
        job.tokenizer.save_pretrained(str(job.paths.model_dir))
        write_manifest(job.paths.model_dir, manifest(job, output_format, peft_type, metrics))
    return metrics


def train_from(trainer, job: Job, checkpoint: str | None) -> dict[str, float]:
    """Train from the checkpoint (or from the start) and return the training metrics."""
    if checkpoint is not None:
        logger.info("resuming from checkpoint %s", checkpoint)
    interruption = interruption_callback()
    trainer.add_callback(interruption)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    if interruption.received is not None:
        step = trainer.state.global_step
        raise TrainingInterrupted(
            f"received {interruption.received} at step {step} and saved checkpoint-{step} in "
            f"{job.paths.checkpoint_dir}: start the job again with the same checkpoint folder to resume"
        )
    return {name: float(value) for name, value in result.metrics.items() if is_reportable(value)}


def evaluation_metrics(trainer, job: Job) -> dict[str, float]:
    """Evaluate on the held-out records, unless training just did, and return the metrics."""
    if job.eval_dataset is None:
        return {}
    evaluation = last_evaluation(trainer) or trainer.evaluate()
    metrics = {name: float(value) for name, value in evaluation.items() if name != "step" and is_reportable(value)}
    # exp overflows a float above a loss of about 709; such a run has diverged anyway.
    if "eval_loss" in evaluation and evaluation["eval_loss"] < 700:
        metrics["eval_perplexity"] = math.exp(evaluation["eval_loss"])
        print_metric("eval_perplexity", metrics["eval_perplexity"], trainer.state.global_step)
    return metrics


def last_evaluation(trainer) -> dict[str, float] | None:
    """Return the evaluation logged at the final step, if training just ran one."""
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry:
            return entry if entry.get("step") == trainer.state.global_step else None
    return None


def manifest(job: Job, output_format: str, peft_type: str | None, metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "format": output_format,
        "method": job.params.method.value,
        "base_model": job.params.model_name_or_path,
        "peft_type": peft_type,
        "task": "sequence-classification" if job.params.method.value == "reward" else "causal-lm",
        "started_from": job.start.manifest if job.start is not None else None,
        "notes": job.notes,
        "metrics": metrics,
    }
