import json

from dataset_helpers import chat
from keiko.datasets import validate_path


def test_unicode_separators_do_not_split_records(tmp_path):
    # Given records whose strings contain raw U+2028, U+2029 and U+0085
    records = [chat(user=f"line one{separator}line two") for separator in ("\u2028", "\u2029", "\u0085")]
    path = tmp_path / "separators.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    # When it is validated with output
    report = validate_path(path, "sft", output_dir=tmp_path / "out")
    # Then there are exactly three valid records, written with the separators intact
    assert report.records == 3
    assert report.valid
    written = (tmp_path / "out" / "train.jsonl").read_bytes() + (tmp_path / "out" / "eval.jsonl").read_bytes()
    assert written.count(b"\n") == 3
    assert "\u2028".encode() in written


def test_crlf_and_blank_lines(tmp_path):
    # Given CRLF line endings and blank lines (one with spaces) between records
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'{"prompt": "a?", "completion": "b."}\r\n\r\n   \r\n{"prompt": "c?", "completion": "d."}\r\n')
    # When it is validated
    report = validate_path(path, "sft")
    # Then the two records are valid, the blank lines are counted and line numbers stay physical
    assert report.valid
    assert report.records == 2
    assert report.stats.blank_lines == 2
    assert report.warnings_by_kind["blank_lines"] == 1
    assert report.lines == 4


def test_last_line_without_newline(tmp_path):
    path = tmp_path / "no-newline.jsonl"
    path.write_bytes(b'{"prompt": "a?", "completion": "b."}\n{"prompt": "c?", "completion": "d."}')
    report = validate_path(path, "sft")
    assert report.valid_records == 2
