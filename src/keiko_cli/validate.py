"""`keiko validate PATH --method METHOD`: check a dataset file on this machine before uploading it.

Exit status: 0 when the dataset is valid, 1 when it is invalid, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from keiko.datasets import Report, validate_path
from keiko.recipe import Method

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
DATASET_METHODS = [method.value for method in Method if method is not Method.MERGE]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="Validate a dataset file for a training method.",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", help="Dataset file: .jsonl, .jsonl.gz, .json (array), .csv or .parquet.")
    parser.add_argument("--method", required=True, choices=DATASET_METHODS, help="Training method of the recipe.")
    parser.add_argument("--max-length", type=int, default=2048, help="Maximum tokens per record (default: 2048).")
    parser.add_argument(
        "--eval-fraction",
        type=float,
        default=0.1,
        help="The recipe's dataset.eval_fraction: share of records held out for evaluation (default: 0.1).",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="The recipe's dataset.seed, which decides the split (default: 42)."
    )
    parser.add_argument(
        "--backend",
        choices=("sagemaker", "hyperpod", "bedrock"),
        default="sagemaker",
        help="Training backend; bedrock checks Bedrock model customization's record schema (default: sagemaker).",
    )
    parser.add_argument(
        "--reward-column",
        action="append",
        default=[],
        metavar="NAME",
        help="Column the GRPO/RLOO reward functions read; repeat for each column.",
    )
    parser.add_argument(
        "--tokenizer",
        type=Path,
        metavar="FOLDER",
        help="Local folder of a Hugging Face tokenizer (the base model's) to measure tokens per character; "
        "loaded offline, needs the transformers package (default: estimate from characters).",
    )
    parser.add_argument("--output-dir", type=Path, help="Write train.jsonl and eval.jsonl here when valid.")
    parser.add_argument("--json", action="store_true", help="Print the full report as JSON.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        print(f"keiko validate: {path} is not a file; give the path of a dataset file.", file=sys.stderr)
        return EXIT_USAGE
    if args.max_length < 1:
        print(
            f"keiko validate: --max-length must be a positive number of tokens; got {args.max_length}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 0 < args.eval_fraction < 0.5:
        print(
            f"keiko validate: --eval-fraction must be above 0 and below 0.5, as in a recipe; got {args.eval_fraction}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    problem = output_dir_problem(args.output_dir)
    if problem:
        print(f"keiko validate: {problem}", file=sys.stderr)
        return EXIT_USAGE
    tokenizer = None
    if args.tokenizer is not None:
        tokenizer, problem = load_tokenizer(args.tokenizer)
        if problem:
            print(f"keiko validate: {problem}", file=sys.stderr)
            return EXIT_USAGE
    report = validate_path(
        path,
        args.method,
        max_length=args.max_length,
        eval_fraction=args.eval_fraction,
        seed=args.seed,
        output_dir=args.output_dir,
        backend=args.backend,
        reward_columns=tuple(args.reward_column),
        tokenizer=tokenizer,
    )
    print_output(report.model_dump_json(indent=2) if args.json else format_summary(report))
    return EXIT_VALID if report.valid else EXIT_INVALID


def output_dir_problem(folder: Path | None) -> str | None:
    """Return why --output-dir cannot take the split files, or None. Nothing is created here, so an
    invalid dataset leaves no folder behind."""
    if folder is None:
        return None
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"--output-dir {folder}: {existing} is not a folder; give a folder path for train.jsonl and eval.jsonl."
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"--output-dir {folder}: {existing} is not writable; give a folder you can write to."
    return None


def load_tokenizer(folder: Path):
    """Load a tokenizer from a local folder without network access; return (tokenizer, None) or
    (None, an error message)."""
    if not folder.is_dir():
        return None, f"--tokenizer {folder} is not a folder; give a folder with a saved tokenizer (tokenizer.json)."
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None, "--tokenizer needs the transformers package; install it, or leave out --tokenizer to estimate."
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True), None
    except (OSError, ValueError) as exc:
        return None, f"cannot load a tokenizer from {folder} ({exc}); give a folder saved with save_pretrained."


def print_output(text: str) -> None:
    """Print to stdout; when the reader has closed the pipe (`| head -1`), stop quietly as CLI tools do."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Point stdout at /dev/null so that Python's flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def format_summary(report: Report) -> str:
    verdict = "valid" if report.valid else "INVALID"
    lines = [
        f"{report.source}: {verdict} ({report.method}, {report.file_format}, format {report.format or 'unknown'})",
        f"  records {report.records}, valid {report.valid_records}, invalid {report.invalid_records}, "
        f"estimated tokens {report.stats.estimated_tokens}, duplicates {report.stats.duplicates}",
    ]
    for kind, count in report.errors_by_kind.items():
        lines.append(f"  error {kind}: {count}")
    for example in report.errors:
        where = f"line {example.line}" if example.line is not None else "dataset"
        field = f" {example.field}" if example.field else ""
        lines.append(f"    {where}{field}: {example.message}")
    for kind, count in report.warnings_by_kind.items():
        lines.append(f"  warning {kind}: {count}")
    if report.valid and report.content_hash:
        lines.append(
            f"  train {report.train_records}, evaluation {report.eval_records}; content hash {report.content_hash}"
        )
    elif report.valid:
        lines.append(
            f"  train {report.train_records}, evaluation {report.eval_records}; "
            "files not written (add --output-dir to write them and compute the content hash)"
        )
    return "\n".join(lines)
