from keiko.datasets import validate_path


def test_bom_is_stripped_with_warning(tmp_path):
    # Given a file that starts with a UTF-8 byte order mark
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a?", "completion": "b."}\n{"prompt": "c?", "completion": "d."}\n')
    # When it is validated
    report = validate_path(path, "sft")
    # Then both records are valid and a warning names line 1
    assert report.valid
    assert report.valid_records == 2
    assert report.warnings_by_kind["bom_stripped"] == 1
    warning = next(w for w in report.warnings if w.kind == "bom_stripped")
    assert warning.line == 1
