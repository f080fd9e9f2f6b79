"""Which model family a ComfyUI ``CLIP`` belongs to, from its text-encoder classes.

ComfyUI builds ``CLIP.cond_stage_model`` from the checkpoint's ``ClipTarget``
(``comfy/supported_models.py``): ``sd1_clip.SD1ClipModel`` for SD1 (:74), ``sd2_clip.SD2ClipModel``,
``sdxl_clip.SDXLClipModel`` and ``SDXLRefinerClipModel``, and for SD3 and Flux a class made per
checkpoint that subclasses ``sd3_clip.SD3ClipModel`` / ``flux.FluxClipModel``. Many non-CLIP text
encoders (Qwen-Image, Lumina 2, Wan's T5, ...) subclass ``SD1ClipModel`` too (``comfy/text_encoders/*.py``),
so SD1 and its siblings are matched by their exact class name, never by inheritance.
"""

from __future__ import annotations

from typing import Any

from clip_skip_ext import conventions

EXACT = {
    "SD1ClipModel": "sd1",
    "SD2ClipModel": "sd2",
    "SDXLClipModel": "sdxl",
    "SDXLRefinerClipModel": "sdxl-refiner",
}
INHERITED = {"SD3ClipModel": "sd3", "FluxClipModel": "flux"}


def encoder_class(clip: Any) -> str:
    return type(getattr(clip, "cond_stage_model", None)).__name__


def clip_family(clip: Any) -> str | None:
    """The family of ``clip`` (``conventions.FAMILIES`` or "flux"), or None for a text encoder
    Clip Skip Control has no numbering for."""
    model = getattr(clip, "cond_stage_model", None)
    if model is None:
        return None
    name = type(model).__name__
    if name in EXACT:
        return EXACT[name]
    for klass in type(model).__mro__:
        if klass.__name__ in INHERITED:
            return INHERITED[klass.__name__]
    return None


def no_effect(clip: Any) -> str | None:
    """Why clip skip changes nothing for ``clip``, or None when it does."""
    family = clip_family(clip)
    if family is None:
        return (
            f"clip skip has no effect: this model's text encoder ({encoder_class(clip)}) has no CLIP "
            "layers Clip Skip Control knows"
        )
    return conventions.no_effect("comfyui", family)
