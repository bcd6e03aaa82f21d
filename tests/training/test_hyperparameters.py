"""Per-method hyperparameter models and the recipe <-> job hyperparameter round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keiko.job_parameters import TrainingJobParameters, job_hyperparameters, parse_job_hyperparameters
from keiko.recipe import HYPERPARAMETER_MODELS, LORA_METHODS, Method, RecipeError, parse_recipe

REQUIRED = {Method.GRPO: {"reward_functions": ["exact_match"]}, Method.RLOO: {"reward_functions": ["length"]}}


def recipe_yaml(method: Method, hyperparameters: dict | None = None, extra: str = "") -> str:
    import yaml

    data = {"method": method.value, "model": {"base": "HuggingFaceTB/SmolLM2-135M-Instruct"}}
    data["hyperparameters"] = {**REQUIRED.get(method, {}), **(hyperparameters or {})}
    return yaml.safe_dump(data) + extra


@pytest.mark.parametrize("profile", ["default", "local"])
@pytest.mark.parametrize("method", list(Method))
def test_job_hyperparameters_round_trip(method: Method, profile: str) -> None:
    # Given a recipe for the method
    recipe = parse_recipe(recipe_yaml(method, {"profile": profile}))

    # When it becomes job hyperparameters and is read back
    values = job_hyperparameters(recipe)
    parsed = parse_job_hyperparameters(values)

    # Then every value is a string and nothing is lost
    assert all(isinstance(value, str) for value in values.values())
    assert parsed == TrainingJobParameters.from_recipe(recipe)
    assert parsed.to_job_hyperparameters() == values
    assert ("peft_type" in values) == (method in LORA_METHODS)


@given(
    learning_rate=st.floats(min_value=1e-9, max_value=0.5, allow_nan=False),
    beta=st.floats(min_value=1e-6, max_value=100, allow_nan=False),
    steps=st.integers(min_value=-1, max_value=10**6),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
    modules=st.one_of(st.just("all-linear"), st.lists(st.sampled_from(["q_proj", "v_proj", "o_proj"]), min_size=1)),
)
def test_dpo_round_trip_any_values(learning_rate, beta, steps, limit, modules) -> None:
    recipe = parse_recipe(
        recipe_yaml(
            Method.DPO,
            {"learning_rate": learning_rate, "beta": beta, "max_steps": steps, "save_total_limit": limit},
        )
        + f"peft: {{target_modules: {modules!r}}}\n".replace("'", '"')
    )

    parsed = parse_job_hyperparameters(job_hyperparameters(recipe))

    assert parsed.hyperparameters == recipe.typed_hyperparameters()
    assert parsed.peft == recipe.peft


def test_local_profile_fills_only_missing_fields() -> None:
    recipe = parse_recipe(recipe_yaml(Method.SFT, {"profile": "local", "learning_rate": 0.02}))

    hyperparameters = recipe.typed_hyperparameters()

    assert hyperparameters.learning_rate == 0.02
    assert hyperparameters.logging_steps == 1
    assert hyperparameters.gradient_checkpointing is False


def test_local_profile_raises_learning_rates() -> None:
    for method, model in HYPERPARAMETER_MODELS.items():
        if method is Method.MERGE:
            continue
        default = model.model_validate(REQUIRED.get(method, {}))
        local = model.model_validate({**REQUIRED.get(method, {}), "profile": "local"})
        assert local.learning_rate > default.learning_rate, method


def test_sagemaker_toolkit_forms_are_accepted() -> None:
    values = {
        "method": "grpo",
        "model_name_or_path": "m",
        "reward_functions": "['format', 'length']",
        "gradient_checkpointing": "False",
        "save_total_limit": "None",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "s3://bucket/code.tar.gz",
    }

    parsed = parse_job_hyperparameters(values)

    assert parsed.hyperparameters.reward_functions == ["format", "length"]
    assert parsed.hyperparameters.gradient_checkpointing is False
    assert parsed.hyperparameters.save_total_limit is None


@pytest.mark.parametrize(
    ("method", "hyperparameters", "message"),
    [
        (Method.GRPO, {"reward_functions": ["bleu"]}, "unknown reward function 'bleu'"),
        (Method.GRPO, {"reward_functions": ["length"], "reward_weights": [1, 2]}, "one weight per function"),
        (Method.RLOO, {"per_device_batch_size": 6, "num_generations": 4}, "not a multiple of num_generations"),
        (Method.GRPO, {"reward_functions": ["length"], "per_device_batch_size": 3}, "x gradient_accumulation_steps 1"),
        (Method.PROMPT_TUNING, {"prompt_tuning_init": "TEXT"}, "needs prompt_tuning_init_text"),
        (Method.DPO, {"loss_type": "ppo"}, "hyperparameters.loss_type"),
        (Method.SFT, {"learning_rate": 0}, "hyperparameters.learning_rate"),
        (Method.MERGE, {"density": 0}, "hyperparameters.density"),
    ],
)
def test_invalid_hyperparameters_name_field(method: Method, hyperparameters: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse_recipe(recipe_yaml(method, hyperparameters))


def test_grpo_accepts_batch_filled_by_accumulation() -> None:
    recipe = parse_recipe(
        recipe_yaml(Method.GRPO, {"per_device_batch_size": 4, "gradient_accumulation_steps": 2, "num_generations": 8})
    )

    assert recipe.typed_hyperparameters().num_generations == 8


def test_grpo_requires_reward_functions() -> None:
    with pytest.raises(RecipeError, match="hyperparameters.reward_functions: Field required"):
        parse_recipe("method: grpo\nmodel: {base: m}\n")


def test_pretrain_rejects_lora() -> None:
    with pytest.raises(RecipeError, match="does not apply to pretrain"):
        parse_recipe(recipe_yaml(Method.PRETRAIN, extra="peft: {type: lora}\n"))


def test_parse_job_hyperparameters_names_invalid_key() -> None:
    with pytest.raises(RecipeError, match=r"beta: Input should be a valid number.*got 'high'"):
        parse_job_hyperparameters({"method": "dpo", "model_name_or_path": "m", "beta": "high"})


def test_parse_job_hyperparameters_requires_method() -> None:
    with pytest.raises(RecipeError, match="missing --method"):
        parse_job_hyperparameters({"model_name_or_path": "m"})
