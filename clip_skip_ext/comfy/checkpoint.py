"""Clip Skip from checkpoint, and Save Clip Skip default: the metadata database in ComfyUI.

The checkpoint list is ComfyUI's own (``folder_paths.get_filename_list("checkpoints")``, as
``nodes.py`` ``CheckpointLoaderSimple`` offers it) and files are found with
``folder_paths.get_full_path``. The user's own defaults live in ComfyUI's user folder
(``folder_paths.get_user_directory()``, ``default/clip_skip_overrides.json``, the folder ComfyUI's
``/userdata`` API serves), written atomically under a lock by ``metadata.OverrideStore``. A model
is never hashed: ComfyUI keeps no hash cache, so overrides match by file name.
"""

from __future__ import annotations

import math
import os
from typing import Any

import folder_paths

from clip_skip_ext import conventions
from clip_skip_ext.metadata import DEFAULT_FILENAME, OverrideStore, OverrideStoreError, lookup
from clip_skip_ext.schedule import ScheduleError, format_value

from .errors import ClipSkipNodeError
from .values import one_value

ACTIONS = ("save", "forget")


def overrides_path() -> str:
    return os.path.join(folder_paths.get_user_directory(), "default", DEFAULT_FILENAME)


def _checkpoints() -> list[str]:
    return folder_paths.get_filename_list("checkpoints")


def _path(ckpt_name: str) -> str:
    path = folder_paths.get_full_path("checkpoints", ckpt_name)
    if path is None:
        raise ClipSkipNodeError(f"checkpoint {ckpt_name!r} is not in ComfyUI's checkpoints folders")
    return path


def _check_name(ckpt_name: Any) -> bool | str:
    if isinstance(ckpt_name, str) and ckpt_name not in _checkpoints():
        return f"ckpt_name {ckpt_name!r} is not one of ComfyUI's checkpoints ({len(_checkpoints())} listed)"
    return True


def recommend(ckpt_name: str) -> tuple[int, str, str]:
    """(value for CLIPSetLastLayer, the value as text for the encode node, one line of explanation)."""
    result = lookup(
        _path(ckpt_name),
        host="comfyui",
        kind="checkpoint",
        overrides=OverrideStore(overrides_path()),
        use_heuristics=False,  # name guesses are never applied
    )
    family = result.family
    winner = result.winner
    on = conventions.FAMILY_NAMES.get(family or "", "unknown family")
    if winner is not None:  # the highest-precedence candidate with a value on ComfyUI
        value = winner.value
        rec = winner.recommendation
        written = (
            f", written as {format_value(rec.skip)} in {conventions.HOST_NAMES[rec.convention]} numbering"
            if rec.convention != "comfyui"
            else ""
        )
        why = f"from {rec.source}{written}; confidence {rec.confidence:.2f}"
    elif family in conventions.FAMILIES and conventions.moves("comfyui", family):
        value = conventions.native_value(family, "comfyui") or 1
        why = "no known default: the model's native layer"
    else:
        reason = conventions.no_effect("comfyui", family) or "no known default"
        return -1, "", f"{ckpt_name} ({on}): {reason}"
    whole = math.floor(value)
    blend = "" if whole == value else f" (CLIPSetLastLayer takes whole layers: -{whole})"
    text = f"-{format_value(value)}"
    return -whole, text, f"{ckpt_name} ({on}): {text} {why}{blend}"


class ClipSkipFromCheckpoint:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "ckpt_name": (
                    _checkpoints(),
                    {"tooltip": "The checkpoint whose recommended clip skip to read."},
                )
            }
        }

    RETURN_TYPES = ("INT", "STRING", "STRING")
    RETURN_NAMES = ("stop_at_clip_layer", "skip", "explanation")
    OUTPUT_TOOLTIPS = (
        "The recommended layer in ComfyUI numbering, for CLIPSetLastLayer.",
        "The same value as text, for CLIP Text Encode (Clip Skip Control) in ComfyUI numbering.",
        "The value, where it comes from and how sure that source is.",
    )
    FUNCTION = "recommend"
    CATEGORY = "conditioning/clip skip"
    DESCRIPTION = (
        "The checkpoint's recommended clip skip from your saved default, its sidecar .json, safetensors "
        "header, .civitai.info and the curated list; never hashes the model."
    )

    @classmethod
    def VALIDATE_INPUTS(cls, ckpt_name=None):
        return _check_name(ckpt_name)

    @classmethod
    def IS_CHANGED(cls, ckpt_name):
        # re-read when the model's files or the user's defaults change
        path = folder_paths.get_full_path("checkpoints", ckpt_name) or ""
        stamps = []
        for name in (
            path,
            os.path.splitext(path)[0] + ".json",
            os.path.splitext(path)[0] + ".civitai.info",
            overrides_path(),
        ):
            try:
                stamps.append(os.stat(name).st_mtime_ns)
            except OSError:
                stamps.append(None)
        return repr(stamps)

    def recommend(self, ckpt_name):
        return recommend(ckpt_name)


def _check_value(value: Any, action: Any) -> bool | str:
    if action is not None and action not in ACTIONS:
        return f"action {action!r} is not one of {', '.join(ACTIONS)}"
    if action != "forget" and isinstance(value, str):
        try:
            one_value("value", value)
        except ScheduleError as error:
            return f"value: {error}"
        except ValueError as error:
            return str(error)
    return True


class SaveClipSkipDefault:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "ckpt_name": (_checkpoints(),),
                "value": ("STRING", {"default": "-2", "tooltip": "In ComfyUI numbering (-2 or 2 alike)."}),
                "action": (list(ACTIONS),),
            }
        }

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("message",)
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = "conditioning/clip skip"
    DESCRIPTION = "Saves (or forgets) your own clip skip default for a checkpoint, in ComfyUI's user folder."

    @classmethod
    def VALIDATE_INPUTS(cls, ckpt_name=None, value=None, action=None):
        checked = _check_name(ckpt_name)
        return checked if checked is not True else _check_value(value, action)

    def save(self, ckpt_name, value, action):
        path = _path(ckpt_name)
        name = os.path.basename(path)
        store = OverrideStore(overrides_path())
        try:
            if action == "forget":
                removed = store.remove(name=name)
                message = (
                    f"Forgot the default for {ckpt_name}" if removed else f"No saved default for {ckpt_name}"
                )
            else:
                skip = one_value("value", value)
                family = lookup(path, host="comfyui", use_heuristics=False).family
                store.set(skip=skip, convention="comfyui", name=name, family=family)
                message = f"Saved -{format_value(skip)} (ComfyUI numbering) for {ckpt_name}"
        except (OverrideStoreError, ValueError) as error:
            raise ClipSkipNodeError(f"{ckpt_name}: {error}") from None
        return {"ui": {"text": [message]}, "result": (message,)}
