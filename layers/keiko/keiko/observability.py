"""The one Powertools Logger, Tracer and Metrics every handler shares.

Handlers apply the decorators in this order, outermost first:
`logger.inject_lambda_context`, `tracer.capture_lambda_handler`, `metrics.log_metrics`, `bind_run_id`.
Service name, log level and metrics namespace come from the POWERTOOLS_* variables in template.yaml.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def find_run_id(event: Any) -> str | None:
    """Return the run id a lifecycle payload carries at its top level, if any."""
    if isinstance(event, dict):
        run_id = event.get("run_id")
        if isinstance(run_id, str):
            return run_id
    return None


DEFAULT_NAMESPACE = "keiko"


@lambda_handler_decorator
def bind_run_id(handler, event, context):
    """Add the run id to every log line the handler writes."""
    # Powertools reads the namespace and service name when `Metrics()` and `Logger()` are created. A
    # process that imported this module before the variables were set (tests, the emulated account)
    # reads them here instead.
    if metrics.namespace is None:
        metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
    if logger.service == "service_undefined" and os.environ.get("POWERTOOLS_SERVICE_NAME"):
        logger.append_keys(service=os.environ["POWERTOOLS_SERVICE_NAME"])
    run_id = find_run_id(event)
    if run_id:
        logger.append_keys(run_id=run_id)
    return handler(event, context)
