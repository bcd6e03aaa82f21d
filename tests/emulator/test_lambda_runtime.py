"""Lambda handlers run in-process: context, environment, layers, error shape, isolation."""

from __future__ import annotations

import json
import os
import threading

import pytest

from keiko_local import FunctionError


def test_handler_sees_context_environment_layer(project_account):
    # Given EchoFunction with template variables, 256 MB and the shared layer
    function = project_account.resource("EchoFunction")

    # When it is invoked
    result = project_account.invoke("EchoFunction", {"a": 1})

    # Then the handler got the event, a real context, resolved variables and the layer's package
    assert result["event"] == {"a": 1}
    assert result["function_name"] == function.physical_id
    assert result["invoked_function_arn"] == function.arn
    assert result["memory_limit_in_mb"] == 256
    assert 0 < result["remaining_ms"] <= 30_000
    assert result["aws_request_id"]
    assert result["greeting"] == "hello"
    assert result["data_bucket"] == project_account.outputs["DataBucketName"]
    assert result["layer"] == "shared-layer"


def test_raised_exception_has_runtime_error_shape(project_account):
    # Given a handler that raises a custom exception class
    # When it is invoked through the Lambda API
    response = project_account.client("lambda").invoke(
        FunctionName=project_account.resource("FailFunction").physical_id, Payload=b"{}"
    )

    # Then the response carries the Python runtime's error shape
    payload = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "DatasetInvalid"
    assert payload["errorMessage"] == "line 3: missing field 'response'"
    assert payload["requestId"]
    assert any("app.py" in frame and "lambda_handler" in frame for frame in payload["stackTrace"])


def test_invoke_raises_function_error(project_account):
    with pytest.raises(FunctionError) as caught:
        project_account.invoke("FailFunction", {})

    assert caught.value.error_type == "DatasetInvalid"
    assert "missing field" in caught.value.error_message


def test_nested_invoke_keeps_environments_apart(project_account):
    # Given function A (MARKER=a, ONLY_A=1) that invokes function B (MARKER=b) from its handler
    function_b = project_account.resource("EnvBFunction").physical_id

    # When A runs
    result = project_account.invoke("EnvAFunction", {"call_b": function_b})

    # Then B saw only its own variables, and A got its own back afterwards
    assert result["marker"] == "a"
    assert result["only_a"] == "1"
    assert result["inner"] == {"marker": "b", "only_a": None}
    assert result["marker_after_inner"] == "a"


def test_concurrent_invokes_keep_environments_apart(project_account):
    # Given two functions with different MARKER values invoked from many threads at once
    results: dict[str, list] = {"EnvAFunction": [], "EnvBFunction": []}

    def call(function):
        for _ in range(10):
            results[function].append(project_account.invoke(function, {})["marker"])

    threads = [threading.Thread(target=call, args=(name,)) for name in results for _ in range(3)]

    # When they all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each invocation saw its own function's value
    assert results["EnvAFunction"] == ["a"] * 30
    assert results["EnvBFunction"] == ["b"] * 30


def test_environment_restored_after_invoke(project_account):
    project_account.invoke("EnvAFunction", {})

    assert "MARKER" not in os.environ
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_handler_modules_stay_separate(project_account):
    # Given two functions whose handler files are both app.py
    # When both are invoked
    echo = project_account.invoke("EchoFunction", {})
    env_b = project_account.invoke("EnvBFunction", {})

    # Then each ran its own module
    assert "layer" in echo
    assert set(env_b) == {"marker", "only_a"}


def test_new_runtime_forgets_layer_modules(tmp_path):
    # Given a module imported from a layer folder, holding a module-level cache
    import sys

    from keiko_local.lambda_runtime import forget_modules_under

    layer = tmp_path / "layer"
    (layer / "cachedpkg").mkdir(parents=True)
    (layer / "cachedpkg" / "__init__.py").write_text("CACHE = {}\n")
    sys.path.insert(0, str(layer))
    try:
        import cachedpkg

        cachedpkg.CACHE["table"] = "earlier-account-table"

        # When a runtime for a new account drops the modules loaded from its code folders
        dropped = forget_modules_under([layer])

        # Then the next import starts cold, without the earlier cache
        import cachedpkg as reimported

        assert dropped == ["cachedpkg"]
        assert reimported.CACHE == {}
        assert "json" in sys.modules
    finally:
        sys.path.remove(str(layer))
        sys.modules.pop("cachedpkg", None)
