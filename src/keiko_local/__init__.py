"""The emulated AWS account: deploys template.yaml into moto and runs it in-process (see account.py)."""

from .account import FunctionError, LocalAccount

__all__ = ["FunctionError", "LocalAccount"]
