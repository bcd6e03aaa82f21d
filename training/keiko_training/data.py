"""Training records: JSONL files in a channel folder, in TRL's standard dataset formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keiko.recipe import Method

from .contract import ContractError

# The columns each method reads, as alternatives: a record must have every column of one of them.
# Conversational variants use the same names with lists of {"role", "content"} messages.
REQUIRED_COLUMNS: dict[Method, tuple[tuple[str, ...], ...]] = {
    Method.PRETRAIN: (("text",),),
    Method.CPT: (("text",),),
    Method.SFT: (("prompt", "completion"), ("messages",), ("text",)),
    Method.PROMPT_TUNING: (("prompt", "completion"), ("messages",), ("text",)),
    Method.P_TUNING: (("prompt", "completion"), ("messages",), ("text",)),
    Method.DPO: (("chosen", "rejected"),),
    Method.ORPO: (("chosen", "rejected"),),
    Method.REWARD: (("chosen", "rejected"),),
    Method.KTO: (("prompt", "completion", "label"),),
    Method.GRPO: (("prompt",),),
    Method.RLOO: (("prompt",),),
    Method.DISTILL: (("messages",), ("prompt", "completion"), ("prompt",)),
}


def read_records(source: Path) -> list[dict[str, Any]]:
    """Read every record of a JSONL file, or of all *.jsonl files in a folder in name order."""
    files = sorted(source.glob("*.jsonl")) if source.is_dir() else [source]
    if not files:
        raise ContractError(f"no .jsonl file in {source}: the channel must hold the dataset as JSON Lines")
    records: list[dict[str, Any]] = []
    for path in files:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ContractError(f"{path.name} line {number}: invalid JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise ContractError(
                        f"{path.name} line {number}: expected a JSON object, got {type(record).__name__}"
                    )
                records.append(record)
    if not records:
        raise ContractError(f"{source} contains no records: upload a dataset with at least one line")
    return records


def check_columns(method: Method, records: list[dict[str, Any]], source: str) -> tuple[str, ...]:
    """Return the column set every record shares, or raise naming the first record that has none."""
    alternatives = REQUIRED_COLUMNS[method]
    first = _matching_columns(alternatives, records[0])
    for number, record in enumerate(records, start=1):
        if first is None or not all(_present(record, column) for column in first):
            expected = " or ".join("{" + ", ".join(columns) + "}" for columns in alternatives)
            raise ContractError(
                f"{source} record {number}: {method.value} needs the columns {expected} in every record, "
                f"got {sorted(record)}; run dataset validation or fix the record"
            )
    return first


def load_dataset(method: Method, source: Path, name: str):
    """Load a channel's JSONL as a `datasets.Dataset` after checking the method's columns."""
    from datasets import Dataset

    records = read_records(source)
    check_columns(method, records, name)
    if method is Method.KTO:
        records = [
            {**record, "label": _kto_label(record["label"], name, number)}
            for number, record in enumerate(records, start=1)
        ]
    return Dataset.from_list(records)


def _matching_columns(alternatives: tuple[tuple[str, ...], ...], record: dict[str, Any]) -> tuple[str, ...] | None:
    for columns in alternatives:
        if all(_present(record, column) for column in columns):
            return columns
    return None


def _present(record: dict[str, Any], column: str) -> bool:
    value = record.get(column)
    return value is not None and value != "" and value != []


def _kto_label(value: Any, source: str, number: int) -> bool:
    if isinstance(value, bool):
        return value
    raise ContractError(f"{source} record {number}: KTO label must be true or false, got {value!r}")
