"""The model a method trains: the base (or a starting model) plus the recipe's LoRA or QLoRA."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from ..models import ModelSource, load_causal_lm, load_with_adapter
from ..runtime import Job, metric_callback

logger = logging.getLogger(__name__)


def qlora_supported() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def lora_config(job: Job, task_type: str = "CAUSAL_LM"):
    """Build a peft.LoraConfig from the recipe's LoRA settings, or return None for full fine-tuning."""
    from peft import LoraConfig

    spec = job.params.peft
    if spec is None or spec.type == "none":
        return None
    return LoraConfig(
        task_type=task_type,
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
    )


def quantization_config(job: Job):
    """4-bit NF4 loading for QLoRA where a CUDA GPU and bitsandbytes exist; else LoRA, with a note."""
    spec = job.params.peft
    if spec is None or spec.type != "qlora":
        return None
    if not qlora_supported():
        note = "QLoRA needs a CUDA GPU and bitsandbytes, which this machine lacks: training LoRA instead"
        logger.warning(note)
        job.notes.append(note)
        return None
    import torch
    from transformers import BitsAndBytesConfig

    # NOTE: keiko's tests run on CPUs only, so this 4-bit path has not been run by them.
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def policy_model(job: Job) -> tuple[Any, Any, str | None]:
    """Load the model to train and the PEFT config to add: (model, peft_config, peft type name).

    A starting adapter from the MODEL channel is trained further on the BASE model. A starting full
    model replaces the base and gets the recipe's LoRA, as the base would.
    """
    start: ModelSource | None = job.start
    if start is not None and start.is_adapter:
        model = load_with_adapter(job.base, start.path, trainable=True)
        return model, None, model.peft_config["default"].peft_type.value
    quantization = quantization_config(job)
    model = load_causal_lm(start or job.base, quantization_config=quantization)
    config = lora_config(job)
    return model, config, config.peft_type.value if config is not None else None


def build_trainer(trainer_class: type, job: Job, model: Any, args: Any, peft_config: Any = None, **overrides: Any):
    """Construct a TRL trainer on the job's datasets and tokenizer, printing keiko's metric lines.

    `overrides` replace or add constructor arguments, such as a teacher model or a mapped dataset.
    """
    arguments = {
        "model": model,
        "args": args,
        "train_dataset": job.train_dataset,
        "eval_dataset": job.eval_dataset,
        "processing_class": job.tokenizer,
        "peft_config": peft_config,
        "callbacks": [metric_callback()],
    }
    arguments.update(overrides)
    return trainer_class(**arguments)
