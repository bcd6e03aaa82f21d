"""Reading the AI judge's verdicts and the generated synthetic pairs."""

from __future__ import annotations

import pytest
from keiko.judge import VerdictUnreadable, parse_verdict, skip_reason
from keiko.synthetic import from_pair, parse_generated, to_pair


@pytest.mark.parametrize(
    ("reply", "winner"),
    [
        ('{"winner": "A", "reason": "more precise"}', "A"),
        ('Here is my verdict:\n```json\n{"winner": "b", "reason": "kinder"}\n```', "B"),
        ('{"note": "x"} then {"winner": "B"}', "B"),
        ("A is clearly better.", "A"),
        ("Winner: B", "B"),
    ],
)
def test_verdict_is_read(reply, winner):
    assert parse_verdict(reply).winner == winner


@pytest.mark.parametrize("reply", ["", "Both are fine.", '{"winner": "C"}', "Answer: maybe"])
def test_unreadable_verdict_raises(reply):
    with pytest.raises(VerdictUnreadable):
        parse_verdict(reply)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"prompt": "p", "responses": ["a", "b"]}, None),
        ({"prompt": "", "responses": ["a", "b"]}, "missing prompt"),
        ({"prompt": "p", "responses": ["a"]}, "fewer than two responses"),
        ({"prompt": "p", "responses": ["a", "  "]}, "empty response"),
        ({"prompt": "p", "responses": ["same", "same "]}, "identical responses"),
        ({"prompt": "p", "responses": None}, "fewer than two responses"),
    ],
)
def test_skip_reason(row, reason):
    assert skip_reason(row) == reason


def test_generated_pairs_skip_bad_lines():
    text = "\n".join(
        [
            '{"instruction": "Q1", "response": "A1"},',
            "Sure! Here are some pairs:",
            '{"instruction": "Q2"}',
            '{"prompt": "Q3", "completion": "A3"}',
            "{broken json",
        ]
    )

    assert parse_generated(text) == [("Q1", "A1"), ("Q3", "A3")]


@pytest.mark.parametrize(
    "record",
    [
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
        {"prompt": "Q", "completion": "A"},
        {"instruction": "Q", "response": "A"},
    ],
)
def test_pairs_keep_the_seed_shape(record):
    assert to_pair(record) == ("Q", "A")
    assert from_pair("Q", "A", record) == record


def test_chat_prompt_is_usable():
    row = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "responses": ["a", "b"],
    }

    assert skip_reason(row) is None


def test_prompt_of_other_type_is_missing():
    assert skip_reason({"prompt": 42, "responses": ["a", "b"]}) == "missing prompt"
