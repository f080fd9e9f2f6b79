"""Clip Skip Auto: the value Auto mode would choose for a prompt, and why (``policy.decide``).

The policy is the same text as the WebUI setting (``policy.DEFAULT_POLICY_TEXT`` when the field is
empty); the decision is made in ComfyUI numbering, so the value feeds CLIPSetLastLayer (INT) or
CLIP Text Encode (Clip Skip Control) (text) directly.
"""

from __future__ import annotations

import math
from typing import Any

from clip_skip_ext import directives
from clip_skip_ext.policy import FAMILIES, Policy, PolicyError, decide
from clip_skip_ext.schedule import ScheduleError, parse

from .errors import ClipSkipNodeError
from .values import one_value


def _policy(text: str) -> Policy | None:
    return Policy.parse(text) if text and text.strip() else None


def _known(text: str) -> float | None:
    return one_value("checkpoint_default", text) if text and text.strip() else None


def check_inputs(family: Any = None, policy: Any = None, checkpoint_default: Any = None) -> bool | str:
    if family is not None and family not in FAMILIES:
        return f"family {family!r} is not one of {', '.join(FAMILIES)}"
    try:
        if isinstance(policy, str):
            _policy(policy)
        if isinstance(checkpoint_default, str):
            _known(checkpoint_default)
    except PolicyError as error:
        return f"policy: {error}"
    except ScheduleError as error:
        return f"checkpoint_default: {error}"
    except ValueError as error:
        return str(error)
    return True


class ClipSkipAuto:
    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "text": (
                    "STRING",
                    {"multiline": True, "dynamicPrompts": True, "tooltip": "The prompt to classify."},
                ),
                "family": (list(FAMILIES), {"tooltip": "The checkpoint's model family."}),
            },
            "optional": {
                "checkpoint_default": (
                    "STRING",
                    {
                        "default": "",
                        "tooltip": "The checkpoint's known default in ComfyUI numbering (Clip Skip from checkpoint's skip).",
                    },
                ),
                "policy": (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "",
                        "tooltip": "The Auto policy (the WebUI setting's text); empty: the shipped policy.",
                    },
                ),
            },
        }

    RETURN_TYPES = ("INT", "STRING", "STRING")
    RETURN_NAMES = ("stop_at_clip_layer", "skip", "reasons")
    FUNCTION = "choose"
    CATEGORY = "conditioning/clip skip"
    DESCRIPTION = "Chooses a clip skip from the prompt's style (tag list, prose or mixed) and explains it."

    @classmethod
    def VALIDATE_INPUTS(cls, family=None, policy=None, checkpoint_default=None):
        return check_inputs(family, policy, checkpoint_default)

    def choose(self, text, family, checkpoint_default="", policy=""):
        try:
            decision = decide(
                directives.strip(text),
                family,
                "comfyui",
                _policy(policy),
                _known(checkpoint_default),
                "checkpoint_default input" if checkpoint_default.strip() else None,
            )
        except ValueError as error:  # PolicyError, ScheduleError, ConventionError; a schedule as default
            raise ClipSkipNodeError(str(error)) from None
        schedule = parse(decision.skip)
        first = schedule.items[0].value
        # ComfyUI numbering; a schedule is written without signs, which the encode node reads alike
        skip = "-" + decision.skip if schedule.is_constant else decision.skip
        reasons = decision.summary() + "\n" + "\n".join(decision.reasons)
        return -math.floor(first), skip, reasons
