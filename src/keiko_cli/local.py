"""`keiko local run`: deploy template.yaml into the emulated account, upload a dataset, follow the run."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import warnings
from pathlib import Path

from keiko.names import make_run_id
from keiko.s3events import DATASET_EXTENSIONS, DatasetObject

from keiko_cli.follow import RunFollower, print_summary

DEFAULT_WORKDIR = Path(".keiko/local")
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser("local", help="Run keiko in the emulated AWS account on this machine.")
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")

    run = local_commands.add_parser(
        "run",
        help="Deploy template.yaml locally, upload DATASET and follow the run to its end.",
        description=(
            "Deploy template.yaml into the emulated AWS account, upload the recipe and DATASET to "
            "s3://<data bucket>/datasets/<project>/, and follow the lifecycle execution the upload starts."
        ),
    )
    run.add_argument("dataset", type=Path, help="Dataset file to upload (.jsonl, .jsonl.gz, .json, .csv, .parquet).")
    run.add_argument(
        "--recipe",
        type=Path,
        help="Recipe YAML uploaded as <name>.keiko.yaml; default: keiko.yaml beside the dataset.",
    )
    run.add_argument("--project", default="demo", help="Project prefix under datasets/ (default: demo).")
    run.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"Folder for model caches and training job work folders (default: {DEFAULT_WORKDIR}).",
    )
    run.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the run to end (default: 3600).")
    run.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=(
            "Override a template.yaml parameter, as sam deploy --parameter-overrides does; repeat for "
            "more, e.g. --parameter ValidationSliceThresholdBytes=1048576 to validate in byte ranges."
        ),
    )
    run.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help=(
            "Log level of the Lambda functions' structured logs (default: WARNING, which hides routine "
            "lines); INFO and DEBUG also show their CloudWatch metric lines."
        ),
    )
    run.set_defaults(func=run_local)


def run_local(args: argparse.Namespace) -> int:
    problem = _check_arguments(args)
    if problem:
        print(f"keiko local run: {problem}", file=sys.stderr)
        return 2
    recipe_path = args.recipe or args.dataset.with_name("keiko.yaml")

    from keiko.recipe import RecipeError, parse_recipe

    from keiko_local.account import LocalAccount
    from keiko_local.project import upload_training_code
    from keiko_local.template import TemplateError, load_template, parameter_values

    try:
        recipe = parse_recipe(recipe_path.read_bytes(), source=str(recipe_path))
    except RecipeError as exc:
        print(f"keiko local run: {exc}", file=sys.stderr)
        return 2
    parameters = {"LogLevel": args.log_level, **dict(item.split("=", 1) for item in args.parameter)}
    try:
        parameter_values(load_template(Path.cwd() / "template.yaml"), parameters)
    except TemplateError as exc:
        print(f"keiko local run: {exc}", file=sys.stderr)
        return 2
    workdir = args.workdir.resolve()
    _prepare_offline_models(recipe.model.base, workdir)

    quiet_emulator_output(args.log_level)
    with LocalAccount(project_root=Path.cwd(), workdir=workdir, parameters=parameters) as account:
        bucket = account.resource("DataBucket").physical_id
        upload_training_code(account)
        prefix = f"datasets/{args.project}/"
        dataset_key = f"{prefix}{args.dataset.name}"
        # The recipe's key must be the one intake looks for: <name>.keiko.yaml, name without extension.
        name = DatasetObject(bucket=bucket, key=dataset_key, trigger="local").name
        s3 = account.client("s3")
        print(f"Deployed template.yaml into the emulated account; data bucket s3://{bucket}")

        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}.keiko.yaml", Body=recipe_path.read_bytes())
        upload = s3.put_object(Bucket=bucket, Key=dataset_key, Body=args.dataset.read_bytes())
        print(f"Uploaded s3://{bucket}/{dataset_key}")

        run_id = make_run_id(args.project, name, bucket, dataset_key, upload.get("VersionId"))
        follower = RunFollower(account)
        execution = follower.wait_for_start(run_id, timeout_s=60)
        if execution is None:
            return 1
        result = follower.follow(execution, timeout_s=args.timeout)
        artifacts = download_run(s3, bucket, result["name"], workdir / "runs")
        print_summary(result, artifacts)
        return 0 if result["status"] == "SUCCEEDED" else 1


def download_run(s3, bucket: str, run_id: str, target: Path) -> Path:
    """Copy everything the run wrote under runs/<run-id>/ to target/<run-id>/; return that folder."""
    folder = target / run_id
    prefix = f"runs/{run_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = folder / item["Key"].removeprefix(prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(path))
    return folder


def quiet_emulator_output(log_level: str) -> None:
    """Hide output that concerns the emulator, not the user's run.

    Hidden are moto's notes on resources it deploys without modelling them (bucket and queue
    policies) and moto's own log of a failed state, which the summary reports. Also hidden are
    Powertools' note on invocations that publish no metric and, below INFO, the metric lines.
    """
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    if log_level not in ("DEBUG", "INFO"):
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def _check_arguments(args: argparse.Namespace) -> str | None:
    if not args.dataset.is_file():
        return f"dataset {args.dataset} not found. Give the path of a dataset file ({', '.join(DATASET_EXTENSIONS)})."
    if not args.dataset.name.endswith(DATASET_EXTENSIONS):
        return f"{args.dataset.name} is not a dataset file: use one of {', '.join(DATASET_EXTENSIONS)}."
    recipe_path = args.recipe or args.dataset.with_name("keiko.yaml")
    if not recipe_path.is_file():
        return f"recipe {recipe_path} not found. Pass --recipe FILE or put keiko.yaml beside the dataset."
    if not PROJECT_NAME.match(args.project):
        return f"invalid --project {args.project!r}: use 1-31 lower-case letters, digits and hyphens."
    for item in args.parameter:
        name, separator, _ = item.partition("=")
        if not separator or not name:
            return f"invalid --parameter {item!r}: use NAME=VALUE, e.g. --parameter ValidationSliceBytes=2097152."
    return None


def _prepare_offline_models(base_model: str, workdir: Path) -> None:
    """Make the demo base model loadable by its hub id in local training jobs, with no network."""
    from keiko_local.models import DEMO_HUB_ID, demo_model_path, install_into_hub_cache

    hf_home = workdir / "hf-home"
    os.environ["HF_HOME"] = str(hf_home)
    if base_model == DEMO_HUB_ID:
        print(f"Preparing {DEMO_HUB_ID} for offline use (converted once, then cached)")
        install_into_hub_cache(demo_model_path(workdir / "models"), hf_home)
