"""Benchmark: layer selection on the real CLIP-L shape (random weights, CPU unless --device).

    python bench/encoder.py [--repeats 30] [--device cpu|cuda]

Times one 77-token prompt: the host's full forward, truncated forwards for skips 2, 3 and 4, and
four skips (1, 2, 3, 4) from one pass against four separate host-style passes. Prints medians and
the ratio of each to the full forward. Expected: skip s costs about (13 - s) / 12 of a full pass,
and four skips from one pass cost about one pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clip_skip_ext.encoder import encode_skips

CLIP_L = CLIPTextConfig(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    bos_token_id=49406,
    eos_token_id=49407,
)


def median_seconds(run, repeats: int, device: str) -> float:
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = CLIPTextModel(CLIP_L).eval().to(args.device)
    ids = torch.full((1, 77), 49407, device=args.device)
    ids[0, 0] = 49406
    ids[0, 1:21] = torch.randint(0, 49406, (20,), device=args.device)

    def host_pass(n: int):
        # what A1111 does per encode: a full forward with every hidden state, then one layer
        out = model(input_ids=ids, output_hidden_states=True)
        return out.last_hidden_state if n == 1 else model.final_layer_norm(out.hidden_states[-n])

    cases = [("full forward (host, skip 1)", lambda: host_pass(1))]
    for skip in (2, 3, 4):
        cases.append(
            (f"truncated forward, skip {skip}", lambda s=skip: encode_skips(model, ids, [s], "sd1", "a1111"))
        )
    cases.append(
        ("4 skips (1,2,3,4), one pass", lambda: encode_skips(model, ids, [1, 2, 3, 4], "sd1", "a1111"))
    )
    cases.append(("4 skips, 4 separate host passes", lambda: [host_pass(n) for n in (1, 2, 3, 4)]))

    print(
        f"CLIP-L shape, random weights, batch 1x77, device {args.device}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    with torch.no_grad():
        results = [(name, median_seconds(run, args.repeats, args.device)) for name, run in cases]
    base = results[0][1]
    print(f"| {'case':<34} | {'ms':>8} | {'x full':>6} |")
    print(f"| {'-' * 34} | {'-' * 8} | {'-' * 6} |")
    for name, seconds in results:
        print(f"| {name:<34} | {seconds * 1000:8.2f} | {seconds / base:6.3f} |")


if __name__ == "__main__":
    main()
