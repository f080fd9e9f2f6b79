"""Layer selection on a Hugging Face CLIP text model: several skips from one truncated forward.

The hosts pick one hidden state per encode (``conventions`` says which); a schedule needs several.
``select_layers`` runs the model's own forward once, stopped after the deepest block any request
needs, and reads every requested layer from that one pass. Because the model's own modules run in
the same order on the same inputs, each output is bit-identical to the host's full forward.

Truncation swaps ``text_model.encoder.layers`` for its prefix for the duration of the call and
puts it back in ``finally``; the model must not be used from another thread meanwhile (the
WebUIs encode under their generation lock).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from clip_skip_ext import conventions
from clip_skip_ext.conventions import Layer


def text_transformer(model: nn.Module) -> nn.Module:
    """The ``CLIPTextTransformer`` inside a ``CLIPTextModel`` (or ...WithProjection), or itself."""
    inner = getattr(model, "text_model", model)
    if not hasattr(inner, "encoder") or not hasattr(inner, "final_layer_norm"):
        raise TypeError(f"{type(model).__name__} is not a Hugging Face CLIP text model")
    return inner


def _hook_every_block(model: nn.Module) -> None:
    """transformers 5 records hidden states with hooks it installs, once, on the blocks present at
    the first forward of the module whose ``forward`` it decorates (``capture_outputs``): install them
    now, so that a first forward truncated here does not leave the later, full ones without the hooks
    of the blocks it cut off. That module is the inner ``CLIPTextTransformer`` (5.2-5.5; the model
    itself where ``CLIPTextModel`` is flat, 5.6+): hooking the outer model there would hook every block
    a second time, doubling the hidden states of every later forward, the host's own included."""
    try:
        from transformers.utils.output_capturing import maybe_install_capturing_hooks
    except ImportError:  # transformers 4.x collects hidden states in the encoder loop
        return
    inner = text_transformer(model)
    if hasattr(inner, "config"):
        maybe_install_capturing_hooks(inner)


@contextlib.contextmanager
def truncated(model: nn.Module, depth: int) -> Iterator[None]:
    """Run only the first ``depth`` blocks (at least one) of ``model`` inside the block.

    At least one block runs: some transformers versions record hidden states from the blocks
    themselves, so a forward with none would report no states at all.
    """
    encoder = text_transformer(model).encoder
    blocks = encoder.layers
    if not 0 <= depth <= len(blocks):
        raise ValueError(f"depth {depth} is outside 0..{len(blocks)} for a {len(blocks)}-block encoder")
    _hook_every_block(model)
    if max(depth, 1) < len(blocks):
        encoder.layers = blocks[: max(depth, 1)]
    try:
        yield
    finally:
        encoder.layers = blocks


def hidden_states(model: nn.Module, input_ids: torch.Tensor, depth: int) -> tuple[torch.Tensor, ...]:
    """``hidden_states[0..depth]`` (0 = token embeddings) from a forward that stops after block ``depth``."""
    with truncated(model, depth):
        states = model(input_ids=input_ids, output_hidden_states=True).hidden_states
    run = max(depth, 1)
    if states is None or len(states) != run + 1:
        found = "none" if states is None else len(states)
        raise RuntimeError(f"expected {run + 1} hidden states from the text model, got {found}")
    return tuple(states[: depth + 1])


def select_layers(
    model: nn.Module, input_ids: torch.Tensor, layers: Sequence[Layer], reference_layers: int | None = None
) -> list[torch.Tensor]:
    """One output per requested ``Layer``, all from one forward that stops as early as possible.

    ``Layer.from_end`` counts from the end of the reference encoder, which is this model unless
    ``reference_layers`` says the model is that encoder with its last blocks removed (Forge's and
    diffusers' SD2 text encoders keep 23 of OpenCLIP-H's 24 blocks).
    """
    inner = text_transformer(model)
    count = len(inner.encoder.layers)
    reference = count if reference_layers is None else reference_layers
    indices = [reference + 1 - layer.from_end for layer in layers]
    for layer, index in zip(layers, indices):
        if not 0 <= index <= count:
            accepted = f"from_end {reference + 1 - count}..{reference + 1}"
            raise ValueError(f"{layer} is outside this {count}-block encoder ({accepted})")
    if not layers:
        return []
    states = hidden_states(model, input_ids, max(indices))
    return [
        inner.final_layer_norm(states[index]) if layer.final_norm else states[index]
        for layer, index in zip(layers, indices)
    ]


def blend(low: torch.Tensor, high: torch.Tensor, weight: float) -> torch.Tensor:
    """A fractional skip: ``low + weight * (high - low)`` (``torch.lerp``)."""
    return torch.lerp(low, high, weight)


def encode_skips(
    model: nn.Module,
    input_ids: torch.Tensor,
    skips: Sequence[float],
    family: str,
    host: str,
    encoder: int = 0,
    reference_layers: int | None = None,
) -> list[torch.Tensor]:
    """One output per skip, in ``host`` numbering, for encoder number ``encoder`` of ``family``.

    Whole skips reproduce the host's own output exactly; a fractional skip blends the outputs of
    its two neighbouring whole skips. Every output comes from the same single forward.

    Args:
        model: the family's text encoder number ``encoder`` (SDXL: 0 = CLIP-L, 1 = CLIP-G).
        input_ids: token ids, shape (batch, 77).
        skips: requested values, e.g. ``[1, 2, 1.5]``.
        family, host: see ``conventions.FAMILIES`` and ``conventions.HOSTS``.
        reference_layers: see ``select_layers``; pass 24 for a 23-block SD2 text encoder.
    """
    plan = [conventions.neighbours(skip, family, host) for skip in skips]
    wanted = sorted({n for low, high, weight in plan for n in ((low, high) if weight else (low,))})
    layers = {n: conventions.select(n, family, host)[encoder] for n in wanted}
    unique = list(dict.fromkeys(layers.values()))
    outputs = dict(zip(unique, select_layers(model, input_ids, unique, reference_layers)))
    return [
        blend(outputs[layers[low]], outputs[layers[high]], weight) if weight else outputs[layers[low]]
        for low, high, weight in plan
    ]
