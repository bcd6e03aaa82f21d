"""EventBridge delivery in the emulated account: rules reach Lambda and Step Functions targets.

moto's `Rule.send_to_targets` raises for Lambda and state machine targets, ignores a rule's state,
sends `time` as a number and offers only part of the input transformer. `EventRouter.send_to_targets`
replaces it. Services that emit events (S3, SageMaker, schedules) call `EventRouter.publish`, which
matches every rule on the default bus as EventBridge does.

Delivery runs in the caller's thread, so an S3 upload returns after the rule's target has started.
A failed delivery is logged and never raised into the call that produced the event. EventBridge
would retry it before dropping it, but the emulated account does not retry.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .target_input import TargetInputError, target_input

LOG = logging.getLogger(__name__)

DEFAULT_BUS = "default"


def iso_time(value: Any = None) -> str:
    """Return an event `time`: ISO 8601 in UTC to the second, as EventBridge writes it."""
    if isinstance(value, str):
        return value
    moment = (
        datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
        if isinstance(value, int | float)
        else datetime.datetime.now(tz=datetime.UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event(
    source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str], account_id: str, region: str
) -> dict[str, Any]:
    """Return an event envelope in the shape EventBridge delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": iso_time(),
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
    }


class EventRouter:
    """Matches events against the rules in moto's EventBridge backend and delivers them to targets."""

    def __init__(self, account_id: str, region: str, client: Callable[[str], Any], events_backend: Callable[[], Any]):
        self._account_id = account_id
        self._region = region
        self._client = client
        self._events_backend = events_backend
        self.delivered: list[dict[str, Any]] = []

    # moto calls this as Rule.send_to_targets(rule, event, transform_input) for PutEvents.
    def send_to_targets(self, rule: Any, original_event: Mapping[str, Any], transform_input: bool = True) -> None:
        if rule.scheduled_expression and not rule.event_pattern.get_pattern():
            return  # a schedule rule fires only on its schedule, never for put events
        self.deliver(rule, _aws_shape(original_event))

    def publish(self, event: Mapping[str, Any], bus_name: str = DEFAULT_BUS) -> None:
        """Deliver a service event (already in AWS shape) to every matching rule on the bus."""
        bus = self._events_backend().event_buses.get(bus_name)
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            if rule.scheduled_expression and not rule.event_pattern.get_pattern():
                continue
            self.deliver(rule, event)

    def fire_schedule(self, rule: Any) -> dict[str, Any]:
        """Deliver the Scheduled Event a schedule rule sends when its time comes; return the event."""
        if not rule.scheduled_expression:
            raise ValueError(f"Rule {rule.name} has no ScheduleExpression, so it cannot be fired as a schedule")
        if rule.state != "ENABLED":
            raise ValueError(
                f"Rule {rule.name} is {rule.state}; enable it (a template parameter or "
                "events.enable_rule) before firing its schedule"
            )
        event = make_event("aws.events", "Scheduled Event", {}, [rule.arn], self._account_id, self._region)
        self._deliver_to_targets(rule, event)
        return event

    def deliver(self, rule: Any, event: Mapping[str, Any]) -> None:
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(dict(event)):
            return
        self._deliver_to_targets(rule, event)

    def _deliver_to_targets(self, rule: Any, event: Mapping[str, Any]) -> None:
        for target in list(rule.targets):
            try:
                payload = target_input(target, event, rule.name, rule.arn)
                self._send(target, payload)
            except TargetInputError:
                LOG.exception("Rule %s could not build the input for target %s", rule.name, target.get("Id"))
            except Exception:  # noqa: BLE001 - a failed delivery must not fail the call that emitted the event
                LOG.exception("Rule %s failed to deliver event %s to %s", rule.name, event.get("id"), target["Arn"])
            else:
                self.delivered.append({"rule": rule.name, "target": target["Arn"], "input": payload})

    def _send(self, target: Mapping[str, Any], payload: Any) -> None:
        arn = target["Arn"]
        service = arn.split(":")[2]
        body = json.dumps(payload)

        if service == "lambda":
            response = self._client("lambda").invoke(FunctionName=arn, Payload=body.encode())
            if response.get("FunctionError"):
                error = json.loads(response["Payload"].read() or b"{}")
                LOG.warning(
                    "Function %s failed on an EventBridge event: %s: %s",
                    arn,
                    error.get("errorType"),
                    error.get("errorMessage"),
                )
        elif service == "states":
            # EventBridge names each execution it starts; moto breaks on a second unnamed start.
            self._client("stepfunctions").start_execution(stateMachineArn=arn, name=str(uuid.uuid4()), input=body)
        elif service == "sqs":
            queue_url = self._client("sqs").get_queue_url(QueueName=arn.split(":")[-1])["QueueUrl"]
            group = target.get("SqsParameters", {}).get("MessageGroupId")
            extra = {"MessageGroupId": group} if group else {}
            self._client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, **extra)
        elif service == "sns":
            self._client("sns").publish(TopicArn=arn, Message=body)
        elif service == "events" and ":event-bus/" in arn:
            event = payload if isinstance(payload, dict) else {}
            self.publish(event, bus_name=arn.split("/")[-1])
        else:
            LOG.warning("The emulated account does not deliver to %s targets (%s)", service, arn)


def _aws_shape(event: Mapping[str, Any]) -> dict[str, Any]:
    """Turn moto's internal event message into the envelope a target receives."""
    shaped = {key: value for key, value in event.items() if key != "ingestion-time"}
    shaped["time"] = iso_time(event.get("time"))
    return shaped
