"""Benchmark of the worst prompt shapes for the per-generation and per-keystroke regexes (issue 16).

Times, on this machine's one core, ``directives.extract`` on 160 kB of unclosed ``<clipskip:``
openers, the LoRA-tag pattern on ``<lora:`` openers (what ``Script.process`` runs on every
generation), and ``adaptive.classify`` (the status line, per keystroke) on 12,000-character shapes
that made the old number patterns backtrack. Each figure is the best of ``--repeats``.

    python bench/hostile_text.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clip_skip_ext import adaptive, directives  # noqa: E402

# the adapter's pattern (clip_skip_ext/webui/lora.py imports the WebUI, so it is restated here)
LORA_TAG = re.compile(r"<(lora|lyco):([^<>]+)>")


def best(repeats: int, call) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "directives.extract, '<clipskip:' x 16,000 (160 kB)": lambda: directives.extract(
            "<clipskip:" * 16_000
        ),
        "directives.extract, 1 MB of '<clipskip:'": lambda: directives.extract("<clipskip:" * 100_000),
        "LoRA tags, '<lora:' x 13,300": lambda: LORA_TAG.findall("<lora:" * 13_300),
        "classify, '(:' + 11,990 digits": lambda: adaptive.classify("(:" + "1" * 11_990),
        "classify, 'a :' + 11,990 digits + 'a'": lambda: adaptive.classify("a :" + "1" * 11_990 + "a"),
        "classify, '1.1' x 4,000": lambda: adaptive.classify("1.1" * 4_000),
    }
    for title, call in cases.items():
        print(f"{title:<48} {best(args.repeats, call):9.2f} ms")


if __name__ == "__main__":
    main()
