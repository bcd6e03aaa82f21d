import json

from keiko.datasets import validate_path


def records(count: int) -> list[dict]:
    return [{"prompt": f"question {index}?", "completion": f"answer {index}."} for index in range(count)]


def split(tmp_path, rows, seed=42, name="run"):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / name
    report = validate_path(path, "sft", eval_fraction=0.2, seed=seed, output_dir=out)
    evaluation = {json.loads(line)["prompt"] for line in (out / "eval.jsonl").read_text().splitlines()}
    return report, evaluation


def test_split_is_deterministic_and_order_independent(tmp_path):
    # Given the same 1000 records in two orders
    rows = records(1000)
    first, first_eval = split(tmp_path, rows, name="a")
    second, second_eval = split(tmp_path, list(reversed(rows)), name="b")
    # Then the same records land in evaluation, about 20 % of them, and the content hash is stable
    assert first_eval == second_eval
    assert 150 <= len(first_eval) <= 250
    assert first.eval_records == len(first_eval)
    assert first.train_records + first.eval_records == 1000
    again, _ = split(tmp_path, rows, name="c")
    assert again.content_hash == first.content_hash


def test_seed_changes_split(tmp_path):
    _, first = split(tmp_path, records(500), seed=1, name="a")
    _, second = split(tmp_path, records(500), seed=2, name="b")
    assert first != second


def test_invalid_dataset_writes_no_files(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a?", "completion": "b."}\n{"prompt": "c?"}\n')
    report = validate_path(path, "sft", output_dir=tmp_path / "out")
    assert not report.valid
    assert list((tmp_path / "out").iterdir()) == []
