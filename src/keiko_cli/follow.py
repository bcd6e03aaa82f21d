"""Follow a lifecycle execution: print each state as it starts and ends, then a summary."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL_INTERVAL_S = 0.5
PROGRESS_INTERVAL_S = 3.0
METRIC_LINE = re.compile(r"keiko_metric name=(?P<name>\S+) value=(?P<value>\S+) step=(?P<step>\d+)")
TERMINAL_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
TASK_FAILURE_EVENTS = {"TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}


@dataclass
class _OpenState:
    name: str
    started: float
    error: str = ""


@dataclass
class RunFollower:
    """Poll an execution's history and print its states as they enter and exit."""

    account: Any
    seen_events: int = 0
    open_states: dict[str, _OpenState] = field(default_factory=dict)
    last_progress_at: float = 0.0

    def __post_init__(self) -> None:
        self.account.on_training_output(self._on_training_output)

    @property
    def sfn(self):
        return self.account.client("stepfunctions")

    def state_machine_arn(self) -> str:
        return self.account.resource("LifecycleStateMachine").physical_id

    def wait_for_start(self, run_id: str, timeout_s: float) -> str | None:
        """Return the ARN of the execution named run_id once it exists.

        Intake records a run it rejects (a missing or invalid recipe, say) as FAILED without starting
        an execution: that record's reason is printed and None returned, as it is on timeout.
        """
        arn = self.state_machine_arn().replace(":stateMachine:", ":execution:") + f":{run_id}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.sfn.describe_execution(executionArn=arn)
                print(f"Run {run_id} started", flush=True)
                return arn
            except self.sfn.exceptions.ExecutionDoesNotExist:
                pass
            record = self.run_record(run_id)
            if record and record.get("status") == "FAILED":
                print(f"Run {run_id} was not started: {record.get('error')}: {record.get('cause')}", file=sys.stderr)
                return None
            time.sleep(POLL_INTERVAL_S)
        print(f"No run started for the upload within {timeout_s:.0f} s.", file=sys.stderr)
        return None

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        from keiko.runs import RunStore

        table = self.account.resource("RunTable").physical_id
        return RunStore(table, dynamodb=self.account.client("dynamodb")).get_run(run_id)

    def follow(self, execution_arn: str, timeout_s: float) -> dict[str, Any]:
        """Print state transitions until the execution ends; return its final description."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._print_new_events(execution_arn)
            description = self.sfn.describe_execution(executionArn=execution_arn)
            if description["status"] in TERMINAL_STATUSES:
                self._print_new_events(execution_arn)
                return description
            if time.monotonic() > deadline:
                print(f"Timed out after {timeout_s:.0f} s; the run is still {description['status']}.", flush=True)
                return description
            time.sleep(POLL_INTERVAL_S)

    def _print_new_events(self, execution_arn: str) -> None:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in events[self.seen_events :]:
            self._print_event(event)
        self.seen_events = len(events)

    def _print_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        now = time.monotonic()
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            self.open_states[name] = _OpenState(name, now)
            print(f"  ▶ {name}", flush=True)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            opened = self.open_states.pop(name, None)
            duration = f"{now - opened.started:6.1f} s" if opened else ""
            if opened and opened.error:
                print(f"  ✖ {name:<28} {duration}  {opened.error}", flush=True)
            else:
                print(f"  ✔ {name:<28} {duration}", flush=True)
        elif kind in TASK_FAILURE_EVENTS and self.open_states:
            # A failed task that a Catch handles still exits its state; remember the error for the exit line.
            details = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
            latest = list(self.open_states.values())[-1]
            latest.error = details.get("error", kind)
        elif kind in {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}:
            details = event.get("executionFailedEventDetails", {})
            message = _cause_message(details.get("cause", ""))
            print(f"  ✖ {kind}: {details.get('error', '')} {message}".rstrip(), flush=True)

    def _on_training_output(self, job: Any, stream: str, line: str) -> None:
        """Print a training job's latest metrics at most every few seconds, as a progress line."""
        match = METRIC_LINE.search(line)
        if match is None or time.monotonic() - self.last_progress_at < PROGRESS_INTERVAL_S:
            return
        self.last_progress_at = time.monotonic()
        print(f"    … {job.name}: step {match['step']}: {match['name']} {float(match['value']):.4g}", flush=True)


def print_summary(description: dict[str, Any], artifacts: Path) -> None:
    """Print the run id, status, metrics before and after, the model package and where the files are."""
    output = json.loads(description.get("output") or "{}")
    run_input = json.loads(description.get("input") or "{}")
    dataset = output.get("dataset") or {}
    plan = output.get("plan") or {}
    rows = [
        ("Run", description["name"]),
        ("Status", description["status"]),
        ("Dataset", f"s3://{run_input.get('bucket', '')}/{run_input.get('dataset_key', '')}"),
    ]
    if dataset:
        rows.append(("Records", f"{dataset.get('train_records')} train, {dataset.get('eval_records')} evaluation"))
    report = artifacts / "validation" / "report.md"
    if report.is_file():
        rows.append(("Report", report))
    if plan:
        rows.append(("Plan", f"{plan['instance_count']} x {plan['instance_type']}, about {plan['estimated_usd']} USD"))
    for label, key in (("SFT", "evaluation"), ("DPO", "preference_evaluation")):
        evaluation = output.get(key)
        if evaluation:
            rows.append((f"{label} loss", _base_to_candidate(evaluation, "eval_loss", label)))
            rows.append((f"{label} ppl", _base_to_candidate(evaluation, "perplexity", label)))
    registration = output.get("registration") or {}
    if registration:
        rows.append(("Package", registration.get("model_package_arn")))
    if description["status"] != "SUCCEEDED":
        rows.append(("Error", description.get("error", "")))
        rows.append(("Cause", _cause_message(description.get("cause", ""))))
    rows.append(("Artifacts", f"{artifacts} (the emulated account ends with this command)"))

    print(flush=True)
    for label, value in rows:
        print(f"{label:<10} {value}", flush=True)


def _base_to_candidate(evaluation: dict[str, Any], metric: str, label: str) -> str:
    base, candidate = evaluation.get(f"base_{metric}"), evaluation.get(f"candidate_{metric}")
    if base is None or candidate is None:
        return "not measured"
    return f"{base:.4f} base model -> {candidate:.4f} after {label}"


def _cause_message(cause: str) -> str:
    """Return the errorMessage of a Lambda error cause, or the cause itself."""
    try:
        return json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        return cause
