"""Benchmark: conditioning time of one prompt pair for schedules of 1 to 4 distinct skips.

    python bench/conditioning.py [--repeats 7]

Runs the extension's real conditioning hook on the fake A1111 of the tests (tests/fake_host, which
encodes like modules/sd_hijack_clip.py) with a CLIP-L-shaped random-weight text model on the CPU,
with the one-pass memo (after) and without it (before). Caches are emptied before every run, so
each run encodes. Prints medians and the ratio to a single encode.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import CLIPTextModel

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fake_host")]

from encoder import CLIP_L  # noqa: E402  (bench/encoder.py, beside this file)
from modules import processing, sd_hijack_clip, shared  # noqa: E402

from clip_skip_ext.webui import hook, memo  # noqa: E402
from clip_skip_ext.webui.script import Script  # noqa: E402

SCHEDULES = {1: "2", 2: "2@50%, 1", 3: "3@33%, 2@66%, 1", 4: "4@25%, 3@50%, 2@75%, 1"}


def fresh() -> None:
    hook.clear_cache()
    for cls in (processing.StableDiffusionProcessing, processing.StableDiffusionProcessingTxt2Img):
        for name in ("cached_c", "cached_uc", "cached_hr_c", "cached_hr_uc"):
            if name in cls.__dict__:
                setattr(cls, name, [None, None])


def conditioning_seconds(spec: str, one_pass: bool) -> float:
    fresh()
    p = processing.StableDiffusionProcessingTxt2Img(
        prompt="a photo of a red cat sitting on a wooden chair, soft light",
        negative_prompt="blurry, low quality",
        steps=20,
        scripts=[Script()],
        script_args=[True, spec],
    )
    saved = memo.one_pass
    if not one_pass:
        memo.one_pass = lambda *args, **kwargs: contextlib.nullcontext()
    try:
        p.setup_prompts()
        Script().process(p, True, spec)
        p.prompts, p.negative_prompts = p.all_prompts, p.all_negative_prompts
        p.parse_extra_network_prompts()
        start = time.perf_counter()
        p.setup_conds()
        return time.perf_counter() - start
    finally:
        memo.one_pass = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    shared.sd_model = sd_hijack_clip.FakeSD1(CLIPTextModel(CLIP_L).eval())
    with torch.no_grad():
        base = statistics.median(conditioning_seconds("2", True) for _ in range(args.repeats))
        print(
            f"CLIP-L shape, random weights, CPU, torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"median of {args.repeats}; one prompt pair (positive + negative), 20 steps"
        )
        print("| distinct skips | before (ms) | after (ms) | before / one encode | after / one encode |")
        print("| --- | --- | --- | --- | --- |")
        for count, spec in SCHEDULES.items():
            before = statistics.median(conditioning_seconds(spec, False) for _ in range(args.repeats))
            after = statistics.median(conditioning_seconds(spec, True) for _ in range(args.repeats))
            print(
                f"| {count} (`{spec}`) | {before * 1000:.1f} | {after * 1000:.1f} | "
                f"{before / base:.2f}× | {after / base:.2f}× |"
            )


if __name__ == "__main__":
    main()
