"""What the running WebUI is and what model it has loaded, found by probing, not by versions."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

from modules import shared

from clip_skip_ext import conventions

_MISSING = object()


def host_name() -> str:
    """ "forge" (2.x, with the ``backend`` engines), "reforge" (``modules_forge`` without them) or "a1111"."""
    if importlib.util.find_spec("modules_forge") is None:
        return "a1111"
    return "forge" if importlib.util.find_spec("backend") is not None else "reforge"


def model_family(sd_model: Any) -> str | None:
    """The loaded model's family (``conventions.FAMILIES``, "flux", "chroma"); None when no model is
    loaded (Forge's ``FakeInitialModel`` before the first generation, sd_models.py:385-393).

    Flags set by A1111 ``modules/sd_models.py:379-402`` (``set_model_type``) and by Forge's engines
    (``backend/diffusion_engine/base.py:56-68``; Flux and Chroma set none of them).
    """
    if sd_model is None:
        return None
    if getattr(sd_model, "is_sdxl", False):
        # the refiner holds bigG only: A1111's conditioner has one embedder (sgm sd_xl_refiner.yaml),
        # Forge's refiner engine has no CLIP-L engine (backend/diffusion_engine/sdxl.py:180-204)
        embedders = getattr(getattr(sd_model, "conditioner", None), "embedders", None)
        if embedders is not None:
            return "sdxl-refiner" if len(embedders) == 1 else "sdxl"
        forge_refiner = hasattr(sd_model, "text_processing_engine_g") and not hasattr(
            sd_model, "text_processing_engine_l"
        )
        return "sdxl-refiner" if forge_refiner else "sdxl"
    for flag, family in (("is_sd3", "sd3"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
        if getattr(sd_model, flag, False):
            return family
    if hasattr(sd_model, "text_processing_engine_t5"):  # Forge flux.py / chroma.py
        return "flux" if hasattr(sd_model, "text_processing_engine_l") else "chroma"
    return None


def moves_clip_skip(family: str | None) -> bool:
    """Whether this host's own Clip skip changes the family's conditioning, so the extension's can
    (``conventions.moves``: e.g. not SD2 or SD3 on A1111, never Flux)."""
    return conventions.moves(host_name(), family)


def reforge_dynamic_clip_skip() -> bool:
    """reForge's own per-step clip skip is on (its options, shared_options.py:204-207): it swaps the
    whole cond set per step (sd_samplers_cfg_denoiser.py:140-148), so the extension defers to it."""
    return bool(shared.opts.data.get("dynamic_clip_skip_enabled", False))


def current_family() -> str | None:
    return model_family(shared.sd_model) if shared.sd_model is not None else None


def host_clip_skip(family: str | None = None) -> int:
    """The value, in the extension's numbering, that does what the host's own setting does now
    (overrides included): its Clip skip, except on A1111 SDXL without ``sdxl_clip_l_skip``, where
    CLIP-L stays at its config layer ``hidden_states[11]`` whatever the value (sd_hijack_clip.py:374-384),
    which is the extension's 2 (``hidden_states[-2]``, the same tensor)."""
    if (
        family == "sdxl"
        and host_name() == "a1111"
        and getattr(shared.opts, "sdxl_clip_l_skip", False) is not True
    ):
        return 2
    return int(getattr(shared.opts, "CLIP_stop_at_last_layers", 1))


@contextlib.contextmanager
def options(**values: Any) -> Iterator[None]:
    """Set ``shared.opts`` values for the duration of the block; put back exactly what was there.

    Writes ``opts.data`` directly: no onchange callbacks, nothing saved to config.json. A key that
    was absent stays absent afterwards (A1111 ``modules/options.py`` falls back to the default).
    """
    data = shared.opts.data
    saved = {key: data.get(key, _MISSING) for key in values}
    try:
        data.update(values)
        yield
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                data.pop(key, None)
            else:
                data[key] = value
