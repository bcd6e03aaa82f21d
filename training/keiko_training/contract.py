"""The SageMaker training-container contract: paths, channels, hyperparameters, failure reports.

Standard library only, because the entry scripts read it before importing torch or transformers
(the Hugging Face offline switches must be set before those imports).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# SageMaker reports FailureReason up to this many characters.
MAX_FAILURE_REASON = 1024
OFFLINE_VARIABLES = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
)


class ContractError(ValueError):
    """Input that breaks the container contract: a missing channel, a malformed argument."""


@dataclass(frozen=True)
class ContainerPaths:
    """Container paths: input channels and the model, output, checkpoint and failure locations."""

    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path
    channels: Mapping[str, Path]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ContainerPaths:
        output_dir = Path(environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
        channels = {
            key.removeprefix("SM_CHANNEL_").lower(): Path(value)
            for key, value in environ.items()
            if key.startswith("SM_CHANNEL_") and value
        }
        return cls(
            model_dir=Path(environ.get("SM_MODEL_DIR", "/opt/ml/model")),
            output_dir=output_dir,
            output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR", str(output_dir / "data"))),
            checkpoint_dir=Path(environ.get("KEIKO_CHECKPOINT_DIR", "/opt/ml/checkpoints")),
            channels=channels,
        )

    def channel(self, name: str) -> Path | None:
        """Return the folder of input channel `name` (case-insensitive), or None when the job has none."""
        path = self.channels.get(name.lower())
        if path is not None and not path.exists():
            raise ContractError(
                f"channel {name.upper()} points at {path}, which does not exist: "
                f"check SM_CHANNEL_{name.upper()} or the job's InputDataConfig"
            )
        return path

    def require_channel(self, name: str, purpose: str) -> Path:
        path = self.channel(name)
        if path is None:
            raise ContractError(
                f"missing input channel {name.upper()} ({purpose}): add it to the job's InputDataConfig, "
                f"or set SM_CHANNEL_{name.upper()} to a folder for a local run"
            )
        return path


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """Parse `--key value` (or `--key=value`) pairs, as the SageMaker training toolkit passes them.

    Dashes in keys become underscores, so `--learning-rate` and `--learning_rate` are the same key.
    """
    values: dict[str, str] = {}
    position = 0
    while position < len(argv):
        argument = argv[position]
        if not argument.startswith("--") or len(argument) == 2:
            raise ContractError(f"unexpected argument {argument!r}: pass hyperparameters as --key value")
        key, separator, value = argument[2:].partition("=")
        if not separator:
            if position + 1 >= len(argv):
                raise ContractError(f"--{key} has no value: pass hyperparameters as --key value")
            position += 1
            value = argv[position]
        values[key.replace("-", "_")] = value
        position += 1
    return values


def write_failure(output_dir: Path, reason: str) -> Path:
    """Write a one-line failure reason where SageMaker reads FailureReason from."""
    line = " ".join(reason.split())[:MAX_FAILURE_REASON] or "training failed without a message"
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "failure"
    path.write_text(line + "\n", encoding="utf-8")
    return path


def configure_offline(environ: dict[str, str], hub_needed: bool) -> bool:
    """Switch the Hugging Face libraries offline unless a model must come from the hub.

    Offline when `KEIKO_OFFLINE=1`, or when every model arrives through a channel (`hub_needed` is
    False), so no run makes a network call it does not need. Returns whether it switched offline.
    """
    offline = environ.get("KEIKO_OFFLINE") == "1" or not hub_needed
    if offline:
        for name in OFFLINE_VARIABLES:
            environ[name] = "1"
    return offline
