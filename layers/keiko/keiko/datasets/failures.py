"""Name what is wrong with a line that did not decode into the expected record format.

This is the slow path: it runs only for lines that failed, so it may parse them again.
"""

from __future__ import annotations

import json
import re

import msgspec
import orjson

from keiko.datasets.shapes import Shape, detect_shape
from keiko.datasets.turns import Problem

_LOCATION = re.compile(r"^(?P<detail>.*?)(?: - at `\$(?P<path>.*)`)?$", re.DOTALL)
_MISSING = re.compile(r"missing required field `(?P<name>[^`]*)`")


class _NonFinite:
    """Stands in for a NaN or Infinity constant while a line is parsed, to find its path."""

    def __init__(self, name: str) -> None:
        self.name = name


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def classify_failure(line: bytes, error: msgspec.DecodeError, shape: Shape, shapes: tuple[Shape, ...]) -> Problem:
    """Return the problem of a non-blank line that msgspec could not decode into `shape`."""
    if isinstance(error, msgspec.ValidationError):
        return _classify_validation(line, str(error), shape, shapes)
    return classify_syntax(line, str(error), shapes)


def classify_syntax(line: bytes, detail: str, shapes: tuple[Shape, ...] = ()) -> Problem:
    """Name the syntax problem of a line that is not valid JSON; `shapes` tell what type a field
    holds, for the advice on NaN and Infinity."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (
            f"invalid UTF-8 at byte {exc.start + 1} of the line (0x{line[exc.start]:02x}); save the file as UTF-8."
        )
        return "invalid_utf8", None, message
    try:
        value = json.loads(text, parse_constant=_NonFinite)
    except ValueError:
        return "invalid_json", None, f"invalid JSON ({detail}); fix or remove the line."
    found = _find_non_finite(value, "")
    if found is None:
        return "invalid_json", None, f"invalid JSON ({detail}); fix or remove the line."
    path, name = found
    where = f"{path} is {name}" if path else f"the record is {name}"
    advice = _non_finite_advice(path, shapes)
    return "nan_or_infinity", path or None, f"{where}, which JSON does not allow; {advice}"


def classify_unknown(line: bytes, value, shapes: tuple[Shape, ...]) -> Problem | None:
    """Return the problem of a record whose keys are those of exactly one format but whose values
    do not fit it, such as a message without content; None when no single format matches."""
    if not isinstance(value, dict):
        return None
    candidates = [shape for shape in shapes if all(key in value for key in shape.keys)]
    if len(candidates) != 1:
        return None
    try:
        msgspec.convert(value, candidates[0].type)
    except msgspec.ValidationError as exc:
        return _classify_validation(line, str(exc), candidates[0], shapes)
    return None


def _find_non_finite(value, path: str) -> tuple[str, str] | None:
    """Return the field path and constant name of the first NaN or Infinity in a parsed value."""
    if isinstance(value, _NonFinite):
        return path, value.name
    if isinstance(value, dict):
        items = ((f"{path}.{key}" if path else key, item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for item_path, item in items:
        found = _find_non_finite(item, item_path)
        if found is not None:
            return found
    return None


def _non_finite_advice(path: str, shapes: tuple[Shape, ...]) -> str:
    """Say what to write instead, from the type the record formats give the field's top-level key.

    Every format's fields are text or message lists (whose role and content are text) except a KTO
    `label`, which is boolean. Reward columns and keys no format reads may hold any JSON value.
    """
    key = re.split(r"[.\[]", path, maxsplit=1)[0]
    for shape in shapes:
        for field in msgspec.structs.fields(shape.type):
            if field.encode_name != key:
                continue
            if field.type is bool:
                return "use true or false."
            if field.type is str or getattr(field.type, "__origin__", None) is list:
                return "the field holds text, so write it as a JSON string."
    return "use a number or null."


def _classify_validation(line: bytes, detail: str, shape: Shape, shapes: tuple[Shape, ...]) -> Problem:
    match = _LOCATION.match(detail)
    what, path = match["detail"], (match["path"] or "").lstrip(".")
    missing = _MISSING.search(what)
    if not path and what.startswith("Expected `object`"):
        return "not_an_object", None, f"the line is not a JSON object ({what}); write one object per line."

    if "[" not in path and "." not in path:
        try:
            other = detect_shape(orjson.loads(line), shapes)
        except orjson.JSONDecodeError:  # integers over 64 bits, which msgspec accepts
            other = None
        if other is not None and other.name != shape.name:
            message = f"the record is in format {other.name!r} but the dataset is {shape.name!r}; use one format."
            return "mixed_formats", None, message

    if missing and path:
        field = f"{path}.{missing['name']}"
        return "missing_field", field, f"{field} is missing; add {missing['name']!r} to {path}."
    if missing:
        field = missing["name"]
        return (
            "missing_field",
            field,
            f"{field} is missing; records in format {shape.name!r} need {', '.join(shape.keys)}.",
        )
    hint = " Use true or false." if "`bool`" in what else ""
    return "wrong_type", path or None, f"{path or 'the record'}: {what}.{hint}"


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def find_duplicate_key(line: bytes) -> str | None:
    """Return a key that occurs twice in one JSON object of the line, or None."""
    try:
        json.loads(line, object_pairs_hook=_reject_duplicates)
    except _DuplicateKey as exc:
        return exc.key
    except ValueError:
        return None
    return None


def make_duplicate_probe(shape: Shape):
    """Return a cheap test that is true whenever a key the shape reads could occur twice.

    A key written literally as `"name"` appears once per object; inside a string value the quotes
    would be escaped. A true result is confirmed by `find_duplicate_key`. The validator runs it only
    when a line has more `":` than `shape.count_keys` expects.
    NOTE: a duplicate spelled with \\u escapes, or of a key the shape ignores, is not probed. The
    ignored keys are not written to the training data.
    """
    top = tuple(f'"{name}"'.encode() for name in shape.type.__struct_fields__)
    nested = tuple(f'"{name}"'.encode() for name in shape.nested_keys)
    list_fields = tuple(shape.keys if nested else ())

    def probe(line: bytes, record) -> bool:
        for key in top:
            if line.count(key) > 1:
                return True
        if nested:
            messages = 0
            for name in list_fields:
                value = getattr(record, name)
                if type(value) is list:
                    messages += len(value)
            for key in nested:
                if line.count(key) > messages:
                    return True
        return False

    return probe
