"""Benchmark dataset validation against a raw-read floor and a reference validator on msgspec Structs.

Generates seeded JSONL corpora of chat and preference records, clean and with 1 % bad records (see
corpus.py). Runs each validator in a fresh process, alternating their order, and reports the
median CPU time, throughput and the largest peak RSS. Exits 1 when keiko's record counts differ
from the reference's. Timings are reported but never enforced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from corpus import generate
from keiko.datasets import accelerator

RUNNERS = ("raw", "reference", "keiko")
TARGETS = {"reference": 0.9, "raw": 0.12, "bad_vs_clean": 0.85, "rss_mb": 64, "rss_growth_mb": 2.0}
CORPORA = (("chat", "sft"), ("preference", "dpo"))


def run_child(runner: str, path: Path, method: str) -> dict:
    command = [sys.executable, str(Path(__file__).with_name("validators.py")), runner, str(path), method]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def measure(path: Path, method: str, rounds: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in RUNNERS}
    for round_number in range(rounds):
        order = RUNNERS if round_number % 2 == 0 else tuple(reversed(RUNNERS))
        for runner in order:
            results[runner].append(run_child(runner, path, method))
    return results


def summarise(path: Path, megabytes: int, results: dict[str, list[dict]]) -> dict:
    cpu = {name: statistics.median(run["cpu_s"] for run in runs) for name, runs in results.items()}
    keiko, reference = results["keiko"][-1], results["reference"][-1]
    counted = ("valid", "invalid", "duplicates")
    return {
        "corpus": path.stem,
        "megabytes": megabytes,
        "cpu_s": cpu,
        "keiko_mb_per_s": megabytes / cpu["keiko"],
        "vs_reference": cpu["reference"] / cpu["keiko"],
        "vs_raw": cpu["raw"] / cpu["keiko"],
        "keiko_rss_mb": max(run["rss_mb"] for run in results["keiko"]),
        "counts": {name: keiko[name] for name in counted},
        "counts_match": all(keiko[name] == reference[name] for name in counted),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="Corpus sizes in MB.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs per validator and corpus.")
    parser.add_argument("--quick", action="store_true", help="One round on 20 MB corpora: checks the script works.")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/bench-validate"), help="Corpus directory.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args()
    sizes, rounds = ([20], 1) if args.quick else (args.sizes, args.rounds)

    rows = []
    state = "on" if accelerator.available() else "off (not built, or KEIKO_ACCELERATOR=0)"
    print(f"keiko's C accelerator: {state}")
    print(f"{'corpus':<28} {'raw s':>7} {'ref s':>7} {'keiko s':>8} {'MB/s':>6} {'rss MB':>7}  counts")
    for megabytes in sizes:
        for kind, method in CORPORA:
            clean = None
            for bad in (0.0, 0.01):
                path = generate(args.cache_dir, kind, megabytes, bad)
                started = time.perf_counter()
                row = summarise(path, megabytes, measure(path, method, rounds))
                row["kind"], row["bad_fraction"] = kind, bad
                if clean is not None:
                    row["vs_own_clean"] = clean["cpu_s"]["keiko"] / row["cpu_s"]["keiko"]
                clean = row if bad == 0.0 else clean
                rows.append(row)
                print_row(row, time.perf_counter() - started)
    missed = report_targets(rows)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "targets_missed": missed}, indent=2))
    return 0 if all(row["counts_match"] for row in rows) else 1


def print_row(row: dict, wall_s: float) -> None:
    cpu = row["cpu_s"]
    counts = ", ".join(f"{name} {value}" for name, value in row["counts"].items())
    same = "match" if row["counts_match"] else "DIFFER from the reference"
    print(
        f"{row['corpus']:<28} {cpu['raw']:>7.3f} {cpu['reference']:>7.3f} {cpu['keiko']:>8.3f} "
        f"{row['keiko_mb_per_s']:>6.0f} {row['keiko_rss_mb']:>7.1f}  {counts} ({same})"
    )
    ratios = f"vs reference {row['vs_reference']:.2f}x, vs raw read {row['vs_raw']:.3f}x"
    if "vs_own_clean" in row:
        ratios += f", vs own clean {row['vs_own_clean']:.2f}x"
    print(f"  {ratios} ({wall_s:.0f} s wall)")


def report_targets(rows: list[dict]) -> list[str]:
    """Print each missed target and return them."""
    missed = []
    for row in rows:
        checks = [
            ("vs reference", row["vs_reference"] >= TARGETS["reference"]),
            ("vs raw read", row["vs_raw"] >= TARGETS["raw"]),
            ("vs own clean", row.get("vs_own_clean", 1.0) >= TARGETS["bad_vs_clean"]),
            ("peak RSS", row["keiko_rss_mb"] <= TARGETS["rss_mb"]),
            ("counts", row["counts_match"]),
        ]
        missed += [f"{row['corpus']}: {name}" for name, met in checks if not met]
    by_corpus: dict[tuple, list[float]] = {}
    for row in rows:
        by_corpus.setdefault((row["kind"], row["bad_fraction"]), []).append(row["keiko_rss_mb"])
    for (kind, bad), rss in by_corpus.items():
        if max(rss) - min(rss) > TARGETS["rss_growth_mb"]:
            missed.append(f"{kind} {bad:.0%} bad: peak RSS grows {min(rss):.1f} -> {max(rss):.1f} MB with size")
    print(f"targets: {TARGETS}")
    print(f"{len(missed)} targets missed" + "".join(f"\n  {item}" for item in missed))
    return missed


if __name__ == "__main__":
    sys.exit(main())
