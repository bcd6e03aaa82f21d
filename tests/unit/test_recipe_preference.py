"""Recipe checks on the preference section."""

import pytest
from keiko.recipe import RecipeError, parse_recipe


def test_several_preference_iterations_rejected():
    # Given a recipe that requests three preference iterations
    text = "method: sft\nmodel: {base: x}\npreference: {enabled: true, iterations: 3}\n"

    # When it is parsed, then the error names the field, the value and the fix
    with pytest.raises(RecipeError) as raised:
        parse_recipe(text)
    message = str(raised.value)
    assert "preference.iterations" in message
    assert "3 iterations requested" in message
    assert "set preference.iterations to 1" in message


def test_one_preference_iteration_accepted():
    recipe = parse_recipe("method: sft\nmodel: {base: x}\npreference: {enabled: true, iterations: 1}\n")

    assert recipe.preference.iterations == 1
