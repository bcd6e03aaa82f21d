"""The C accelerator accepts only canonical, valid lines, measures them as the Python checks do, and
leaves validation results unchanged."""

from __future__ import annotations

import io
import json
import os
from array import array
from unittest.mock import patch

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keiko.datasets import Report, ValidationOptions, accelerator
from keiko.datasets.output import SplitWriter, partition
from keiko.datasets.shapes import MESSAGES, PREFERENCE, PROMPT_COMPLETION
from keiko.datasets.stream import iter_blocks
from keiko.datasets.validator import RecordValidator

needs_accelerator = pytest.mark.skipif(not accelerator.available(), reason="the C accelerator is not built")


def test_accelerator_is_built_where_required():
    # given a machine where the Makefile found a C compiler, then the accelerator was built
    if os.environ.get("KEIKO_REQUIRE_ACCELERATOR") != "1":
        pytest.skip("KEIKO_REQUIRE_ACCELERATOR is not 1 (make sets it where it finds a C compiler)")
    assert accelerator.available(), "setup.py did not build keiko.datasets._accelerator; see the pip install output"


SHAPES = {"messages": MESSAGES, "prompt-completion": PROMPT_COMPLETION, "preference-explicit-prompt": PREFERENCE}
METHODS = {"messages": "sft", "prompt-completion": "sft", "preference-explicit-prompt": "dpo"}

# Characters where canonical form, whitespace or UTF-8 length is easy to get wrong.
SPECIAL = (
    ' \t\n\r\x0b\x0c\x08\x00\x1c\x1f\x7f"\\/\x85\xa0é'
    "\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u3001あ語ж😀\ufeff"
)
TEXT = st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(codec="utf-8"), max_size=12)
ROLE = st.sampled_from(["system", "user", "assistant", "tool", "User", ""])


def record_strategy(format_name: str) -> st.SearchStrategy[dict]:
    """Records with their keys in the format's order, so that msgspec writes them canonically."""
    if format_name == "messages":
        message = st.builds(lambda role, content: {"role": role, "content": content}, ROLE, TEXT)
        return st.builds(lambda messages: {"messages": messages}, st.lists(message, max_size=5))
    if format_name == "prompt-completion":
        return st.builds(lambda prompt, completion: {"prompt": prompt, "completion": completion}, TEXT, TEXT)
    answer = TEXT | st.just(" same ") | st.just("same")
    return st.builds(
        lambda prompt, chosen, rejected: {"prompt": prompt, "chosen": chosen, "rejected": rejected},
        TEXT,
        answer,
        answer,
    )


def spellings(record: dict) -> st.SearchStrategy[bytes]:
    """The record as msgspec writes it, and in other valid spellings that are not canonical."""
    return st.sampled_from(
        [
            msgspec.json.encode(record),
            json.dumps(record).encode(),
            json.dumps(record, separators=(",", ":")).encode(),
            json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(),
        ]
    )


def scan(format_name: str, line: bytes) -> tuple[int, list[int], list[int], list[int]]:
    data = line + b"\n"
    return accelerator.scanner(format_name)(data, 0, len(data))


@needs_accelerator
@pytest.mark.parametrize("format_name", SHAPES)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_accepted_line_passes_python_check(format_name, data):
    # given a record in one of its spellings
    record = data.draw(record_strategy(format_name))
    line = data.draw(spellings(record))
    shape = SHAPES[format_name]

    # when the accelerator scans it
    reached, ends, prompt_characters, characters = scan(format_name, line)

    # then it accepts the line only when the line is canonical and the Python check passes,
    # with the same character counts
    decoded = msgspec.json.decode(line, type=shape.type)
    problem, normalised, expected_prompt, expected_total = shape.check(decoded)
    if ends:
        assert line == msgspec.json.encode(normalised)
        assert problem is None
        assert (prompt_characters, characters) == ([expected_prompt], [expected_total])
        assert reached == len(line) + 1
    else:
        assert reached == 0
        assert problem is not None or line != msgspec.json.encode(record)


@needs_accelerator
@pytest.mark.parametrize("format_name", SHAPES)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_canonical_valid_line_is_accepted(format_name, data):
    # given a record that passes the Python check, written as msgspec writes it
    record = data.draw(record_strategy(format_name))
    shape = SHAPES[format_name]
    problem, _, _, _ = shape.check(msgspec.convert(record, shape.type))
    line = msgspec.json.encode(record)

    # when the accelerator scans it, then it accepts it exactly when the check passes
    _, ends, _, _ = scan(format_name, line)
    assert bool(ends) == (problem is None)


@needs_accelerator
@settings(max_examples=300, deadline=None)
@given(
    tail=st.binary(max_size=40).map(lambda tail: tail.replace(b"\n", b"")), cut=st.integers(min_value=0, max_value=120)
)
def test_damaged_line_is_never_accepted(tail, cut):
    # given a valid canonical chat line, cut short or with bytes appended
    line = msgspec.json.encode(
        {"messages": [{"role": "user", "content": "Hi é"}, {"role": "assistant", "content": "Yo"}]}
    )
    damaged = line[:cut] + tail

    # when the accelerator scans it
    _, ends, _, _ = scan("messages", damaged)

    # then only the intact line is accepted
    assert bool(ends) == (damaged == line)


BLANK = ["", " ", "\u3000", " \u3000 ", "\u2028", "\x85", "\xa0", "\u1680", "\u205f", "\n\t", "\x1c", "\x0b\x0c\r"]


