"""What an EventBridge target receives: the event itself, `Input`, `InputPath` or `InputTransformer`.

Follows the EventBridge user guide, "Amazon EventBridge input transformation". Variables come from
JSONPath expressions over the original event. A placeholder inside a JSON string takes the value's
text unescaped, and a placeholder outside quotes takes the value's JSON. The reserved variables are
`aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event` (the event without `detail`),
`aws.events.event.json` (the whole event) and `aws.events.event.ingestion-time`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonpath_ng import parse as parse_jsonpath

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_MISSING = object()


class TargetInputError(ValueError):
    """A target's input settings cannot be applied to an event."""


def select(path: str, event: Mapping[str, Any]) -> Any:
    """Return the first value `path` selects in the event, or a marker object when nothing matches."""
    try:
        matches = parse_jsonpath(path).find(event)
    except Exception as error:  # jsonpath_ng raises bare exceptions for bad syntax
        raise TargetInputError(f"Invalid JSONPath {path!r} in an EventBridge target: {error}") from error
    return matches[0].value if matches else _MISSING


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule_name: str, rule_arn: str) -> Any:
    """Return the JSON value the target receives for this event."""
    if "Input" in target:
        try:
            return json.loads(target["Input"])
        except json.JSONDecodeError as error:
            raise TargetInputError(f"Target {target.get('Id')} has an Input that is not JSON: {error}") from error

    if "InputPath" in target:
        value = select(target["InputPath"], event)
        return None if value is _MISSING else value

    transformer = target.get("InputTransformer")
    if transformer:
        variables = _variables(transformer.get("InputPathsMap", {}), event, rule_name, rule_arn)
        return _render(transformer["InputTemplate"], variables)

    return dict(event)


def _variables(paths: Mapping[str, str], event: Mapping[str, Any], rule_name: str, rule_arn: str) -> dict[str, Any]:
    variables = {name: select(path, event) for name, path in paths.items()}
    without_detail = {key: value for key, value in event.items() if key != "detail"}
    variables.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event": without_detail,
            "aws.events.event.json": dict(event),
            "aws.events.event.ingestion-time": event.get("time"),
        }
    )
    return variables


def _render(template: str, variables: Mapping[str, Any]) -> Any:
    """Fill the placeholders and return the JSON value the text forms, or the text when it is not JSON."""
    pieces = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in variables:
            continue
        pieces.append(template[position : match.start()])
        pieces.append(_placeholder_text(variables[name], _inside_string(template, match.start())))
        position = match.end()
    pieces.append(template[position:])
    text = "".join(pieces)

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # NOTE: EventBridge sends a non-JSON template to the target as raw text. The emulated account
        # delivers it as a JSON string, because Lambda and Step Functions take JSON.
        return text


def _placeholder_text(value: Any, inside_string: bool) -> str:
    # NOTE: EventBridge leaves out a variable whose path matched nothing. Here it renders as null (or
    # as nothing inside a string), so the rendered template stays valid JSON.
    if value is _MISSING:
        return "" if inside_string else "null"
    if inside_string:
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(value)


def _inside_string(text: str, index: int) -> bool:
    """Return whether position `index` of a JSON-like template lies inside a double-quoted string."""
    inside = False
    escaped = False
    for char in text[:index]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside
