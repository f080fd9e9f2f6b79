"""The control point: a per-``p`` wrapper of ``get_conds_with_caching`` (DESIGN.md §4).

Every conditioning computation (first pass, hires, img2img, refiner switch) goes through
``p.get_conds_with_caching(function, required_prompts, steps, caches, extra_network_data,
hires_steps)`` (A1111 ``modules/processing.py:460-491``). The wrapper encodes once per whole skip
any prompt needs, by setting ``opts.CLIP_stop_at_last_layers`` around the host's own call (the host
reads it at encode time and keys its cache on it), and returns the host's structures rebuilt so
that their ``end_at_step`` breakpoints also switch skips: the sampler needs no per-step callback.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from fastapi import HTTPException

from clip_skip_ext.conds import combine, whole_values
from clip_skip_ext.plan import Plan
from clip_skip_ext.schedule import Schedule
from clip_skip_ext.timesteps import img2img_steps
from clip_skip_ext.webui import host, memo

# Private cache slots, one per (pass, prompt kind, skip), shaped like the host's: passing the
# host's one-slot caches through would evict its entry at every other skip. Three entries, as in
# Forge, whose get_conds_with_caching keeps the encode's infotext extras (TI hashes, emphasis) in
# slot 2 and restores them on a hit (processing.py:463-486); A1111 reads only slots 0 and 1.
# Each slot remembers the host cache list it stands in for: a new list (A1111 makes one per job
# without persistent_cond_cache, processing.py:404-410; Regional Prompter per batch, because its
# regional LoRA weights are not in the cache key, rp.py:1286-1290) empties the slot too.
_SLOTS: dict[tuple[str, int], tuple[Any, list[Any]]] = {}
logger = logging.getLogger("clip_skip_control")


def clear_cache() -> None:
    _SLOTS.clear()


class ClipSkipError(HTTPException):
    """Stops a generation before sampling. The API answers with ``status_code`` (``vars(e).get(
    "status_code", 500)``) and the message as ``errors`` (``str(e)``) in A1111, Forge and Forge Neo
    modules/api/api.py:167-181, which print a full traceback for every exception but an
    ``HTTPException``: a rejected value is logged here, once, as one line."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.message = message
        logger.error("%s (HTTP %d)", message, status_code)

    def __str__(self) -> str:
        return self.message


