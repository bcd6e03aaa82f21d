import json

import pytest
from dataset_helpers import only_error
from keiko.datasets import validate_path
from keiko.datasets.output import SplitWriter


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


def validate_rows(tmp_path, rows, output=True, **options):
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out" if output else None
    return validate_path(path, "sft", output_dir=out, **options)


@pytest.mark.parametrize("output", [True, False])
def test_identical_records_leave_split_empty(tmp_path, output):
    # Given six identical records, which leave one distinct record after duplicates are dropped
    rows = records(1) * 6
    # When the dataset is validated, with or without output files
    report = validate_rows(tmp_path, rows, output=output)
    # Then it is invalid with one dataset-level error that gives the counts and the remedy
    assert not report.valid
    assert report.errors_by_kind == {"empty_split": 1}
    error = only_error(report)
    assert error.line is None
    assert "1 distinct record" in error.message
    assert "train 1, evaluation 0" in error.message or "train 0, evaluation 1" in error.message
    assert "add more distinct records" in error.message.lower()
    if output:
        assert list((tmp_path / "out").iterdir()) == []


def test_one_record_is_invalid(tmp_path):
    report = validate_rows(tmp_path, records(1))
    assert report.errors_by_kind == {"empty_split": 1}


@pytest.mark.parametrize("count", [2, 3, 5])
def test_few_records_get_one_eval_record(tmp_path, count):
    # Given a few distinct records, too few for 10 % to put any of them in evaluation
    rows = records(count)
    # When the dataset is validated in two orders
    first = validate_rows(tmp_path / "a", rows)
    second = validate_rows(tmp_path / "b", list(reversed(rows)))
    # Then both splits are non-empty and the same record is held out for evaluation
    assert first.valid
    assert second.valid
    assert first.eval_records >= 1
    assert first.train_records >= 1
    assert first.train_records + first.eval_records == count
    first_eval = (tmp_path / "a" / "out" / "eval.jsonl").read_text()
    second_eval = (tmp_path / "b" / "out" / "eval.jsonl").read_text()
    assert first_eval == second_eval


def test_tiny_eval_fraction_still_holds_out_one(tmp_path):
    # Given 200 records and an eval_fraction below one record's share
    report = validate_rows(tmp_path, records(200), eval_fraction=1e-9)
    # Then the record with the lowest split hash goes to evaluation
    assert report.valid
    assert report.eval_records == 1
    assert report.train_records == 199
    lines = (tmp_path / "out" / "eval.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_counts_equal_with_and_without_output(tmp_path):
    with_output = validate_rows(tmp_path / "a", records(3))
    without_output = validate_rows(tmp_path / "b", records(3), output=False)
    assert (without_output.train_records, without_output.eval_records) == (
        with_output.train_records,
        with_output.eval_records,
    )
    assert without_output.content_hash is None


def records_in_evaluation(count: int, eval_fraction: float, seed: int = 42) -> list[bytes]:
    """Return `count` encoded records that the split puts in evaluation."""
    found: list[bytes] = []
    index = 0
    while len(found) < count:
        record = json.dumps({"prompt": f"q{index}?", "completion": "a."}, separators=(",", ":")).encode()
        probe = SplitWriter(eval_fraction, seed)
        probe.write([record])
        if probe.eval_records:
            found.append(record)
        index += 1
    return found


def test_all_evaluation_moves_one_to_train():
    # Given three records that all fall below the evaluation threshold
    chosen = records_in_evaluation(3, 0.3)
    train, evaluation = MemorySink(), MemorySink()
    writer = SplitWriter(0.3, 42, train, evaluation)
    # When they are split and the writer is balanced
    writer.write(chosen)
    writer.balance()
    writer.commit()
    # Then one of them moves to train, the same one in any order
    assert (writer.train_records, writer.eval_records) == (1, 2)
    assert train.data.count(b"\n") == 1
    reordered = SplitWriter(0.3, 42, MemorySink(), MemorySink())
    reordered.write(list(reversed(chosen)))
    reordered.balance()
    reordered.commit()
    assert reordered.train.data == train.data


def test_balance_gives_up_past_held_bytes():
    # Given more train data than the writer holds back, and no evaluation record
    rows = [json.dumps({"prompt": f"q{index}?", "completion": "a."}).encode() for index in range(100)]
    writer = SplitWriter(1e-9, 42, MemorySink(), MemorySink(), hold_bytes=1000)
    # When the writer is balanced
    writer.write(rows)
    writer.balance()
    # Then no record moves, so the dataset checks report the empty evaluation split
    assert (writer.train_records, writer.eval_records) == (100, 0)


class MemorySink:
    def __init__(self) -> None:
        self.data = b""
        self.committed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self) -> None:
        self.committed = True

    def abort(self) -> None:
        self.data = b""
