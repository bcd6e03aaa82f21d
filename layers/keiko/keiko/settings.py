"""Settings read from the Lambda environment, one model per kind of handler.

Each model is validated once per cold start (the loaders are cached) and never at import, so tests can
set the environment first. A missing or invalid variable raises SettingsError naming the variable.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """The Lambda environment lacks a variable or contains an invalid value."""


class StorageSettings(BaseSettings):
    """Storage of runs: the data bucket and the run table."""

    model_config = SettingsConfigDict(env_prefix="KEIKO_", frozen=True, extra="ignore")

    data_bucket: Annotated[str, Field(min_length=3)]
    run_table: Annotated[str, Field(min_length=3)]
    task_token_ttl_days: Annotated[int, Field(ge=1, le=365)] = 30


class ValidationSettings(StorageSettings):
    """Sizes that decide when ValidateDatasetSlices validates a dataset in parallel byte ranges."""

    validation_slice_threshold_bytes: Annotated[int, Field(ge=1)] = 512 * 1024 * 1024
    validation_slice_bytes: Annotated[int, Field(ge=2 * 1024 * 1024)] = 256 * 1024 * 1024

    @field_validator("validation_slice_threshold_bytes", "validation_slice_bytes", mode="before")
    @classmethod
    def _whole_bytes(cls, value: object) -> object:
        """Round a number of bytes down, because a CloudFormation Number parameter may be a float such as 2097152.5."""
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value
            return int(number) if math.isfinite(number) else value
        return value


class NotifySettings(StorageSettings):
    """Destinations of lifecycle news: the SNS topic and the EventBridge bus."""

    topic_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:")]
    event_bus_name: str = "default"


class IntakeSettings(NotifySettings):
    """Intake also starts executions of the lifecycle state machine."""

    state_machine_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:states:")]


class JobSettings(StorageSettings):
    """Inputs of a SageMaker training job: the image, the training code and the execution role."""

    training_image_uri: Annotated[str, Field(min_length=1)]
    training_code_key: Annotated[str, Field(min_length=1)]
    sagemaker_role_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::")]


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


@cache
def load_settings(model: type[SettingsT]) -> SettingsT:
    """Validate `model` from the environment once per process, naming each bad variable on failure."""
    try:
        return model()
    except ValidationError as exc:
        prefix = model.model_config.get("env_prefix", "")
        problems = "; ".join(f"{prefix}{str(error['loc'][0]).upper()}: {error['msg']}" for error in exc.errors())
        raise SettingsError(
            f"invalid Lambda environment for {model.__name__}: {problems}. "
            "Set the variable in template.yaml (or the local environment) and redeploy."
        ) from exc
