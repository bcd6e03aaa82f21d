"""`keiko invoke`: run one Lambda handler as template.yaml configures it, with an event file.

This is the Docker-free counterpart of `sam local invoke`: the function runs in-process in the
emulated account, with its layers, its environment variables and the account's resources. The
sample events in events/ name the data bucket `keiko-databucket-example`, which is replaced by the
emulated account's data bucket. `--put KEY=FILE` uploads the objects an event refers to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import unquote_plus

EXAMPLE_BUCKET = "keiko-databucket-example"


def register(subparsers: argparse._SubParsersAction) -> None:
    invoke = subparsers.add_parser(
        "invoke",
        help="Run one Lambda function from template.yaml with an event file (like `sam local invoke`).",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("function", help="Logical id of the function in template.yaml, e.g. IntakeFunction.")
    invoke.add_argument("--event", type=Path, required=True, help="JSON event file, e.g. from events/.")
    invoke.add_argument(
        "--workdir", type=Path, default=Path(".keiko/local"), help="Folder for the emulated account's files."
    )
    invoke.add_argument(
        "--put",
        action="append",
        default=[],
        metavar="KEY=FILE",
        help="Upload FILE to the data bucket at KEY before the call (repeatable).",
    )
    invoke.set_defaults(func=run_invoke)


def run_invoke(args: argparse.Namespace) -> int:
    try:
        event = json.loads(args.event.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"keiko invoke: event file {args.event} not found.", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"keiko invoke: {args.event} is not valid JSON: {exc}. Fix the file and try again.", file=sys.stderr)
        return 2

    uploads = _parse_puts(args.put)
    if isinstance(uploads, str):
        print(f"keiko invoke: {uploads}", file=sys.stderr)
        return 2

    from keiko_cli.local import quiet_emulator_output
    from keiko_local.account import FunctionError, LocalAccount

    quiet_emulator_output("INFO")

    with LocalAccount(project_root=Path.cwd(), workdir=args.workdir.resolve()) as account:
        functions = sorted(
            logical_id
            for logical_id, resource in account.resources.items()
            if resource.resource_type == "AWS::Lambda::Function"
        )
        if args.function not in functions:
            print(
                f"keiko invoke: no function {args.function!r} in template.yaml. Functions: {', '.join(functions)}.",
                file=sys.stderr,
            )
            return 2
        bucket = account.resource("DataBucket").physical_id
        versions = {}
        for key, path in uploads:
            response = account.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            versions[key] = response.get("VersionId")
        event = json.loads(json.dumps(event).replace(EXAMPLE_BUCKET, bucket))
        _point_versions_at_uploads(event, versions)
        try:
            result = account.invoke(args.function, event)
        except FunctionError as exc:
            error = {"errorType": exc.error_type, "errorMessage": exc.error_message, "stackTrace": exc.stack_trace}
            print(json.dumps(error, indent=2))
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def _parse_puts(values: list[str]) -> list[tuple[str, Path]] | str:
    """Return (key, file) pairs from KEY=FILE values, or the error message for the first bad one."""
    uploads = []
    for value in values:
        key, separator, file_name = value.partition("=")
        if not separator or not key or not file_name:
            return f"invalid --put {value!r}: expected KEY=FILE, e.g. datasets/demo/chats.jsonl=chats.jsonl"
        path = Path(file_name)
        if not path.is_file():
            return f"--put {value!r}: file {path} not found"
        uploads.append((key, path))
    return uploads


KEY_FIELDS = ("dataset_key", "key")
VERSION_FIELDS = ("version_id", "versionId", "version-id")


def _point_versions_at_uploads(node: object, versions: dict[str, str | None]) -> None:
    """Set the version id beside each object key the event shares with an upload to the upload's version.

    Sample events carry example version ids; an S3 read with one of those fails in the emulated account.
    Keys match as written or URL-decoded, because S3 events carry them URL-encoded.
    """
    if isinstance(node, list):
        for item in node:
            _point_versions_at_uploads(item, versions)
        return
    if not isinstance(node, dict):
        return
    for field in KEY_FIELDS:
        value = node.get(field)
        if isinstance(value, str) and (key := _uploaded_key(value, versions)) is not None:
            for version_field in VERSION_FIELDS:
                if version_field in node:
                    node[version_field] = versions[key]
    for child in node.values():
        _point_versions_at_uploads(child, versions)


def _uploaded_key(value: str, versions: dict[str, str | None]) -> str | None:
    for candidate in (value, unquote_plus(value)):
        if candidate in versions:
            return candidate
    return None
