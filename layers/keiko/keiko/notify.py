"""Lifecycle news: the run record's final status, an SNS message and an EventBridge event.

Events use source `keiko` and the detail types `Run Started`, `Run Succeeded` and `Run Failed`, so
rules can route them. The SNS message is the human-readable form of the same news.
"""

from __future__ import annotations

import json
from typing import Any

from keiko.aws import client
from keiko.observability import logger, metrics
from keiko.payloads import Failure, StageInput
from keiko.runs import RunStatus, RunStore
from keiko.settings import NotifySettings

EVENT_SOURCE = "keiko"
SNS_SUBJECT_LIMIT = 100


class Notifier:
    """Publish lifecycle news to SNS and EventBridge."""

    def __init__(self, settings: NotifySettings, sns: Any | None = None, events: Any | None = None) -> None:
        self.settings = settings
        self.sns = sns or client("sns")
        self.events = events or client("events")

    def publish(self, detail_type: str, run_id: str, detail: dict[str, Any], message: str) -> None:
        """Send `detail` as an EventBridge event and `message` to the SNS topic."""
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps({"run_id": run_id, **detail}, default=str),
            "EventBusName": self.settings.event_bus_name,
        }
        response = self.events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            logger.error("EventBridge rejected the lifecycle event", extra={"entries": response.get("Entries")})
        self.sns.publish(
            TopicArn=self.settings.topic_arn,
            Subject=f"keiko: {detail_type}: {run_id}"[:SNS_SUBJECT_LIMIT],
            Message=message,
        )


def failure_message(failure: Failure | None) -> tuple[str, str]:
    """Return (error name, readable cause) from a Catch result, unwrapping a Lambda error's JSON cause."""
    if failure is None:
        return "Unknown", "the run failed without an error description"
    cause = failure.Cause or ""
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        cause = str(parsed["errorMessage"])
    return failure.Error, cause or failure.Error


def mark_run_failed(stage: StageInput, store: RunStore, notifier: Notifier) -> dict[str, Any]:
    """Record the run as FAILED with its reason, then publish `Run Failed`."""
    error, cause = failure_message(stage.failure)
    if cause == error:
        record = store.get_run(stage.run_id) or {}
        if record.get("job_failure_reason"):
            cause = f"{record.get('failed_job')}: {record['job_failure_reason']}"
    if stage.dataset and stage.dataset.report_uri and error == "DatasetInvalid":
        cause = f"{cause} Report: {stage.dataset.report_markdown_uri or stage.dataset.report_uri}"

    store.finish_run(stage.run_id, RunStatus.FAILED, error=error, cause=cause)
    notifier.publish(
        "Run Failed",
        stage.run_id,
        {"error": error, "cause": cause, "dataset_uri": stage.dataset_uri},
        f"Run {stage.run_id} failed ({error}).\n\n{cause}\n\nDataset: {stage.dataset_uri}",
    )
    metrics.add_metric(name="RunsFailed", unit="Count", value=1)
    logger.info("run marked failed", extra={"error": error})
    return {"run_id": stage.run_id, "status": RunStatus.FAILED.value, "error": error, "cause": cause}


def notify_run_succeeded(stage: StageInput, store: RunStore, notifier: Notifier) -> dict[str, Any]:
    """Record the run as SUCCEEDED with the registered package, then publish `Run Succeeded`."""
    registration = stage.registration or {}
    evaluation = stage.preference_evaluation or stage.evaluation
    summary = {
        "dataset_uri": stage.dataset_uri,
        "model_package_arn": registration.get("model_package_arn"),
        "model_artifacts": registration.get("model_artifacts"),
        "candidate_eval_loss": evaluation.candidate_eval_loss if evaluation else None,
        "base_eval_loss": evaluation.base_eval_loss if evaluation else None,
    }
    store.finish_run(stage.run_id, RunStatus.SUCCEEDED, **summary)
    notifier.publish(
        "Run Succeeded",
        stage.run_id,
        summary,
        "\n".join([f"Run {stage.run_id} succeeded."] + [f"{key}: {value}" for key, value in summary.items()]),
    )
    metrics.add_metric(name="RunsSucceeded", unit="Count", value=1)
    return {"run_id": stage.run_id, "status": RunStatus.SUCCEEDED.value, **summary}
