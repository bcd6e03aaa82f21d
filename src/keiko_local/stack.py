"""Deploy a translated template with moto's CloudFormation and fix what moto gets silently wrong.

Three resources reach CREATE_COMPLETE in moto but do not work:
- a state machine ignores `DefinitionSubstitutions` and lands in the backend that never executes it;
  `create_state_machine` below applies the substitutions (already resolved by moto from the stack's
  resources) by plain text replacement and creates it in the executing backend. Fn::Sub is no way
  out: moto's Fn::Sub turns the ASL's `$$.` into `$.`;
- a bucket's `NotificationConfiguration` is ignored; it is recorded as the bucket is created and
  applied through the S3 API once the stack exists;
- a function's `Layers` are dropped; they are set through the Lambda API once the stack exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import patches

STATE_MACHINE_CREATE = "moto.stepfunctions.models:StateMachine.create_from_cloudformation_json"
BUCKET_CREATE = "moto.s3.models:FakeBucket.create_from_cloudformation_json"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


class DeployError(RuntimeError):
    """The stack did not deploy."""


@dataclass(frozen=True)
class StackResource:
    """One deployed resource, found by the logical id it has in the template."""

    logical_id: str
    resource_type: str
    physical_id: str
    arn: str | None


def substitute_definition(definition: str, substitutions: Mapping[str, Any], state_machine: str) -> str:
    """Replace each `${Name}` in an ASL definition with its DefinitionSubstitutions value."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise DeployError(
                f"State machine {state_machine}: placeholder ${{{name}}} has no DefinitionSubstitutions entry "
                f"(defined: {', '.join(sorted(substitutions)) or 'none'})"
            )
        value = substitutions[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _PLACEHOLDER.sub(replace, definition)


def _api_tags(tags: list[Mapping[str, str]] | None) -> list[dict[str, str]]:
    return [{"key": tag["Key"], "value": tag["Value"]} for tag in tags or []]


class StackFixes:
    """The replacements installed while moto's CloudFormation creates a stack's resources."""

    def __init__(self) -> None:
        self.bucket_notifications: dict[str, dict[str, Any]] = {}
        self._create_bucket = patches.original(BUCKET_CREATE)

    def replacements(self) -> dict[str, Any]:
        return {
            STATE_MACHINE_CREATE: classmethod(self._state_machine_from_cloudformation),
            BUCKET_CREATE: classmethod(self._bucket_from_cloudformation),
        }

    def _state_machine_from_cloudformation(
        self, cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        from moto.stepfunctions.responses import get_backend

        properties = cloudformation_json["Properties"]
        name = properties.get("StateMachineName", resource_name)
        definition = properties.get("DefinitionString") or json.dumps(properties.get("Definition", {}))
        definition = substitute_definition(definition, properties.get("DefinitionSubstitutions", {}), name)

        return get_backend(account_id, region_name).create_state_machine(
            name=name,
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            tags=_api_tags(properties.get("Tags")),
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    def _bucket_from_cloudformation(
        self, cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        bucket = self._create_bucket(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        configuration = cloudformation_json.get("Properties", {}).get("NotificationConfiguration")
        if configuration:
            self.bucket_notifications[bucket.name] = configuration
        return bucket


def _notification_filter(cfn_filter: Mapping[str, Any] | None) -> dict[str, Any]:
    if not cfn_filter:
        return {}
    rules = cfn_filter.get("S3Key", {}).get("Rules", [])
    return {"Filter": {"Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}}}


def notification_configuration(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a CloudFormation NotificationConfiguration to the PutBucketNotificationConfiguration shape."""
    api: dict[str, Any] = {}
    if cfn.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
        api["EventBridgeConfiguration"] = {}
    for cfn_key, api_key, target_key, arn_key in (
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
    ):
        entries = [
            {arn_key: entry[target_key], "Events": [entry["Event"]], **_notification_filter(entry.get("Filter"))}
            for entry in cfn.get(cfn_key, [])
        ]
        if entries:
            api[api_key] = entries
    return api


def resource_arn(resource_type: str, physical_id: str, account_id: str, region: str) -> str | None:
    """Return the ARN of a deployed resource from its physical id, where the type allows."""
    if physical_id.startswith("arn:"):
        return physical_id
    formats = {
        "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account_id}:function:{physical_id}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{physical_id}",
        "AWS::Events::Rule": f"arn:aws:events:{region}:{account_id}:rule/{physical_id}",
        "AWS::Events::EventBus": f"arn:aws:events:{region}:{account_id}:event-bus/{physical_id}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{account_id}:table/{physical_id}",
        "AWS::IAM::Role": f"arn:aws:iam::{account_id}:role/{physical_id}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account_id}:{physical_id.rsplit('/', 1)[-1]}",
    }
    return formats.get(resource_type)


def deploy_stack(
    cloudformation: Any,
    s3: Any,
    lambda_client: Any,
    stack_name: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    fixes: StackFixes,
    account_id: str,
    region: str,
) -> tuple[dict[str, StackResource], dict[str, str]]:
    """Create the stack, apply the recorded bucket notifications; return (resources, outputs)."""
    try:
        cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as error:  # moto raises its own errors and plain exceptions for unsupported input
        raise DeployError(f"Stack {stack_name} failed to deploy: {type(error).__name__}: {error}") from error

    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(f"Stack {stack_name} ended in {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")

    for bucket, configuration in fixes.bucket_notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=notification_configuration(configuration)
        )

    resources = _list_resources(cloudformation, stack_name, account_id, region)
    _find_layer_versions(template, resources, lambda_client)
    _apply_function_layers(template, resources, lambda_client)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    return resources, outputs


def _list_resources(cloudformation: Any, stack_name: str, account_id: str, region: str) -> dict[str, StackResource]:
    resources = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            logical_id = summary["LogicalResourceId"]
            physical_id = summary.get("PhysicalResourceId", "")
            resource_type = summary["ResourceType"]
            arn = resource_arn(resource_type, physical_id, account_id, region)
            resources[logical_id] = StackResource(logical_id, resource_type, physical_id, arn)
    return resources


def _find_layer_versions(template: Mapping[str, Any], resources: dict[str, StackResource], lambda_client: Any) -> None:
    # moto reports no physical id for a layer version and names the layer <stack>-<logical id>-<suffix>
    # instead of its LayerName; find the latest version under either name.
    layers = lambda_client.list_layers()["Layers"]
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::LayerVersion" or logical_id not in resources:
            continue
        declared = resource["Properties"].get("LayerName")
        for layer in layers:
            if layer["LayerName"] == declared or f"-{logical_id}-" in layer["LayerName"]:
                arn = layer["LatestMatchingVersion"]["LayerVersionArn"]
                resources[logical_id] = StackResource(logical_id, resource["Type"], arn, arn)
                break


def _apply_function_layers(
    template: Mapping[str, Any], resources: Mapping[str, StackResource], lambda_client: Any
) -> None:
    for logical_id, resource in template.get("Resources", {}).items():
        layers = resource.get("Properties", {}).get("Layers")
        if resource.get("Type") != "AWS::Lambda::Function" or not layers or logical_id not in resources:
            continue
        arns = [resources[layer["Ref"]].physical_id if isinstance(layer, dict) else layer for layer in layers]
        lambda_client.update_function_configuration(FunctionName=resources[logical_id].physical_id, Layers=arns)
