"""CLIP Text Encode (Clip Skip Control): ``CLIPTextEncode`` with a skip, blend or schedule.

A whole skip ``k`` encodes exactly as ``CLIPSetLastLayer(-k)`` then ``CLIPTextEncode`` do
(``nodes.py`` ``CLIPSetLastLayer.set_last_layer``: ``clip.clone()``, ``clip.clip_layer(k)``;
``CLIPTextEncode.encode``: ``clip.encode_from_tokens_scheduled(clip.tokenize(text))``), so a constant
value gives ComfyUI's own conditioning, bit for bit. A schedule becomes one conditioning entry per
segment with ``start_percent``/``end_percent``, as ``ConditioningSetTimestepRange`` writes them
(``node_helpers.conditioning_set_values``). All skips of one prompt come from one encoder pass
(``memo.one_pass``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from comfy import samplers

from clip_skip_ext import conventions, directives
from clip_skip_ext.conds import whole_values
from clip_skip_ext.encoder import blend
from clip_skip_ext.schedule import Schedule, ScheduleError, format_value, parse
from clip_skip_ext.timesteps import Segment, TimestepError, lay_out

from . import family as families
from . import memo
from .errors import ClipSkipNodeError

log = logging.getLogger(__name__)

NUMBERINGS = {"ComfyUI (-N)": "comfyui", "A1111 (N)": "a1111"}
SKIP_TOOLTIP = (
    "Empty: what the incoming CLIP is set to. A value (2), a blend of two layers (1.5) or a schedule "
    "(2@40%, 1: skip 2 for the first 40% of the steps, then 1) in the numbering below. "
    "<clipskip:...> in the text wins over this field. Without steps (and the model), a schedule's "
    "fractions are used as ComfyUI's timestep percents, which are not step fractions; connect the "
    "model and set the KSampler's steps and scheduler to switch exactly after a step."
)


def parse_skip(text: str, numbering: str) -> Schedule | None:
    """The field's schedule, None when empty; ScheduleError names the problem."""
    text = (text or "").strip()
    return parse(text, signed=NUMBERINGS[numbering] == "comfyui") if text else None


def check_inputs(skip: Any = None, numbering: Any = None, text: Any = None) -> bool | str:
    """``VALIDATE_INPUTS``: True, or the message ComfyUI shows before the queue runs."""
    if numbering is not None and numbering not in NUMBERINGS:
        return f"numbering {numbering!r} is not one of {', '.join(NUMBERINGS)}"
    try:
        if isinstance(skip, str):
            parse_skip(skip, numbering or next(iter(NUMBERINGS)))
        if isinstance(text, str):
            directives.extract(text, signed=NUMBERINGS.get(numbering or "") != "a1111")
    except ScheduleError as error:
        return f"skip: {error}" if isinstance(skip, str) and skip.strip() else str(error)
    return True


def _sigmas(model: Any, steps: int, sampler_name: str, scheduler: str, denoise: float):
    """The sigmas the KSampler with these settings samples at, and its ``percent_to_sigma``:
    computed by ComfyUI's own ``comfy.samplers.KSampler`` (``set_steps``, with denoise and the samplers
    that discard the penultimate sigma)."""
    sampler = samplers.KSampler(
        model, steps=steps, device="cpu", sampler=sampler_name, scheduler=scheduler, denoise=denoise
    )
    sampling = model.get_model_object("model_sampling")
    return [float(s) for s in sampler.sigmas], sampling.percent_to_sigma


def _blend_entry(low: list[Any], high: list[Any], weight: float) -> list[Any]:
    """One conditioning entry at a fractional skip: the cond and pooled output blended (``torch.lerp``,
    as the WebUI blends), every other key from the lower skip."""
    extras = dict(low[1])
    if extras.get("pooled_output") is not None and high[1].get("pooled_output") is not None:
        extras["pooled_output"] = blend(low[1]["pooled_output"], high[1]["pooled_output"], weight)
    return [blend(low[0], high[0], weight), extras]


def _at(by_skip: dict[int, list[Any]], value: float) -> list[list[Any]]:
    low = math.floor(value)
    weight = round(value - low, 2)
    if not weight:
        return by_skip[low]
    return [_blend_entry(a, b, weight) for a, b in zip(by_skip[low], by_skip[low + 1])]


def _timed(entries: list[list[Any]], segment: Segment) -> list[list[Any]]:
    return [
        [cond, {**extras, "start_percent": segment.start, "end_percent": segment.end}]
        for cond, extras in entries
    ]


