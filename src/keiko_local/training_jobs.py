"""SageMaker training jobs as local processes, with the status changes and events SageMaker sends.

moto completes a training job the moment it is created and sends no events. The emulated account
wraps CreateTrainingJob: the job stays InProgress while a thread per job downloads its channels and
code from the emulated S3, runs `sagemaker_program` with this Python under the training toolkit
contract (see training_contract.py), uploads model.tar.gz and output.tar.gz, and sets the final
status. Each status change that ends a phase sends "SageMaker Training Job State Change" through the
emulated EventBridge: InProgress when the job starts, then Completed, Failed or Stopped.

The job's TrainingImage is not run (there is no Docker here); the script runs with the packages of
the Python environment that runs the emulated account.
"""

from __future__ import annotations

import calendar
import collections
import copy
import datetime
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError

from . import patches
from .eventbridge import EventRouter, make_event
from .s3_transfer import download_prefix, split_s3_uri, tar_folder, upload_folder
from .training_contract import (
    OFFLINE_ENVIRONMENT,
    JobLayout,
    MetricParser,
    command_arguments,
    decode_hyperparameters,
    entry_point_command,
    failure_reason,
    toolkit_environment,
    user_hyperparameters,
    write_config_files,
)

LOG = logging.getLogger(__name__)

CREATE_TRAINING_JOB = "moto.sagemaker.responses:SageMakerResponse.create_training_job"
STOP_TRAINING_JOB = "moto.sagemaker.responses:SageMakerResponse.stop_training_job"

DEFAULT_MAX_RUNTIME_S = 86400
STDERR_TAIL_LINES = 20

# Listener called with (job, stream name "stdout" or "stderr", line without its newline).
OutputListener = Callable[["LocalTrainingJob", str, str], None]


class JobSetupError(Exception):
    """The job's configuration or inputs keep it from starting; SageMaker reports a ClientError."""


def _utc_now() -> datetime.datetime:
    # moto stores naive datetimes in UTC.
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _epoch_ms(moment: datetime.datetime | None) -> int | None:
    if moment is None:
        return None
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


@dataclass
class LocalTrainingJob:
    """A training job of the emulated account as it runs here: status, folders, logs and metrics."""

    name: str
    arn: str
    layout: JobLayout
    status: str = "InProgress"
    secondary_status: str = "Starting"
    failure_reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    last_output_line: str = ""
    exit_code: int | None = None
    stop_reason: str | None = None
    _stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def work_dir(self) -> Path:
        return self.layout.root

    @property
    def stdout_log(self) -> Path:
        return self.layout.stdout_log

    @property
    def stderr_log(self) -> Path:
        return self.layout.stderr_log

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Wait until the job ends; return whether it did within the timeout."""
        return self._finished.wait(timeout_s)


def count_gpus() -> int:
    """Return the number of NVIDIA GPUs `nvidia-smi -L` lists, or 0 when there is none."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