@needs_accelerator
@pytest.mark.parametrize("blank", BLANK)
def test_blank_text_is_left_to_python(blank):
    # given records whose text is only whitespace, as str.isspace() counts it
    chat = {"messages": [{"role": "user", "content": blank}, {"role": "assistant", "content": "Hello"}]}
    pair = {"prompt": "Hi", "chosen": blank, "rejected": "Hello"}

    # when the accelerator scans them, then it accepts neither
    assert scan("messages", msgspec.json.encode(chat))[1] == []
    assert scan("preference-explicit-prompt", msgspec.json.encode(pair))[1] == []


@needs_accelerator
@pytest.mark.parametrize("padding", [" ", "\u3000", "\n", "\u2029", "\x85 \t"])
def test_answers_equal_once_stripped_are_left_to_python(padding):
    # given a pair whose chosen and rejected texts differ only in whitespace around them
    pair = {"prompt": "Hi", "chosen": f"{padding}Open Settings.{padding}", "rejected": "Open Settings."}

    # when the accelerator scans it, then it does not accept it (the pair is identical_answers)
    assert scan("preference-explicit-prompt", msgspec.json.encode(pair))[1] == []


def validate(data: bytes, method: str, accelerated: bool) -> tuple[dict, bytes, bytes]:
    train, evaluation = MemorySink(), MemorySink()
    writer = SplitWriter(0.3, 7, train, evaluation)
    options = ValidationOptions(method=method, max_length=48)
    with patch.dict(os.environ, {"KEIKO_ACCELERATOR": "1" if accelerated else "0"}):
        validator = RecordValidator(options, Report(source="d", method=method), writer)
        for batch in iter_blocks(io.BytesIO(data).read, chunk_bytes=512):
            validator.feed(batch)
        report = validator.finish()
    writer.balance()
    writer.commit()
    return report.model_dump(), train.data, evaluation.data


@needs_accelerator
@pytest.mark.parametrize("format_name", SHAPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_accelerated_validation_matches_msgspec_path(format_name, data):
    # given a file of records in mixed spellings, some invalid, some repeated, some blank lines
    records = data.draw(st.lists(record_strategy(format_name), min_size=1, max_size=30))
    lines = [data.draw(spellings(record)) for record in records]
    lines += data.draw(st.lists(st.sampled_from([*lines, b"", b"{", b"[]"]), max_size=6))
    body = b"\n".join(data.draw(st.permutations(lines))) + b"\n"

    # when it is validated with and without the accelerator
    method = METHODS[format_name]
    accelerated = validate(body, method, True)
    plain = validate(body, method, False)

    # then the reports, the split and the written records are the same
    assert accelerated == plain


@needs_accelerator
def test_mostly_spaced_file_stops_scanning(monkeypatch):
    # given a file written by json.dumps with its default separators (never canonical)
    record = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    body = b"".join(json.dumps({**record, "id": index}).encode() + b"\n" for index in range(2_000))
    monkeypatch.setenv("KEIKO_ACCELERATOR", "1")
    validator = RecordValidator(ValidationOptions(method="sft"), Report(source="d", method="sft"), None)

    # when it is validated
    for batch in iter_blocks(io.BytesIO(body).read, chunk_bytes=64 * 1024):
        validator.feed(batch)
    report = validator.finish()

    # then every record is valid and the accelerator was given up for the piece path
    assert report.valid_records == 2_000
    assert validator.scan is None


class MemorySink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        self.data = b""


@needs_accelerator
@settings(max_examples=200, deadline=None)
@given(
    digests=st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50),
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    threshold=st.integers(min_value=0, max_value=2**32),
)
def test_partition_matches_python(digests, seed, threshold):
    # given records with arbitrary digests, a split seed and a threshold
    items = [f"record {index}".encode() for index in range(len(digests))]

    # when the accelerator and the Python code partition them, then the splits are the same
    assert accelerator.partition()(items, digests, seed, threshold) == partition(items, digests, seed, threshold)


@needs_accelerator
@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.lists(
        st.sampled_from([b'{"messages":[', b'{"role":"user","content":"x"}', b"\n", b'"', b"\\", b"\xe3\x80", b"]}"]),
        max_size=30,
    ).map(b"".join),
    format_name=st.sampled_from(list(SHAPES)),
    bounds=st.tuples(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300)),
)
def test_scan_stays_within_its_range(data, format_name, bounds):
    # given arbitrary bytes and a range inside them
    start, stop = sorted(min(bound, len(data)) for bound in bounds)

    # when the accelerator scans the range
    reached, ends, prompt_characters, characters = accelerator.scanner(format_name)(data, start, stop)

    # then every accepted line ends in a newline inside the range, and it stops where the last one ends
    assert start <= reached <= stop
    assert all(data[end - 1 : end] == b"\n" for end in ends)
    assert ends == sorted(ends)
    assert reached == (ends[-1] if ends else start)
    assert len(prompt_characters) == len(characters) == len(ends)


@needs_accelerator
def test_scan_rejects_range_outside_data():
    with pytest.raises(ValueError, match=r"range \[0, 5\) of 2 bytes"):
        accelerator.scanner("messages")(b"{}", 0, 5)


@needs_accelerator
@pytest.mark.parametrize(
    ("table", "message"),
    [
        (array("d", [0.0] * 4), "must be an array"),
        (memoryview(bytearray(33))[1:], "must be an array"),
        (array("Q", [1, 2, 3, 4]), "table is full"),
    ],
)
def test_add_digests_rejects_unusable_table(table, message):
    # given a table of the wrong type, or one with no empty slot; then adding raises instead of
    # reading it wrongly or probing forever
    with pytest.raises(ValueError, match=message):
        accelerator.add_digests()(table, [5])


@needs_accelerator
@pytest.mark.parametrize(("seed", "threshold"), [(0, -1), (0, 2**64), (-1, 5)])
def test_partition_rejects_values_beyond_64_bits(seed, threshold):
    with pytest.raises(OverflowError):
        accelerator.partition()([b"r"], [0], seed, threshold)
