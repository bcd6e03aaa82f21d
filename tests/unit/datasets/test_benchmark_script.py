"""The validation benchmark script still runs and agrees with its reference validator (no timings)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "bench_validate.py"


def test_quick_benchmark_counts_match_reference(tmp_path):
    # Given the benchmark in quick mode, with its corpora in a temporary directory
    command = [sys.executable, str(SCRIPT), "--quick", "--cache-dir", str(tmp_path), "--json", str(tmp_path / "r.json")]
    # When it runs
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    # Then it succeeds, and keiko counts what the reference counts on every corpus
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [(row["kind"], row["bad_fraction"]) for row in rows] == [
        ("chat", 0.0),
        ("chat", 0.01),
        ("preference", 0.0),
        ("preference", 0.01),
    ]
    for row in rows:
        assert row["counts_match"], row
        assert row["counts"]["valid"] > 1000, row
        assert row["counts"]["duplicates"] > 0, row
    assert rows[1]["counts"]["invalid"] > rows[0]["counts"]["invalid"]
    assert rows[3]["counts"]["invalid"] > 0
