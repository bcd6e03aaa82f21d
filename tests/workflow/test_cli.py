"""`keiko local run` and `keiko invoke` against template.yaml in the emulated account."""

from __future__ import annotations

import json

import pytest
from workflow_support import DEMO_DATASET, ROOT

from keiko_cli.main import main

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

TINY_HUB_ID = "keiko-tests/tiny-llama"


def test_invoke_runs_handler_with_event(tmp_path, capsys):
    # Given a sample event from events/
    event = ROOT / "events" / "plan_training.json"

    # When one function runs with it
    status = main(["invoke", "PlanTrainingFunction", "--event", str(event), "--workdir", str(tmp_path)])

    # Then it prints the handler's result
    output = capsys.readouterr().out
    assert status == 0
    result = json.loads(output[output.index("{\n") :])
    assert result["instance_type"].startswith("ml.")
    assert result["within_budget"] is True


def test_invoke_unknown_function_lists_functions(tmp_path, capsys):
    status = main(
        ["invoke", "NoSuchFunction", "--event", str(ROOT / "events" / "plan_training.json"), "--workdir", str(tmp_path)]
    )

    output = capsys.readouterr().err
    assert status == 2
    assert "no function 'NoSuchFunction'" in output
    assert "IntakeFunction" in output


def test_invoke_handler_error_exits_1(tmp_path, capsys):
    # Given an event the handler rejects
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"run_id": "not a run"}))

    # When the function runs with it
    status = main(["invoke", "PlanTrainingFunction", "--event", str(event), "--workdir", str(tmp_path)])

    # Then the runtime's error payload is printed and the exit status is 1
    output = capsys.readouterr().out
    assert status == 1
    assert '"errorType"' in output


def test_invoke_missing_event_file_exits_2(tmp_path, capsys):
    status = main(["invoke", "PlanTrainingFunction", "--event", str(tmp_path / "missing.json")])

    assert status == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.training
def test_local_run_follows_run_to_success(tmp_path, tiny_model_dir, capsys):
    # Given a tiny model installed in the local hub cache under a hub id, and a recipe naming it
    from keiko_local.models import install_into_hub_cache

    workdir = tmp_path / "local"
    install_into_hub_cache(tiny_model_dir, workdir / "hf-home", repo_id=TINY_HUB_ID)
    recipe = tmp_path / "keiko.yaml"
    recipe.write_text(
        "method: sft\n"
        f"model:\n  base: {TINY_HUB_ID}\n  parameters_billion: 0.0001\n"
        "hyperparameters:\n  profile: local\n"
        "dataset:\n  max_length: 256\n  eval_fraction: 0.2\n"
        "preference:\n  enabled: true\n  prompts: 4\n  max_new_tokens: 16\n"
    )

    # When keiko local run uploads the demo dataset and follows the run
    status = main(
        [
            "local",
            "run",
            str(DEMO_DATASET),
            "--recipe",
            str(recipe),
            "--project",
            "cli",
            "--workdir",
            str(workdir),
            "--timeout",
            "900",
        ]
    )

    # Then every state is printed as it starts and ends, and the summary shows the outcome
    output = capsys.readouterr().out
    assert status == 0, output
    assert "▶ ValidateDataset" in output
    assert "✔ NotifyRunSucceeded" in output
    assert "Status     SUCCEEDED" in output
    assert "SFT loss   " in output
    assert "base model ->" in output
    assert "Report     " in output
    assert "Package    arn:aws:sagemaker:" in output

    # And the run's files outlive the emulated account in the work folder
    run_folders = list((workdir / "runs").iterdir())
    assert len(run_folders) == 1
    assert (run_folders[0] / "validation" / "report.md").is_file()
    assert (run_folders[0] / "data" / "train.jsonl").is_file()


def test_local_run_rejects_invalid_recipe(tmp_path, capsys):
    recipe = tmp_path / "keiko.yaml"
    recipe.write_text("method: sft\nmodel:\n  base: x\npeft:\n  r: 0\n")

    status = main(["local", "run", str(DEMO_DATASET), "--recipe", str(recipe), "--workdir", str(tmp_path)])

    output = capsys.readouterr().err
    assert status == 2
    assert "peft.r" in output


def test_local_run_missing_dataset_exits_2(tmp_path, capsys):
    status = main(["local", "run", str(tmp_path / "missing.jsonl"), "--workdir", str(tmp_path)])

    assert status == 2
    assert "not found" in capsys.readouterr().err


def test_local_run_rejects_unknown_extension(tmp_path, capsys):
    dataset = tmp_path / "chats.xlsx"
    dataset.write_bytes(b"not a dataset")

    status = main(["local", "run", str(dataset), "--recipe", str(ROOT / "samples/demo/keiko.yaml")])

    assert status == 2
    assert "chats.xlsx is not a dataset file" in capsys.readouterr().err


