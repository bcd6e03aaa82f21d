"""Distillation: from a teacher model's logits (TRL GKD), or SFT on records a teacher wrote."""

from __future__ import annotations

from typing import Any

from ..runtime import Job


def build_distill(job: Job) -> tuple[Any, str, str | None]:
    from .supervised import build_sft

    return build_sft(job)
