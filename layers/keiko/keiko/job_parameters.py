"""A recipe as training-job hyperparameters: flat `--key value` strings, and back.

SageMaker passes HyperParameters to the training script as strings, so the submit side encodes the
recipe with `job_hyperparameters` and the container decodes it with `parse_job_hyperparameters`.
"""

from __future__ import annotations

import ast
import json
from typing import Annotated, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    model_validator,
)

from keiko.recipe import (
    HYPERPARAMETER_MODELS,
    LORA_METHODS,
    Method,
    MethodHyperparameters,
    PeftSpec,
    Recipe,
    RecipeError,
    Strict,
    format_validation_error,
)


class TrainingJobParameters(Strict):
    """Training-job parameters taken from a recipe, in the shape the training container reads back.

    On the job they travel as flat `--key value` strings (SageMaker's HyperParameters): `method`,
    `model_name_or_path`, `max_length`, the LoRA settings for methods that use them (`peft_type`,
    `lora_r`, `lora_alpha`, `lora_dropout`, `lora_target_modules`), then every method hyperparameter.
    """

    method: Method
    model_name_or_path: Annotated[str, Field(min_length=1)]
    max_length: Annotated[int, Field(ge=16, le=1_048_576)] = 2048
    peft: PeftSpec | None = None
    hyperparameters: MethodHyperparameters

    @model_validator(mode="before")
    @classmethod
    def _type_hyperparameters(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("hyperparameters"), dict) and "method" in data:
            model = HYPERPARAMETER_MODELS[Method(data["method"])]
            data = {**data, "hyperparameters": model.model_validate(data["hyperparameters"])}
        return data

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> TrainingJobParameters:
        return cls(
            method=recipe.method,
            model_name_or_path=recipe.model.base,
            max_length=recipe.dataset.max_length,
            peft=recipe.peft if recipe.method in LORA_METHODS else None,
            hyperparameters=recipe.typed_hyperparameters(),
        )

    def to_job_hyperparameters(self) -> dict[str, str]:
        """Flatten to SageMaker HyperParameters: string values, lists as JSON, None values left out."""
        flat: dict[str, Any] = {
            "method": self.method.value,
            "model_name_or_path": self.model_name_or_path,
            "max_length": self.max_length,
        }
        if self.peft is not None:
            for name, value in self.peft.model_dump().items():
                flat[_PEFT_KEYS[name]] = value
        flat.update(self.hyperparameters.model_dump())
        # A None that is also the field's default is left out; any other None travels as "null".
        return {
            key: _encode_value(value)
            for key, value in flat.items()
            if not (value is None and _default_of(type(self.hyperparameters), key) is None)
        }


_PEFT_KEYS = {
    "type": "peft_type",
    "r": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "target_modules": "lora_target_modules",
}
_JOB_KEYS = {"method", "model_name_or_path", "max_length"}


def job_hyperparameters(recipe: Recipe) -> dict[str, str]:
    """Turn a recipe into the `--key value` hyperparameters of its training job."""
    return TrainingJobParameters.from_recipe(recipe).to_job_hyperparameters()


def parse_job_hyperparameters(values: dict[str, str]) -> TrainingJobParameters:
    """Read a training job's hyperparameters back, raising RecipeError that names each invalid key.

    Keys starting with `sagemaker_` belong to the SageMaker training toolkit and are ignored.
    """
    values = {key: value for key, value in values.items() if not key.startswith("sagemaker_")}
    if "method" not in values:
        raise RecipeError("hyperparameters: missing --method; pass one of " + ", ".join(m.value for m in Method))
    try:
        method = Method(values["method"])
    except ValueError:
        raise RecipeError(
            f"hyperparameters: invalid --method {values['method']!r}; use one of " + ", ".join(m.value for m in Method)
        ) from None
    model = HYPERPARAMETER_MODELS[method]
    peft_fields = {field: key for field, key in _PEFT_KEYS.items() if key in values}
    data: dict[str, Any] = {key: values[key] for key in _JOB_KEYS if key in values}
    if peft_fields:
        data["peft"] = {field: _decode_value(PeftSpec, field, values[key]) for field, key in peft_fields.items()}
    used = _JOB_KEYS | set(peft_fields.values())
    data["hyperparameters"] = {
        key: _decode_value(model, key, value) for key, value in values.items() if key not in used
    }
    try:
        return TrainingJobParameters.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(
            f"hyperparameters: invalid training job hyperparameters:\n{format_validation_error(exc)}"
        ) from exc


def _encode_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _decode_value(model: type[BaseModel], key: str, value: str) -> Any:
    """Decode "null" and JSON lists where the field takes them; pydantic converts other strings itself."""
    field = model.model_fields.get(key)
    if field is None or not isinstance(value, str):
        return value
    if value in ("null", "None") and _accepts(field.annotation, type(None)):
        return None
    if not _accepts(field.annotation, list):
        return value
    if not value.lstrip().startswith("["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        # The SageMaker training toolkit passes decoded lists back as Python literals ("['a', 'b']").
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value


def _accepts(annotation: Any, kind: type) -> bool:
    if annotation is kind or get_origin(annotation) is kind:
        return True
    return any(_accepts(argument, kind) for argument in get_args(annotation))


def _default_of(model: type[BaseModel], key: str) -> Any:
    field = model.model_fields.get(key)
    return field.default if field is not None else None
