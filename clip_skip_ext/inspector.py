"""The layer inspector: how far each selectable layer is from the one the host uses by default.

For one text encoder and a prompt already tokenized the host's way (chunks of 77 ids with their
start and end tokens), every value of the host's numbering is encoded with ``encoder.encode_skips``
(exactly the tensor the host's own clip skip N feeds the model, from one forward) and compared, token
by token, with the host's default value (``Rule.low``: A1111 and Forge 1, ComfyUI -1) by cosine
similarity. Values that select the same layer of this encoder share a column. That is all it
measures: no claim about what a layer "means".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from clip_skip_ext import conventions
from clip_skip_ext.encoder import encode_skips, text_transformer

MEASURE = (
    "Each cell is the cosine similarity between that token's vector at this clip skip and at the "
    "host's default clip skip {default}, as the host would hand them to the model (1 = identical)."
)
CHUNK = 75  # prompt tokens per 77-token chunk, as the WebUIs and ComfyUI split a prompt


@dataclass(frozen=True)
class Column:
    values: tuple[int, ...]  # the host values that select this layer
    layer: str  # e.g. "layer 11 of 12 + final norm"

    @property
    def label(self) -> str:
        return _ranges(self.values)


@dataclass(frozen=True)
class Inspection:
    """One encoder's table: ``similarity[row][column]`` for ``tokens[row]``, and per-column means."""

    encoder: str
    family: str
    host: str
    default: int
    tokens: tuple[str, ...]
    columns: tuple[Column, ...]
    similarity: tuple[tuple[float, ...], ...]
    means: tuple[float, ...]

    @property
    def measure(self) -> str:
        return MEASURE.format(default=self.default)

    def to_dict(self) -> dict:
        return {
            "encoder": self.encoder,
            "family": self.family,
            "host": self.host,
            "default": self.default,
            "measure": self.measure,
            "columns": [{"values": list(c.values), "label": c.label, "layer": c.layer} for c in self.columns],
            "tokens": list(self.tokens),
            "similarity": [list(row) for row in self.similarity],
            "means": list(self.means),
        }


def _ranges(values: Sequence[int]) -> str:
    """E.g. (1, 13, 14, 15) -> "1, 13-15"."""
    parts: list[str] = []
    start = previous = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ", ".join(parts)


def columns(family: str, host: str, encoder: int, blocks: int | None = None) -> list[Column]:
    """The host's values for ``family``, grouped by the layer they select on encoder ``encoder``;
    ``blocks``: leave out the layers below the token embeddings of a model that has only that many."""
    rule = conventions.rule(host, family)
    by_layer: dict[conventions.Layer, list[int]] = {}
    for value in range(rule.low, rule.high + 1):
        layer = rule.pick(value)[encoder]
        if blocks is None or layer.from_end <= blocks + 1:
            by_layer.setdefault(layer, []).append(value)
    spec = conventions.ENCODERS[family][encoder]
    return [
        Column(tuple(values), conventions.describe_layer(layer, spec)) for layer, values in by_layer.items()
    ]


def chunk_ids(ids: Sequence[int], bos: int, eos: int, pad: int) -> tuple[torch.Tensor, list[int]]:
    """``ids`` (no start or end token) in 77-token chunks of 75, as (chunks, prompt tokens per chunk).

    A plain split; the WebUIs also move a chunk's end back to a comma within 20 tokens (A1111
    sd_hijack_clip.py:136-150), which the panel gets from the host's own ``tokenize_line``.
    """
    pieces = [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)] or [[]]
    rows = [[bos, *piece, eos] + [pad] * (CHUNK - len(piece)) for piece in pieces]
    return torch.tensor(rows, dtype=torch.long), [len(piece) for piece in pieces]


@torch.no_grad()
def inspect(
    model: nn.Module,
    chunks: torch.Tensor,
    lengths: Sequence[int],
    tokens: Sequence[str],
    family: str,
    host: str,
    encoder: int = 0,
    reference_layers: int | None = None,
) -> tuple[Inspection, dict[int, torch.Tensor]]:
    """The table for encoder ``encoder`` of ``family`` on ``host``, and each column's first value's
    output (``(chunks, 77, width)``, the tensor the host's clip skip selects).

    Args:
        chunks: token ids, shape ``(n, 77)``, each chunk's start token first.
        lengths: how many prompt tokens each chunk holds after its start token; the rows are those
            tokens and each chunk's end token.
        tokens: the rows' labels, ``sum(lengths) + len(lengths)`` of them.
    """
    blocks = len(text_transformer(model).encoder.layers) if reference_layers is None else reference_layers
    found = columns(family, host, encoder, blocks)
    default = conventions.rule(host, family).low
    firsts = [column.values[0] for column in found]
    wanted = list(dict.fromkeys([default, *firsts]))
    device = next(model.parameters()).device
    outputs = dict(
        zip(wanted, encode_skips(model, chunks.to(device), wanted, family, host, encoder, reference_layers))
    )
    picks = [(i, position) for i, length in enumerate(lengths) for position in range(1, length + 2)]
    if len(tokens) != len(picks):
        raise ValueError(f"{len(tokens)} token labels for {len(picks)} rows")
    index_chunk = torch.tensor([i for i, _ in picks], device=device)
    index_position = torch.tensor([p for _, p in picks], device=device)
    reference = outputs[default][index_chunk, index_position].float()
    table = torch.stack(
        [
            torch.nn.functional.cosine_similarity(
                outputs[value][index_chunk, index_position].float(), reference, dim=-1
            )
            for value in firsts
        ],
        dim=1,
    ).cpu()
    rows = tuple(tuple(round(float(x), 4) for x in row) for row in table)
    means = tuple(round(float(x), 4) for x in table.mean(dim=0))
    name = conventions.ENCODERS[family][encoder].name
    inspection = Inspection(name, family, host, default, tuple(tokens), tuple(found), rows, means)
    return inspection, {value: outputs[value] for value in firsts}
