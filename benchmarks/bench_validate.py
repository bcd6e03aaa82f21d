"""Benchmark dataset validation against a raw-read floor and a reference validator on msgspec Structs.

Generates seeded JSONL corpora (chat and preference records, clean and with 1 % bad records),
then runs each validator in a fresh process, alternating their order, and reports CPU time,
throughput and peak RSS per run. Usage: python benchmarks/bench_validate.py [--sizes 50 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

CACHE = Path(".cache/bench-validate")
WORDS = (
    "the data model train token batch user answer question export invoice account settings "
    "security password reset plan team offline sync document comment attachment support "
    "パスワード 設定 確認 データ"
).split()
TARGETS = {"reference": 0.9, "raw": 0.12, "bad_vs_clean": 0.85, "rss_mb": 64}


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "."


def chat_record(rng: random.Random, index: int) -> dict:
    messages = [{"role": "system", "content": "You are a helpful support assistant."}] if index % 3 == 0 else []
    for _ in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": f"#{index} " + sentence(rng, 8, 40)})
        messages.append({"role": "assistant", "content": sentence(rng, 15, 90)})
    return {"messages": messages}


def preference_record(rng: random.Random, index: int) -> dict:
    return {
        "prompt": f"#{index} " + sentence(rng, 8, 40),
        "chosen": sentence(rng, 15, 90),
        "rejected": sentence(rng, 10, 60),
    }


def break_record(record: dict, rng: random.Random) -> bytes:
    """Return one bad line of a kind both validators detect."""
    kind = rng.randrange(5)
    if kind == 0:
        return orjson.dumps(record)[:-7]  # truncated JSON
    if "messages" in record:
        messages = record["messages"]
        if kind == 1:
            del messages[-1]["content"]
        elif kind == 2:
            messages[-1]["content"] = " "
        elif kind == 3:
            messages[-1]["role"] = "user"
        else:
            messages[-1]["content"] = 7
    else:
        if kind == 1:
            del record["chosen"]
        elif kind == 2:
            record["rejected"] = ""
        elif kind == 3:
            record["rejected"] = record["chosen"]
        else:
            record["prompt"] = None
    return orjson.dumps(record)


def generate(kind: str, megabytes: int, bad_fraction: float) -> Path:
    path = CACHE / f"{kind}-{megabytes}mb-{int(bad_fraction * 1000)}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{kind}-{megabytes}-{bad_fraction}")
    make = chat_record if kind == "chat" else preference_record
    size, index, limit = 0, 0, megabytes * 1_000_000
    with path.open("wb") as file:
        while size < limit:
            record = make(rng, index)
            line = break_record(record, rng) if rng.random() < bad_fraction else orjson.dumps(record)
            file.write(line + b"\n")
            size += len(line) + 1
            index += 1
    return path


def run_child(runner: str, path: Path, method: str) -> dict:
    command = [sys.executable, str(Path(__file__).with_name("validators.py")), runner, str(path), method]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def measure(path: Path, method: str, rounds: int) -> dict[str, list[dict]]:
    runners = ["raw", "reference", "keiko"]
    results: dict[str, list[dict]] = {name: [] for name in runners}
    for round_number in range(rounds):
        order = runners if round_number % 2 == 0 else list(reversed(runners))
        for runner in order:
            results[runner].append(run_child(runner, path, method))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="Corpus sizes in MB.")
    parser.add_argument("--rounds", type=int, default=3, help="Runs per validator and corpus.")
    args = parser.parse_args()

    failures = 0
    print(f"{'corpus':<24} {'runner':<10} {'cpu s':>7} {'MB/s':>7} {'rss MB':>7} {'valid':>8} {'invalid':>8}")
    for megabytes in args.sizes:
        for kind, method in (("chat", "sft"), ("preference", "dpo")):
            clean_cpu = None
            for bad in (0.0, 0.01):
                path = generate(kind, megabytes, bad)
                started = time.perf_counter()
                results = measure(path, method, args.rounds)
                cpu = {name: statistics.median(run["cpu_s"] for run in runs) for name, runs in results.items()}
                for name, runs in results.items():
                    last = runs[-1]
                    print(
                        f"{path.stem:<24} {name:<10} {cpu[name]:>7.3f} {megabytes / cpu[name]:>7.0f} "
                        f"{max(run['rss_mb'] for run in runs):>7.1f} {last.get('valid', ''):>8} "
                        f"{last.get('invalid', ''):>8}"
                    )
                keiko, reference = results["keiko"][-1], results["reference"][-1]
                checks = {
                    "vs reference": (cpu["reference"] / cpu["keiko"], TARGETS["reference"]),
                    "vs raw read": (cpu["raw"] / cpu["keiko"], TARGETS["raw"]),
                }
                if clean_cpu is not None:
                    checks["vs own clean"] = (clean_cpu / cpu["keiko"], TARGETS["bad_vs_clean"])
                clean_cpu = cpu["keiko"] if bad == 0.0 else clean_cpu
                same = (keiko["valid"], keiko["invalid"]) == (reference["valid"], reference["invalid"])
                rss = max(run["rss_mb"] for run in results["keiko"])
                line = ", ".join(f"{name} {ratio:.2f}x (target {target})" for name, (ratio, target) in checks.items())
                print(
                    f"  {line}, peak RSS {rss:.1f} MB, counts match reference: {same} "
                    f"({time.perf_counter() - started:.0f} s wall)"
                )
                failures += sum(ratio < target for ratio, target in checks.values())
                failures += (not same) + (rss > TARGETS["rss_mb"])
    print(f"{failures} targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
