"""Resume the waiting state of a SageMaker job when EventBridge reports the job's terminal status.

SageMaker sends "Training Job State Change" on every status and secondary-status change, and
EventBridge may deliver an event twice, so this ignores non-terminal states, jobs without a stored
token (not started by keiko, or already expired) and repeats of a status already handled.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from keiko.aws import client, error_code
from keiko.observability import logger, metrics
from keiko.payloads import JobResult
from keiko.runs import RunStore

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# Step Functions returns these when the execution no longer waits on the token (it ended or timed out).
GONE_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
MAX_CAUSE_LENGTH = 32768  # SendTaskFailure's limit on `cause`


class TokenGone(Exception):
    """Step Functions no longer waits on the task token: the execution ended or the wait timed out."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TrainingJobDetail(BaseModel):
    """The fields of a "SageMaker Training Job State Change" event's detail that keiko reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    TrainingJobName: str
    TrainingJobStatus: str
    SecondaryStatus: str | None = None
    FailureReason: str | None = None
    ModelArtifacts: dict[str, Any] = Field(default_factory=dict)
    FinalMetricDataList: list[dict[str, Any]] = Field(default_factory=list)
    TrainingTimeInSeconds: int | None = None
    BillableTimeInSeconds: int | None = None


def job_result(detail: TrainingJobDetail) -> JobResult:
    metrics_by_name = {
        item["MetricName"]: float(item["Value"])
        for item in detail.FinalMetricDataList
        if "MetricName" in item and "Value" in item
    }
    return JobResult(
        job_name=detail.TrainingJobName,
        status=detail.TrainingJobStatus,
        model_artifacts=detail.ModelArtifacts.get("S3ModelArtifacts", ""),
        training_seconds=detail.TrainingTimeInSeconds,
        billable_seconds=detail.BillableTimeInSeconds,
        final_metrics=metrics_by_name,
    )


class JobCallback:
    def __init__(self, store: RunStore, sfn: Any = None) -> None:
        self.store = store
        self.sfn = sfn or client("stepfunctions")

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send task success or failure for a terminal job status; return what was done."""
        detail = TrainingJobDetail.model_validate(event.get("detail") or {})
        job_name, status = detail.TrainingJobName, detail.TrainingJobStatus
        logger.append_keys(job_name=job_name)

        if status not in TERMINAL_STATUSES:
            return {"job_name": job_name, "action": "ignored", "reason": f"status {status} is not terminal"}
        token_item = self.store.get_task_token(job_name)
        if token_item is None:
            logger.info("no task token for this job; not started by keiko or expired")
            return {"job_name": job_name, "action": "ignored", "reason": "no task token"}
        logger.append_keys(run_id=token_item["run_id"])
        if not self.store.claim_outcome(job_name, status):
            logger.info("repeated terminal event ignored", extra={"status": status})
            return {"job_name": job_name, "action": "ignored", "reason": "already handled"}

        if status != "Completed":
            # Kept on the run record too, because SendTaskFailure's cause does not reach the Catch in
            # every engine (moto 5.2.5 drops it), and MarkRunFailed falls back to this copy.
            reason = detail.FailureReason or f"ended as {status}"
            self.store.update_run(token_item["run_id"], failed_job=job_name, job_failure_reason=reason)
        try:
            action = self.send_outcome(token_item["task_token"], detail)
        except TokenGone as gone:
            return {"job_name": job_name, "action": "ignored", "reason": gone.code}
        except ClientError:
            self.store.release_outcome(job_name)
            raise
        metrics.add_metric(name=f"TrainingJobs{status}", unit="Count", value=1)
        return {"job_name": job_name, "action": action, "status": status}

    def send_outcome(self, task_token: str, detail: TrainingJobDetail) -> str:
        """Send the job's outcome on the token; return the action, or raise TokenGone when no state waits."""
        try:
            return self._send(task_token, detail)
        except ClientError as exc:
            if error_code(exc) not in GONE_TOKEN_CODES:
                raise
            logger.warning("the execution no longer waits for this job", extra={"error": error_code(exc)})
            raise TokenGone(error_code(exc)) from exc

    def _send(self, task_token: str, detail: TrainingJobDetail) -> str:
        if detail.TrainingJobStatus == "Completed":
            output = job_result(detail).model_dump_json()
            self.sfn.send_task_success(taskToken=task_token, output=output)
            logger.info("job completed; state resumed")
            return "task_success"

        error = "TrainingJobFailed" if detail.TrainingJobStatus == "Failed" else "TrainingJobStopped"
        cause = detail.FailureReason or f"training job {detail.TrainingJobName} ended as {detail.TrainingJobStatus}"
        message = f"{detail.TrainingJobName}: {cause}"[: MAX_CAUSE_LENGTH - 100]
        cause = json.dumps({"errorMessage": message})
        self.sfn.send_task_failure(taskToken=task_token, error=error, cause=cause)
        logger.warning("job did not complete; state failed", extra={"error": error})
        return "task_failure"
