"""Plan a training run: instance type and count, estimated hours and cost, and the budget check.

Every number here is an estimate for stopping clearly unaffordable runs early, not a quote.

Tiers by model size: under 1B parameters trains with LoRA/QLoRA on one g4dn GPU, and 1-10B trains
distributed on P4/P5. Over 10B is meant for HyperPod or Trainium with FSx for Lustre. This release
does not submit to those, so it plans a multi-node P5 training job and records that in `notes`.

Hours come from the usual 6·N·T training FLOPs (4·N·T with LoRA/QLoRA, which skips weight
gradients). T is the validator's token estimate (or train records × max_length) times epochs. The
FLOPs are divided by the instance's dense BF16/FP16 peak at 35% utilisation, and a fixed start-up
allowance is added.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from keiko.payloads import DatasetResult, PlanResult
from keiko.recipe import Recipe


@dataclass(frozen=True)
class InstancePrice:
    usd_per_hour: float
    peak_tflops: float  # dense FP16/BF16 peak of all accelerators in one instance


# SageMaker training on-demand list prices in us-east-1, USD per instance-hour.
# NOTE: recalled from the AWS SageMaker pricing page as of 2025, not read from the Price List API;
# check https://aws.amazon.com/sagemaker/pricing/ before relying on a number. Spot is usually cheaper.
PRICE_TABLE_DATE = "2025"
PRICES: dict[str, InstancePrice] = {
    "ml.g4dn.xlarge": InstancePrice(0.736, 65),
    "ml.g4dn.2xlarge": InstancePrice(0.94, 65),
    "ml.g4dn.12xlarge": InstancePrice(4.89, 260),
    "ml.g5.xlarge": InstancePrice(1.408, 125),
    "ml.g5.2xlarge": InstancePrice(1.515, 125),
    "ml.g5.12xlarge": InstancePrice(7.09, 500),
    "ml.g5.48xlarge": InstancePrice(20.36, 1000),
    "ml.p4d.24xlarge": InstancePrice(37.69, 8 * 312),
    "ml.p4de.24xlarge": InstancePrice(47.11, 8 * 312),
    "ml.p5.48xlarge": InstancePrice(113.07, 8 * 989),
    "ml.trn1.32xlarge": InstancePrice(24.73, 16 * 190),
    "ml.m5.xlarge": InstancePrice(0.23, 0.5),
}
UTILISATION = 0.35
STARTUP_HOURS = 0.25
# Evaluation and response generation run forward passes only, on one instance: about a tenth of training.
EVALUATION_SHARE = 0.1
_SIZE_IN_NAME = re.compile(r"(?<![0-9.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


class PlanningError(ValueError):
    """The run cannot be planned from the recipe; the message names the field to set."""


def parameters_billion(recipe: Recipe) -> float:
    """Return the model size from the recipe, or read it from a model id such as `Llama-3.1-8B`."""
    if recipe.model.parameters_billion:
        return recipe.model.parameters_billion
    match = _SIZE_IN_NAME.search(recipe.model.base.rsplit("/", 1)[-1])
    if not match:
        raise PlanningError(
            f"cannot tell the parameter count of model.base {recipe.model.base!r}: "
            "set model.parameters_billion in the recipe (for example 0.135 or 8)"
        )
    size = float(match.group(1))
    return size if match.group(2).lower() == "b" else size / 1000


def choose_instances(size_billion: float, recipe: Recipe) -> tuple[str, int, str, list[str]]:
    """Return (instance type, count, tier, notes) for a model size and the recipe's method."""
    notes: list[str] = []
    parameter_efficient = recipe.peft.type in {"lora", "qlora"}
    if size_billion < 1:
        tier = "single-gpu"
        instance_type, count = ("ml.g4dn.xlarge", 1) if parameter_efficient else ("ml.g5.2xlarge", 1)
    elif size_billion <= 10:
        tier = "distributed"
        instance_type, count = ("ml.p4d.24xlarge", 1) if parameter_efficient else ("ml.p5.48xlarge", 1)
    else:
        tier = "hyperpod"
        instance_type, count = "ml.p5.48xlarge", max(2, math.ceil(size_billion / 35))
        notes.append(
            "over 10B parameters: HyperPod or Trainium (ml.trn1.32xlarge) with FSx for Lustre is the "
            "intended backend; this run is planned as a multi-node SageMaker training job"
        )

    if recipe.backend.instance_type != "auto":
        instance_type = recipe.backend.instance_type
        notes.append(f"instance type {instance_type} set by the recipe")
    if recipe.backend.instance_count != "auto":
        count = int(recipe.backend.instance_count)
        notes.append(f"instance count {count} set by the recipe")
    return instance_type, count, tier, notes


