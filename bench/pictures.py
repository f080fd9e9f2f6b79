"""Benchmark of the panel's pictures: server time per preview update and per "Inspect layers".

Runs the real adapter code (``clip_skip_ext.webui.ui.panel_html`` and ``layers.inspect_html``) on
the tier-2 fake A1111 (tests/fake_host) with a random-weight CLIP-L of the real shape (12 blocks,
width 768), on the CPU, and prints the median and the slowest of ``--repeats`` calls:

- preview: a schedule typed in the panel at 20 and 150 steps, with hires lanes, with a directive in
  a 75-token prompt, in Auto mode (which classifies the prompt), and an invalid value;
- inspector: a 75-token SD1 prompt, every A1111 value (13 columns), tokenized, encoded, compared
  and drawn as SVG.

    python bench/pictures.py [--repeats 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fake_host"))

import torch  # noqa: E402
from modules import sd_hijack_clip, shared  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel  # noqa: E402

from clip_skip_ext import params  # noqa: E402
from clip_skip_ext.webui import layers, ui  # noqa: E402

WORDS = "masterpiece best quality 1girl solo long hair smile looking at viewer outdoors sky cloud tree " * 8
PROMPT = " ".join(WORDS.split()[:75])


def clip_l() -> CLIPTextModel:
    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
    )
    return CLIPTextModel(config).eval()


def timed(repeats: int, call) -> tuple[float, float]:
    call()  # warm: imports, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def panel(tab: str, names: tuple[str, ...], values: tuple, **fields) -> str:
    row = [fields.get(p.name, p.default) for p in params.PARAMS]
    return ui.panel_html(tab, names, *row, *values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the CI machine has 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shared.sd_model = sd_hijack_clip.FakeSD1(clip_l())

    names = ("prompt", "negative_prompt", "steps", "enable_hr", "hr_steps", "hr_prompt", "hr_negative_prompt")
    cases = {
        "schedule, 20 steps": (("prompt", "steps"), ("a cat", 20), {"enabled": True, "positive": "2@40%, 1"}),
        "schedule, 150 steps + hires 150": (
            names,
            ("a cat", "blurry", 150, True, 150, "", ""),
            {"enabled": True, "positive": "9, 7, 4, 3, 2, 1.5", "negative": "2@0.25, 1"},
        ),
        "directive in a 75-token prompt": (("prompt", "steps"), (PROMPT + " <clipskip:3@50%, 1>", 30), {}),
        "Auto mode, 75-token prompt": (("prompt", "steps"), (PROMPT, 30), {"enabled": True, "mode": "Auto"}),
        "invalid value (error shown)": (
            ("prompt", "steps"),
            ("a cat", 20),
            {"enabled": True, "positive": "2@@"},
        ),
    }
    print(f"preview update (ui.panel_html), {args.repeats} calls each, torch threads {args.threads}:")
    for title, (keys, values, fields) in cases.items():
        median, worst = timed(args.repeats, lambda k=keys, v=values, f=fields: panel("txt2img", k, v, **f))
        print(f"  {title:<34} median {median:6.2f} ms   slowest {worst:6.2f} ms")
    median, worst = timed(max(args.repeats // 3, 5), lambda: layers.inspect_html(PROMPT))
    print(
        f"inspect layers (layers.inspect_html), CLIP-L 768x12, 75-token prompt, 13 columns: "
        f"median {median:.0f} ms   slowest {worst:.0f} ms"
    )


if __name__ == "__main__":
    main()
