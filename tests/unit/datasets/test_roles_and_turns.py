import pytest
from dataset_helpers import chat, only_error


def messages(*turns):
    return {"messages": [{"role": role, "content": f"{role} text {index}"} for index, role in enumerate(turns)]}


@pytest.mark.parametrize(
    ("turns", "kind", "field"),
    [
        (("user", "bot"), "invalid_role", "messages[1].role"),
        (("assistant", "user", "assistant"), "bad_turn_order", "messages[0].role"),
        (("user", "user", "assistant"), "bad_turn_order", "messages[1].role"),
        (("user", "assistant", "system", "user", "assistant"), "bad_turn_order", "messages[2].role"),
        (("user", "assistant", "user"), "bad_turn_order", "messages[2].role"),
    ],
)
def test_bad_turns(validate_lines, turns, kind, field):
    report = validate_lines([messages(*turns)])
    error = only_error(report)
    assert error.kind == kind
    assert error.line == 1
    assert error.field == field


@pytest.mark.parametrize(
    "turns",
    [
        ("user", "assistant"),
        ("system", "user", "assistant", "user", "assistant"),
        ("user", "assistant", "tool", "assistant"),
    ],
)
def test_good_turns(validate_lines, turns):
    # A second record, because a valid dataset needs one record in each of train and evaluation
    assert validate_lines([messages(*turns), chat()]).valid


def test_conversational_preference_answer_must_be_assistant(validate_lines):
    record = {
        "prompt": [{"role": "user", "content": "Hi?"}],
        "chosen": [{"role": "user", "content": "Hello."}],
        "rejected": [{"role": "assistant", "content": "Go away."}],
    }
    error = only_error(validate_lines([record], "dpo"))
    assert error.kind == "bad_turn_order"
    assert error.field == "chosen[0].role"
