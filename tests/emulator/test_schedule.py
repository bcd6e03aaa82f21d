"""Schedule rules: firing one delivers the Scheduled Event to its targets."""

from __future__ import annotations

from pathlib import Path

from keiko_local import LocalAccount

PROJECT = Path(__file__).parent / "fixtures" / "project"


def _deliveries_to(account, arn):
    return [delivery for delivery in account.delivered_events if delivery["target"] == arn]


def test_enabled_schedule_fires(tmp_path):
    # Given the schedule rule enabled through a template parameter
    with LocalAccount(PROJECT, workdir=tmp_path, parameters={"ScheduleState": "ENABLED"}) as account:
        echo_arn = account.resource("EchoFunction").arn

        # When the schedule is fired
        event = account.fire_schedule("ScheduledRule")

        # Then the event has the Scheduled Event shape and the target got the rule's Input
        assert event["source"] == "aws.events"
        assert event["detail-type"] == "Scheduled Event"
        assert event["detail"] == {}
        assert event["resources"] == [account.resource("ScheduledRule").arn]
        assert [d["input"] for d in _deliveries_to(account, echo_arn)] == [{"trigger": "schedule"}]
