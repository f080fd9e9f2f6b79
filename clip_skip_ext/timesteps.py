"""Lay a clip skip schedule over a sampler's timesteps, for hosts that switch conditionings by
timestep range (ComfyUI's ``start_percent``/``end_percent``) rather than by step.

ComfyUI applies a conditioning while ``percent_to_sigma(end) <= sigma <= percent_to_sigma(start)``
(``comfy/samplers.py`` ``calculate_start_end_timesteps`` and ``get_area_and_mult``), where sigma is
the noise level of the model call. Its percents are of the model's *timesteps*, not of the sampler's
steps: with the "normal" scheduler, 40% of the timesteps is not 40% of the steps. Given the sigmas
the sampler will use (``steps + 1`` values, step ``i`` calls the model at ``sigmas[i - 1]``), each
switch after step ``S`` is placed at a percent whose sigma lies strictly between ``sigmas[S]`` and
``sigmas[S - 1]``, so the segment ends exactly after step ``S``. Without sigmas, the schedule's
fractions are used as timestep percents directly.

Nothing here knows a host: ``percent_to_sigma`` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clip_skip_ext.schedule import Schedule

PercentToSigma = Callable[[float], float]


def img2img_steps(steps: int, denoising: float, fix_steps: bool = False) -> int:
    """The sampling steps an A1111-family img2img pass runs: ``t_enc + 1`` of ``steps``, or all of
    them with the option ``img2img_fix_steps`` (A1111 modules/sd_samplers_common.py:22-31)."""
    return steps if fix_steps else int(min(denoising, 0.999) * steps) + 1


class TimestepError(ValueError):
    """A schedule that cannot be laid over the given timesteps (names the reason)."""


@dataclass(frozen=True)
class Segment:
    """One stretch of sampling at one skip value.

    ``start``/``end`` are the host's timestep percents (0 = first step's noise, 1 = the end);
    ``first_step``/``last_step`` are 1-based steps when the steps are known, else None;
    ``sigmas`` the sigmas of its two switch points (None at either end of sampling) when they were
    computed from the sampler's sigmas.
    """

    value: float
    start: float
    end: float
    first_step: int | None = None
    last_step: int | None = None
    sigmas: tuple[float | None, float | None] | None = None

    def describe(self, shown: str) -> str:
        """E.g. ``steps 1-8: 2`` or ``timesteps 0%-40%: 2``; ``shown`` is the value as the user wrote it."""
        if self.first_step is not None:
            span = f"step {self.first_step}" if self.first_step == self.last_step else "steps"
            if self.first_step != self.last_step:
                span += f" {self.first_step}-{self.last_step}"
        else:
            span = f"timesteps {self.start:.0%}-{self.end:.0%}"
        return f"{span}: {shown}"


def separating_percent(high: float, low: float, percent_to_sigma: PercentToSigma) -> float:
    """A percent whose sigma lies strictly between ``low`` and ``high`` (``low < high``).

    ``percent_to_sigma`` decreases with the percent; the search bisects on it (60 halvings reach
    float precision), aiming at the geometric middle of the two sigmas (their mean when ``low`` is 0).
    """
    if not low < high:
        raise TimestepError(f"sigmas {high:g} and {low:g} do not decrease: no switch can fall between them")
    target = math.sqrt(high * low) if low > 0 else (high + low) / 2
    lo, hi = 0.0, 1.0
    for _ in range(60):
        middle = (lo + hi) / 2
        if float(percent_to_sigma(middle)) > target:
            lo = middle
        else:
            hi = middle
    for candidate in (lo, hi, (lo + hi) / 2):
        if low < float(percent_to_sigma(candidate)) < high:
            return candidate
    raise TimestepError(f"no timestep percent falls between sigmas {high:g} and {low:g}")


def _step_ends(schedule: Schedule, steps: int) -> list[tuple[int, int, float]]:
    out, first = [], 1
    for last, value in schedule.segments(steps):
        out.append((first, last, value))
        first = last + 1
    return out


def lay_out(
    schedule: Schedule,
    steps: int | None = None,
    sigmas: Sequence[float] | None = None,
    percent_to_sigma: PercentToSigma | None = None,
) -> list[Segment]:
    """The schedule's segments as timestep ranges, first to last, covering 0..1.

    - ``steps``, ``sigmas`` (``steps + 1`` values) and ``percent_to_sigma``: each switch falls
      exactly after its step;
    - ``steps`` alone: the switch after step S is at the percent S / steps;
    - neither: the schedule's own fractions and percentages are the percents; step numbers and
      per-step lists need ``steps`` (TimestepError).
    """
    if steps is not None and steps < 1:
        raise TimestepError(f"steps must be at least 1, got {steps}")
    if steps is None:
        return _by_fractions(schedule)
    exact = sigmas is not None and percent_to_sigma is not None
    if exact and len(sigmas) < steps + 1:
        raise TimestepError(f"{steps} steps need {steps + 1} sigmas, got {len(sigmas)}")
    parts = _step_ends(schedule, steps)
    segments: list[Segment] = []
    start, start_sigma = 0.0, None
    for index, (first, last, value) in enumerate(parts):
        if index == len(parts) - 1:
            end, end_sigma = 1.0, None
        elif exact:
            end = separating_percent(float(sigmas[last - 1]), float(sigmas[last]), percent_to_sigma)
            end_sigma = float(percent_to_sigma(end))
        else:
            end, end_sigma = last / steps, None
        pair = (start_sigma, end_sigma) if exact else None
        segments.append(Segment(value, start, end, first, last, pair))
        start, start_sigma = end, end_sigma
    return segments


def _by_fractions(schedule: Schedule) -> list[Segment]:
    segments: list[Segment] = []
    start = 0.0
    for item in schedule.items:
        if item.until is None:
            end = 1.0
        elif item.until.unit == "step":
            raise TimestepError(
                f"{schedule} switches at step {item.until}: give the node its sampler's steps, "
                "or write the switch as a fraction (0.4) or a percentage (40%)"
            )
        else:
            share = item.until.amount if item.until.unit == "fraction" else item.until.amount / 100
            end = float(share)
        if end <= start:
            continue
        if segments and segments[-1].value == item.value:
            segments[-1] = Segment(item.value, segments[-1].start, end)
        else:
            segments.append(Segment(item.value, start, end))
        start = end
        if end >= 1.0:
            break
    return segments
