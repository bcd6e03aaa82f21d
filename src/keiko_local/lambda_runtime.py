"""Lambda functions run in-process: the handler is imported from its code folder and called directly.

moto runs Lambda code only in Docker. The emulated account replaces
`moto.awslambda.models.LambdaFunction._invoke_lambda`, the one method that direct invocations, Step
Functions tasks, S3 notifications and EventBridge targets all reach, with `LambdaRuntime.invoke`.

Invocations are serialised by one re-entrant lock: a handler sees exactly the account's base
environment plus its own function's variables, never another function's, even when Step Functions
runs executions in threads. A handler that invokes another function synchronously (or triggers one
through S3 or EventBridge) runs it in the same thread with the inner function's environment, then
gets its own back. A handler must not wait for work that another thread can only do by invoking a
function, because that thread waits for the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

LOG = logging.getLogger(__name__)

# One lock for the whole process: os.environ and sys.path are process-wide.
_INVOCATION_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The context object the Python Lambda runtime passes as a handler's second argument."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_s: float
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        # NOTE: the emulated runtime cannot stop a running handler, so this reaches 0 and stays
        # there instead of the function being killed at its timeout.
        elapsed_ms = (time.monotonic() - self._started) * 1000
        return max(0, int(self.timeout_s * 1000 - elapsed_ms))


class HandlerError(Exception):
    """An invocation failed before or after the handler ran, with the runtime's error type."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> str:
    """Return the JSON body the Python runtime sends back for a failed invocation."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack})


def _string_value(value: Any) -> str:
    # CloudFormation turns every environment value into a string; booleans become lower case.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextlib.contextmanager
def exact_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Make os.environ exactly `values` for the duration, then restore what was there."""
    previous = dict(os.environ)
    _replace_environment(values)
    try:
        yield
    finally:
        _replace_environment(previous)


def _replace_environment(values: Mapping[str, str]) -> None:
    # Keys present in both are overwritten, never removed, so a thread that reads a base variable
    # (credentials, region) never catches it missing.
    for key in [key for key in os.environ if key not in values]:
        del os.environ[key]
    for key, value in values.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@contextlib.contextmanager
def _front_of_sys_path(folders: list[Path]) -> Iterator[None]:
    previous = list(sys.path)
    sys.path[:0] = [str(folder) for folder in folders]
    try:
        yield
    finally:
        sys.path[:] = previous


