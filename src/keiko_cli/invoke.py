"""`keiko invoke`: run one Lambda handler as template.yaml configures it, with an event file.

This is the Docker-free counterpart of `sam local invoke`: the function runs in-process in the
emulated account, with its layers, its environment variables and the account's resources.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


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

    from keiko_local.account import FunctionError, LocalAccount

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
        try:
            result = account.invoke(args.function, event)
        except FunctionError as exc:
            error = {"errorType": exc.error_type, "errorMessage": exc.error_message, "stackTrace": exc.stack_trace}
            print(json.dumps(error, indent=2))
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0
