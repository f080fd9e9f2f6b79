"""The layer inspector's picture: one heatmap per text encoder, as SVG (the panel, ``--out x.svg``)
or PNG (``--out x.png``, drawn with Pillow, which every host ships).

Both come from one layout, a list of rectangles and texts, so the two files show the same thing.
Rows are the prompt's tokens, columns the host's clip skip values; a cell's colour is its cosine
similarity (viridis: dark = far from the default layer, yellow = the same), the bottom row prints
the per-column means, and the sentence under the picture says what is measured.
"""

from __future__ import annotations

import io
import itertools
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from clip_skip_ext import conventions
from clip_skip_ext.inspector import Inspection

CELL_W, CELL_H, LABEL_W, HEAD_H, PAD = 34, 14, 130, 44, 8
_VIRIDIS = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
INK = "ink"  # the page's text colour (a Gradio variable in SVG, dark grey in PNG)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: tuple[int, int, int]
    tip: str = ""


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: int = 11
    anchor: str = "start"  # start, middle or end
    fill: str | tuple[int, int, int] = INK


def colour(similarity: float) -> tuple[int, int, int]:
    """Viridis at ``similarity`` clamped to 0..1."""
    t = min(max(similarity, 0.0), 1.0)
    for (a, ca), (b, cb) in itertools.pairwise(_VIRIDIS):
        if t <= b:
            f = (t - a) / (b - a)
            return tuple(round(x + (y - x) * f) for x, y in zip(ca, cb))  # type: ignore[return-value]
    return _VIRIDIS[-1][1]


def _ink_on(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    return (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)


def _short(token: str, limit: int = 18) -> str:
    return token if len(token) <= limit else token[: limit - 1] + "…"


def layout(inspections: Sequence[Inspection]) -> tuple[list[Box | Text], float, float]:
    """The picture's shapes, its width and its height."""
    shapes: list[Box | Text] = []
    width, y = 0.0, 0.0
    for inspection in inspections:
        on = f"{conventions.FAMILY_NAMES[inspection.family]} on {conventions.HOST_NAMES[inspection.host]}"
        shapes.append(
            Text(0, y + 14, f"{inspection.encoder} · {on} · default clip skip {inspection.default}", 13)
        )
        y += 20
        shapes.append(Text(LABEL_W - 6, y + HEAD_H - 6, "clip skip:", 10, "end"))
        for j, column in enumerate(inspection.columns):
            x = LABEL_W + j * CELL_W + CELL_W / 2
            shapes.append(Text(x, y + HEAD_H - 6, column.label, 10, "middle"))
        y += HEAD_H
        for row, token in enumerate(inspection.tokens):
            shapes.append(Text(LABEL_W - 6, y + CELL_H - 3, _short(token), 10, "end"))
            for j, value in enumerate(inspection.similarity[row]):
                tip = f"{token} · clip skip {inspection.columns[j].label}: {value:.3f}"
                shapes.append(Box(LABEL_W + j * CELL_W, y, CELL_W, CELL_H, colour(value), tip))
            y += CELL_H
        shapes.append(Text(LABEL_W - 6, y + CELL_H + 1, "mean", 10, "end"))
        for j, value in enumerate(inspection.means):
            fill = colour(value)
            x = LABEL_W + j * CELL_W
            shapes.append(
                Box(
                    x,
                    y + 2,
                    CELL_W,
                    CELL_H + 2,
                    fill,
                    f"mean · clip skip {inspection.columns[j].label}: {value:.3f}",
                )
            )
            shapes.append(Text(x + CELL_W / 2, y + CELL_H + 1, f"{value:.2f}", 9, "middle", _ink_on(fill)))
        y += CELL_H + 2 + PAD
        width = max(width, LABEL_W + len(inspection.columns) * CELL_W)
        for line in textwrap.wrap(inspection.measure, 96):
            shapes.append(Text(0, y + 10, line, 10))
            y += 14
        y += PAD
    steps = 40
    for i in range(steps):  # the colour scale
        shapes.append(Box(LABEL_W + i * 4, y, 4, 10, colour(i / (steps - 1))))
    shapes.append(Text(LABEL_W - 6, y + 9, "0 or less", 10, "end"))
    shapes.append(Text(LABEL_W + steps * 4 + 6, y + 9, "1 (same as the default)", 10))
    y += 18
    return shapes, max(width, 560.0), y


def _rgb(fill: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*fill)


def to_svg(inspections: Sequence[Inspection], id_prefix: str = "csi") -> str:
    shapes, width, height = layout(inspections)
    body = []
    for shape in shapes:
        if isinstance(shape, Box):
            tip = f"<title>{escape(shape.tip)}</title>" if shape.tip else ""
            body.append(
                f'<rect x="{shape.x:g}" y="{shape.y:g}" width="{shape.w:g}" height="{shape.h:g}" '
                f'fill="{_rgb(shape.fill)}">{tip}</rect>'
            )
        else:
            fill = f'class="{id_prefix}-t"' if shape.fill == INK else f'fill="{_rgb(shape.fill)}"'  # type: ignore[arg-type]
            body.append(
                f'<text x="{shape.x:g}" y="{shape.y:g}" font-size="{shape.size}" text-anchor="{shape.anchor}" '
                f"{fill}>{escape(shape.text)}</text>"
            )
    title = "Layer inspector: " + "; ".join(
        f"{i.encoder}, {len(i.tokens)} tokens, mean similarity per clip skip "
        + ", ".join(f"{c.label}: {m:.2f}" for c, m in zip(i.columns, i.means))
        for i in inspections
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" '
        f'role="img" aria-labelledby="{id_prefix}-title" class="clip-skip-inspector" font-family="sans-serif">'
        f'<title id="{id_prefix}-title">{escape(title)}</title>'
        f"<style>.{id_prefix}-t{{fill:var(--body-text-color,#1f2937)}}</style>{''.join(body)}</svg>"
    )


def to_png(inspections: Sequence[Inspection], scale: int = 2) -> bytes:
    from PIL import Image, ImageDraw, ImageFont  # every host ships Pillow; only this needs it

    shapes, width, height = layout(inspections)
    image = Image.new("RGB", (round(width * scale), round(height * scale)), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    fonts: dict[int, object] = {}
    for shape in shapes:
        if isinstance(shape, Box):
            x0, y0 = round(shape.x * scale), round(shape.y * scale)
            x1, y1 = round((shape.x + shape.w) * scale), round((shape.y + shape.h) * scale)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=shape.fill)
            continue
        if shape.size not in fonts:
            try:
                fonts[shape.size] = ImageFont.load_default(size=shape.size * scale)
            except TypeError:  # Pillow < 10.1: one bitmap size
                fonts[shape.size] = ImageFont.load_default()
        font = fonts[shape.size]
        length = draw.textlength(shape.text, font=font)
        x = shape.x * scale - {"start": 0, "middle": length / 2, "end": length}[shape.anchor]
        fill = (31, 41, 55) if shape.fill == INK else shape.fill
        draw.text((x, (shape.y - shape.size) * scale), shape.text, font=font, fill=fill)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
