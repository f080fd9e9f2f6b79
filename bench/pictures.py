"""Benchmark of the panel's pictures: server time per preview update and per "Inspect layers".

Runs the real adapter code (``clip_skip_ext.webui.ui.panel_html`` and ``layers.inspect_html``) on
the tier-2 fake A1111 (tests/fake_host) with a random-weight CLIP-L of the real shape (12 blocks,
width 768), on the CPU, and prints the median and the slowest of ``--repeats`` calls:

- preview: a schedule typed in the panel at 20 and 150 steps, with hires lanes, with a directive in
  a 75-token prompt, in Auto mode (which classifies the prompt), and an invalid value;
- inspector: a 75-token SD1 prompt, every A1111 value (13 columns), tokenized, encoded, compared
  and drawn as SVG.

    python bench/pictures.py [--repeats 30] [--threads 2] [--url http://127.0.0.1:7860]

With ``--url`` (a live WebUI with the extension, Selenium and Debian's chromium installed) it also
times the whole round trip in a real browser: a value typed in the panel until the page shows its
preview (Gradio's queue, the network and the rendering included).
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
    parser.add_argument("--url", help="a live WebUI: also time the round trip in a real browser")
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
    if args.url:
        times = browser_round_trips(args.url, args.repeats)
        print(
            f"browser round trip at {args.url} (type a value -> its preview shown), {len(times)} times: "
            f"median {statistics.median(times):.0f} ms   slowest {max(times):.0f} ms"
        )


ROUND_TRIP = """
const [value, expected, done] = arguments;
const box = document.querySelector('#clip_skip_txt2img_positive textarea');
const status = document.getElementById('clip_skip_txt2img_status');
const start = performance.now();
box.value = value;
box.dispatchEvent(new Event('input', {bubbles: true}));
const poll = () => status.innerHTML.includes(expected) ? done(performance.now() - start) : requestAnimationFrame(poll);
poll();
"""


def browser_round_trips(url: str, repeats: int) -> list[float]:
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp()}")
    driver = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.ID, "clip_skip_txt2img_enabled"))
        accordion = driver.find_element(By.CSS_SELECTOR, "#clip_skip_txt2img_enabled .label-wrap")
        driver.execute_script("arguments[0].click()", accordion)
        driver.set_script_timeout(30)
        times = []
        for i in range(repeats + 1):
            skip = 2 + i % 5
            took = driver.execute_async_script(ROUND_TRIP, f"{skip}@40%, 1", f"skip {skip} on steps 1-8")
            time.sleep(0.4)  # let the debounced refresh pass
            times.append(took)
        return times[1:]
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
