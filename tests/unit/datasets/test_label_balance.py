from keiko.datasets import validate_path


def kto(label: bool, index: int) -> dict:
    return {"prompt": f"question {index}?", "completion": f"answer {index}.", "label": label}


def test_single_label_class_is_error(validate_lines):
    report = validate_lines([kto(True, index) for index in range(5)], "kto")
    assert report.errors_by_kind == {"label_imbalance": 1}
    assert report.errors[0].field == "label"
    assert report.label_counts == {"true": 5, "false": 0}
    assert not report.valid


def test_skewed_labels_warn(validate_lines):
    records = [kto(True, index) for index in range(20)] + [kto(False, 99)]
    report = validate_lines(records, "kto")
    assert report.valid
    assert report.warnings_by_kind["label_skew"] == 1


def test_balanced_labels(tmp_path):
    path = tmp_path / "kto.jsonl"
    import json

    path.write_text("".join(json.dumps(kto(index % 2 == 0, index)) + "\n" for index in range(10)))
    report = validate_path(path, "kto")
    assert report.valid
    assert "label_skew" not in report.warnings_by_kind
