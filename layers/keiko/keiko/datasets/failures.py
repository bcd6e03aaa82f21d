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
_NON_FINITE_MEMBER = re.compile(r'"(?P<key>(?:[^"\\]|\\.)*)"\s*:\s*-?(?:NaN|Infinity)\b')


class _NonFinite(ValueError):
    pass


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def classify_failure(line: bytes, error: msgspec.DecodeError, shape: Shape, shapes: tuple[Shape, ...]) -> Problem:
    """Return the problem of a non-blank line that msgspec could not decode into `shape`."""
    if isinstance(error, msgspec.ValidationError):
        return _classify_validation(line, str(error), shape, shapes)
    return classify_syntax(line, str(error))


def classify_syntax(line: bytes, detail: str) -> Problem:
    """Name the syntax problem of a line that is not valid JSON."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (
            f"invalid UTF-8 at byte {exc.start + 1} of the line (0x{line[exc.start]:02x}); save the file as UTF-8."
        )
        return "invalid_utf8", None, message
    try:
        json.loads(text, parse_constant=_reject_constant)
    except _NonFinite:
        match = _NON_FINITE_MEMBER.search(text)
        field = match["key"] if match else None
        where = f"{field} is" if field else "the record contains"
        return (
            "nan_or_infinity",
            field,
            f"{where} NaN or Infinity, which JSON does not allow; use a number or null.",
        )
    except ValueError:
        pass
    return "invalid_json", None, f"invalid JSON ({detail}); fix or remove the line."


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

    if missing:
        field = f"{path}.{missing['name']}" if path else missing["name"]
        return (
            "missing_field",
            field,
            f"{field} is missing; records in format {shape.name!r} need {', '.join(shape.keys)}.",
        )
    hint = " Use true or false." if "`bool`" in what else ""
    return "wrong_type", path or None, f"{path or 'the record'}: {what}.{hint}"


def _reject_constant(name: str):
    raise _NonFinite(name)


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
