"""Validating JSONL in decoded pieces gives the same report as validating it line by line."""

import io
from unittest.mock import patch

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from keiko.datasets import Report, ValidationOptions
from keiko.datasets import validator as validator_module
from keiko.datasets.output import SplitWriter
from keiko.datasets.shapes import Messages
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


def failed_line_of(data: bytes) -> bytes | None:
    """Return the line that `_failed_line` blames for the failed decode of `data` as one piece."""
    decoder = msgspec.json.Decoder(Messages)
    try:
        decoder.decode_lines(data)
    except msgspec.DecodeError as exc:
        bounds = validator_module._failed_line(data, 0, len(data), exc)
        return None if bounds is None else data[bounds[0] : bounds[1]]
    raise AssertionError("the piece decoded")


def test_failed_line_is_located():
    wrong_type = GOOD.replace(b'"Open Settings."', b"7")
    cases = [
        # a cut-short line: msgspec stops at the first byte of the next line
        (b"\n".join([GOOD, GOOD[:-3], GOOD]) + b"\n", GOOD[:-3] + b"\n"),
        # a syntax error inside a line
        (b"\n".join([GOOD, b'{"messages":x}', GOOD]) + b"\n", b'{"messages":x}\n'),
        # a type error, located by the index of the failing value
        (b"\n".join([GOOD, GOOD, wrong_type, GOOD]) + b"\n", wrong_type + b"\n"),
        # the last line, without a newline
        (b"\n".join([GOOD, b'{"messages":x}']), b'{"messages":x}'),
    ]
    for data, expected in cases:
        assert failed_line_of(data) == expected


def test_failed_line_unknown_when_truncated():
    # Given a piece whose last record is cut short, so msgspec reports no position
    data = GOOD + b"\n" + GOOD[:-3]
    # Then no line is blamed and the piece is validated line by line
    assert failed_line_of(data) is None


def test_bad_lines_mid_piece_are_located(validate_lines):
    # Given good records with a cut-short line, a wrong type and a blank line in between
    wrong_type = GOOD.replace(b'"Open Settings."', b"7")
    lines = [GOOD, GOOD, GOOD[:-3], GOOD, b"", wrong_type, chat_line("a?", "b."), chat_line("c?", "d.")]
    validator = RecordValidator(ValidationOptions(method="sft"), Report(source="d.jsonl", method="sft"), None)
    validator.feed([GOOD])
    # When they are validated as one block after the format is known
    data = b"\n".join(lines) + b"\n"
    validator.feed(Block(data, 0, len(data)))
    report = validator.finish()
    # Then each bad line is reported at its own line, counting the first record as line 1
    assert report.errors_by_kind == {"invalid_json": 1, "wrong_type": 1}
    assert [(error.kind, error.line) for error in report.errors] == [("invalid_json", 4), ("wrong_type", 7)]
    assert report.stats.blank_lines == 1
    assert report.valid_records == 6
