"""What the running WebUI is and what model it has loaded, found by probing, not by versions."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from modules import shared

from clip_skip_ext import conventions
from clip_skip_ext.webui import host_probe

_MISSING = object()
log = logging.getLogger(__name__)


def host_name() -> str:
    """ "a1111", "reforge", "classic" (Forge Classic), "forge" or "neo" (Forge Neo): ``host_probe.probe``."""
    return host_probe.probe()


# Forge and Forge Neo engine classes (backend/diffusion_engine/*.py) whose family is not told by the
# ``is_sd1`` / ``is_sdxl`` flags. Neo 3df257ae: flux.py:20, chroma.py:13, wan.py:18, qwen.py:21,
# zimage.py:13, lumina.py:13, anima.py:13, flux2.py:19.
ENGINE_FAMILIES = {
    "Flux": "flux",
    "Chroma": "chroma",
    "Wan": "wan",
    "QwenImage": "qwen-image",
    "ZImage": "z-image",
    "Lumina2": "lumina2",
    "Anima": "anima",
    "Flux2": "flux2",
}


def _by_engines(sd_model: Any) -> str | None:
    """A Forge-style engine by the text engines it holds, when its class is not one of the above."""
    names = [name for name in getattr(sd_model, "__dict__", {}) if name.startswith("text_processing_engine")]
    if hasattr(sd_model, "text_processing_engine_t5"):
        if hasattr(sd_model, "text_processing_engine_l"):  # Forge flux.py:56-74, Neo flux.py:45-61
            return "flux"
        # Neo wan.py:34-44 (UMT5, is_wan) and chroma.py:26-31 (T5) hold the same attribute
        return "wan" if getattr(sd_model, "is_wan", False) else "chroma"
    if hasattr(sd_model, "text_processing_engine_qwen"):  # Neo qwen.py:37-40
        return "qwen-image"
    if hasattr(sd_model, "text_processing_engine_anima"):  # Neo anima.py:29-33
        return "anima"
    if names and not _clip_engines(sd_model):
        return "no-clip"
    if names or hasattr(sd_model, "forge_objects"):
        return "unknown"
    return None


def _clip_engines(sd_model: Any) -> list[Any]:
    from clip_skip_ext.webui.memo import forge_engines  # torch: only once a model is there

    return forge_engines(sd_model)


def model_family(sd_model: Any) -> str | None:
    """The loaded model's family (``conventions.FAMILIES``, or a family without clip skip: "flux",
    "chroma", "wan", "qwen-image", "z-image", "lumina2", "anima", "flux2", "no-clip", "unknown");
    None when no model is loaded (Forge's ``FakeInitialModel`` before the first generation,
    sd_models.py:385-393; Neo sd_models.py:240-249).

    Flags set by A1111 ``modules/sd_models.py:379-402`` (``set_model_type``) and by Forge's engines
    (``backend/diffusion_engine/base.py:56-68``; Neo keeps ``is_sd1``, ``is_sdxl`` and adds ``is_wan``,
    base.py:63-69); the other families by engine class (``ENGINE_FAMILIES``), then by text engines.
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
    for klass in type(sd_model).__mro__:
        if klass.__name__ in ENGINE_FAMILIES:
            return ENGINE_FAMILIES[klass.__name__]
    return _by_engines(sd_model)


def engine_minimal(sd_model: Any) -> int | None:
    """The loaded CLIP engines' ``minimal_clip_skip`` (classic_engine.py: ``hidden_states[-max(N,
    minimal)]``; Neo classic_engine.py:69, :111), the highest of them; None without Forge engines."""
    values = [getattr(engine, "minimal_clip_skip", None) for engine in _clip_engines(sd_model)]
    values = [int(v) for v in values if v is not None]
    return max(values) if values else None


_warned: set[tuple[str, str, int]] = set()


def minimal_note(family: str | None) -> str | None:
    """A warning when the loaded engines' ``minimal_clip_skip`` is not the one the numbering table
    assumes for this host and family (issue 11 reports that Neo changed and restored it once; at
    3df257ae it equals Forge's: SD1 1, SDXL and refiner 2, Flux 1). Images stay right (every encode goes
    through the engines); only the descriptions of values below it may not."""
    name = host_name()
    if family is None or name not in ("forge", "neo") or not conventions.moves(name, family):
        return None
    loaded, table = engine_minimal(loaded_model()), conventions.minimal_value(name, family)
    if loaded is None or table is None or loaded == table:
        return None
    note = (
        f"the loaded engines' minimal_clip_skip is {loaded}, Clip Skip Control's table for "
        f"{conventions.FAMILY_NAMES.get(family, family)} on {conventions.HOST_NAMES[name]} assumes {table}: "
        f"values below {max(loaded, table)} may select other layers than described"
    )
    if (name, family, loaded) not in _warned:
        _warned.add((name, family, loaded))
        log.warning("Clip Skip Control: %s", note)
    return note


def moves_clip_skip(family: str | None) -> bool:
    """Whether this host's own Clip skip changes the family's conditioning, so the extension's can
    (``conventions.moves``: e.g. not SD2 or SD3 on A1111, never Flux)."""
    return conventions.moves(host_name(), family)


def reforge_dynamic_clip_skip() -> bool:
    """reForge's own per-step clip skip is on (its options, shared_options.py:204-207): it swaps the
    whole cond set per step (sd_samplers_cfg_denoiser.py:140-148), so the extension defers to it."""
    return bool(shared.opts.data.get("dynamic_clip_skip_enabled", False))


def loaded_model() -> Any:
    """The loaded model, without loading one: ``sd_models.model_data.sd_model`` (A1111
    ``sd_models.py:664-701``, Forge ``sd_models.py:396-404``), else ``shared.sd_model``. A1111's
    ``shared.sd_model`` is a property whose first read *loads* the model (and waits for it), which the
    panel's status line must never do while the UI is built (``--skip-load-model-at-start``)."""
    data = getattr(sys.modules.get("modules.sd_models"), "model_data", None)
    if data is not None and hasattr(data, "sd_model"):
        return data.sd_model
    return getattr(shared, "sd_model", None)


def load_selected_model() -> bool:
    """Load the selected checkpoint as Forge and Neo do at the first generation (processing.py:804
    ``forge_model_reload()``); False on a host that has no lazy load (A1111 loads at start-up)."""
    from modules import sd_models

    reload = getattr(sd_models, "forge_model_reload", None)
    if reload is None:
        return False
    reload()
    return True


def current_family() -> str | None:
    model = loaded_model()
    return model_family(model) if model is not None else None


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
