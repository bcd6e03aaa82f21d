"""Helpers for workflow tests: upload a run, find its execution, read its states, record and jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from keiko_local.account import LocalAccount

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATASET = ROOT / "samples" / "demo" / "support-chat.jsonl"
TINY_MODEL_PREFIX = "models/tiny/"


def data_bucket(account: LocalAccount) -> str:
    return account.resource("DataBucket").physical_id


def tiny_recipe(account: LocalAccount, **overrides: str) -> str:
    """Return recipe YAML for a fast run on the tiny model; keyword arguments replace whole sections."""
    sections = {
        "method": "method: sft",
        "model": model_section(f"s3://{data_bucket(account)}/{TINY_MODEL_PREFIX}"),
        "peft": "peft:\n  type: lora\n  r: 8\n  alpha: 16",
        "hyperparameters": "hyperparameters:\n  profile: local",
        "dataset": "dataset:\n  max_length: 256\n  eval_fraction: 0.2",
        "budget": "budget:\n  max_usd: 50",
        "preference": "preference:\n  enabled: true\n  prompts: 4\n  max_new_tokens: 16",
    }
    sections.update(overrides)
    return "\n".join(sections.values()) + "\n"


def model_section(base: str) -> str:
    # An S3 model names no size, so planning needs it: the tiny model has about 0.1 M parameters.
    return f"model:\n  base: {base}\n  parameters_billion: 0.0001"


def upload_run(account: LocalAccount, key: str, dataset: bytes, recipe: str) -> None:
    """Upload the recipe beside the dataset, then the dataset, which starts the run."""
    bucket = data_bucket(account)
    folder, _, filename = key.rpartition("/")
    s3 = account.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{folder}/keiko.yaml", Body=recipe.encode())
    s3.put_object(Bucket=bucket, Key=key, Body=dataset)
    assert filename


def executions_for(account: LocalAccount, dataset_key: str) -> list[dict]:
    """Return the executions whose input names dataset_key."""
    stepfunctions = account.client("stepfunctions")
    machine = account.resource("LifecycleStateMachine").physical_id
    found = []
    for execution in stepfunctions.list_executions(stateMachineArn=machine)["executions"]:
        description = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        if json.loads(description["input"]).get("dataset_key") == dataset_key:
            found.append(description)
    return found


def wait_for_run(account: LocalAccount, dataset_key: str, timeout_s: float = 600) -> dict:
    """Wait for the execution started for dataset_key to end; return its description."""
    deadline = time.monotonic() + 30
    while not (executions := executions_for(account, dataset_key)):
        assert time.monotonic() < deadline, f"no execution started for {dataset_key}"
        time.sleep(0.2)
    return account.wait_for_execution(executions[0]["executionArn"], timeout_s=timeout_s)


def entered_states(account: LocalAccount, execution_arn: str) -> list[str]:
    history = account.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history["events"]
        if event["type"].endswith("StateEntered")
    ]


def run_record(account: LocalAccount, run_id: str) -> dict:
    from keiko.runs import RunStore

    table = account.resource("RunTable").physical_id
    return RunStore(table, dynamodb=account.client("dynamodb")).get_run(run_id)


def jobs_of_run(account: LocalAccount, run_id: str) -> list[str]:
    """Return the names of the training jobs created for a run."""
    digest = run_id[-12:]
    return [job.name for job in account.training_jobs if digest in job.name]
