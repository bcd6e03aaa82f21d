"""Evaluation gates on held-out loss."""

from __future__ import annotations

import math

import pytest
from keiko.evaluation import EvaluationMetrics, apply_gates
from keiko.recipe import GateSpec


def metrics(base: float, candidate: float) -> EvaluationMetrics:
    return EvaluationMetrics.model_validate(
        {
            "base": {"eval_loss": base, "perplexity": math.exp(base)},
            "candidate": {
                "eval_loss": candidate,
                "perplexity": math.exp(candidate) if math.isfinite(candidate) else candidate,
            },
        }
    )


def test_improvement_passes_default_gates():
    result = apply_gates(metrics(2.0, 1.5), GateSpec(), "s3://b/m.tar.gz")

    assert result.passed is True
    assert result.loss_improvement == pytest.approx(0.25)
    assert result.reasons == []


def test_small_improvement_fails_min_improvement():
    result = apply_gates(metrics(2.0, 1.95), GateSpec(min_loss_improvement=0.1), "s3://b/m.tar.gz")

    assert result.passed is False
    assert result.reasons == ["eval_loss improved by 2.50% over the base model; min_loss_improvement is 10.00%"]


def test_loss_above_maximum_fails():
    result = apply_gates(metrics(3.0, 2.0), GateSpec(max_eval_loss=1.5), "s3://b/m.tar.gz")

    assert result.passed is False
    assert "above max_eval_loss 1.5" in result.reasons[0]


def test_worse_candidate_fails_even_without_gates():
    result = apply_gates(metrics(2.0, 2.5), GateSpec(), "s3://b/m.tar.gz")

    assert result.passed is False
    assert result.loss_improvement < 0


def test_diverged_candidate_fails():
    result = apply_gates(metrics(2.0, float("nan")), GateSpec(), "s3://b/m.tar.gz")

    assert result.passed is False
    assert "diverged" in result.reasons[0]
