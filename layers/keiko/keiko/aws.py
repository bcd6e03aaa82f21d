"""boto3 clients, created on first use (never at import) and shared for the life of the process.

Every client uses botocore's adaptive retry mode, so throttling is retried with client-side rate
limiting before a stage raises TransientError and the state machine's Retry takes over.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from keiko.errors import TransientError

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8})
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
    }
)


@cache
def client(service: str) -> Any:
    """Return the process-wide boto3 client for `service`."""
    return boto3.client(service, config=RETRY_CONFIG)


def reset_clients() -> None:
    """Forget cached clients, so the next call builds them against the current environment."""
    client.cache_clear()


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def raise_if_transient(exc: ClientError, action: str) -> None:
    """Re-raise a throttling or availability error as TransientError, which the state machine retries."""
    if error_code(exc) in THROTTLING_CODES:
        raise TransientError(f"{action} was throttled after retries: {exc}") from exc
