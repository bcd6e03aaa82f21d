"""Built-in reward functions for GRPO and RLOO, called as TRL calls them."""

from __future__ import annotations

import pytest
from keiko_training.contract import ContractError
from keiko_training.rewards import import_function, make_exact_match, make_format_reward, make_length_reward


def test_exact_match_normalises_case_and_spaces() -> None:
    reward = make_exact_match("solution")

    scores = reward(
        prompts=["q1", "q2", "q3"],
        completions=["  Paris ", [{"role": "assistant", "content": "four"}], "5"],
        completion_ids=[[1], [2], [3]],
        solution=["paris", "Four", "4"],
    )

    assert scores == [1.0, 1.0, 0.0]


def test_exact_match_names_missing_column() -> None:
    with pytest.raises(ContractError, match="'solution' column"):
        make_exact_match("solution")(completions=["x"], answer=["x"])


def test_format_reward_searches_pattern() -> None:
    reward = make_format_reward(r"<answer>.+</answer>")

    assert reward(completions=["so <answer>4</answer>", "4", "<answer></answer>"]) == [1.0, 0.0, 0.0]


def test_format_reward_rejects_invalid_pattern() -> None:
    with pytest.raises(ContractError, match="not a valid regular expression"):
        make_format_reward("(")


def test_length_reward_peaks_at_target() -> None:
    reward = make_length_reward(4)

    scores = reward(completions=["", "", "", ""], completion_ids=[[0] * 4, [0] * 2, [0] * 6, [0] * 20])

    assert scores == [0.0, -0.5, -0.5, -1.0]


def test_import_function_names_spec() -> None:
    with pytest.raises(ContractError, match="judge 'absent_module:score' cannot be imported"):
        import_function("absent_module:score", "judge")
    assert import_function("math:sqrt")(4) == 2
