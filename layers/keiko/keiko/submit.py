"""Submit a SageMaker training job for a waiting state and store the state's task token.

The token is stored (keyed by job name) before the job is created, so the state-change event of even
the fastest job finds it. The run's copy of the training code is pinned under
`runs/<run-id>/code/sourcedir.tar.gz`, so a later deploy of new code does not change a running run.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from keiko.aws import client, error_code, raise_if_transient
from keiko.callback import TERMINAL_STATUSES, JobCallback, TokenGone, TrainingJobDetail
from keiko.errors import TrainingJobSubmissionFailed
from keiko.jobs import build_training_job, stage_spec
from keiko.names import make_job_name
from keiko.observability import logger, metrics
from keiko.payloads import StageInput
from keiko.runs import RunStore
from keiko.settings import JobSettings


class SubmitInput(BaseModel):
    """The payload a `.waitForTaskToken` state sends to SubmitTrainingJob."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_token: Annotated[str, Field(min_length=1)]
    stage: str
    attempt: Annotated[int, Field(ge=0, description="The state's retry count ($$.State.RetryCount).")] = 0
    run: StageInput

    @property
    def run_id(self) -> str:
        return self.run.run_id


class JobSubmitter:
    def __init__(
        self,
        settings: JobSettings,
        sagemaker: Any = None,
        s3: Any = None,
        store: RunStore | None = None,
        sfn: Any = None,
    ) -> None:
        self.settings = settings
        self.sagemaker = sagemaker or client("sagemaker")
        self.s3 = s3 or client("s3")
        self.store = store or RunStore(settings.run_table)
        self.sfn = sfn or client("stepfunctions")

    def submit(self, request: SubmitInput) -> dict[str, Any]:
        """Create the stage's job; TrainingJobCallback resumes the waiting state with the stored token."""
        run = request.run
        if run.plan is None:
            raise TrainingJobSubmissionFailed("cannot submit a job before PlanTraining: the run state has no plan")
        adopted = self._adopt_earlier_job(request)
        if adopted is not None:
            return adopted
        job_name = make_job_name(run.run_id, request.stage, request.attempt + 1)
        spec = stage_spec(request.stage, run)
        code_uri = self._pin_training_code(run)
        job_request = build_training_job(job_name, spec, run, run.plan, self.settings, code_uri)

        self.store.put_task_token(
            job_name, request.task_token, run.run_id, request.stage, self.settings.task_token_ttl_days
        )
        try:
            self.sagemaker.create_training_job(**job_request)
        except ClientError as exc:
            raise_if_transient(exc, f"CreateTrainingJob {job_name}")
            raise TrainingJobSubmissionFailed(
                f"SageMaker rejected training job {job_name} ({error_code(exc)}): "
                f"{exc.response.get('Error', {}).get('Message', exc)}"
            ) from exc

        metrics.add_metric(name="TrainingJobsSubmitted", unit="Count", value=1)
        logger.info(
            "training job submitted",
            extra={
                "job_name": job_name,
                "stage": request.stage,
                "instance_type": job_request["ResourceConfig"]["InstanceType"],
            },
        )
        return {"job_name": job_name, "stage": request.stage}

    def _adopt_earlier_job(self, request: SubmitInput) -> dict[str, Any] | None:
        """Hand an earlier attempt's job to this attempt's token instead of starting a second job.

        The state retries only on Lambda service errors and transient errors, so an earlier attempt's
        job exists only when its CreateTrainingJob succeeded and the invocation failed afterwards. The
        new token is stored first, so the job's state-change event resumes this attempt. A job that
        already ended is reported here, because its event went to the earlier, void token.
        """
        run = request.run
        for attempt in range(request.attempt, 0, -1):
            job_name = make_job_name(run.run_id, request.stage, attempt)
            job = self._describe_job(job_name)
            if job is None:
                continue

            self.store.put_task_token(
                job_name, request.task_token, run.run_id, request.stage, self.settings.task_token_ttl_days
            )
            logger.warning(
                "an earlier attempt created this job; the retry waits for it",
                extra={"job_name": job_name, "stage": request.stage, "status": job["TrainingJobStatus"]},
            )
            if job["TrainingJobStatus"] in TERMINAL_STATUSES:
                detail = TrainingJobDetail.model_validate(job)
                with contextlib.suppress(TokenGone):
                    JobCallback(self.store, self.sfn).send_outcome(request.task_token, detail)
            return {"job_name": job_name, "stage": request.stage, "adopted": True}
        return None

    def _describe_job(self, job_name: str) -> dict[str, Any] | None:
        try:
            return self.sagemaker.describe_training_job(TrainingJobName=job_name)
        except ClientError as exc:
            if error_code(exc) in {"ValidationException", "ResourceNotFound"}:
                return None
            raise_if_transient(exc, f"DescribeTrainingJob {job_name}")
            raise

    def _pin_training_code(self, run: StageInput) -> str:
        bucket = self.settings.data_bucket
        target_key = f"{run.run_prefix}code/sourcedir.tar.gz"
        try:
            self.s3.copy_object(
                Bucket=run.bucket,
                Key=target_key,
                CopySource={"Bucket": bucket, "Key": self.settings.training_code_key},
            )
        except ClientError as exc:
            raise_if_transient(exc, "CopyObject of the training code")
            raise TrainingJobSubmissionFailed(
                f"training code s3://{bucket}/{self.settings.training_code_key} could not be copied "
                f"({error_code(exc)}): upload it with keiko.packaging.build_training_sourcedir() "
                "or check the TrainingCodeKey parameter"
            ) from exc
        return f"s3://{run.bucket}/{target_key}"
