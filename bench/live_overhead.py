"""Benchmark: end-to-end overhead of the extension on a live WebUI.

    CLIP_SKIP_WEBUI_URL=http://127.0.0.1:7860 python bench/live_overhead.py [--repeats 5]

64×64, 4 Euler steps on whatever checkpoint is loaded (a random-weight SD1.5 here). Three variants:
the panel off, a constant value (2), and the schedule ``2@50%, 1`` with negative ``1``. Every
repetition uses a new prompt, so no conditioning cache hits; the variants take turns leading each
round, so drift in the machine's load spreads evenly. Prints the median request time and the overhead against "off".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request

VARIANTS = {
    "panel off": None,
    "constant 2": {"enabled": True, "positive": "2"},
    "2@50%, 1 + negative 1": {"enabled": True, "positive": "2@50%, 1", "negative": "1"},
}


def post(url: str, body: dict) -> float:
    request = urllib.request.Request(
        url + "/sdapi/v1/txt2img",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    url = os.environ["CLIP_SKIP_WEBUI_URL"].rstrip("/")
    base = {
        "negative_prompt": "blurry",
        "seed": 1,
        "steps": 4,
        "width": 64,
        "height": 64,
        "sampler_name": "Euler",
        "override_settings": {"emphasis": "No norm"},
    }
    post(url, {**base, "prompt": "warm-up"})
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for i in range(args.repeats):
        for name in names[i % 3 :] + names[: i % 3]:  # each variant leads a round in turn
            panel = VARIANTS[name]
            body = {**base, "prompt": f"a photo of a cat number {i} {name}"}
            if panel:
                body["alwayson_scripts"] = {"Clip Skip Control": {"args": [panel]}}
            times[name].append(post(url, body))
    off = statistics.median(times["panel off"])
    print(f"{url}, 64x64, 4 steps, median of {args.repeats}, a new prompt every request")
    print("| variant | median (s) | overhead |")
    print("| --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {(median / off - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