class ClipSkipTextEncode:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "clip": ("CLIP", {"tooltip": "The CLIP model used for encoding the text."}),
                "text": (
                    "STRING",
                    {"multiline": True, "dynamicPrompts": True, "tooltip": "The text to encode."},
                ),
                "skip": ("STRING", {"default": "", "tooltip": SKIP_TOOLTIP}),
                "numbering": (
                    list(NUMBERINGS),
                    {
                        "tooltip": "ComfyUI: -1 is the last layer, as CLIPSetLastLayer (2 and -2 both mean -2). "
                        "A1111: the WebUI's Clip skip N (model cards), translated per model family."
                    },
                ),
            },
            "optional": {
                "model": (
                    "MODEL",
                    {"tooltip": "The KSampler's model: its sigmas place each switch exactly."},
                ),
                "steps": (
                    "INT",
                    {"default": 0, "min": 0, "max": 10000, "tooltip": "The KSampler's steps; 0: unknown."},
                ),
                "sampler_name": (samplers.KSampler.SAMPLERS, {"tooltip": "The KSampler's sampler."}),
                "scheduler": (samplers.KSampler.SCHEDULERS, {"tooltip": "The KSampler's scheduler."}),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
            },
        }

    RETURN_TYPES = ("CONDITIONING", "STRING")
    RETURN_NAMES = ("CONDITIONING", "info")
    OUTPUT_TOOLTIPS = (
        "The text encoded at the chosen layers; a schedule is one entry per segment with its timestep range.",
        "What was encoded: the family, each segment's steps and layers.",
    )
    FUNCTION = "encode"
    CATEGORY = "conditioning/clip skip"
    DESCRIPTION = (
        "CLIPTextEncode with a clip skip, blend or per-step schedule; <clipskip:...> in the text applies."
    )

    @classmethod
    def VALIDATE_INPUTS(cls, skip=None, numbering=None, text=None):
        return check_inputs(skip, numbering, text)

    def encode(
        self, clip, text, skip, numbering, model=None, steps=0, sampler_name=None, scheduler=None, denoise=1.0
    ):
        if clip is None:
            raise ClipSkipNodeError("clip input is invalid: None (the checkpoint has no text encoder)")
        try:
            text, directive = directives.extract(text, signed=NUMBERINGS[numbering] == "comfyui")
            schedule = directive or parse_skip(skip, numbering)
        except ScheduleError as error:
            raise ClipSkipNodeError(str(error)) from None
        tokens = clip.tokenize(text)
        if schedule is None:
            return clip.encode_from_tokens_scheduled(tokens), "skip: as the incoming CLIP is set"
        family = families.clip_family(clip)
        reason = families.no_effect(clip)
        if reason is not None:
            log.warning("Clip Skip Control: %s; encoded as the incoming CLIP is set", reason)
            return clip.encode_from_tokens_scheduled(tokens), reason
        source = "prompt" if directive else "skip"
        comfy_schedule = _to_comfy(schedule, family, NUMBERINGS[numbering], source)
        segments = self._segments(comfy_schedule, model, steps, sampler_name, scheduler, denoise)
        needed = whole_values([segment.value for segment in segments])
        with memo.one_pass(clip.cond_stage_model):
            by_skip = {k: _encode_at(clip, tokens, k) for k in needed}
        if len(segments) == 1:
            conditioning = _at(by_skip, segments[0].value)
        else:
            conditioning = [entry for s in segments for entry in _timed(_at(by_skip, s.value), s)]
        return conditioning, _info(segments, family, schedule, NUMBERINGS[numbering], source)

    @staticmethod
    def _segments(schedule, model, steps, sampler_name, scheduler, denoise) -> list[Segment]:
        try:
            if schedule.is_constant:
                return [Segment(schedule.items[0].value, 0.0, 1.0)]
            if steps and model is not None:
                sigmas, percent_to_sigma = _sigmas(
                    model,
                    steps,
                    sampler_name or samplers.KSampler.SAMPLERS[0],
                    scheduler or samplers.KSampler.SCHEDULERS[0],
                    denoise,
                )
                return lay_out(schedule, len(sigmas) - 1, sigmas, percent_to_sigma)
            return lay_out(schedule, steps or None)
        except TimestepError as error:
            raise ClipSkipNodeError(str(error)) from None


def _encode_at(clip: Any, tokens: Any, skip: int) -> list[Any]:
    """``CLIPSetLastLayer(-skip)`` then ``CLIPTextEncode``, on the tokens already made."""
    layered = clip.clone()
    layered.clip_layer(-skip)
    return layered.encode_from_tokens_scheduled(tokens)


def _to_comfy(schedule: Schedule, family: str, numbering: str, source: str) -> Schedule:
    """The schedule in ComfyUI numbering; an error naming each value that has no ComfyUI equivalent."""
    written = f"<clipskip:{schedule}>" if source == "prompt" else f"skip {schedule}"
    try:  # translate() checks each value's range first (conventions.neighbours)
        translated, missing = conventions.translate_schedule(schedule, family, numbering, "comfyui")
    except conventions.ConventionError as error:
        raise ClipSkipNodeError(f"{written}: {error}") from None
    if translated is None:
        value = missing[0]
        raise ClipSkipNodeError(
            f"{written}: {conventions.HOST_NAMES[numbering]} {format_value(value)} has no ComfyUI equivalent on "
            f"{conventions.FAMILY_NAMES[family]} ({conventions.describe(value, family, numbering)}; "
            f"ComfyUI: {conventions.rule('comfyui', family).note})"
        )
    return translated


def _info(segments: list[Segment], family: str, schedule: Schedule, numbering: str, source: str) -> str:
    head = f"{conventions.FAMILY_NAMES[family]}, from the {'prompt' if source == 'prompt' else 'skip field'}"
    if numbering != "comfyui":
        head += f" (A1111 {schedule} in ComfyUI numbering)"
    parts = []
    for segment in segments:
        shown = "-" + format_value(segment.value)
        effect = conventions.describe(segment.value, family, "comfyui").split(": ", 1)[1].split(" [")[0]
        until = f", until sigma {segment.sigmas[1]:.4g}" if segment.sigmas and segment.sigmas[1] else ""
        parts.append(segment.describe(shown) + f" ({effect}{until})")
    return head + ": " + " · ".join(parts)
