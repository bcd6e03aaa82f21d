import tracemalloc

from dataset_helpers import chat
from keiko.datasets import validate_path


def test_oversized_record_names_line_without_holding_it(tmp_path):
    # Given a 40 MB line between two valid records, and a 1 MB record size cap
    path = tmp_path / "large.jsonl"
    with path.open("wb") as file:
        file.write(b'{"prompt": "a?", "completion": "b."}\n')
        file.write(b'{"prompt": "' + b"x" * 40_000_000 + b'", "completion": "y"}\n')
        file.write(b'{"prompt": "c?", "completion": "d."}\n')
    # When it is validated while Python allocations are traced
    tracemalloc.start()
    report = validate_path(path, "sft", max_record_bytes=1_000_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Then line 2 is record_too_large, the others are valid, and the line was never held whole
    assert report.errors_by_kind == {"record_too_large": 1}
    assert report.errors[0].line == 2
    assert "40000033 bytes" in report.errors[0].message
    assert report.valid_records == 2
    assert peak < 30_000_000


def test_record_at_cap_is_accepted(validate_lines):
    record = chat(user="x" * 500)
    size = len(str(record).encode())
    report = validate_lines([record, chat()], max_record_bytes=size + 100)
    assert report.valid
