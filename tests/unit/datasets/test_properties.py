import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keiko.datasets import ValidationOptions, finish_report, validate_stream
from keiko.datasets.output import SplitWriter

JSON_PIECES = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b":",
        b",",
        b"\n",
        b"\r\n",
        b" ",
        b"NaN",
        b"1e999",
        b"true",
        b"null",
        b'"messages"',
        b'"role"',
        b'"content"',
        b'"user"',
        b'"assistant"',
        b'"prompt"',
        b'"completion"',
        b'"chosen"',
        b'"rejected"',
        b'"label"',
        b"\xef\xbb\xbf",
        b"\xff",
        b"\xe2\x80\xa8",
        b"\\u0000",
        b"x",
    ]
)
ALMOST_JSON = st.lists(JSON_PIECES, max_size=60).map(b"".join)
ANY_BYTES = st.one_of(st.binary(max_size=300), ALMOST_JSON)
METHODS = st.sampled_from(["sft", "dpo", "kto", "grpo", "pretrain", "reward", "distill"])


@given(data=ANY_BYTES, method=METHODS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_never_crashes_and_counts_add_up(data, method):
    # Given arbitrary bytes named as JSONL
    options = ValidationOptions(method=method, reward_columns=("solution",) if method == "grpo" else ())
    # When they are validated
    report = finish_report(validate_stream(io.BytesIO(data), "data.jsonl", options, SplitWriter(0.1, 42)), options)
    # Then a report comes back and valid plus invalid records equals the records read
    assert report.valid_records + report.invalid_records == report.records
    assert report.records + report.stats.blank_lines <= report.lines
    if report.errors_by_kind:
        assert not report.valid
    else:
        assert report.valid == (report.valid_records > 0)


@given(data=ANY_BYTES)
@settings(max_examples=100, deadline=None)
def test_never_crashes_as_csv(data):
    options = ValidationOptions(method="sft")
    report = finish_report(validate_stream(io.BytesIO(data), "data.csv", options, SplitWriter(0.1, 42)), options)
    assert report.valid_records + report.invalid_records == report.records
