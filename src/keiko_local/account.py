"""`LocalAccount`: an emulated AWS account that deploys template.yaml and runs it in this process.

The account is moto (`mock_aws` with Step Functions execution on) plus the fixes in this package:
Lambda handlers run in-process, EventBridge rules deliver to Lambda and Step Functions, S3 sends
its events in AWS's shape, SageMaker training jobs run as local processes and Bedrock Converse is
a deterministic stand-in. Nothing leaves the process: credentials are dummies, EC2 metadata look-ups
are off, and the only processes started are the training jobs' scripts.

Only one account can be open in a process at a time, because moto's state is process-wide.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from . import patches
from .bedrock import BedrockStandIn, make_converse_action
from .eventbridge import EventRouter
from .lambda_runtime import LambdaRuntime
from .s3_events import make_sender
from .stack import StackFixes, StackResource, deploy_stack
from .template import load_template, package, parameter_values, translate
from .training_jobs import LocalTrainingJob, OutputListener, TrainingJobRunner

ARTIFACTS_BUCKET = "keiko-local-artifacts"
TERMINAL_EXECUTION_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

_ACTIVE_LOCK = threading.Lock()
_active_account: LocalAccount | None = None

# Set while the account is open so that no call can use real credentials, a profile's endpoint or
# the EC2 metadata service. The previous values come back on close.
_ACCOUNT_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# moto's configuration: Step Functions executes state machines; the credentials above stay (moto would
# otherwise set its own), and nothing passes through to a real endpoint.
MOCK_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "core": {
        "mock_credentials": False,
        "passthrough": {"urls": [], "services": []},
        "reset_boto3_session": True,
        "service_whitelist": None,
    },
}
_REMOVED_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE")


class FunctionError(Exception):
    """A Lambda handler failed; the attributes carry the runtime's error payload."""

    def __init__(self, function: str, payload: Mapping[str, Any]):
        self.function = function
        self.error_type = payload.get("errorType", "")
        self.error_message = payload.get("errorMessage", "")
        self.stack_trace = list(payload.get("stackTrace", []))
        super().__init__(f"{function} failed with {self.error_type}: {self.error_message}")