def test_local_run_csv_dataset_finds_recipe(tmp_path, capsys):
    # Given a CSV dataset and a recipe whose budget stops the run right after planning
    recipe = tmp_path / "keiko.yaml"
    recipe.write_text("method: sft\nmodel:\n  base: x/y\n  parameters_billion: 0.1\nbudget:\n  max_usd: 0.0001\n")
    dataset = ROOT / "samples" / "methods" / "sft-prompt-completion.csv"

    # When keiko local run uploads both
    status = main(
        [
            "local",
            "run",
            str(dataset),
            "--recipe",
            str(recipe),
            "--project",
            "csv",
            "--workdir",
            str(tmp_path / "local"),
        ]
    )

    # Then intake found the recipe under the dataset's name without extension, and the run started
    output = capsys.readouterr().out
    assert status == 1
    assert "Run csv-sft-prompt-completion-" in output
    assert "✔ ValidateDataset" in output
    assert "Error      BudgetExceeded" in output


def test_invoke_put_uploads_object_event_names(tmp_path, capsys):
    # Given the sample ValidateDataset event, which names the example bucket and an example version id
    event = ROOT / "events" / "validate_dataset.json"

    # When it runs with the dataset it names uploaded first
    status = main(
        [
            "invoke",
            "ValidateDatasetFunction",
            "--event",
            str(event),
            "--workdir",
            str(tmp_path),
            "--put",
            f"datasets/demo/support-chat.jsonl={DEMO_DATASET}",
        ]
    )

    # Then the handler read the uploaded object in the emulated account's bucket
    output = capsys.readouterr().out
    assert status == 0, output
    result = json.loads(output[output.index("{\n") :])
    assert result["valid"] is True
    assert result["records"] == 90
    assert "keiko-databucket-example" not in result["report_uri"]


def test_invoke_put_without_file_exits_2(tmp_path, capsys):
    status = main(
        [
            "invoke",
            "PlanTrainingFunction",
            "--event",
            str(ROOT / "events" / "plan_training.json"),
            "--put",
            "datasets/demo/chats.jsonl",
        ]
    )

    assert status == 2
    assert "expected KEY=FILE" in capsys.readouterr().err


def test_local_run_unknown_parameter_exits_2(tmp_path, capsys):
    recipe = ROOT / "samples/demo/keiko.yaml"

    status = main(["local", "run", str(DEMO_DATASET), "--recipe", str(recipe), "--parameter", "SliceSize=1"])

    error = capsys.readouterr().err
    assert status == 2
    assert "Unknown template parameter(s) SliceSize" in error
    assert "ValidationSliceBytes" in error


def test_local_run_parameter_below_min_value_exits_2(tmp_path, capsys):
    recipe = ROOT / "samples/demo/keiko.yaml"

    status = main(["local", "run", str(DEMO_DATASET), "--recipe", str(recipe), "--parameter", "ValidationSliceBytes=1"])

    assert status == 2
    assert "ValidationSliceBytes='1' is below MinValue 2097152" in capsys.readouterr().err


def test_local_run_malformed_parameter_exits_2(tmp_path, capsys):
    recipe = ROOT / "samples/demo/keiko.yaml"

    status = main(["local", "run", str(DEMO_DATASET), "--recipe", str(recipe), "--parameter", "ValidationSliceBytes"])

    assert status == 2
    assert "use NAME=VALUE" in capsys.readouterr().err


def test_local_run_parameter_slices_validation(tmp_path, capsys):
    # Given a 6.3 MB dataset with one bad record, and slicing lowered to 1 MiB files and 2 MiB ranges
    lines = DEMO_DATASET.read_bytes().splitlines(keepends=True)
    body = b"".join(lines * 600)
    dataset = tmp_path / "big.jsonl"
    dataset.write_bytes(body + b'{"messages": [{"role": "user", "content": "Hi"}]}\n')
    recipe = tmp_path / "keiko.yaml"
    recipe.write_text("method: sft\nmodel:\n  base: x/y\n  parameters_billion: 0.1\n")

    # When keiko local run uploads it with the parameters
    status = main(
        [
            "local",
            "run",
            str(dataset),
            "--recipe",
            str(recipe),
            "--workdir",
            str(tmp_path / "local"),
            "--parameter",
            "ValidationSliceThresholdBytes=1048576",
            "--parameter",
            "ValidationSliceBytes=2097152",
        ]
    )

    # Then the dataset was validated in byte ranges, and the run stopped at the bad record
    output = capsys.readouterr().out
    assert status == 1
    assert "✔ ValidateDatasetSlices" in output
    assert "✔ MergeDatasetSlices" in output
    assert "DatasetInvalid" in output
