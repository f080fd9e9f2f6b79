"""The schedule preview: which layer every sampling step uses, drawn as an inline SVG step chart.

One lane per prompt kind (positive, negative, and the hires pass's when it runs), each split into
the segments ``Schedule.segments`` gives for the steps that actually run, so the chart shows
exactly what the conditioning hook will do. Every segment carries its value as text and a pattern
as well as a colour, so the chart reads without colour; text and lines take Gradio's theme
variables (``--body-text-color``, ``--border-color-primary``) with fallbacks, so a standalone file
and both WebUI themes are readable. ``<title>`` and ``<desc>`` say the same in words.

Nothing here knows a host: the adapter (or the CLI) hands in the lanes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from clip_skip_ext import conventions
from clip_skip_ext.plan import Plan
from clip_skip_ext.schedule import Schedule, format_schedule, format_value

SOURCES = {
    "panel": "panel",
    "xyz": "XYZ axis",
    "prompt": "prompt directive",
    "auto": "Auto mode",
    "checkpoint": "checkpoint default",
    "lora": "LoRA default",
    "host": "host Clip skip",
    "cli": "command line",
}
# Okabe-Ito, a palette that colour-blind readers tell apart, each with the text colour it needs.
_PALETTE = (
    ("#56B4E9", "#000"),
    ("#E69F00", "#000"),
    ("#009E73", "#fff"),
    ("#CC79A7", "#000"),
    ("#0072B2", "#fff"),
    ("#F0E442", "#000"),
    ("#D55E00", "#fff"),
    ("#999999", "#000"),
)
# A second cue per value: none, diagonal, dots, horizontal, cross-hatch, vertical.
_PATTERNS = (
    "",
    '<path d="M0 6 L6 0" />',
    '<circle cx="3" cy="3" r="1.1" />',
    '<path d="M0 3 H6" />',
    '<path d="M0 6 L6 0 M0 0 L6 6" />',
    '<path d="M3 0 V6" />',
)
WIDTH, LABEL_WIDTH, BAR, TICKS, GAP = 640, 170, 18, 12, 6
NATIVE_MARK = "★"


@dataclass(frozen=True)
class Lane:
    """One row of the chart: ``schedule`` laid over the ``steps`` that run."""

    name: str  # "positive", "negative", "hires positive", ...
    source: str  # a key of SOURCES
    schedule: Schedule
    steps: int


def plan_lanes(plan: Plan, steps: int, host_value: float, hires_steps: int | None = None) -> list[Lane]:
    """The lanes of prompt number 0 of ``plan``: what the conditioning hook will hand out, over the
    ``steps`` that run (and the hires pass's ``hires_steps``, when it runs). A field the plan leaves
    to the host shows ``host_value``."""
    passes = [("", steps)] + ([("hires_", hires_steps)] if hires_steps else [])
    lanes = []
    for prefix, count in passes:
        for kind in ("positive", "negative"):
            choice = plan.choose(prefix + kind, 0)
            schedule = choice.schedule or Schedule.constant(host_value)
            lanes.append(Lane(f"{prefix.replace('_', ' ')}{kind}", choice.source, schedule, count))
    return lanes


def segments(lane: Lane) -> list[tuple[int, int, float]]:
    """(first step, last step, value) of every run of equal values, steps counted from 1."""
    out, first = [], 1
    for end, value in lane.schedule.segments(lane.steps):
        out.append((first, end, value))
        first = end + 1
    return out


def lane_text(lane: Lane) -> str:
    """E.g. "positive (panel, 2@40%, 1): skip 2 on steps 1-8, skip 1 on steps 9-20"."""
    runs = [
        f"skip {format_value(v)} on step{'s' if a != b else ''} {a}{f'-{b}' if a != b else ''}"
        for a, b, v in segments(lane)
    ]
    source = SOURCES.get(lane.source, lane.source)
    return f"{lane.name} ({source}, {format_schedule(lane.schedule)}): {', '.join(runs)}"


def _meaning(value: float, family: str | None, host: str) -> str:
    """What ``value`` selects, without the family heading and the host's note."""
    if family is None:
        return ""
    try:
        text = conventions.describe(value, family, host)
    except conventions.ConventionError as error:
        return str(error)
    return text.split(": ", 1)[-1].split(" [", 1)[0].replace(" (native)", "")


def chart(
    lanes: Sequence[Lane],
    family: str | None,
    host: str,
    note: str = "",
    id_prefix: str = "csc",
) -> str:
    """The SVG (a string, to inline in HTML or write to a file) of ``lanes`` on ``family``/``host``.

    ``note``: one more line under the legend (e.g. how many img2img steps run). ``id_prefix`` keeps
    pattern ids unique when several charts share a page (the txt2img and img2img panels).
    """
    if not lanes:
        raise ValueError("a chart needs at least one lane")
    values = sorted({v for lane in lanes for _, _, v in segments(lane)})
    style = {v: i for i, v in enumerate(values)}
    native = conventions.native_value(family, host) if family in conventions.ENCODERS else None
    cells = WIDTH - LABEL_WIDTH - 8
    body, y = [], 4
    for lane in lanes:
        body.append(
            f'<text class="{id_prefix}-t" x="0" y="{y + TICKS + 13}">{escape(lane.name)}'
            f'<tspan class="{id_prefix}-m"> · {escape(SOURCES.get(lane.source, lane.source))}</tspan></text>'
        )
        scale = cells / lane.steps
        for first, last, value in segments(lane):
            x, w = LABEL_WIDTH + (first - 1) * scale, (last - first + 1) * scale
            fill, ink = _PALETTE[style[value] % len(_PALETTE)]
            pattern = style[value] % len(_PATTERNS)
            top = y + TICKS
            body.append(f'<rect x="{x:.2f}" y="{top}" width="{w:.2f}" height="{BAR}" fill="{fill}" />')
            if pattern:
                body.append(
                    f'<rect x="{x:.2f}" y="{top}" width="{w:.2f}" height="{BAR}" fill="url(#{id_prefix}-p{pattern})" />'
                )
            label = format_value(value) + (f" {NATIVE_MARK}" if value == native else "")
            if w >= 7 * len(label) + 4:
                body.append(
                    f'<text x="{x + w / 2:.2f}" y="{top + 13}" text-anchor="middle" fill="{ink}" '
                    f'class="{id_prefix}-v">{escape(label)}</text>'
                )
            anchor = "start" if first == 1 else "middle"
            body.append(
                f'<text class="{id_prefix}-s" x="{x:.2f}" y="{y + 9}" text-anchor="{anchor}">{first}</text>'
            )
            if first > 1:
                body.append(f'<path class="{id_prefix}-k" d="M{x:.2f} {y + 10} V{top + BAR}" />')
        end = LABEL_WIDTH + cells
        body.append(
            f'<text class="{id_prefix}-s" x="{end}" y="{y + 9}" text-anchor="end">{lane.steps}</text>'
        )
        if lane.steps <= 60:  # faint step boundaries where they can be told apart
            ticks = " ".join(
                f"M{LABEL_WIDTH + i * scale:.2f} {y + TICKS} v{BAR}" for i in range(1, lane.steps)
            )
            body.append(f'<path class="{id_prefix}-g" d="{ticks}" />')
        body.append(
            f'<rect class="{id_prefix}-o" x="{LABEL_WIDTH}" y="{y + TICKS}" width="{cells}" height="{BAR}" />'
        )
        y += TICKS + BAR + GAP
    y += 4
    for value in values:
        fill, _ = _PALETTE[style[value] % len(_PALETTE)]
        pattern = style[value] % len(_PATTERNS)
        body.append(f'<rect x="0" y="{y}" width="22" height="13" fill="{fill}" />')
        if pattern:
            body.append(f'<rect x="0" y="{y}" width="22" height="13" fill="url(#{id_prefix}-p{pattern})" />')
        mark = f" {NATIVE_MARK} native" if value == native else ""
        meaning = _meaning(value, family, host)
        text = f"{format_value(value)}{mark}" + (f": {meaning}" if meaning else "")
        body.append(f'<text class="{id_prefix}-t" x="28" y="{y + 11}">{escape(text)}</text>')
        y += 17
    if note:
        body.append(f'<text class="{id_prefix}-m" x="0" y="{y + 11}">{escape(note)}</text>')
        y += 17
    title = "Clip skip per sampling step"
    if family in conventions.FAMILY_NAMES:
        title += f" ({conventions.FAMILY_NAMES[family]} on {conventions.HOST_NAMES.get(host, host)})"
    description = "; ".join(lane_text(lane) for lane in lanes) + (f". {note}" if note else "")
    patterns = "".join(
        f'<pattern id="{id_prefix}-p{i}" width="6" height="6" patternUnits="userSpaceOnUse">{shape}</pattern>'
        for i, shape in enumerate(_PATTERNS)
        if shape
    )
    css = (
        f".{id_prefix}-t{{fill:var(--body-text-color,#1f2937);font:12px sans-serif}}"
        f".{id_prefix}-m{{fill:var(--body-text-color-subdued,#6b7280);font:11px sans-serif}}"
        f".{id_prefix}-s{{fill:var(--body-text-color-subdued,#6b7280);font:9px sans-serif}}"
        f".{id_prefix}-v{{font:bold 11px sans-serif}}"
        f".{id_prefix}-k{{stroke:var(--body-text-color,#1f2937);stroke-width:1}}"
        f".{id_prefix}-g{{stroke:#000;stroke-opacity:.18;stroke-width:.6}}"
        f".{id_prefix}-o{{fill:none;stroke:var(--border-color-primary,#9ca3af)}}"
        f"pattern[id^={id_prefix}-p] *{{stroke:#000;stroke-opacity:.45;fill:#000;fill-opacity:.45}}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {y}" width="100%" '
        f'style="max-width:{WIDTH}px" role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" '
        f'class="clip-skip-preview">'
        f'<title id="{id_prefix}-title">{escape(title)}</title>'
        f'<desc id="{id_prefix}-desc">{escape(description)}</desc>'
        f"<style>{css}</style><defs>{patterns}</defs>{''.join(body)}</svg>"
    )
