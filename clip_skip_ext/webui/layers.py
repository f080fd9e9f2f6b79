"""The panel's "Inspect layers": the loaded model's own text encoders, the tab's prompt tokenized by
the host's own ``tokenize_line`` (WebUI emphasis syntax, BREAK and chunking handled as for a
generation), compared layer by layer with ``inspector``.

Where the encoders are (the same objects ``memo`` wraps):
- A1111 82a973c0: ``<embedder>.wrapped.transformer`` with ``tokenize_line`` (modules/sd_hijack_clip.py:81-174),
  ``id_end`` (:342-343) and ``tokenizer`` (:319); SDXL's CLIP-G is OpenCLIP, which A1111 never moves.
- Forge dfdcbab6 / Neo: each ``ClassicTextProcessingEngine``'s ``text_encoder.transformer`` with
  ``tokenize_line`` (backend/text_processing/classic_engine.py:150-232), ``id_end`` (:82), ``tokenizer`` (:70).
The prompt is first stripped of ``<clipskip:…>`` and extra networks (``extra_networks.parse_prompt``),
prompt editing resolved to its first step and ``AND`` to its first part
(``prompt_parser.get_learned_conditioning_prompt_schedules``, ``get_multicond_prompt_list``).
On Forge and Neo, before the first generation, the button loads the selected checkpoint as Generate
would. The encoders run under the host's queue lock (the panel wraps the call), so no generation runs
meanwhile; ``encoder.truncated`` puts every block back, so the model is left as it was.
"""

from __future__ import annotations

import html
import time
from typing import Any

import torch

from clip_skip_ext import conventions, directives, heatmap, inspector
from clip_skip_ext.webui import host, memo


def _first_prompt(prompt: str, steps: int) -> str:
    from modules import extra_networks, prompt_parser

    text, _ = extra_networks.parse_prompt(directives.strip(prompt or ""))
    text = prompt_parser.get_learned_conditioning_prompt_schedules([text], steps)[0][0][1]
    _, parts, _ = prompt_parser.get_multicond_prompt_list([text])
    return parts[0] if parts else text


def _encoders(sd_model: Any, family: str) -> tuple[list[tuple[int, Any, Any, int | None]], list[str]]:
    """[(encoder index in conventions.ENCODERS[family], model, tokenizing engine, reference layers)], notes."""
    engines = memo.forge_engines(sd_model)
    if engines:
        found = []
        for index, engine in enumerate(engines):
            model = engine.text_encoder.transformer
            blocks = getattr(getattr(model, "config", None), "num_hidden_layers", None)
            reference = 24 if family == "sd2" and blocks == 23 else None  # Forge's 23-block SD2 engine
            found.append((index, model, engine, reference))
        return found, []
    embedders = memo.embedders(sd_model)
    found, notes = [], []
    for index, embedder in enumerate(embedders):
        model = getattr(getattr(embedder, "wrapped", None), "transformer", None)
        if model is None or not hasattr(embedder, "tokenize_line"):
            name = (
                conventions.ENCODERS[family][index].name if index < len(conventions.ENCODERS[family]) else "?"
            )
            notes.append(
                f"{name} is not inspected: {conventions.HOST_NAMES[host.host_name()]} never moves it"
            )
            continue
        found.append((index, model, embedder, None))
    return found, notes


def _labels(engine: Any, chunk_tokens: list[int], length: int) -> list[str]:
    words = engine.tokenizer.convert_ids_to_tokens(chunk_tokens[1 : length + 1])
    return [word.removesuffix("</w>") for word in words] + ["<end>"]


def inspect_html(prompt: str, tab: str = "txt2img", steps: int = 20) -> str:
    """The heatmap (inline SVG) of the loaded model's layers for ``prompt`` at its first sampling
    step (of ``steps``), or why there is none."""
    try:
        family, host_name = host.current_family(), host.host_name()
        if family is None and host.load_selected_model():
            family = host.current_family()
        started = time.perf_counter()
        if family is None:
            return "<p>No model is loaded yet: generate once, then inspect.</p>"
        reason = conventions.no_effect(host_name, family)
        if reason:
            return f"<p>Clip skip has no effect here: {html.escape(reason)}.</p>"
        text = _first_prompt(prompt, max(int(steps), 1))
        found, notes = _encoders(host.loaded_model(), family)
        tables = []
        for index, model, engine, reference in found:
            chunks, _ = engine.tokenize_line(text)
            rows = [list(chunk.tokens) for chunk in chunks]
            lengths = [row.index(engine.id_end, 1) - 1 for row in rows]
            labels = [label for row, n in zip(rows, lengths) for label in _labels(engine, row, n)]
            ids = torch.tensor(rows, dtype=torch.long)
            table, _ = inspector.inspect(model, ids, lengths, labels, family, host_name, index, reference)
            tables.append(table)
        if not tables:
            return f"<p>Nothing to inspect: {html.escape('; '.join(notes))}.</p>"
        took = (time.perf_counter() - started) * 1000
        notes.append(f"computed in {took:.0f} ms")
        picture = heatmap.to_svg(tables, id_prefix=f"csi-{tab}")
        return (
            f"<div style='max-height: 480px; overflow: auto'>{picture}</div>"
            f"<p style='font-size: 0.85em'>{html.escape(' · '.join(notes))}</p>"
        )
    except (conventions.ConventionError, ValueError, RuntimeError) as error:
        return (
            f"<p style='color: var(--error-text-color, #e11)'>⚠ Inspect layers: {html.escape(str(error))}</p>"
        )
