"""Lay a clip skip schedule over the host's prompt schedules.

The WebUI hands the sampler, per prompt, a list of ``ScheduledPromptConditioning(end_at_step,
cond)`` entries (prompt editing); the denoiser uses the first entry with ``step <= end_at_step``.
Given that list encoded once per whole skip value, ``combine`` returns one list whose breakpoints
are the union of the prompt-editing ends and the skip schedule's ends, each entry holding the cond
of the right text at the right skip, or a blend of two skips for fractional values. The sampler
then switches skips with no per-step work.

Nothing here imports the WebUI: entries are rebuilt with their own ``_replace`` (namedtuple) and
conds are tensors or dicts of tensors (SDXL: ``crossattn`` and ``vector``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from clip_skip_ext.encoder import blend
from clip_skip_ext.schedule import merge


def whole_values(values: Sequence[float]) -> list[int]:
    """The whole skips needed to produce ``values``: each value's floor, and its ceiling if fractional."""
    needed: set[int] = set()
    for value in values:
        low = math.floor(value)
        needed.add(low)
        if value != low:
            needed.add(low + 1)
    return sorted(needed)


def blend_cond(low: Any, high: Any, weight: float) -> Any:
    """``low + weight * (high - low)`` for a tensor or a dict of tensors; ``low`` itself at weight 0."""
    if weight == 0:
        return low
    if isinstance(low, Mapping):
        return type(low)({key: blend(low[key], high[key], weight) for key in low})
    return blend(low, high, weight)


def cond_at(by_skip: Mapping[int, Sequence[Any]], index: int, value: float) -> Any:
    """Entry ``index``'s cond at skip ``value`` (a blend of the two neighbours if fractional)."""
    low = math.floor(value)
    weight = round(value - low, 2)
    cond = by_skip[low][index].cond
    return blend_cond(cond, by_skip[low + 1][index].cond, weight) if weight else cond


def combine(by_skip: Mapping[int, Sequence[Any]], breakpoints: Sequence[tuple[int, float]]) -> list[Any]:
    """One prompt's schedule at several skips, switched at ``breakpoints``.

    Args:
        by_skip: whole skip -> that prompt's entries (``end_at_step``, ``cond``) encoded at that skip;
            every list has the same ends (the same prompt-editing texts).
        breakpoints: ``(end_at_step, value)`` from ``Schedule.breakpoints``.
    """
    reference = next(iter(by_skip.values()))
    ends = [(entry.end_at_step, index) for index, entry in enumerate(reference)]
    return [
        reference[index]._replace(end_at_step=end, cond=cond_at(by_skip, index, value))
        for end, index, value in merge(ends, breakpoints)
    ]
