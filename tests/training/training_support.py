"""Helpers for training tests: small datasets, the tiny-model corpus and a runner for the entry scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from keiko_training.metrics import parse_metric

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPTS = REPOSITORY / "training"

QUESTIONS = [
    ("What is two plus two?", "four", "five"),
    ("What is the capital of France?", "Paris", "London"),
    ("What color is the clear sky?", "blue", "green"),
    ("What is the opposite of hot?", "cold", "warm"),
    ("How many legs does a cat have?", "four", "three"),
    ("What do bees make?", "honey", "milk"),
    ("Which planet do we live on?", "Earth", "Mars"),
    ("What is frozen water called?", "ice", "steam"),
]
TEXTS = [
    "The support team answers every ticket within one day.",
    "Reset your password from the account settings page.",
    "Invoices are sent by email at the start of each month.",
    "The cat sat on the mat and watched the birds outside.",
] * 4


def user(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def assistant(content: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": content}]


def records_for(shape: str) -> list[dict]:
    """Training records of one TRL dataset shape, built from QUESTIONS and TEXTS."""
    if shape == "text":
        return [{"text": text} for text in TEXTS]
    if shape == "prompt-completion":
        return [{"prompt": user(q), "completion": assistant(a)} for q, a, _ in QUESTIONS] * 2
    if shape == "messages":
        return [{"messages": user(q) + assistant(a)} for q, a, _ in QUESTIONS] * 2
    if shape == "preference":
        return [{"prompt": user(q), "chosen": assistant(a), "rejected": assistant(b)} for q, a, b in QUESTIONS] * 2
    if shape == "unpaired":
        return [
            {"prompt": user(q), "completion": assistant(answer), "label": label}
            for q, a, b in QUESTIONS
            for answer, label in ((a, True), (b, False))
        ]
    if shape == "prompt-answer":
        return [{"prompt": user(q), "answer": a} for q, a, _ in QUESTIONS]
    if shape == "prompt":
        return [{"prompt": user(q)} for q, _, _ in QUESTIONS]
    raise ValueError(f"unknown dataset shape {shape}")


def write_jsonl(folder: Path, records: list[dict], name: str = "data.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return folder


def corpus() -> list[str]:
    return TEXTS + [" ".join(parts) for parts in QUESTIONS] + ["<answer>four</answer>"]


@dataclass
class JobResult:
    returncode: int
    stdout: str
    stderr: str
    model_dir: Path
    output_dir: Path
    checkpoint_dir: Path

    def metrics(self, name: str) -> list[float]:
        values = []
        for line in self.stdout.splitlines():
            metric = parse_metric(line)
            if metric is not None and metric.name == name:
                values.append(metric.value)
        return values

    @property
    def manifest(self) -> dict:
        return json.loads((self.model_dir / "keiko-model.json").read_text())

    @property
    def failure(self) -> str | None:
        path = self.output_dir / "failure"
        return path.read_text() if path.exists() else None


def run_entry(
    script: str,
    workdir: Path,
    hyperparameters: dict[str, str],
    channels: dict[str, Path],
    checkpoint_dir: Path | None = None,
    python_path: tuple[Path, ...] = (),
    extra_environ: dict[str, str] | None = None,
    signal_after: str | None = None,
) -> JobResult:
    """Run an entry script as SageMaker would: channels and output folders in SM_* variables.

    With `signal_after`, send SIGTERM once a stdout line contains that text.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir, output_dir = workdir / "model", workdir / "output"
    checkpoint_dir = checkpoint_dir or workdir / "checkpoints"
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "KEIKO_"))}
    environ.update(
        {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DIR": str(output_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir / "data"),
            "KEIKO_CHECKPOINT_DIR": str(checkpoint_dir),
            "KEIKO_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(str(path) for path in (SCRIPTS, *python_path)),
        }
    )
    environ.update({f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()})
    environ.update(extra_environ or {})
    arguments = [item for key, value in hyperparameters.items() for item in (f"--{key}", str(value))]
    # stderr goes to a file because an unread stderr pipe could fill up and block the job while stdout is read.
    stderr_path = workdir / f"{script}.stderr"
    with stderr_path.open("w") as stderr_file:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / script), *arguments],
            env=environ,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
        )
        stdout_head = ""
        if signal_after is not None:
            # Read until the trigger line shows the job is training, then signal it as SageMaker would.
            for line in process.stdout:
                stdout_head += line
                if signal_after in line:
                    process.send_signal(signal.SIGTERM)
                    break
        stdout, _ = process.communicate()
    stderr = stderr_path.read_text()
    return JobResult(process.returncode, stdout_head + stdout, stderr, model_dir, output_dir, checkpoint_dir)


def assert_succeeded(result: JobResult) -> None:
    assert result.returncode == 0, f"job failed: {result.failure}\n{result.stderr[-3000:]}"