class LocalAccount:
    """Deploys a SAM template into an in-process emulated AWS account and exposes what it created."""

    def __init__(
        self,
        project_root: Path,
        workdir: Path | None = None,
        template: str | Path = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        stack_name: str = "keiko-local",
        region: str = "us-east-1",
        stop_grace_s: float = 10.0,
    ):
        self.project_root = Path(project_root).resolve()
        self.workdir = Path(workdir).resolve() if workdir else self.project_root / ".keiko" / "local"
        self.template_path = self.project_root / template
        self.parameters = dict(parameters or {})
        self.stack_name = stack_name
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self.bedrock = BedrockStandIn()
        self._stop_grace_s = stop_grace_s
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._saved_environment: dict[str, str] | None = None
        self._mock: Any = None
        self._patches: Any = None
        self._runner: TrainingJobRunner | None = None
        self._router: EventRouter | None = None
        self._fixes: StackFixes | None = None
        self._base_environment: dict[str, str] = {}
        self._resources: dict[str, StackResource] = {}
        self._outputs: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalAccount:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Open the account and deploy the template; on failure everything opened is closed again."""
        global _active_account
        with _ACTIVE_LOCK:
            if _active_account is not None:
                raise RuntimeError("Another LocalAccount is open in this process; close it first")
            _active_account = self
        try:
            self._open()
            self._deploy()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop running training jobs, remove the patches, stop moto and restore the environment."""
        global _active_account
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._patches is not None:
            self._patches.close()
            self._patches = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._saved_environment is not None:
            os.environ.clear()
            os.environ.update(self._saved_environment)
            self._saved_environment = None
        with _ACTIVE_LOCK:
            if _active_account is self:
                _active_account = None

    def _open(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._saved_environment = dict(os.environ)
        for name in _REMOVED_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(_ACCOUNT_ENVIRONMENT)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = self.region
        # Point the shared config and credentials files at paths that do not exist, so no profile
        # setting (endpoint_url, credential_process) applies.
        os.environ["AWS_CONFIG_FILE"] = str(self.workdir / "no-aws-config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(self.workdir / "no-aws-credentials")
        base_environment = dict(os.environ)

        self._mock = mock_aws(config=MOCK_CONFIG)
        self._mock.start()

        self._router = EventRouter(self.account_id, self.region, self.client, _events_backend(self))
        self._runner = TrainingJobRunner(
            self.workdir / "training-jobs",
            base_environment,
            self.client,
            self._router,
            self.account_id,
            self.region,
            self._stop_grace_s,
        )
        self._fixes = StackFixes()
        self._base_environment = base_environment

    def _deploy(self) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        source = load_template(self.template_path)
        values = parameter_values(source, self.parameters)
        packaged = package(source, self.template_path.parent, s3, ARTIFACTS_BUCKET)

        runtime = LambdaRuntime(
            self._base_environment, packaged.code_sources, self.workdir / "lambda-code", _find_layer
        )
        self._patches = patches.install(self._replacements(runtime))

        translated = translate(packaged.template, values, self.client("iam"))
        self._resources, self._outputs = deploy_stack(
            self.client("cloudformation"),
            s3,
            self.client("lambda"),
            self.stack_name,
            translated,
            values,
            self._fixes,
            self.account_id,
            self.region,
        )

    def _replacements(self, runtime: LambdaRuntime) -> dict[str, Any]:
        original_invoke = patches.original("moto.awslambda.models:LambdaFunction.invoke")

        def invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
            return runtime.invoke(function, event)

        def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
            result = original_invoke(function, body, request_headers, response_headers)
            # The Python runtime reports an uncaught exception as "Unhandled"; moto reports "Handled".
            if response_headers.get("x-amz-function-error") == "Handled":
                response_headers["x-amz-function-error"] = "Unhandled"
            return result

        router = self._router

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            router.send_to_targets(rule, original_event, transform_input)

        replacements = {
            "moto.stepfunctions.responses:StepFunctionResponse.send_task_failure": _send_task_failure,
            "moto.awslambda.models:LambdaFunction._invoke_lambda": invoke_lambda,
            "moto.awslambda.models:LambdaFunction.invoke": invoke,
            "moto.events.models:Rule.send_to_targets": send_to_targets,
            "moto.s3.notifications:_send_event_bridge_message": make_sender(self._router),
            "moto.bedrockruntime.responses:BedrockRuntimeResponse.converse": make_converse_action(self.bedrock),
        }
        replacements.update(self._fixes.replacements())
        replacements.update(self._runner.replacements())
        return replacements

    # -- deployed resources ------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """Return a boto3 client of this account (one per service, shared by threads)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session(region_name=self.region).client(service)
            return self._clients[service]

    def resource(self, logical_id: str) -> StackResource:
        """Return the deployed resource with this logical id (as in the translated template)."""
        try:
            return self._resources[logical_id]
        except KeyError:
            known = ", ".join(sorted(self._resources)) or "none"
            raise KeyError(f"No resource {logical_id!r} in stack {self.stack_name}; deployed: {known}") from None

    @property
    def resources(self) -> dict[str, StackResource]:
        return dict(self._resources)

    @property
    def outputs(self) -> dict[str, str]:
        return dict(self._outputs)

    # -- running things ----------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function (logical id or name) synchronously; return its result or raise FunctionError."""
        name = self._resources[function].physical_id if function in self._resources else function
        response = self.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise FunctionError(function, payload)
        return payload

    def wait_for_execution(self, execution_arn: str, timeout_s: float = 60.0, poll_s: float = 0.05) -> dict:
        """Wait until a Step Functions execution ends; return DescribeExecution's result."""
        stepfunctions = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        while True:
            execution = stepfunctions.describe_execution(executionArn=execution_arn)
            if execution["status"] in TERMINAL_EXECUTION_STATES:
                return execution
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Execution {execution_arn} is still {execution['status']} after {timeout_s:g} s; "
                    "get_execution_history shows the state it waits in"
                )
            time.sleep(poll_s)

    def fire_schedule(self, rule_logical_id: str) -> dict:
        """Deliver a schedule rule's Scheduled Event to its targets now; return the event."""
        rule_name = self.resource(rule_logical_id).physical_id
        rule = _events_backend(self)().event_buses["default"].rules[rule_name]
        return self._router.fire_schedule(rule)

    @property
    def delivered_events(self) -> list[dict[str, Any]]:
        """Every EventBridge delivery so far: rule name, target ARN and the input it received."""
        return list(self._router.delivered)

    @property
    def training_jobs(self) -> list[LocalTrainingJob]:
        """The training jobs started so far, with their status, folders, log paths and metrics."""
        return list(self._runner.jobs.values())

    def training_job(self, name: str) -> LocalTrainingJob:
        return self._runner.jobs[name]

    def on_training_output(self, listener: OutputListener) -> None:
        """Call `listener(job, stream, line)` for every line a training job prints."""
        self._runner.listeners.append(listener)

    def wait_for_training_job(self, name: str, timeout_s: float = 600.0) -> LocalTrainingJob:
        """Wait until a training job ends and return its record."""
        job = self._runner.jobs[name]
        if not job.wait(timeout_s):
            raise TimeoutError(
                f"Training job {name} is still {job.secondary_status} after {timeout_s:g} s; "
                f"its output is in {job.stdout_log} and {job.stderr_log}"
            )
        return job


def _send_task_failure(response: Any) -> Any:
    """SendTaskFailure with its `cause`, which moto 5.2.5 reads from the request but never passes on."""
    from moto.core.responses import EmptyResult

    response.stepfunction_backend.send_task_failure(
        response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
    )
    return EmptyResult()


def _events_backend(account: LocalAccount) -> Callable[[], Any]:
    def backend() -> Any:
        from moto.events.models import events_backends

        return events_backends[account.account_id][account.region]

    return backend


def _find_layer(function: Any, layer_arn: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[function.account_id][function.region].layers_versions_by_arn(layer_arn)
