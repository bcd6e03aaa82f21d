"""The `keiko` command line: validate datasets, run the lifecycle locally, invoke one handler."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module adds its subcommand with `register(subparsers)` and sets `func(args) -> int` on it.
COMMAND_MODULES = ("keiko_cli.validate", "keiko_cli.local", "keiko_cli.invoke")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keiko", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
