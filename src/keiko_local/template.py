"""Turn a SAM template.yaml into the CloudFormation template that moto deploys.

`sam package` would upload each CodeUri/ContentUri folder and DefinitionUri file to S3. Here the
folders are zipped into a bucket of the emulated account, the state machine definitions are inlined
as `Definition`, and samtranslator translates the result offline.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cfnlint.decode import cfn_yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

_SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class TemplateError(ValueError):
    """template.yaml cannot be loaded, packaged or translated."""


@dataclass
class PackagedTemplate:
    """A SAM template whose local code paths now point at zips in the emulated account."""

    template: dict[str, Any]
    # (bucket, key) of each uploaded zip -> the folder it was made from
    code_sources: dict[tuple[str, str], Path] = field(default_factory=dict)


def load_template(path: Path) -> dict[str, Any]:
    """Load a YAML or JSON CloudFormation/SAM template, short-form intrinsics (!Ref, !Sub) included."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"Cannot read template {path}: {error}") from error
    try:
        decoded = cfn_yaml.loads(text, fname=str(path))
    except Exception as error:  # cfn-lint raises its own and yaml's errors
        raise TemplateError(f"Template {path} is not valid YAML or JSON: {error}") from error
    # cfn-lint returns dict and str subclasses that carry line marks; plain types copy and compare cleanly.
    return json.loads(json.dumps(decoded))


def zip_folder(folder: Path) -> bytes:
    """Zip a folder's files (caches left out) with fixed timestamps, so the same tree gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_dir() or _SKIPPED_NAMES.intersection(relative.parts) or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def package(template: Mapping[str, Any], template_dir: Path, s3_client: Any, bucket: str) -> PackagedTemplate:
    """Upload local code folders, inline local state machine definitions; return the new template."""
    packaged = PackagedTemplate(copy.deepcopy(dict(template)))
    function_globals = packaged.template.get("Globals", {}).get("Function", {})

    for logical_id, resource in packaged.template.get("Resources", {}).items():
        properties = resource.setdefault("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and "InlineCode" not in properties:
            code_uri = properties.get("CodeUri", function_globals.get("CodeUri"))
            if _is_local(code_uri):
                properties["CodeUri"] = _upload(packaged, template_dir / code_uri, logical_id, s3_client, bucket)
        elif kind == "AWS::Serverless::LayerVersion" and _is_local(properties.get("ContentUri")):
            folder = template_dir / properties["ContentUri"]
            properties["ContentUri"] = _upload(packaged, folder, logical_id, s3_client, bucket)
        elif kind == "AWS::Serverless::StateMachine" and _is_local(properties.get("DefinitionUri")):
            properties["Definition"] = _load_definition(template_dir / properties.pop("DefinitionUri"))
    return packaged


def _is_local(uri: Any) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def _upload(packaged: PackagedTemplate, folder: Path, logical_id: str, s3_client: Any, bucket: str) -> str:
    if not folder.is_dir():
        raise TemplateError(f"{logical_id}: code folder {folder} does not exist")
    archive = zip_folder(folder)
    key = f"artifacts/{logical_id}/{hashlib.sha256(archive).hexdigest()[:16]}.zip"
    s3_client.put_object(Bucket=bucket, Key=key, Body=archive)
    packaged.code_sources[(bucket, key)] = folder.resolve()
    return f"s3://{bucket}/{key}"


def _load_definition(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"Cannot read state machine definition {path}: {error}") from error
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise TemplateError(f"State machine definition {path} is not valid: {error}") from error


def translate(template: Mapping[str, Any], parameters: Mapping[str, str], iam_client: Any) -> dict[str, Any]:
    """Translate SAM resources to CloudFormation offline, as the AWS::Serverless transform does."""
    if "Transform" not in template:
        return copy.deepcopy(dict(template))
    try:
        return transform(copy.deepcopy(dict(template)), dict(parameters), ManagedPolicyLoader(iam_client))
    except Exception as error:  # samtranslator raises InvalidDocumentException and others
        raise TemplateError(f"SAM translation failed: {error}") from error


def _parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Return every template parameter's value: the override if given, else its default."""
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"Unknown template parameter(s) {', '.join(unknown)}; the template declares: "
            f"{', '.join(sorted(declared)) or 'none'}"
        )
    values = {name: _parameter_text(spec["Default"]) for name, spec in declared.items() if "Default" in spec}
    values.update({name: _parameter_text(value) for name, value in overrides.items()})
    missing = sorted(set(declared) - set(values))
    if missing:
        raise TemplateError(f"Template parameter(s) {', '.join(missing)} have no default; pass a value for each")
    for name, value in values.items():
        problem = _constraint_problem(declared[name], value)
        if problem:
            raise TemplateError(f"Template parameter {name}={value!r} {problem}, as CloudFormation would reject it")
    return values


def _constraint_problem(spec: Mapping[str, Any], value: str) -> str | None:
    """Return how `value` breaks the parameter's constraints, as CloudFormation checks them, or None."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_parameter_text(item) for item in allowed]:
        return f"is not one of {', '.join(map(_parameter_text, allowed))}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(pattern, value) is None:
        return f"does not match {pattern}"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"is below MinValue {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"is above MaxValue {spec['MaxValue']}"
    return None
