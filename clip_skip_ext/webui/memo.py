"""One text-encoder pass per prompt, however many skips a schedule needs.

The hook encodes a batch once per whole skip through the host's own code, which runs the text
model each time and keeps one hidden state. Inside ``one_pass`` the text models of the loaded
checkpoint remember their outputs by input (token ids and the textual-inversion fixes the host
set for that call), so every encode after the first reads its layer from the same forward. The
forward also stops after the deepest block any requested skip needs. The memo lives only for the
block: nothing is kept across conditioning computations beyond what the host caches itself.

What is wrapped:
- A1111 v1.10.1: the Hugging Face ``CLIPTextModel`` at ``<embedder>.wrapped.transformer``, called
  by ``encode_with_transformers`` (modules/sd_hijack_clip.py:351-360 SD1, :374-384 SDXL CLIP-L), and
  OpenCLIP's ``<embedder>.wrapped.encode_with_transformer`` for SDXL's CLIP-G
  (modules/sd_hijack_open_clip.py:56-64), which clip skip never moves. Textual-inversion fixes live
  in ``model_hijack.fixes`` and are consumed by ``EmbeddingsWithFixes.forward`` (sd_hijack.py:347-351).
- Forge 2.x: ``<engine>.text_encoder.transformer`` of each ``ClassicTextProcessingEngine``
  (``sd_model.text_processing_engine[_l|_g]``; backend/text_processing/classic_engine.py:124-148,
  which reads ``hidden_states[-max(skip, minimal_clip_skip)]`` and, for pooled engines, the pooled
  output of the last block); its fixes live in ``<engine>.embeddings.fixes`` (:31-35, set at :266).
  SD3's T5 (``text_processing_engine_t5.text_encoder``, called as ``text_encoder(input_ids=...)``,
  t5_engine.py:57-66) has no skip: it is remembered whole, so a schedule does not run it twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from clip_skip_ext.encoder import text_transformer, truncated


def _fixes_holder() -> Any:
    """A1111's hijack, which holds the textual-inversion fixes of the current encoder call."""
    try:
        from modules.sd_hijack import model_hijack
    except ImportError:  # a host without the hijack (Forge's engines): no fixes to key on
        return None
    return model_hijack


def _key(tokens: Any, holder: Any) -> tuple:
    ids = tokens if isinstance(tokens, torch.Tensor) else torch.as_tensor(tokens)
    fixes = getattr(holder, "fixes", None) if holder is not None else None
    fixes_key = tuple(tuple((offset, id(emb)) for offset, emb in row) for row in fixes) if fixes else None
    return ids.shape, str(ids.dtype), str(ids.device), ids.cpu().numpy().tobytes(), fixes_key


def _memoised(original: Callable, run: Callable[[Callable, Any, dict], Any], holder: Any) -> Callable:
    cache: dict[tuple, Any] = {}

    def call(*args: Any, **kwargs: Any) -> Any:
        tokens = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        key = _key(tokens, holder)
        if key in cache:
            if holder is not None:
                holder.fixes = None  # consumed, as the embeddings layer would have
            return cache[key]
        cache[key] = result = run(original, args, kwargs)
        return result

    return call


def _transformer_run(model: Any, depth: int | None) -> Callable[[Callable, Any, dict], Any]:
    """Run the HF text model once with every hidden state, stopped after block ``depth``."""
    blocks = len(text_transformer(model).encoder.layers)

    def run(original: Callable, args: Any, kwargs: dict) -> Any:
        kwargs = {**kwargs, "output_hidden_states": True}
        if depth is None or depth >= blocks:
            return original(*args, **kwargs)
        with truncated(model, depth):
            out = original(*args, **kwargs)
        # Pad to the full length so that hidden_states[-N] still names the same layer; the
        # states after ``depth`` and the final output were not computed and must not be read.
        out.hidden_states = tuple(out.hidden_states[: depth + 1]) + (None,) * (blocks - depth)
        out.last_hidden_state = None
        return out

    return run


def _plain_run(original: Callable, args: Any, kwargs: dict) -> Any:
    return original(*args, **kwargs)


def embedders(sd_model: Any) -> list[Any]:
    """The text embedders of an A1111 model: SD1/SD2 ``cond_stage_model``, SDXL ``conditioner.embedders``."""
    conditioner = getattr(sd_model, "conditioner", None)
    if conditioner is not None:
        return list(getattr(conditioner, "embedders", []))
    model = getattr(sd_model, "cond_stage_model", None)
    return [model] if model is not None else []


def forge_engines(sd_model: Any) -> list[Any]:
    """Forge's CLIP text engines: ``text_processing_engine`` (SD1, SD2), ``_l`` and ``_g`` (SDXL, SD3,
    Flux's ``_l``; the SDXL refiner's ``_g`` alone)."""
    names = ("text_processing_engine", "text_processing_engine_l", "text_processing_engine_g")
    found = [getattr(sd_model, name, None) for name in names]
    return [e for e in found if e is not None and hasattr(getattr(e, "text_encoder", None), "transformer")]


def _targets(sd_model: Any, depths: list[int | None]) -> Iterator[tuple[Any, str, Callable, Any]]:
    """(object, method name, run, fixes holder) for every text encoder of the loaded model."""
    for engine in forge_engines(sd_model):
        # the pooled output (CLIP-G) comes from the last block: only unpooled engines are truncated
        depth = None if getattr(engine, "return_pooled", False) else (depths[0] if depths else None)
        transformer = engine.text_encoder.transformer
        yield (
            transformer,
            "forward",
            _transformer_run(transformer, depth),
            getattr(engine, "embeddings", None),
        )
    t5 = getattr(getattr(sd_model, "text_processing_engine_t5", None), "text_encoder", None)
    if isinstance(t5, torch.nn.Module):
        yield t5, "forward", _plain_run, None
    hijack = _fixes_holder()
    for index, embedder in enumerate(embedders(sd_model)):
        wrapped = getattr(embedder, "wrapped", None)
        depth = depths[index] if index < len(depths) else None
        transformer = getattr(wrapped, "transformer", None)
        if isinstance(transformer, torch.nn.Module):
            yield transformer, "forward", _transformer_run(transformer, depth), hijack
        elif callable(getattr(wrapped, "encode_with_transformer", None)):
            yield wrapped, "encode_with_transformer", _plain_run, hijack


@contextlib.contextmanager
def one_pass(sd_model: Any, depths: Iterable[int | None] = ()) -> Iterator[None]:
    """Inside the block each text encoder runs once per distinct input (see the module docstring).

    ``depths``: per text encoder, the deepest block any requested skip needs (None: all of them);
    Forge's unpooled engines use the first.
    """
    patched: list[tuple[Any, str, Any]] = []
    try:
        for target, name, run, holder in _targets(sd_model, list(depths)):
            patched.append((target, name, target.__dict__.get(name, _ABSENT)))
            setattr(target, name, _memoised(getattr(target, name), run, holder))
        yield
    finally:
        for target, name, before in reversed(patched):
            if before is _ABSENT:
                delattr(target, name)
            else:
                setattr(target, name, before)


_ABSENT = object()
