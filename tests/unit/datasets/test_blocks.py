"""Validating JSONL in decoded pieces gives the same report as validating it line by line."""

import io
from unittest.mock import patch

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from keiko.datasets import Report, ValidationOptions
from keiko.datasets import validator as validator_module
from keiko.datasets.output import SplitWriter
from keiko.datasets.stream import Block, iter_blocks
from keiko.datasets.validator import RecordValidator


def chat_line(user: str, assistant: str) -> bytes:
    return orjson.dumps({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]})


GOOD = chat_line("How do I reset it?", "Open Settings.")
LINES = [
    GOOD,
    chat_line("Hi", "Hello"),
    chat_line("パスワード?", 'Use "Settings" \\ then Security.\nDone.'),
    b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}',
    b'{"messages":[{"content":"Hi","role":"user"},{"content":"Hello","role":"assistant"}]}',
    b'{"messages":[{"role":"user","content":"\\u0048i"},{"role":"assistant","content":"Hello"}]}',
    b'{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"id":7}',
    GOOD[:-1] + b',"messages":[]}',
    b'{"messages":[{"role":"user","content":"Hi","content":"Ho"},{"role":"assistant","content":"Hey"}]}',
    GOOD + GOOD,
    GOOD + b" " + chat_line("Hi", "Hello"),
    GOOD + b"\r",
    GOOD + b"\r" + GOOD,
    b"",
    b"   ",
    b"\t",
    GOOD[:-3],
    chat_line("Hi", " "),
    b'{"messages":[{"role":"assistant","content":"Hi"}]}',
    b'{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":7}]}',
    b"[1, 2]",
    b"\xff\xfe",
    chat_line("long " * 60, "ok"),
]


def validate(data: bytes, as_blocks: bool, chunk_bytes: int) -> tuple[Report, str]:
    options = ValidationOptions(method="sft", max_length=64)
    writer = SplitWriter(0.1, 42)
    validator = RecordValidator(options, Report(source="data.jsonl", method="sft"), writer)
    for batch in iter_blocks(io.BytesIO(data).read, chunk_bytes=chunk_bytes):
        validator.feed(batch if as_blocks or not isinstance(batch, Block) else batch.lines())
    return validator.finish(), writer.content_hash()


@given(
    lines=st.lists(st.sampled_from(LINES), max_size=40),
    trailing_newline=st.booleans(),
    chunk_bytes=st.integers(min_value=200, max_value=3000),
    piece_bytes=st.integers(min_value=1, max_value=2000),
)
@settings(max_examples=300, deadline=None)
def test_pieces_match_line_by_line(lines, trailing_newline, chunk_bytes, piece_bytes):
    # Given a valid first record, then any mix of good, non-canonical, broken and blank lines
    data = b"\n".join([GOOD, *lines]) + (b"\n" if trailing_newline else b"")
    # When it is validated in decoded pieces and line by line
    with patch.object(validator_module, "PIECE_BYTES", piece_bytes):
        pieces, pieces_hash = validate(data, as_blocks=True, chunk_bytes=chunk_bytes)
    lines_report, lines_hash = validate(data, as_blocks=False, chunk_bytes=chunk_bytes)
    # Then counts, errors, warnings, statistics and the written data are the same
    assert pieces.model_dump(exclude={"warnings"}) == lines_report.model_dump(exclude={"warnings"})
    key = lambda example: (example.kind, example.line or 0)  # noqa: E731
    assert sorted(pieces.warnings, key=key) == sorted(lines_report.warnings, key=key)
    assert pieces_hash == lines_hash


def test_two_records_on_one_line_are_invalid(validate_lines):
    # Given compact records where one line contains two records and a blank line follows
    report = validate_lines([GOOD, GOOD + GOOD, b"", chat_line("a?", "b.")])
    # Then the double line is invalid JSON at line 2, and line numbers count the blank line
    assert report.errors_by_kind == {"invalid_json": 1}
    assert report.errors[0].line == 2
    assert report.valid_records == 2
    assert report.stats.blank_lines == 1


def test_repeated_key_in_compact_record(validate_lines):
    line = b'{"messages":[{"role":"user","content":"Hi","content":"Ho"},{"role":"assistant","content":"Hey"}]}'
    report = validate_lines([GOOD, line])
    assert report.errors_by_kind == {"duplicate_key": 1}
    assert report.errors[0].line == 2
    assert report.errors[0].field == "content"


def test_blank_line_and_double_line_in_one_piece():
    # Given a piece of spaced records where a blank line and a line with two records balance out
    spaced = LINES[3]
    data = b"\n".join([spaced, GOOD + GOOD, b"", spaced]) + b"\n"
    validator = RecordValidator(ValidationOptions(method="sft"), Report(source="d.jsonl", method="sft"), None)
    validator.feed([GOOD])
    # When it is validated as one block after the format is known
    validator.feed(Block(data, 0, len(data)))
    report = validator.finish()
    # Then the double line is invalid and the blank line is skipped, as line by line
    assert report.errors_by_kind == {"invalid_json": 1}
    assert report.errors[0].line == 3
    assert report.stats.blank_lines == 1
    assert report.valid_records == 3
