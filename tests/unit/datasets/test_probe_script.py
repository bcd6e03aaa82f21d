"""The Raw-field probe script runs on the benchmark's corpora and rejects files it cannot measure."""

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[3] / "benchmarks"
SCRIPT = BENCHMARKS / "probe_raw_fields.py"
STEPS = (
    "str: decode_lines",
    "str: re-encode",
    "raw: decode_lines",
    "raw: re-encode",
    "raw: one record per line",
    "raw: escape scan",
    "raw: UTF-8 check of non-ASCII records",
    "raw: record check (roles, lengths)",
    "xxh3 digests",
    "read and cut into pieces",
)


def load_corpus_module():
    spec = importlib.util.spec_from_file_location("corpus", BENCHMARKS / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_probe(path: Path, method: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(path), method], capture_output=True, text=True, timeout=120)


def test_probe_prints_every_step(tmp_path):
    # Given 1 MB clean chat and preference corpora
    corpus = load_corpus_module()
    for kind, method in (("chat", "sft"), ("preference", "dpo")):
        path = corpus.generate(tmp_path, kind, 1, 0.0)
        # When the probe measures them
        result = run_probe(path, method)
        # Then it succeeds and prints one line in milliseconds per step, in order
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert [line[:42].rstrip() for line in lines] == list(STEPS)
        assert all(line.endswith(" ms") for line in lines)


def test_probe_rejects_bad_records(tmp_path):
    # Given a corpus with 1 % bad records
    path = load_corpus_module().generate(tmp_path, "chat", 1, 0.01)
    # When the probe runs on it
    result = run_probe(path, "sft")
    # Then it stops with a message naming the file and what to probe instead
    assert result.returncode == 1
    assert str(path) in result.stderr
    assert "no bad records" in result.stderr


def test_probe_rejects_spaced_json(tmp_path):
    # Given a valid chat record written with spaces between tokens
    path = tmp_path / "spaced.jsonl"
    record = b'{"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}\n'
    path.write_bytes(record * 10)
    # When the probe runs on it
    result = run_probe(path, "sft")
    # Then it stops, saying that a line is not one compact record
    assert result.returncode == 1
    assert "not one compact record" in result.stderr