class TrainingJobRunner:
    """Runs the training jobs of one emulated account, one thread and one process per job."""

    def __init__(
        self,
        work_root: Path,
        base_environment: Mapping[str, str],
        client: Callable[[str], Any],
        router: EventRouter,
        account_id: str,
        region: str,
        stop_grace_s: float = 10.0,
    ):
        self._work_root = work_root
        self._base_environment = dict(base_environment)
        self._client = client
        self._router = router
        self._account_id = account_id
        self._region = region
        self._stop_grace_s = stop_grace_s
        self._num_gpus: int | None = None
        self._threads: list[threading.Thread] = []
        self.jobs: dict[str, LocalTrainingJob] = {}
        self.listeners: list[OutputListener] = []
        self._create_original = patches.original(CREATE_TRAINING_JOB)

    def replacements(self) -> dict[str, Any]:
        runner = self

        def create_training_job(handler: Any) -> ActionResult:
            return runner._create(handler)

        def stop_training_job(handler: Any) -> ActionResult:
            runner.stop(handler._get_param("TrainingJobName"))
            return ActionResult({})

        return {CREATE_TRAINING_JOB: create_training_job, STOP_TRAINING_JOB: stop_training_job}

    # -- API actions -------------------------------------------------------------------------

    def _create(self, handler: Any) -> ActionResult:
        name = handler._get_param("TrainingJobName")
        backend = handler.sagemaker_backend
        if name in backend.training_jobs:
            arn = backend.training_jobs[name].arn
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job "
                f"with this name already exists ({arn})"
            )
        # moto overwrites the request's MetricDefinitions with its own; keep the caller's.
        algorithm = copy.deepcopy(handler._get_param("AlgorithmSpecification") or {})
        environment = handler._get_param("Environment") or {}

        result = self._create_original(handler)

        fake = backend.training_jobs[name]
        fake.algorithm_specification = algorithm
        fake.environment = environment or None
        self._start(fake, environment)
        return result

    def stop(self, name: str) -> None:
        """Ask a running job to stop, as StopTrainingJob does: SIGTERM, then SIGKILL after a grace period."""
        job = self.jobs.get(name)
        if job is None:
            arn = f"arn:aws:sagemaker:{self._region}:{self._account_id}:training-job/{name}"
            raise ValidationError(message=f"Could not find training job '{arn}'.")
        if job.done or job.status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the training job is in status {job.status}."
            )
        job.stop_reason = "Stopped"
        job._stop_requested.set()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop every running job and wait for their threads."""
        for job in self.jobs.values():
            if not job.done:
                job.stop_reason = job.stop_reason or "Stopped"
                job._stop_requested.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- one job -----------------------------------------------------------------------------

    def _start(self, fake: Any, environment: Mapping[str, str]) -> None:
        layout = JobLayout(self._work_root / fake.training_job_name)
        if layout.root.exists():
            shutil.rmtree(layout.root)
        layout.create()
        job = LocalTrainingJob(name=fake.training_job_name, arn=fake.arn, layout=layout)
        self.jobs[job.name] = job

        now = _utc_now()
        fake.training_job_status = "InProgress"
        fake.secondary_status = "Starting"
        fake.secondary_status_transitions = []
        fake.final_metric_data_list = []
        fake.failure_reason = None
        fake.model_artifacts = None  # set once model.tar.gz is uploaded
        fake.training_start_time = now
        fake.training_end_time = None
        fake.last_modified_time = now
        self._transition(fake, job, "InProgress", "Starting", "Launching a local process for the training job")
        self._publish(fake)

        thread = threading.Thread(
            target=self._run, args=(fake, job, environment), name=f"training-{job.name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _run(self, fake: Any, job: LocalTrainingJob, environment: Mapping[str, str]) -> None:
        try:
            command, process_environment = self._prepare(fake, job, environment)
            self._transition(fake, job, "InProgress", "Training", "Training in progress")
            self._execute(fake, job, command, process_environment)
        except JobSetupError as error:
            self._finish(fake, job, "Failed", "Failed", failure=f"ClientError: {error}")
        except Exception as error:  # noqa: BLE001 - any fault here must end the job, not the thread silently
            LOG.exception("Training job %s failed in the emulated account", job.name)
            self._finish(fake, job, "Failed", "Failed", failure=f"InternalServerError: {type(error).__name__}: {error}")
        finally:
            job._finished.set()

    def _prepare(self, fake: Any, job: LocalTrainingJob, environment: Mapping[str, str]) -> tuple[list[str], dict]:
        layout = job.layout
        self._transition(fake, job, "InProgress", "Downloading", "Downloading input data")
        hyperparameters = decode_hyperparameters(fake.hyper_parameters)
        program = hyperparameters.get("sagemaker_program")
        submit_directory = hyperparameters.get("sagemaker_submit_directory")
        if not program or not submit_directory:
            raise JobSetupError(
                "The emulated account runs script-mode jobs only: set the hyperparameters sagemaker_program "
                "and sagemaker_submit_directory (the TrainingImage itself is not run)"
            )

        s3 = self._client("s3")
        self._download_code(s3, str(submit_directory), layout)
        if not (layout.code_dir / str(program)).is_file():
            raise JobSetupError(f"sagemaker_program {program} is not in {submit_directory}")
        channels = self._download_channels(s3, fake.input_data_config or [], layout)
        checkpoint_uri = (fake.checkpoint_config or {}).get("S3Uri")
        if checkpoint_uri:
            # The checkpoint URI names a folder: s3://b/ckpt contains s3://b/ckpt/step.txt, not s3://b/ckpt-old/...
            download_prefix(s3, checkpoint_uri.rstrip("/") + "/", layout.checkpoint_dir)

        script_hyperparameters = user_hyperparameters(hyperparameters)
        write_config_files(
            layout, fake.hyper_parameters or {}, fake.input_data_config or [], fake.resource_config or {}
        )
        if self._num_gpus is None:
            self._num_gpus = count_gpus()
        process_environment = {
            **self._base_environment,
            **OFFLINE_ENVIRONMENT,
            **toolkit_environment(
                layout,
                job.name,
                script_hyperparameters,
                channels,
                str(program),
                str(submit_directory),
                fake.resource_config or {},
                fake.input_data_config or [],
                self._num_gpus,
            ),
            **dict(environment),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(layout.code_dir), self._base_environment.get("PYTHONPATH")])
            ),
        }
        command = entry_point_command(sys.executable, str(program), command_arguments(script_hyperparameters))
        return command, process_environment

    def _download_code(self, s3: Any, submit_directory: str, layout: JobLayout) -> None:
        bucket, key = split_s3_uri(submit_directory)
        archive = layout.root / "sourcedir.tar.gz"
        try:
            s3.download_file(bucket, key, str(archive))
        except Exception as error:  # botocore raises ClientError; a bad URI raises ValueError
            raise JobSetupError(f"Cannot download sagemaker_submit_directory {submit_directory}: {error}") from error
        with tarfile.open(archive) as bundle:
            bundle.extractall(layout.code_dir, filter="data")

    def _download_channels(self, s3: Any, input_data_config: list[Mapping[str, Any]], layout: JobLayout) -> list[str]:
        channels = []
        for channel in input_data_config:
            name = channel["ChannelName"]
            source = channel.get("DataSource", {}).get("S3DataSource")
            if source is None:
                raise JobSetupError(f"Channel {name}: only S3DataSource channels run in the emulated account")
            if source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise JobSetupError(f"Channel {name}: S3DataType {source['S3DataType']} is not supported locally")
            if channel.get("InputMode", "File") != "File":
                raise JobSetupError(f"Channel {name}: InputMode {channel['InputMode']} is not supported locally")
            if download_prefix(s3, source["S3Uri"], layout.channel_dir(name)) == 0:
                raise JobSetupError(f"Channel {name}: no S3 objects found under S3 URL {source['S3Uri']}")
            channels.append(name)
        return channels

    def _execute(self, fake: Any, job: LocalTrainingJob, command: list[str], environment: dict[str, str]) -> None:
        layout = job.layout
        metrics = MetricParser(fake.algorithm_specification.get("MetricDefinitions"))
        stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

        process = subprocess.Popen(
            command,
            cwd=layout.code_dir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group, so a stop reaches the script's children too
        )
        readers = [
            threading.Thread(target=self._read, args=(job, "stdout", process.stdout, layout.stdout_log, metrics, None)),
            threading.Thread(
                target=self._read, args=(job, "stderr", process.stderr, layout.stderr_log, metrics, stderr_tail)
            ),
        ]
        for reader in readers:
            reader.start()

        max_runtime = (fake.stopping_condition or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_S)
        self._supervise(job, process, float(max_runtime))
        for reader in readers:
            reader.join()
        job.exit_code = process.returncode

        fake.final_metric_data_list = [
            {"MetricName": name, "Value": value, "Timestamp": moment}
            for name, (value, moment) in metrics.latest.items()
        ]
        checkpoint_uri = (fake.checkpoint_config or {}).get("S3Uri")
        if checkpoint_uri:
            upload_folder(self._client("s3"), layout.checkpoint_dir, checkpoint_uri)

        if job.stop_reason is not None:
            self._upload_outputs(fake, job, model_required=False)
            secondary = "MaxRuntimeExceeded" if job.stop_reason == "MaxRuntimeExceeded" else "Stopped"
            self._finish(fake, job, "Stopped", secondary)
        elif process.returncode == 0:
            self._transition(fake, job, "InProgress", "Uploading", "Uploading generated training model")
            self._upload_outputs(fake, job, model_required=True)
            self._finish(fake, job, "Completed", "Completed")
        else:
            reason = failure_reason(layout, process.returncode, list(stderr_tail), command)
            self._finish(fake, job, "Failed", "Failed", failure=reason)

    def _supervise(self, job: LocalTrainingJob, process: subprocess.Popen, max_runtime_s: float) -> None:
        deadline = time.monotonic() + max_runtime_s
        while process.poll() is None:
            if time.monotonic() >= deadline and job.stop_reason is None:
                job.stop_reason = "MaxRuntimeExceeded"
                job._stop_requested.set()
            if job._stop_requested.is_set():
                self._terminate(process)
                return
            job._stop_requested.wait(0.1)

    def _terminate(self, process: subprocess.Popen) -> None:
        # SageMaker sends SIGTERM and waits 120 s; locally the grace period is stop_grace_s.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(self._stop_grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()

    def _read(self, job, stream_name, stream, log_path: Path, metrics: MetricParser, tail) -> None:
        with log_path.open("a", encoding="utf-8") as log:
            for raw_line in stream:
                line = raw_line.rstrip("\n")
                log.write(raw_line)
                log.flush()
                metrics.feed(line)
                job.metrics = {name: value for name, (value, _) in metrics.latest.items()}
                job.last_output_line = line
                if tail is not None:
                    tail.append(line)
                for listener in list(self.listeners):
                    try:
                        listener(job, stream_name, line)
                    except Exception:  # noqa: BLE001 - a broken progress display must not break the job
                        LOG.exception("Training output listener failed on job %s", job.name)

    def _upload_outputs(self, fake: Any, job: LocalTrainingJob, model_required: bool) -> None:
        layout = job.layout
        s3 = self._client("s3")
        bucket, prefix = split_s3_uri(fake.output_data_config["S3OutputPath"])
        base = f"{prefix.rstrip('/')}/{job.name}/output" if prefix.strip("/") else f"{job.name}/output"
        if model_required or any(layout.model_dir.iterdir()):
            s3.put_object(Bucket=bucket, Key=f"{base}/model.tar.gz", Body=tar_folder(layout.model_dir))
            fake.model_artifacts = {"S3ModelArtifacts": f"s3://{bucket}/{base}/model.tar.gz"}
        if any(layout.output_data_dir.iterdir()):
            s3.put_object(Bucket=bucket, Key=f"{base}/output.tar.gz", Body=tar_folder(layout.output_data_dir))

    # -- status and events -------------------------------------------------------------------

    def _transition(self, fake: Any, job: LocalTrainingJob, status: str, secondary: str, message: str) -> None:
        now = _utc_now()
        transitions = fake.secondary_status_transitions
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        fake.training_job_status = job.status = status
        fake.secondary_status = job.secondary_status = secondary
        fake.last_modified_time = now

    def _finish(
        self, fake: Any, job: LocalTrainingJob, status: str, secondary: str, failure: str | None = None
    ) -> None:
        messages = {
            "Completed": "Training job completed",
            "Failed": failure or "Training job failed",
            "Stopped": "Training job stopped",
            "MaxRuntimeExceeded": "Training job stopped because it exceeded MaxRuntimeInSeconds",
        }
        self._transition(fake, job, status, secondary, messages[secondary])
        fake.secondary_status_transitions[-1]["EndTime"] = fake.last_modified_time
        fake.training_end_time = fake.last_modified_time
        seconds = max(1, int((fake.training_end_time - fake.training_start_time).total_seconds()))
        fake.training_time_in_seconds = fake.billable_time_in_seconds = seconds
        fake.failure_reason = job.failure_reason = failure
        self._publish(fake)

    def _publish(self, fake: Any) -> None:
        event = make_event(
            "aws.sagemaker",
            "SageMaker Training Job State Change",
            state_change_detail(fake),
            [fake.arn],
            self._account_id,
            self._region,
        )
        self._router.publish(event)


def state_change_detail(fake: Any) -> dict[str, Any]:
    """Return the detail of a "SageMaker Training Job State Change" event, times in epoch milliseconds."""
    detail: dict[str, Any] = {
        "TrainingJobName": fake.training_job_name,
        "TrainingJobArn": fake.arn,
        "TrainingJobStatus": fake.training_job_status,
        "SecondaryStatus": fake.secondary_status,
        "HyperParameters": dict(fake.hyper_parameters or {}),
        "AlgorithmSpecification": dict(fake.algorithm_specification or {}),
        "RoleArn": fake.role_arn,
        "InputDataConfig": list(fake.input_data_config or []),
        "OutputDataConfig": dict(fake.output_data_config or {}),
        "ResourceConfig": dict(fake.resource_config or {}),
        "VpcConfig": dict(fake.vpc_config or {}),
        "StoppingCondition": dict(fake.stopping_condition or {}),
        "CreationTime": _epoch_ms(fake.creation_time),
        "TrainingStartTime": _epoch_ms(fake.training_start_time),
        "LastModifiedTime": _epoch_ms(fake.last_modified_time),
        "SecondaryStatusTransitions": [
            {key: (_epoch_ms(value) if key.endswith("Time") else value) for key, value in entry.items()}
            for entry in fake.secondary_status_transitions
        ],
        "Tags": {tag["Key"]: tag["Value"] for tag in fake.tags or []},
    }
    if fake.training_end_time is not None:
        detail["TrainingEndTime"] = _epoch_ms(fake.training_end_time)
    if fake.training_job_status in ("Completed", "Stopped") and fake.model_artifacts:
        detail["ModelArtifacts"] = dict(fake.model_artifacts)
    if fake.failure_reason:
        detail["FailureReason"] = fake.failure_reason
    if fake.final_metric_data_list:
        detail["FinalMetricDataList"] = [
            {**entry, "Timestamp": _epoch_ms(entry["Timestamp"])} for entry in fake.final_metric_data_list
        ]
    if fake.checkpoint_config:
        detail["CheckpointConfig"] = dict(fake.checkpoint_config)
    return detail
