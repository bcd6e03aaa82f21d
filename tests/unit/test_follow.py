"""How `keiko local run` prints an execution's history events."""

from __future__ import annotations

from keiko_cli.follow import RunFollower


class _AccountWithoutJobs:
    def on_training_output(self, listener) -> None:
        self.listener = listener


def _entered(name: str) -> dict:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def _exited(name: str) -> dict:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


def test_caught_task_failure_printed_as_failed(capsys):
    # Given a task whose failure a Catch handles, so the state still exits
    follower = RunFollower(_AccountWithoutJobs())
    events = [
        _entered("TrainModel"),
        {"type": "TaskFailed", "taskFailedEventDetails": {"error": "TrainingJobFailed", "cause": "..."}},
        _exited("TrainModel"),
        _entered("ValidateDataset"),
        _exited("ValidateDataset"),
    ]

    # When the events are printed
    for event in events:
        follower._print_event(event)

    # Then the failed state is marked with its error and the next one as done
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  ✖ TrainModel")
    assert lines[1].endswith("TrainingJobFailed")
    assert lines[3].startswith("  ✔ ValidateDataset")
