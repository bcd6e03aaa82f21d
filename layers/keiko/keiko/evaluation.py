"""CompareCheckpoints: read an evaluation job's metrics.json and apply the recipe's gates.

evaluate.py writes `metrics.json` into the model directory, so it arrives inside the job's
model.tar.gz, as `{"base": {"eval_loss", "perplexity"}, "candidate": {"eval_loss", "perplexity"}}`.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from keiko.artifacts import ArtifactError, read_tar_member
from keiko.errors import EvaluationMetricsMissing
from keiko.payloads import EvaluationResult, JobResult
from keiko.recipe import GateSpec

MAX_METRICS_BYTES = 1024 * 1024


class Scores(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    eval_loss: float
    perplexity: float


class EvaluationMetrics(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    base: Scores
    candidate: Scores


def read_metrics(s3: Any, job: JobResult) -> EvaluationMetrics:
    """Load metrics.json from the evaluation job's model.tar.gz."""
    try:
        raw = read_tar_member(s3, job.model_artifacts, "metrics.json", MAX_METRICS_BYTES)
        return EvaluationMetrics.model_validate(orjson.loads(raw))
    except (ArtifactError, orjson.JSONDecodeError, ValidationError) as exc:
        raise EvaluationMetricsMissing(
            f"evaluation job {job.job_name}: no valid metrics.json in {job.model_artifacts}: {exc}"
        ) from exc


def apply_gates(metrics: EvaluationMetrics, gates: GateSpec, metrics_uri: str) -> EvaluationResult:
    """Compare candidate and base on held-out loss and check `evaluation` gates from the recipe."""
    base, candidate = metrics.base, metrics.candidate
    reasons: list[str] = []
    if not math.isfinite(candidate.eval_loss):
        reasons.append(f"candidate eval_loss is {candidate.eval_loss}: training diverged")
    improvement = (base.eval_loss - candidate.eval_loss) / base.eval_loss if base.eval_loss > 0 else 0.0

    if gates.max_eval_loss is not None and not candidate.eval_loss <= gates.max_eval_loss:
        reasons.append(f"candidate eval_loss {candidate.eval_loss:.4f} is above max_eval_loss {gates.max_eval_loss}")
    if not improvement >= gates.min_loss_improvement:
        reasons.append(
            f"eval_loss improved by {improvement:.2%} over the base model; "
            f"min_loss_improvement is {gates.min_loss_improvement:.2%}"
        )

    return EvaluationResult(
        metrics_uri=metrics_uri,
        base_eval_loss=base.eval_loss,
        candidate_eval_loss=candidate.eval_loss,
        base_perplexity=base.perplexity,
        candidate_perplexity=candidate.perplexity,
        loss_improvement=round(improvement, 6) if math.isfinite(improvement) else -1.0,
        passed=not reasons,
        reasons=reasons,
    )


def compare_checkpoints(s3: Any, job: JobResult, gates: GateSpec) -> EvaluationResult:
    metrics = read_metrics(s3, job)
    return apply_gates(metrics, gates, job.model_artifacts)