class LambdaRuntime:
    """Finds each function's code and layers, imports its handler once and calls it per invocation."""

    def __init__(
        self,
        base_environment: Mapping[str, str],
        code_sources: Mapping[tuple[str, str], Path],
        cache_dir: Path,
        find_layer: Callable[[Any, str], Any],
    ):
        # code_sources maps the (bucket, key) of each packaged zip to the folder it was made from, so
        # handlers run from the project's files and tracebacks point at them.
        self._base_environment = dict(base_environment)
        self._code_sources = dict(code_sources)
        self._cache_dir = cache_dir
        self._find_layer = find_layer
        self._modules: dict[tuple[str, str], ModuleType] = {}
        forget_modules_under(self._code_sources.values())

    def invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        """Run one invocation; return (payload JSON, whether it failed, log text) as moto expects."""
        request_id = str(uuid.uuid4())
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")

        with _INVOCATION_LOCK:
            started = time.monotonic()
            payload, failed = self._run(function, event, request_id)
            duration_ms = (time.monotonic() - started) * 1000

        logs = (
            f"START RequestId: {request_id} Version: $LATEST\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {function.memory_size} MB\n"
        )
        return payload, failed, logs

    def _run(self, function: Any, event: Any, request_id: str) -> tuple[str, bool]:
        try:
            code_dir = self._code_dir(function.code, function.code_bytes)
            layer_dirs = self._layer_dirs(function)
        except HandlerError as error:
            return error_payload(error.error_type, str(error), request_id, []), True

        context = LambdaContext(
            function_name=function.function_name,
            function_version="$LATEST",
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=int(function.memory_size),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function.function_name}",
            log_stream_name=f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}",
            timeout_s=float(function.timeout),
        )
        environment = self._environment(function, code_dir, context)

        with exact_environment(environment), _front_of_sys_path([code_dir, *layer_dirs]):
            try:
                handler = self._handler(function, code_dir)
                result = handler(event, context)
            except HandlerError as error:
                return error_payload(error.error_type, str(error), request_id, []), True
            except Exception as error:  # noqa: BLE001 - every handler exception becomes the runtime's error shape
                stack = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
                LOG.info("Function %s raised %s: %s", function.function_name, type(error).__name__, error)
                return error_payload(type(error).__name__, str(error), request_id, stack), True

        try:
            return json.dumps(result), False
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            return error_payload("Runtime.MarshalError", message, request_id, []), True

    def _environment(self, function: Any, code_dir: Path, context: LambdaContext) -> dict[str, str]:
        region = function.region
        environment = dict(self._base_environment)
        environment.update(
            {
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
                "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": function.handler or "",
                # The variable `sam local invoke` sets; Powertools Tracer, for one, turns itself off.
                "AWS_SAM_LOCAL": "true",
            }
        )
        environment.update({key: _string_value(value) for key, value in function.environment_vars.items()})
        return environment

    def _code_dir(self, code: Mapping[str, Any], code_bytes: bytes) -> Path:
        source = self._code_sources.get((code.get("S3Bucket"), code.get("S3Key")))
        if source is not None:
            return source
        if not code_bytes:
            raise HandlerError("Runtime.ImportModuleError", "The function has no code package to run")
        return self._extract(code_bytes)

    def _extract(self, archive: bytes) -> Path:
        target = self._cache_dir / hashlib.sha256(archive).hexdigest()[:16]
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                bundle.extractall(partial)
            partial.rename(target)
        return target

    def _layer_dirs(self, function: Any) -> list[Path]:
        folders = []
        for layer in function.layers:
            version = self._find_layer(function, layer["Arn"])
            if version is None:
                raise HandlerError("Runtime.ImportModuleError", f"Layer version {layer['Arn']} not found")
            folder = self._code_dir(version.content, version.code_bytes)
            # A Python layer's zip contains its packages under python/. A layer built from a source
            # folder by `sam build` (BuildMethod python3.x) gets that prefix added at build time.
            if (folder / "python").is_dir():
                folders.append(folder / "python")
            folders.append(folder)
        return folders

    def _handler(self, function: Any, code_dir: Path) -> Callable[[Any, Any], Any]:
        module_name, _, attribute = (function.handler or "").rpartition(".")
        if not module_name:
            raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{function.handler}'")

        path = code_dir / (module_name.replace(".", "/") + ".py")
        key = (function.function_name, str(path))
        module = self._modules.get(key)
        if module is None:
            module = _import_unique(module_name, path, function.function_name)
            self._modules[key] = module

        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise HandlerError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
        return handler


def forget_modules_under(folders: Iterable[Path]) -> list[str]:
    """Drop from sys.modules every module loaded from these folders; return the names dropped.

    A new account is a new deployment, so its functions start cold: layer packages are imported
    again and their module-level caches (settings, clients) cannot carry an earlier account's
    resource names into this one.
    """
    roots = [folder.resolve() for folder in folders]
    dropped = []
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if location and any(Path(location).resolve().is_relative_to(root) for root in roots):
            del sys.modules[name]
            dropped.append(name)
    return dropped


def _import_unique(module_name: str, path: Path, function_name: str) -> ModuleType:
    """Import a handler file under a name unique to its function, so every `app.py` stays separate."""
    if not path.is_file():
        raise HandlerError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': No module named '{module_name}'"
        )
    slug = re.sub(r"\W", "_", function_name)
    unique_name = f"keiko_lambda_{slug}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"

    spec = importlib.util.spec_from_file_location(unique_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[unique_name]
        raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from error
    return module
