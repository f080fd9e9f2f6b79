"""Guesses from a model's file name: the lowest-precedence source, always flagged as a heuristic.

Each rule says which family it is about, the value in the numbering it is written in, and why. A rule
applies only when the model's family is that family or unknown (then the rule's family is assumed and
the detail says so). Nothing here is a documented value for the file at hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .recommendation import Finding, Recommendation, format_skip

CONFIDENCE = 0.2


@dataclass(frozen=True)
class NameRule:
    """A name pattern (regex on the lowercased file stem) and the value it suggests."""

    pattern: str
    family: str
    skip: float
    convention: str
    why: str


_NAI_WHY = (
    "NovelAI-lineage SD1 anime models were trained on the penultimate layer (NovelAI's "
    "'Improvements on Stable Diffusion' post; diffusers#3212); this file is only named like one"
)
_SDXL_WHY = (
    "{what} checkpoints are SDXL; their cards or the AI Horde reference ask for clip skip 2 in ComfyUI "
    "numbering, which is the native penultimate layer; this file is only named like one"
)

RULES: tuple[NameRule, ...] = (
    NameRule(
        r"pony", "sdxl", 2, "comfyui", _SDXL_WHY.format(what="Pony Diffusion V6 XL and its derivatives")
    ),
    NameRule(r"illustrious|ilxl", "sdxl", 2, "comfyui", _SDXL_WHY.format(what="Illustrious")),
    NameRule(r"noob", "sdxl", 2, "comfyui", _SDXL_WHY.format(what="NoobAI")),
    NameRule(
        r"animagine",
        "sdxl",
        2,
        "comfyui",
        "Animagine XL is SDXL; its cards state no clip skip, so the native penultimate layer is suggested",
    ),
    NameRule(
        r"anything|orangemix|(?<![a-z])aom\d|counterfeit|pastel-?mix|novelai|(?<![a-z])nai(?![a-z])",
        "sd1",
        2,
        "a1111",
        _NAI_WHY,
    ),
)


def guess_from_name(stem: str, family: str | None, rules: tuple[NameRule, ...] = RULES) -> Finding:
    """The first rule whose pattern occurs in ``stem`` and fits ``family``, as a flagged heuristic."""
    lowered = stem.lower()
    for rule in rules:
        match = re.search(rule.pattern, lowered)
        if match is None or (family is not None and family != rule.family):
            continue
        assumed = "" if family is not None else f"; family assumed {rule.family} from the name"
        recommendation = Recommendation(
            skip=float(rule.skip),
            convention=rule.convention,
            source="name heuristic",
            confidence=CONFIDENCE,
            detail=f"file name contains {match.group(0)!r}: {format_skip(rule.skip)} in {rule.convention} "
            f"numbering ({rule.why}){assumed}",
            origin="heuristic",
        )
        return Finding(
            recommendations=(recommendation,),
            family=rule.family,
            family_reason=f"name heuristic ({match.group(0)!r})",
        )
    return Finding()
