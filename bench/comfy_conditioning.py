"""Benchmark: ComfyUI encode time of one prompt for schedules of 1 to 4 distinct skips.

    python bench/comfy_conditioning.py [--repeats 7]
    python bench/comfy_conditioning.py --comfy-dir ComfyUI --ckpt model.safetensors  # real ComfyUI

Runs the node ``CLIP Text Encode (Clip Skip Control)`` with the one-pass memo (after) and without it
(before: each skip is a full ComfyUI encode, as chaining CLIPSetLastLayer + CLIPTextEncode per skip
would be), and ComfyUI's own single encode as the unit. By default on the fake ComfyUI of the tests
(tests/fake_comfy, ComfyUI's transformer layout) with CLIP-L's shape and random weights; with
``--comfy-dir`` on a real ComfyUI checkout, with the CLIP-L of ``--ckpt`` (an SD1 checkpoint) loaded
by ComfyUI itself. Prints medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = {1: "-2", 2: "-2@50%, -1", 3: "-3@33%, -2@66%, -1", 4: "-4@25%, -3@50%, -2@75%, -1"}
PROMPT = "a photo of a red cat sitting on a wooden chair, soft light"


def fake_clip():
    sys.path[:0] = [str(ROOT / "tests" / "fake_comfy"), str(ROOT / "tests" / "comfy")]
    from conftest import hf_clip, sd1_clip_from

    return sd1_clip_from(hf_clip(layers=12, width=768, seed=0))


def real_clip(comfy_dir: str, ckpt: str):
    """ComfyUI's own SD1 CLIP (comfy.sd.load_clip) with the CLIP-L weights of an SD1 checkpoint."""
    sys.path.insert(0, comfy_dir)
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.sd
    from safetensors.torch import load_file, save_file

    prefix = "cond_stage_model.transformer."
    weights = {k[len(prefix) :]: v for k, v in load_file(ckpt).items() if k.startswith(prefix)}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clip_l.safetensors")
        save_file(weights, path)
        return comfy.sd.load_clip(ckpt_paths=[path], clip_type=comfy.sd.CLIPType.STABLE_DIFFUSION)


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--comfy-dir", help="a ComfyUI checkout: benchmark its own CLIP code")
    parser.add_argument("--ckpt", help="with --comfy-dir: an SD1 checkpoint whose CLIP-L to load")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = real_clip(args.comfy_dir, args.ckpt) if args.comfy_dir else fake_clip()
    sys.path.insert(0, str(ROOT))
    from clip_skip_ext.comfy import memo, text_encode

    node = text_encode.ClipSkipTextEncode()
    tokens = clip.tokenize(PROMPT)
    with torch.inference_mode():
        unit = median_ms(lambda: clip.encode_from_tokens_scheduled(tokens), args.repeats)
        where = f"ComfyUI at {args.comfy_dir}" if args.comfy_dir else "fake ComfyUI (tests/fake_comfy)"
        print(
            f"{where}, CLIP-L 12 blocks, width 768, CPU, {args.threads} threads; one ComfyUI encode: {unit:.1f} ms"
        )
        print(
            "| distinct skips | schedule | before (ms) | after (ms) | before / one encode | after / one encode |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        original = memo.one_pass
        for count, spec in SCHEDULES.items():

            def run(spec=spec):
                node.encode(clip, PROMPT, spec, "ComfyUI (-N)")

            after = median_ms(run, args.repeats)
            memo.one_pass = lambda model: contextlib.nullcontext([])
            try:
                before = median_ms(run, args.repeats)
            finally:
                memo.one_pass = original
            print(
                f"| {count} | `{spec}` | {before:.1f} | {after:.1f} | {before / unit:.2f}× | {after / unit:.2f}× |"
            )


if __name__ == "__main__":
    main()
