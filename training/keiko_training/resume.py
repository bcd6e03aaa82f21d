"""Resume from the checkpoint folder, and finish a rerun of a job whose training already ended.

SageMaker retries and spot restarts run the same job again with the same checkpoint folder. When its
newest checkpoint is at the last step, transformers 5.23 `Trainer.train` still runs one optimizer
step before it checks `max_steps`, and with epochs it returns zero training metrics. A rerun
therefore loads that checkpoint without training and reuses the metrics that the finished run
recorded beside it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FINAL_METRICS_FILE = "keiko-final-metrics.json"
TRAINER_STATE_FILE = "trainer_state.json"


def last_checkpoint(checkpoint_dir: Path) -> str | None:
    """Return the newest complete checkpoint in the checkpoint folder, if a run left one."""
    from transformers.trainer_utils import get_last_checkpoint

    if not checkpoint_dir.is_dir():
        return None
    return get_last_checkpoint(str(checkpoint_dir))


def planned_max_steps(trainer) -> int:
    """Return the number of optimizer steps `trainer.train()` runs in all, counted as it counts them."""
    if trainer.args.max_steps > 0:
        return trainer.args.max_steps
    # With epochs, transformers 5.23 derives the steps from the length of the training dataloader.
    return trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]


def reached_last_step(trainer, checkpoint: str) -> bool:
    """Return whether the checkpoint was saved at or after this run's last optimizer step."""
    from transformers import TrainerState

    state = TrainerState.load_from_json(os.path.join(checkpoint, TRAINER_STATE_FILE))
    return state.global_step >= planned_max_steps(trainer)


def restore_finished_run(trainer, checkpoint: str) -> dict[str, float] | None:
    """Load the weights and trainer state of a finished checkpoint without training.

    Returns the metrics the finished run recorded in the checkpoint, or None when it stopped before
    recording them (for example after SIGTERM during its last step).
    """
    from transformers import TrainerState

    # The same call `Trainer.train(resume_from_checkpoint=...)` makes in transformers 5.23. It is
    # private, so a transformers upgrade must recheck it. It handles full weights, sharded weights
    # and PEFT adapters, but not DeepSpeed or FSDP checkpoints, which this container does not write.
    trainer._load_from_checkpoint(checkpoint)
    trainer.state = TrainerState.load_from_json(os.path.join(checkpoint, TRAINER_STATE_FILE))
    record = Path(checkpoint) / FINAL_METRICS_FILE
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8"))["metrics"]


def record_final_metrics(trainer, checkpoint_dir: Path, metrics: dict[str, Any]) -> None:
    """Write the finished run's metrics into its last checkpoint, so that a rerun reports them."""
    if not trainer.is_world_process_zero():
        return
    checkpoint = checkpoint_dir / f"checkpoint-{trainer.state.global_step}"
    if not checkpoint.is_dir():
        logger.warning(
            "checkpoint %s not found, so a rerun of this job resumes from an earlier checkpoint and trains again",
            checkpoint,
        )
        return
    record = {"global_step": trainer.state.global_step, "metrics": metrics}
    (checkpoint / FINAL_METRICS_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
