"""The SageMaker training toolkit contract, reproduced for a job that runs as a local process.

What a script-mode job gets in a SageMaker training container: hyperparameters as `--key value`
arguments, `SM_*` environment variables, channels under `input/data/<channel>`, the model directory
that becomes model.tar.gz, and the failure file whose text becomes `FailureReason`. Paths are
folders of the job's work directory instead of /opt/ml.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Hyperparameters the SageMaker Python SDK sets for the toolkit itself; the script does not receive them.
TOOLKIT_HYPERPARAMETERS = frozenset(
    {
        "sagemaker_program",
        "sagemaker_submit_directory",
        "sagemaker_container_log_level",
        "sagemaker_job_name",
        "sagemaker_region",
        "sagemaker_enable_cloudwatch_metrics",
        "sagemaker_distributed_dataparallel_enabled",
    }
)

# Nothing a local job runs may reach a model hub or AWS: hubs offline, AWS calls sent to a loopback
# port where nothing listens (the job runs in its own process, outside the emulated account).
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "PYTHONUNBUFFERED": "1",
}

CURRENT_HOST = "algo-1"
MAX_FAILURE_REASON = 1024  # DescribeTrainingJob's FailureReason is at most 1024 characters


@dataclass(frozen=True)
class JobLayout:
    """The folders of one local training job (the /opt/ml tree of a SageMaker container)."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    def channel_dir(self, channel: str) -> Path:
        return self.root / "input" / "data" / channel

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def stdout_log(self) -> Path:
        return self.root / "logs" / "stdout.log"

    @property
    def stderr_log(self) -> Path:
        return self.root / "logs" / "stderr.log"

    def create(self) -> None:
        for folder in (self.config_dir, self.code_dir, self.model_dir, self.output_data_dir, self.checkpoint_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.stdout_log.parent.mkdir(parents=True, exist_ok=True)


def decode_hyperparameters(raw: Mapping[str, str] | None) -> dict[str, Any]:
    """Decode hyperparameter values as the toolkit does: JSON where it parses, the raw string otherwise."""
    decoded = {}
    for key, value in (raw or {}).items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            decoded[key] = value
    return decoded


def user_hyperparameters(decoded: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in decoded.items() if key not in TOOLKIT_HYPERPARAMETERS}


def command_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """Return `--key value` pairs in key order, with lists and dicts as JSON."""
    arguments = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        arguments.extend([f"--{key}", text])
    return arguments


def entry_point_command(python: str, program: str, arguments: Sequence[str]) -> list[str]:
    if program.endswith(".py"):
        return [python, program, *arguments]
    if program.endswith(".sh"):
        return ["/bin/sh", program, *arguments]
    return [f"./{program}", *arguments]


def channel_variable(channel: str) -> str:
    return "SM_CHANNEL_" + re.sub(r"\W", "_", channel).upper()


def toolkit_environment(
    layout: JobLayout,
    job_name: str,
    hyperparameters: Mapping[str, Any],
    channels: Sequence[str],
    program: str,
    submit_directory: str,
    resource_config: Mapping[str, Any],
    input_data_config: Sequence[Mapping[str, Any]],
    num_gpus: int,
) -> dict[str, str]:
    """Return the SM_* variables the training toolkit sets for a script-mode job."""
    channel_dirs = {channel: str(layout.channel_dir(channel)) for channel in channels}
    num_cpus = os.cpu_count() or 1
    training_env = {
        "additional_framework_parameters": {},
        "channel_input_dirs": channel_dirs,
        "current_host": CURRENT_HOST,
        "hosts": [CURRENT_HOST],
        "hyperparameters": dict(hyperparameters),
        "input_config_dir": str(layout.config_dir),
        "input_data_config": {entry["ChannelName"]: entry for entry in input_data_config},
        "input_dir": str(layout.input_dir),
        "job_name": job_name,
        "log_level": 20,
        "model_dir": str(layout.model_dir),
        "module_dir": submit_directory,
        "module_name": Path(program).stem,
        "network_interface_name": "lo",
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "resource_config": {"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST], **dict(resource_config)},
        "user_entry_point": program,
    }
    environment = {
        "SM_TRAINING_ENV": json.dumps(training_env),
        "SM_HPS": json.dumps(dict(hyperparameters)),
        "SM_USER_ARGS": json.dumps(command_arguments(hyperparameters)),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_DATA_DIR": str(layout.output_data_dir),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(layout.output_dir / "intermediate"),
        "SM_INPUT_DIR": str(layout.input_dir),
        "SM_INPUT_CONFIG_DIR": str(layout.config_dir),
        "SM_CURRENT_HOST": CURRENT_HOST,
        "SM_HOSTS": json.dumps([CURRENT_HOST]),
        "SM_NUM_GPUS": str(num_gpus),
        "SM_NUM_CPUS": str(num_cpus),
        "SM_MODULE_NAME": Path(program).stem,
        "SM_MODULE_DIR": submit_directory,
        "SM_USER_ENTRY_POINT": program,
        "SM_LOG_LEVEL": "20",
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "SM_RESOURCE_CONFIG": json.dumps(training_env["resource_config"]),
        "SM_INPUT_DATA_CONFIG": json.dumps(training_env["input_data_config"]),
        "KEIKO_CHECKPOINT_DIR": str(layout.checkpoint_dir),
    }
    for channel, folder in channel_dirs.items():
        environment[channel_variable(channel)] = folder
    for key, value in hyperparameters.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        environment["SM_HP_" + re.sub(r"\W", "_", key).upper()] = text
    return environment


def write_config_files(
    layout: JobLayout,
    hyperparameters: Mapping[str, str],
    input_data_config: Sequence[Mapping[str, Any]],
    resource_config: Mapping[str, Any],
) -> None:
    """Write input/config/*.json as SageMaker does before a job starts."""
    files = {
        "hyperparameters.json": dict(hyperparameters),
        "inputdataconfig.json": {entry["ChannelName"]: entry for entry in input_data_config},
        "resourceconfig.json": {"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST], **dict(resource_config)},
    }
    for name, content in files.items():
        (layout.config_dir / name).write_text(json.dumps(content, indent=2), encoding="utf-8")


def failure_reason(layout: JobLayout, exit_code: int, stderr_tail: Sequence[str], command: Sequence[str]) -> str:
    """Return FailureReason: the failure file's text if the script wrote one, else the toolkit's summary."""
    if layout.failure_file.is_file():
        text = layout.failure_file.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return ("AlgorithmError: " + text)[:MAX_FAILURE_REASON]
    tail = "\n".join(stderr_tail).strip() or "(no output on stderr)"
    reason = (
        f'AlgorithmError: ExecuteUserScriptError:\nExitCode {exit_code}\nErrorMessage "{tail}"\n'
        f'Command "{" ".join(command)}"'
    )
    return reason[:MAX_FAILURE_REASON]


class MetricParser:
    """Applies a job's MetricDefinitions to each output line; keeps the last value of each metric."""

    def __init__(self, definitions: Sequence[Mapping[str, str]] | None):
        self._patterns = [(entry["Name"], re.compile(entry["Regex"])) for entry in definitions or []]
        # metric name -> (last value, when it was printed, naive UTC as moto stores times)
        self.latest: dict[str, tuple[float, datetime.datetime]] = {}

    def feed(self, line: str) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if match is None:
                continue
            try:
                value = float(match.group(1) if pattern.groups else match.group(0))
            except ValueError:
                continue
            self.latest[name] = (value, datetime.datetime.now(datetime.UTC).replace(tzinfo=None))
