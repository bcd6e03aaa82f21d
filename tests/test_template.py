"""Checks of template.yaml, the state machine definitions and the handlers they name.

The linters run as subprocesses: cfn-lint from .venv, and sam from .venv-tools (its own environment,
because aws-sam-cli pins exact boto3 versions). A missing linter fails the test; `make install`
creates both.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".venv-tools" / "bin" / "sam"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
STATE_MACHINES = sorted((ROOT / "statemachines").glob("*.asl.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
PASCAL_CASE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+$")
# Lambda sets these itself and rejects templates that set them.
RESERVED_VARIABLES = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
}
HANDLER_DECORATORS = [
    "logger.inject_lambda_context",
    "tracer.capture_lambda_handler",
    "metrics.log_metrics",
    "bind_run_id",
]


def offline_environment() -> dict[str, str]:
    return {
        **os.environ,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def load_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def run_linter(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=offline_environment(), capture_output=True, text=True)


def test_template_passes_cfn_lint():
    # given the template; when cfn-lint checks it
    result = run_linter([str(CFN_LINT), str(TEMPLATE)])

    # then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_passes_sam_validate_lint():
    # given the sam command from `make install`
    assert SAM.exists(), f"{SAM} is missing: run `make install` to create .venv-tools with aws-sam-cli"

    # when sam validates and lints the template
    result = run_linter([str(SAM), "validate", "--lint", "--region", "us-east-1", "--template", str(TEMPLATE)])

    # then it accepts it
    assert result.returncode == 0, result.stdout + result.stderr


class NoManagedPolicies:
    """samtranslator loads managed policy ARNs only for policies named in a template, and this one names none."""

    def load(self) -> dict[str, str]:
        return {}


def translated_template() -> dict[str, Any]:
    """Translate template.yaml as `sam deploy` would, with code on S3 and definitions inlined."""
    # The translator reads the region for pseudo parameters from the boto3 environment.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = load_template()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://keiko-code/function.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://keiko-code/layer.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = json.loads((ROOT / properties.pop("DefinitionUri")).read_text())
    return transform(template, {}, NoManagedPolicies())


def test_translated_template_passes_cfn_lint(tmp_path):
    # given the CloudFormation template SAM produces, state machine definitions included
    output = tmp_path / "translated.json"
    output.write_text(json.dumps(translated_template()))

    # when cfn-lint checks it
    result = run_linter([str(CFN_LINT), str(output)])

    # then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


def allow_statements(node: Any):
    """Yield every IAM statement with Effect Allow anywhere in a template."""
    if isinstance(node, dict):
        if node.get("Effect") == "Allow" and "Action" in node:
            yield node
        for value in node.values():
            yield from allow_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from allow_statements(value)


@pytest.mark.parametrize("source", ["template.yaml", "translated"])
def test_iam_allows_no_wildcard_actions(source):
    # given the template before and after SAM's translation
    template = load_template() if source == "template.yaml" else translated_template()

    # when every allowed action is listed
    actions = []
    for statement in allow_statements(template):
        listed = statement["Action"]
        actions.extend(listed if isinstance(listed, list) else [listed])

    # then none is a wildcard
    assert actions
    assert [action for action in actions if "*" in str(action)] == []


def test_functions_set_no_reserved_environment_variables():
    template = load_template()
    environments = [template["Globals"]["Function"]["Environment"]["Variables"]]
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        environments.append(function["Properties"].get("Environment", {}).get("Variables", {}))

    names = {name for variables in environments for name in variables}

    assert names & RESERVED_VARIABLES == set()
    assert [name for name in names if name.startswith("AWS_")] == []


def test_every_function_folder_has_one_function():
    template = load_template()
    code_uris = {
        function["Properties"]["CodeUri"]
        for function in resources_of_type(template, "AWS::Serverless::Function").values()
    }
    folders = {f"functions/{path.name}" for path in (ROOT / "functions").iterdir() if path.is_dir()}
    folders = {folder for folder in folders if not folder.endswith("__pycache__")}

    assert code_uris == folders


@pytest.mark.parametrize("app", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda p: p.parent.name)
def test_handler_is_thin_with_decorators_in_order(app):
    # given a handler module
    module = ast.parse(app.read_text())
    handlers = [node for node in module.body if isinstance(node, ast.FunctionDef)]

    # then it defines one lambda_handler, decorated in the fixed order, whose body is one return
    assert [handler.name for handler in handlers] == ["lambda_handler"]
    decorators = [ast.unparse(decorator).split("(")[0] for decorator in handlers[0].decorator_list]
    assert decorators == HANDLER_DECORATORS
    assert len(handlers[0].body) == 1
    assert isinstance(handlers[0].body[0], ast.Return)
    assert not any(
        isinstance(node, ast.Call) and ast.unparse(node.func).endswith("client") for node in ast.walk(module)
    ), "no boto3 client may be created in a handler module"


# ---------------------------------------------------------------- state machine definitions


def load_definition(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def transitions(state: dict[str, Any]) -> list[str]:
    """Return every state name a state can move to."""
    targets = [state.get("Next"), state.get("Default")]
    targets += [choice.get("Next") for choice in state.get("Choices", [])]
    targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
    return [target for target in targets if target]


def all_states(definition: dict[str, Any], enclosing: dict[str, Any] | None = None):
    """Yield (name, state, enclosing Map or Parallel state or None) for every state, nested ones included."""
    for name, state in definition["States"].items():
        yield name, state, enclosing
        for branch in state.get("Branches", []):
            yield from all_states(branch, state)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from all_states(state[key], state)


def check_graph(definition: dict[str, Any], where: str) -> list[str]:
    """Return the problems of one state graph (a machine, or a Map or Parallel branch)."""
    states = definition["States"]
    problems = []
    if definition.get("StartAt") not in states:
        problems.append(f"{where}: StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        for target in transitions(state):
            if target not in states:
                problems.append(f"{where}: {name} moves to {target!r}, which is not a state")
        if state["Type"] not in {"Choice", "Succeed", "Fail"} and "Next" not in state and not state.get("End"):
            problems.append(f"{where}: {name} has neither Next nor End")

    reached, pending = set(), [definition.get("StartAt")]
    while pending:
        name = pending.pop()
        if name in reached or name not in states:
            continue
        reached.add(name)
        pending.extend(transitions(states[name]))
    problems += [f"{where}: {name} is unreachable" for name in states if name not in reached]
    return problems


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_state_machine_graph_is_complete(path):
    # given a definition
    definition = load_definition(path)

    # when its graph is walked, and each Map or Parallel branch too
    problems = check_graph(definition, path.name)
    for name, state, _ in all_states(definition):
        for index, branch in enumerate(state.get("Branches", [])):
            problems += check_graph(branch, f"{path.name} {name} branch {index}")
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                problems += check_graph(state[key], f"{path.name} {name}")

    # then every target exists and every state is reachable
    assert problems == []


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_every_task_retries_and_catches(path):
    definition = load_definition(path)

    tasks = {name: (state, enclosing) for name, state, enclosing in all_states(definition) if state["Type"] == "Task"}

    assert tasks
    for name, (state, enclosing) in tasks.items():
        # A task inside a Map or Parallel state is covered by that state's Catch.
        catching = enclosing if enclosing is not None else state
        caught = {error for catcher in catching.get("Catch", []) for error in catcher["ErrorEquals"]}
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert "States.ALL" in caught, f"{name} has no Catch for States.ALL"
        assert "Lambda.TooManyRequestsException" in retried, f"{name} does not retry Lambda throttling"
        assert "Lambda.ServiceException" in retried, f"{name} does not retry Lambda service errors"


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_every_task_token_wait_has_a_timeout(path):
    definition = load_definition(path)

    waits = {
        name: state
        for name, state, _ in all_states(definition)
        if state["Type"] == "Task" and state["Resource"].endswith(".waitForTaskToken")
    }

    for name, state in waits.items():
        assert {"TimeoutSeconds", "TimeoutSecondsPath"} & set(state), f"{name} waits without a timeout"


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_state_names_and_comments_read_well(path):
    definition = load_definition(path)

    assert len(definition.get("Comment", "")) > 40, "the machine needs a prose Comment"
    for name, _, _ in all_states(definition):
        assert PASCAL_CASE.match(name), f"state {name!r} is not PascalCase verb-object"


@pytest.mark.parametrize("path", STATE_MACHINES, ids=lambda p: p.name)
def test_definition_avoids_what_the_local_engine_gets_wrong(path):
    # moto's Step Functions engine returns a list for `$.a[0].b`, and fails on JSONata and Assign.
    text = path.read_text()
    definition = load_definition(path)

    assert not re.search(r'"\$[^"]*\[\d+\][^"]*"', text), "use States.ArrayGetItem instead of [n] in paths"
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    for name, state, _ in all_states(definition):
        assert "Assign" not in state, f"{name} uses Assign"
        assert state.get("QueryLanguage", "JSONPath") == "JSONPath", f"{name} uses JSONata"


def test_definition_substitutions_match_placeholders():
    # given every state machine in the template
    machines = resources_of_type(load_template(), "AWS::Serverless::StateMachine")
    assert machines

    for name, machine in machines.items():
        properties = machine["Properties"]
        placeholders = set(PLACEHOLDER.findall((ROOT / properties["DefinitionUri"]).read_text()))

        # then each ${...} has a substitution and each substitution is used
        assert placeholders == set(properties.get("DefinitionSubstitutions", {})), name


def test_every_state_machine_file_is_deployed():
    machines = resources_of_type(load_template(), "AWS::Serverless::StateMachine").values()

    deployed = {machine["Properties"]["DefinitionUri"] for machine in machines}

    assert deployed == {f"statemachines/{path.name}" for path in STATE_MACHINES}


def test_distributed_maps_may_start_their_child_executions():
    # given every state machine with a Distributed Map
    for name, machine in resources_of_type(load_template(), "AWS::Serverless::StateMachine").items():
        properties = machine["Properties"]
        definition = load_definition(ROOT / properties["DefinitionUri"])
        distributed = [
            state_name
            for state_name, state, _ in all_states(definition)
            if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
        ]
        if not distributed:
            continue

        # then the machine is named, and its role may start executions of that name only
        machine_name = properties["Name"]["Fn::Sub"]
        resources = [
            statement["Resource"]["Fn::Sub"]
            for policy in properties["Policies"]
            if isinstance(policy, dict) and "Statement" in policy
            for statement in policy["Statement"]
            if statement["Action"] == "states:StartExecution"
        ]
        own_arn = f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{machine_name}"
        assert resources == [own_arn], (name, distributed)
