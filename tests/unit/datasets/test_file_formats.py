import csv
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
from dataset_helpers import chat
from keiko.datasets import validate_path


def test_csv_quoted_line_breaks_keep_line_numbers(tmp_path):
    # Given a CSV whose second row's completion spans three physical lines, and an empty third row field
    path = tmp_path / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["prompt", "completion"])
        writer.writerow(["a?", "b."])
        writer.writerow(["c?", "line one\nline two\nline three"])
        writer.writerow(["e?", ""])
    # When it is validated
    report = validate_path(path, "sft")
    # Then the multi-line row (lines 3-5) is one valid record and the bad row is named at line 6
    assert report.file_format == "csv"
    assert report.records == 3
    assert report.errors_by_kind == {"empty_field": 1}
    assert report.errors[0].line == 6
    assert report.errors[0].field == "completion"


def test_csv_json_cells_and_booleans(tmp_path):
    path = tmp_path / "kto.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["prompt", "completion", "label"])
        writer.writerow(
            [
                json.dumps([{"role": "user", "content": "Hi?"}]),
                json.dumps([{"role": "assistant", "content": "Hello."}]),
                "true",
            ]
        )
        writer.writerow(
            [
                json.dumps([{"role": "user", "content": "Yo?"}]),
                json.dumps([{"role": "assistant", "content": "Go away."}]),
                "False",
            ]
        )
    report = validate_path(path, "kto")
    assert report.valid
    assert report.format == "conversational-unpaired-preference"


def test_csv_invalid_utf8_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"prompt,completion\na?,b.\nc?,d\xff.\n")
    report = validate_path(path, "sft")
    assert report.errors_by_kind == {"invalid_utf8": 1}
    assert report.errors[0].line == 3


def test_json_array_counts_elements(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([chat(), {"prompt": "a?", "completion": "b."}, chat(user="Other?")], indent=2))
    report = validate_path(path, "sft")
    assert report.file_format == "json-array"
    assert report.errors_by_kind == {"mixed_formats": 1}
    assert report.errors[0].line == 2


def test_broken_json_array_names_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"prompt": "a?", "completion": "b."},\n  {"prompt": "c?" "completion": "d."}\n]')
    report = validate_path(path, "sft")
    assert report.errors_by_kind == {"invalid_json": 1}
    assert report.errors[0].line == 3
    assert not report.valid


def test_parquet_nested_messages(tmp_path):
    # Given a Parquet file with a list<struct<role, content>> column
    path = tmp_path / "chat.parquet"
    table = pa.Table.from_pylist([chat(), chat(user="Other?"), {"messages": [{"role": "user", "content": "x"}]}])
    pq.write_table(table, path)
    # When it is validated
    report = validate_path(path, "sft")
    # Then the nested column is read as chat messages and row 3 is named
    assert report.file_format == "parquet"
    assert report.format == "messages"
    assert report.errors_by_kind == {"bad_turn_order": 1}
    assert report.errors[0].line == 3


def test_gzip_jsonl(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        for index in range(50):
            file.write(json.dumps(chat(user=f"question {index}?")) + "\n")
    report = validate_path(path, "sft")
    assert report.file_format == "jsonl+gzip"
    assert report.valid_records == 50
