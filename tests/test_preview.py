"""The schedule preview: the chart says, in shapes and in words, exactly what the hook will do."""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clip_skip_ext import preview
from clip_skip_ext.params import Settings
from clip_skip_ext.plan import Choice, Plan
from clip_skip_ext.preview import Lane, chart, lane_text, plan_lanes, segments
from clip_skip_ext.schedule import Schedule, parse

NS = {"s": "http://www.w3.org/2000/svg"}
ROOT = Path(__file__).resolve().parents[1]


def bars(svg: str) -> list[tuple[float, float, str]]:
    """(x, width, fill) of the coloured segment rectangles, in drawing order."""
    root = ET.fromstring(svg)
    return [
        (float(r.get("x")), float(r.get("width")), r.get("fill"))
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.get("fill", "").startswith("#") and float(r.get("x")) >= preview.LABEL_WIDTH
    ]


def test_segments_and_words_follow_the_schedule_over_the_steps_that_run():
    lane = Lane("positive", "panel", parse("2@40%, 1"), 20)
    assert segments(lane) == [(1, 8, 2.0), (9, 20, 1.0)]
    assert lane_text(lane) == "positive (panel, 2@40%, 1): skip 2 on steps 1-8, skip 1 on steps 9-20"
    # the same schedule over the 16 steps an img2img pass at 0.75 runs switches after step 6
    assert segments(Lane("positive", "panel", parse("2@40%, 1"), 16)) == [(1, 6, 2.0), (7, 16, 1.0)]
    assert lane_text(Lane("negative", "host", Schedule.constant(1), 1)) == (
        "negative (host Clip skip, 1): skip 1 on step 1"
    )


def test_chart_is_valid_svg_with_a_title_and_a_description_for_screen_readers():
    lanes = [Lane("positive", "panel", parse("2@40%, 1"), 20), Lane("negative", "prompt", parse("3"), 20)]
    svg = chart(lanes, "sd1", "a1111")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    title, desc = root.find("s:title", NS), root.find("s:desc", NS)
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Clip skip per sampling step (SD1 on A1111)"
    assert desc.text == "; ".join(lane_text(lane) for lane in lanes)
    assert "prompt directive" in svg
    assert "panel" in svg


def test_each_segment_is_one_bar_whose_width_is_its_share_of_the_steps():
    svg = chart([Lane("positive", "panel", parse("2@40%, 1"), 20)], "sd1", "a1111")
    (x1, w1, f1), (x2, w2, f2) = bars(svg)[:2]
    assert x1 == preview.LABEL_WIDTH
    assert w1 == pytest.approx(w2 * 8 / 12, abs=0.02)
    assert x2 == pytest.approx(x1 + w1, abs=0.02)
    assert f1 != f2
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "9" in texts
    assert "20" in texts
    assert "2" in texts
    assert f"1 {preview.NATIVE_MARK}" in texts


def test_values_differ_by_pattern_as_well_as_colour_and_the_legend_says_what_each_selects():
    lanes = [Lane("positive", "panel", parse("3, 2, 1.5, 1"), 4)]
    svg = chart(lanes, "sd1", "a1111")
    fills = [f for _, _, f in bars(svg)]
    assert len(set(fills)) == 4
    patterns = re.findall(r'fill="url\(#csc-p(\d)\)"', svg)
    assert len(set(patterns)) == 3  # the lowest value is plain, the three others each have a pattern
    assert "1 ★ native: CLIP-L layer 12 of 12 + final norm" in svg
    assert "2: CLIP-L layer 11 of 12 + final norm" in svg
    assert "1.5: CLIP-L 0.5×(layer 12 of 12 + final norm) + 0.5×(layer 11 of 12 + final norm)" in svg


def test_native_mark_follows_the_family_and_host():
    # SDXL: native is 2 on A1111 (CLIP-L penultimate), and on Forge 1 and 2 select the same layers
    lane = [Lane("positive", "panel", parse("2@50%, 3"), 10)]
    assert "2 ★ native" in chart(lane, "sdxl", "a1111")
    assert "3 ★" not in chart(lane, "sdxl", "a1111")
    assert "★" not in chart([Lane("positive", "panel", parse("3"), 10)], "sd1", "a1111").split("<desc")[0]


def test_theme_variables_with_fallbacks_and_unique_ids_per_chart():
    lanes = [Lane("positive", "panel", parse("2, 1"), 2)]
    a, b = chart(lanes, "sd1", "a1111", id_prefix="t2i"), chart(lanes, "sd1", "a1111", id_prefix="i2i")
    assert "var(--body-text-color,#1f2937)" in a
    assert "var(--border-color-primary,#9ca3af)" in a
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a
    assert not ids_a & ids_b
    assert all(ref in ids_a for ref in re.findall(r"url\(#([^)]+)\)", a))


def test_note_and_escaping():
    svg = chart([Lane("<b>", "panel", parse("2"), 3)], "sd1", "a1111", note="16 of 20 steps & more")
    ET.fromstring(svg)
    assert "&lt;b&gt;" in svg
    assert "16 of 20 steps &amp; more" in svg


def test_plan_lanes_name_each_source_the_hook_will_use():
    plan = Plan(
        Settings(enabled=True, negative="3"),
        positive_directives=[parse("2@50%, 1")],
        fallback=lambda i: Choice(Schedule.constant(2), "checkpoint"),
        count=1,
    )
    lanes = plan_lanes(plan, 20, host_value=1, hires_steps=10)
    assert [(lane.name, lane.source, str(lane.schedule), lane.steps) for lane in lanes] == [
        ("positive", "prompt", "2@50%, 1", 20),
        ("negative", "panel", "3", 20),
        ("hires positive", "prompt", "2@50%, 1", 10),
        ("hires negative", "panel", "3", 10),
    ]
    host_only = plan_lanes(Plan(), 20, host_value=2)
    assert [(lane.source, str(lane.schedule)) for lane in host_only] == [("host", "2"), ("host", "2")]


def test_cli_draws_the_same_chart(tmp_path):
    out = tmp_path / "chart.svg"
    result = subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "schedule", "2@40%, 1", "--steps", "20", "--svg", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lane = Lane("schedule", "cli", parse("2@40%, 1"), 20)
    assert out.read_text(encoding="utf-8") == chart([lane], "sd1", "a1111")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "1000000000000"], "is not a step count (a whole number from 1 to 10000)"),
        (["--steps", "20", "--svg", "/nonexistent-dir/x.svg"], "cannot write '/nonexistent-dir/x.svg'"),
        (["--steps", "20", "--svg", "x.svg", "--host", "kohya", "--family", "sd2"], "no documented"),
    ],
)
def test_cli_chart_errors_exit_2_with_the_reason(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "schedule", "2", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
