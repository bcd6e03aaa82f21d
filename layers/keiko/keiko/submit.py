"""Submit a SageMaker training job for a waiting state and store the state's task token.

The token is stored (keyed by job name) before the job is created, so the state-change event of even
the fastest job finds it. The run's copy of the training code is pinned under
`runs/<run-id>/code/sourcedir.tar.gz`, so a later deploy of new code does not change a running run.
"""

from __future__ import annotations

from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from keiko.aws import client, error_code, raise_if_transient
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
        self, settings: JobSettings, sagemaker: Any = None, s3: Any = None, store: RunStore | None = None
    ) -> None:
        self.settings = settings
        self.sagemaker = sagemaker or client("sagemaker")
        self.s3 = s3 or client("s3")
        self.store = store or RunStore(settings.run_table)

    def submit(self, request: SubmitInput) -> dict[str, Any]:
        """Create the stage's job; TrainingJobCallback resumes the waiting state with the stored token."""
        run = request.run
        if run.plan is None:
            raise TrainingJobSubmissionFailed("cannot submit a job before PlanTraining: the run state has no plan")
        # NOTE: when CreateTrainingJob succeeds but the invocation then fails (a Lambda service error or
        # timeout), the state's retry submits under the next attempt's name and a second job runs.
        # Reusing the first job needs a look-up of earlier attempts before creating; not built yet.
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