def training_tokens(recipe: Recipe, dataset: DatasetResult) -> float:
    """Return the tokens of one epoch: the validator's estimate, else records × max_length as a bound."""
    if dataset.estimated_tokens > 0:
        return dataset.estimated_tokens * (1 - recipe.dataset.eval_fraction)
    return max(dataset.train_records, 1) * recipe.dataset.max_length


def estimate_hours(
    size_billion: float, tokens: float, parameter_efficient: bool, price: InstancePrice, count: int
) -> float:
    """Estimate wall-clock training hours from FLOPs and the instances' effective throughput."""
    flops_per_token = (4 if parameter_efficient else 6) * size_billion * 1e9
    effective_flops = price.peak_tflops * 1e12 * UTILISATION * count
    return STARTUP_HOURS + flops_per_token * tokens / effective_flops / 3600


def plan_training(recipe: Recipe, dataset: DatasetResult) -> PlanResult:
    """Plan the run's training job and estimate the whole run's cost against `budget.max_usd`."""
    if recipe.backend.type != "sagemaker":
        raise PlanningError(
            f"backend.type {recipe.backend.type!r} is not supported yet: this release submits SageMaker "
            "training jobs only, so set backend.type to sagemaker"
        )
    size = parameters_billion(recipe)
    instance_type, count, tier, notes = choose_instances(size, recipe)
    price = PRICES.get(instance_type)
    if price is None:
        raise PlanningError(
            f"backend.instance_type {instance_type!r} has no price in keiko's table: use one of "
            f"{', '.join(sorted(PRICES))}, or 'auto'"
        )

    parameter_efficient = recipe.peft.type in {"lora", "qlora"}
    hyperparameters = recipe.typed_hyperparameters()
    tokens = training_tokens(recipe, dataset) * hyperparameters.epochs
    train_hours = estimate_hours(size, tokens, parameter_efficient, price, count)
    hours = train_hours * (1 + EVALUATION_SHARE)
    if recipe.preference.enabled:
        # One preference iteration: generation, DPO training and evaluation over `preference.prompts` pairs.
        pair_tokens = recipe.preference.prompts * recipe.dataset.max_length * 2 * hyperparameters.epochs
        hours += 2 * estimate_hours(size, pair_tokens, parameter_efficient, price, count)
        notes.append("estimate includes one preference iteration")

    usd = hours * price.usd_per_hour * count
    max_runtime_seconds = int(recipe.backend.max_runtime_hours * 3600)
    # A spot job may wait as long again for capacity; an hour of margin covers start-up and upload.
    wait_seconds = max_runtime_seconds * (2 if recipe.backend.spot else 1) + 3600
    notes.append(f"on-demand us-east-1 prices ({PRICE_TABLE_DATE}); an estimate, not a quote")

    return PlanResult(
        instance_type=instance_type,
        instance_count=count,
        tier=tier,
        parameters_billion=size,
        estimated_hours=round(hours, 3),
        estimated_usd=round(usd, 2),
        max_usd=recipe.budget.max_usd,
        within_budget=usd <= recipe.budget.max_usd,
        max_runtime_seconds=max_runtime_seconds,
        wait_timeout_seconds=wait_seconds,
        notes=notes,
    )
