"""Planning: tiers by model size, cost estimates and the budget check."""

from __future__ import annotations

import pytest
from keiko.payloads import DatasetResult
from keiko.planning import PRICES, PlanningError, parameters_billion, plan_training
from keiko.recipe import Recipe

DATASET = DatasetResult(valid=True, train_records=1000, eval_records=100)


def recipe(base: str = "HuggingFaceTB/SmolLM2-135M-Instruct", **sections) -> Recipe:
    return Recipe.model_validate({"method": "sft", "model": {"base": base}, **sections})


@pytest.mark.parametrize(
    ("base", "size"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", 0.135),
        ("meta-llama/Llama-3.1-8B-Instruct", 8.0),
        ("Qwen/Qwen2.5-0.5B", 0.5),
        ("meta-llama/Llama-3.3-70B-Instruct", 70.0),
    ],
)
def test_parameters_read_from_model_id(base, size):
    assert parameters_billion(recipe(base)) == pytest.approx(size)


def test_parameters_from_recipe_win():
    sized = Recipe.model_validate({"method": "sft", "model": {"base": "s3://b/m/", "parameters_billion": 0.01}})

    assert parameters_billion(sized) == 0.01


def test_unknown_size_names_the_field():
    with pytest.raises(PlanningError, match="model.parameters_billion"):
        parameters_billion(recipe("s3://bucket/models/my-model/"))


@pytest.mark.parametrize(
    ("base", "tier", "instance_type"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "single-gpu", "ml.g4dn.xlarge"),
        ("meta-llama/Llama-3.1-8B", "distributed", "ml.p4d.24xlarge"),
        ("meta-llama/Llama-3.3-70B", "hyperpod", "ml.p5.48xlarge"),
    ],
)
def test_tier_follows_model_size(base, tier, instance_type):
    plan = plan_training(recipe(base, budget={"max_usd": 1_000_000}), DATASET)

    assert plan.tier == tier
    assert plan.instance_type == instance_type


def test_large_models_plan_several_nodes_and_say_why():
    plan = plan_training(recipe("meta-llama/Llama-3.3-70B", budget={"max_usd": 1_000_000}), DATASET)

    assert plan.instance_count >= 2
    assert any("FSx for Lustre" in note for note in plan.notes)


def test_full_fine_tuning_costs_more_than_lora():
    lora = plan_training(recipe("org/model-1B", peft={"type": "lora"}), DATASET)
    full = plan_training(recipe("org/model-1B", peft={"type": "none"}), DATASET)

    assert full.estimated_usd > lora.estimated_usd


def test_cost_grows_with_data():
    small = plan_training(recipe("org/model-7B"), DATASET)
    large = plan_training(recipe("org/model-7B"), DATASET.model_copy(update={"train_records": 100_000}))

    assert large.estimated_hours > small.estimated_hours
    assert large.estimated_usd > small.estimated_usd


def test_over_budget_is_flagged():
    plan = plan_training(recipe("org/model-70B", budget={"max_usd": 5}), DATASET)

    assert plan.within_budget is False
    assert plan.estimated_usd > 5


def test_recipe_instance_type_is_priced():
    plan = plan_training(recipe(backend={"instance_type": "ml.g5.2xlarge", "instance_count": 2}), DATASET)

    assert plan.instance_type == "ml.g5.2xlarge"
    assert plan.instance_count == 2
    assert plan.estimated_usd >= plan.estimated_hours * PRICES["ml.g5.2xlarge"].usd_per_hour * 2 * 0.99


def test_unpriced_instance_type_lists_known_ones():
    with pytest.raises(PlanningError, match="ml.g4dn.xlarge"):
        plan_training(recipe(backend={"instance_type": "ml.x99.huge"}), DATASET)


def test_spot_wait_covers_the_runtime_twice():
    spot = plan_training(recipe(backend={"spot": True, "max_runtime_hours": 2}), DATASET)
    on_demand = plan_training(recipe(backend={"spot": False, "max_runtime_hours": 2}), DATASET)

    assert spot.max_runtime_seconds == 7200
    assert spot.wait_timeout_seconds > 2 * 7200
    assert on_demand.wait_timeout_seconds > 7200
    assert on_demand.wait_timeout_seconds < spot.wait_timeout_seconds


def test_unsupported_backend_is_rejected():
    with pytest.raises(PlanningError, match="backend.type 'hyperpod' is not supported yet"):
        plan_training(recipe(backend={"type": "hyperpod"}), DATASET)
