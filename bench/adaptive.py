"""Benchmark and evaluation of the prompt-style classifier (clip_skip_ext.adaptive).

Classifies the labelled prompts in tests/data/prompts_labelled.jsonl, prints per-class accuracy and a
3x3 confusion table (rows = true label, columns = predicted), the same for the rows marked "held out"
(written after the classifier was tuned), then the speed in prompts per second on one core, for the
whole set and for typical prompts (under 1,000 characters), and the time for one 1 MB prompt.

    python bench/adaptive.py [--seconds 2.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clip_skip_ext.adaptive import classify  # noqa: E402

DATA = ROOT / "tests" / "data" / "prompts_labelled.jsonl"
LABELS = ("tags", "prose", "mixed")


def load_rows() -> list[dict[str, str]]:
    """The labelled prompts, one dict per JSONL line."""
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def is_held_out(row: dict[str, str]) -> bool:
    return row.get("note", "").startswith("held out")


def confusion(rows: list[dict[str, str]]) -> dict[tuple[str, str], int]:
    """Count (true label, predicted label) pairs."""
    table = {(t, p): 0 for t in LABELS for p in LABELS}
    for row in rows:
        table[(row["label"], classify(row["prompt"]).label)] += 1
    return table


def print_accuracy(title: str, rows: list[dict[str, str]]) -> None:
    table = confusion(rows)
    print(f"{title}: {len(rows)} prompts")
    print("  " + "true \\ predicted".ljust(18) + "".join(f"{p:>8}" for p in LABELS) + f"{'accuracy':>10}")
    for t in LABELS:
        total = sum(table[(t, p)] for p in LABELS)
        accuracy = table[(t, t)] / total if total else float("nan")
        print(f"  {t:<18}" + "".join(f"{table[(t, p)]:>8}" for p in LABELS) + f"{accuracy:>10.1%}")
    correct = sum(table[(t, t)] for t in LABELS)
    print(f"  overall accuracy: {correct / len(rows):.1%} ({correct}/{len(rows)})\n")


def prompts_per_second(prompts: list[str], seconds: float) -> float:
    """Classify ``prompts`` over and over for about ``seconds``; return prompts per second."""
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for prompt in prompts:
            classify(prompt)
        done += len(prompts)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="time per speed measurement")
    args = parser.parse_args()

    rows = load_rows()
    print_accuracy("All labelled prompts", rows)
    held_out = [row for row in rows if is_held_out(row)]
    if held_out:
        print_accuracy("Held-out prompts (written after tuning)", held_out)

    prompts = [row["prompt"] for row in rows]
    typical = [p for p in prompts if len(p) < 1000]
    for title, subset in (
        (f"whole set, {len(prompts)} prompts", prompts),
        (f"typical, {len(typical)}", typical),
    ):
        print(f"speed ({title}): {prompts_per_second(subset, args.seconds):,.0f} prompts/s")
    huge = "1girl, solo, long hair, " * (1_000_000 // 24)
    start = time.perf_counter()
    style = classify(huge)
    elapsed_ms = (time.perf_counter() - start) * 1000
    print(f"one {len(huge):,}-character prompt: {elapsed_ms:.1f} ms ({style.reasons[0]})")


if __name__ == "__main__":
    main()
