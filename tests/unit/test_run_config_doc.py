"""docs/run-config.md holds the current recipe reference."""

from __future__ import annotations

from pathlib import Path

from keiko.recipe import Recipe
from keiko.recipe_reference import MEANINGS, render_reference, section_model

DOC = Path(__file__).resolve().parents[2] / "docs" / "run-config.md"


def test_reference_tables_are_current():
    assert render_reference() in DOC.read_text(), (
        "docs/run-config.md is stale: run `python -m keiko.recipe_reference docs/run-config.md`"
    )


def test_every_recipe_field_has_a_meaning():
    missing = []
    for name, field in Recipe.model_fields.items():
        if name in {"method", "hyperparameters"}:
            continue
        for sub_name, sub_field in section_model(field).model_fields.items():
            path = f"{name}.{sub_name}"
            if not sub_field.description and path not in MEANINGS:
                missing.append(path)

    assert missing == []


def test_meanings_name_existing_fields():
    paths = {
        f"{name}.{sub_name}"
        for name, field in Recipe.model_fields.items()
        if name not in {"method", "hyperparameters"}
        for sub_name in section_model(field).model_fields
    }

    assert set(MEANINGS) - paths == set()
