from dataset_helpers import chat


def test_exact_duplicates_are_dropped(validate_lines, tmp_path):
    # Given the same record three times, once with other key order and spacing, plus a different one
    same_reordered = b'{ "completion": "b.",  "prompt": "a?" }'
    records = [
        {"prompt": "a?", "completion": "b."},
        same_reordered,
        {"prompt": "a?", "completion": "b."},
        {"prompt": "c?", "completion": "d."},
    ]
    # When it is validated with output
    report = validate_lines(records, output_dir=tmp_path / "out")
    # Then two duplicates are counted, warned at their lines, and left out of the output
    assert report.valid
    assert report.stats.duplicates == 2
    assert [w.line for w in report.warnings if w.kind == "duplicates_dropped"] == [2, 3]
    assert report.train_records + report.eval_records == 2


def test_different_case_is_not_duplicate(validate_lines):
    report = validate_lines([chat(user="Hello?"), chat(user="hello?")])
    assert report.stats.duplicates == 0
