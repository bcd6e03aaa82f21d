"""The moto internals the emulated account replaces or adds, and the check that they have not moved.

Every entry here is a dependency on moto's private code (moto 5.2.5 is pinned in pyproject.toml).
`verify_patch_points` runs before any patch is installed and again in the patch guard test, so a moto
upgrade that moves or changes one of them fails loudly, naming it, instead of silently falling back
to moto's own behaviour.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from unittest import mock


@dataclass(frozen=True)
class PatchPoint:
    """One attribute of a moto module or class that the emulated account relies on."""

    module: str
    owner: str  # class name, or "" for a module-level function
    name: str
    # Parameter names as `inspect.signature` reports them (a classmethod read from its class has no
    # `cls`). None for an attribute keiko adds, which moto must not have.
    parameters: tuple[str, ...] | None

    @property
    def id(self) -> str:
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.module}:{owner}{self.name}"


_CFN_CREATE = ("resource_name", "cloudformation_json", "account_id", "region_name", "kwargs")

PATCH_POINTS: tuple[PatchPoint, ...] = (
    # Replaced: runs the handler in-process instead of in Docker.
    PatchPoint("moto.awslambda.models", "LambdaFunction", "_invoke_lambda", ("self", "event")),
    # Wrapped: reports an uncaught handler exception as FunctionError "Unhandled", as Lambda does.
    PatchPoint(
        "moto.awslambda.models",
        "LambdaFunction",
        "invoke",
        ("self", "body", "request_headers", "response_headers"),
    ),
    # Read: finds a layer's content when a function lists it.
    PatchPoint("moto.awslambda.models", "LambdaBackend", "layers_versions_by_arn", ("self", "layer_version_arn")),
    # Replaced: delivers to Lambda and Step Functions targets, which moto rejects.
    PatchPoint("moto.events.models", "Rule", "send_to_targets", ("self", "original_event", "transform_input")),
    # Replaced: sends S3 events to EventBridge in the shape AWS uses.
    PatchPoint(
        "moto.s3.notifications",
        "",
        "_send_event_bridge_message",
        ("account_id", "bucket", "event_name", "key"),
    ),
    # Replaced: creates the state machine in the executing backend with its substitutions applied.
    PatchPoint("moto.stepfunctions.models", "StateMachine", "create_from_cloudformation_json", _CFN_CREATE),
    # Wrapped: records the bucket's NotificationConfiguration, which moto ignores.
    PatchPoint("moto.s3.models", "FakeBucket", "create_from_cloudformation_json", _CFN_CREATE),
    # Read: picks the executing Step Functions backend when the mock is configured for it.
    PatchPoint("moto.stepfunctions.responses", "", "get_backend", ("account", "region")),
    # Replaced: passes SendTaskFailure's `cause` on to the execution; moto drops it.
    PatchPoint("moto.stepfunctions.responses", "StepFunctionResponse", "send_task_failure", ("self",)),
    # Wrapped: starts a local process for each training job instead of completing it at once.
    PatchPoint("moto.sagemaker.responses", "SageMakerResponse", "create_training_job", ("self",)),
    # Added: moto has neither operation.
    PatchPoint("moto.sagemaker.responses", "SageMakerResponse", "stop_training_job", None),
    PatchPoint("moto.bedrockruntime.responses", "BedrockRuntimeResponse", "converse", None),
)

_BY_ID = {point.id: point for point in PATCH_POINTS}


class PatchPointMoved(RuntimeError):
    """A moto internal that the emulated account patches is missing or has a new signature."""


def _owner(point: PatchPoint) -> Any:
    module = importlib.import_module(point.module)
    return getattr(module, point.owner) if point.owner else module


def check_patch_point(point: PatchPoint) -> str | None:
    """Return what is wrong with one patch point, or None when moto still matches it."""
    try:
        owner = _owner(point)
    except (ImportError, AttributeError) as error:
        return f"{point.id}: owner not found ({error})"

    present = hasattr(owner, point.name)
    if point.parameters is None:
        if present:
            return f"{point.id}: moto now defines it; keiko's addition would hide moto's version"
        return None
    if not present:
        return f"{point.id}: missing from moto"

    found = tuple(inspect.signature(getattr(owner, point.name)).parameters)
    if found != point.parameters:
        return f"{point.id}: signature changed from {point.parameters} to {found}"
    return None


def verify_patch_points() -> None:
    """Raise PatchPointMoved naming every patch point that no longer matches the installed moto."""
    problems = [problem for point in PATCH_POINTS if (problem := check_patch_point(point))]
    if problems:
        raise PatchPointMoved(
            "The installed moto no longer matches the emulated account's patches "
            "(pin moto==5.2.5 or update keiko_local):\n  " + "\n  ".join(problems)
        )


def install(replacements: Mapping[str, Any]) -> contextlib.ExitStack:
    """Install replacements keyed by PatchPoint.id; closing the returned stack restores moto."""
    verify_patch_points()
    stack = contextlib.ExitStack()
    try:
        for point_id, replacement in replacements.items():
            point = _BY_ID[point_id]
            patcher = mock.patch.object(_owner(point), point.name, replacement, create=point.parameters is None)
            stack.enter_context(patcher)
    except BaseException:
        stack.close()
        raise
    return stack


def original(point_id: str) -> Any:
    """Return moto's attribute for a patch point, bound as moto calls it (call before installing)."""
    point = _BY_ID[point_id]
    return getattr(_owner(point), point.name)