class ConditioningHook:
    """Installed as ``p.get_conds_with_caching`` for one generation; see the module docstring."""

    def __init__(self, p: Any, plan: Plan, error: str | None = None) -> None:
        self.p = p
        self.plan = plan
        self.error = error
        self.original = p.get_conds_with_caching

    def install(self) -> None:
        """Replace ``p.get_conds_with_caching``; a hook already there (the same ``p`` processed
        again, as Regional Prompter's rps.py does) is replaced, never wrapped."""
        current = self.p.get_conds_with_caching
        if isinstance(current, ConditioningHook):
            self.original = current.original
        self.p.get_conds_with_caching = self

    def __call__(self, function, required_prompts, steps, caches, extra_network_data, hires_steps=None):
        if self.error:
            raise ClipSkipError(self.error)
        hires = hires_steps is not None
        kind = "negative" if getattr(required_prompts, "is_negative_prompt", False) else "positive"
        name = f"hires_{kind}" if hires else kind
        first = getattr(self.p, "iteration", 0) * getattr(self.p, "batch_size", len(required_prompts))
        choices = [self.plan.choose(name, first + i) for i in range(len(required_prompts))]
        family = host.current_family()  # probed per call: the refiner switch changes the model
        if not host.moves_clip_skip(family) or all(c.schedule is None for c in choices):
            return self.original(function, required_prompts, steps, caches, extra_network_data, hires_steps)

        fallback = Schedule.constant(host.host_clip_skip(family))  # what the host alone would encode
        schedules = [c.schedule or fallback for c in choices]
        calls = hires_steps if hires else steps
        run_steps, multiplier = self._timeline(calls, hires)
        needed = whole_values([item.value for s in schedules for item in s.items])
        model = host.loaded_model()
        with memo.one_pass(model, _depths(model, family, needed)):
            by_skip = {
                v: self._encode(
                    v,
                    family,
                    name,
                    function,
                    required_prompts,
                    steps,
                    caches,
                    extra_network_data,
                    hires_steps,
                )
                for v in needed
            }
        # Forge's engines keep the last skip set (processing.py:472 sets it from the option at every
        # encode): put them back at the host's value, for code that encodes without that call.
        if hasattr(model, "set_clip_skip"):
            model.set_clip_skip(int(getattr(host.shared.opts, "CLIP_stop_at_last_layers", 1)))
        if len(needed) == 1 and all(s.is_constant and s.items[0].value == needed[0] for s in schedules):
            return by_skip[needed[0]]
        breakpoints = [s.breakpoints(run_steps, multiplier) for s in schedules]
        return _assemble(by_skip, breakpoints)

    def _timeline(self, calls: int, hires: bool) -> tuple[int, int]:
        """(user steps that actually run on this timeline, denoiser calls per step)."""
        p = self.p
        user_steps = (getattr(p, "hr_second_pass_steps", 0) or p.steps) if hires else p.steps
        multiplier = max(calls // max(user_steps, 1), 1)
        if not hires and hasattr(p, "init_images"):
            fix = bool(getattr(host.shared.opts, "img2img_fix_steps", False))
            user_steps = img2img_steps(p.steps, p.denoising_strength, fix)
        return max(user_steps, 1), multiplier

    def _encode(self, value, family, name, function, prompts, steps, caches, extra_network_data, hires_steps):
        overrides: dict[str, Any] = {"CLIP_stop_at_last_layers": value}
        if family == "sdxl":  # A1111 moves CLIP-L only with this (sd_hijack_clip.py:374-384)
            overrides["sdxl_clip_l_skip"] = True
        owner = caches[0] if caches else None
        found = _SLOTS.get((name, value))
        if found is None or found[0] is not owner:
            found = _SLOTS[(name, value)] = (owner, [None, None, None])
        slot = found[1]
        with host.options(**overrides):
            return self.original(function, prompts, steps, [slot], extra_network_data, hires_steps)


def _depths(sd_model: Any, family: str, skips: list[int]) -> list[int | None]:
    """Per text encoder, the deepest block the skips need, as the host reads ``hidden_states[-N]``:
    A1111 from CLIP-L only (SD1; SDXL with ``sdxl_clip_l_skip``), Forge from every engine with
    ``max(N, minimal_clip_skip)`` (classic_engine.py:135). None: every block."""
    engines = memo.forge_engines(sd_model)
    if engines:
        transformer = engines[0].text_encoder.transformer
        least = max(min(skips), getattr(engines[0], "minimal_clip_skip", 1))
    else:
        first = memo.embedders(sd_model)[:1]
        transformer = getattr(getattr(first[0], "wrapped", None), "transformer", None) if first else None
        least = min(skips)
    layers = getattr(getattr(transformer, "config", None), "num_hidden_layers", None)
    if layers is None or least <= 1:
        return []
    return [layers + 1 - least] + ([None] if family == "sdxl" else [])


def _assemble(by_skip: dict[int, Any], breakpoints: list[list[tuple[int, float]]]) -> Any:
    """The host's structure for the batch with every prompt's schedule laid over it."""
    reference = next(iter(by_skip.values()))
    if hasattr(reference, "batch"):  # MulticondLearnedConditioning (positive prompts, AND)
        result = copy.copy(reference)
        result.batch = []
        for i, composables in enumerate(reference.batch):
            row = []
            for j, composable in enumerate(composables):
                merged = copy.copy(composable)
                merged.schedules = combine(
                    {v: r.batch[i][j].schedules for v, r in by_skip.items()}, breakpoints[i]
                )
                row.append(merged)
            result.batch.append(row)
        return result
    # list[list[ScheduledPromptConditioning]] (negative prompts)
    return [combine({v: r[i] for v, r in by_skip.items()}, breakpoints[i]) for i in range(len(reference))]
