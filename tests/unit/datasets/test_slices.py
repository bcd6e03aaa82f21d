import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from keiko.datasets import ValidationOptions, finish_report, merge_reports, validate_stream
from keiko.datasets.output import SplitWriter
from keiko.datasets.stream import iter_line_batches


def slice_lines(data: bytes, start: int, end: int, chunk: int) -> list[bytes]:
    source = io.BytesIO(data)
    source.seek(max(start - 1, 0))
    lines: list[bytes] = []
    for batch in iter_line_batches(source.read, start=start, end=end, chunk_bytes=chunk, max_record_bytes=1 << 20):
        lines.extend(batch)
    return lines


@given(
    lines=st.lists(st.binary(max_size=12).map(lambda value: value.replace(b"\n", b"")), max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    chunk=st.integers(min_value=1, max_value=16),
    trailing_newline=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_slices_cover_every_line_once(lines, cuts, chunk, trailing_newline):
    # Given a file cut into byte ranges at arbitrary offsets, read in arbitrary chunk sizes
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    # When each range is read on its own
    joined = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        joined.extend(slice_lines(data, start, end, chunk))
    # Then together they hold the lines of the whole file (less a leading byte order mark), each
    # exactly once and in order
    expected = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert joined == expected


def test_slice_ending_inside_bom_owns_first_line():
    # Given a file of one empty line after a byte order mark, cut after the mark's first byte
    data = b"\xef\xbb\xbf\n"
    # When the two ranges are read on their own
    first = slice_lines(data, 0, 1, 16)
    second = slice_lines(data, 1, len(data), 16)
    # Then the first range contains the line, because the line starts at byte 0
    assert first == [b""]
    assert second == []


def test_merged_slices_match_whole_file():
    # Given 300 records with a bad record at line 250, validated whole and in three slices
    rows = [json.dumps({"prompt": f"q{index}?", "completion": f"a{index}."}).encode() for index in range(300)]
    rows[249] = b'{"prompt": "q?"}'
    data = b"\n".join(rows) + b"\n"
    options = ValidationOptions(method="sft")
    whole = finish_report(validate_stream(io.BytesIO(data), "d.jsonl", options, SplitWriter(0.1, 42)), options)
    parts = []
    bounds = [0, 5000, 7000, len(data)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        source = io.BytesIO(data)
        source.seek(max(start - 1, 0))
        parts.append(validate_stream(source, "d.jsonl", options, SplitWriter(0.1, 42), start, end, "jsonl"))
    # When the slice reports are merged
    merged = finish_report(merge_reports(parts), options)
    # Then counts, the error's file line and the split agree with the whole-file report
    assert merged.records == whole.records == 300
    assert merged.errors_by_kind == whole.errors_by_kind == {"missing_field": 1}
    assert merged.errors[0].line == whole.errors[0].line == 250
    assert merged.train_records == whole.train_records
    assert merged.eval_records == whole.eval_records


def test_merged_slices_warn_once_per_dataset():
    # Given 300 records with a blank line after every 50th, validated whole and in three slices
    rows = [json.dumps({"prompt": f"q{index}?", "completion": f"a{index}."}).encode() for index in range(300)]
    data = b"".join(row + (b"\n\n" if index % 50 == 49 else b"\n") for index, row in enumerate(rows))
    options = ValidationOptions(method="sft")
    whole = finish_report(validate_stream(io.BytesIO(data), "d.jsonl", options, SplitWriter(0.1, 42)), options)
    parts = []
    bounds = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        source = io.BytesIO(data)
        source.seek(max(start - 1, 0))
        parts.append(validate_stream(source, "d.jsonl", options, SplitWriter(0.1, 42), start, end, "jsonl"))
    # When the slice reports are merged
    merged = finish_report(merge_reports(parts), options)
    # Then the token estimate and the six blank lines are each one warning, as in the whole-file report
    assert merged.warnings_by_kind == whole.warnings_by_kind == {"blank_lines": 1, "tokens_estimated": 1}
    summary = {(example.kind, example.message) for example in merged.warnings}
    assert summary == {(example.kind, example.message) for example in whole.warnings}
    assert ("blank_lines", "6 blank lines were skipped.") in summary
