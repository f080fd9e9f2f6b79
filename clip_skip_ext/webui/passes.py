"""Other extensions' passes over a finished image: ADetailer's detail (inpaint) pass.

ADetailer (Bing-su/adetailer 36189cb) repaints each detected face from its own
``postprocess_image`` with a fresh ``StableDiffusionProcessingImg2Img`` (``scripts/!adetailer.py:
498-565``), marked ``_ad_inner = True`` (``:555``), through the host's ``process_images`` (``:873``).
Only scripts whose file name is in its setting ``ad_script_names`` run there (``script_filter``,
``:448-475``; default ``dynamic_prompting,dynamic_thresholding,lora_block_weight,negpip,
wildcard_recursive,wildcards``, ``adetailer/args.py:275-283``), so Clip Skip Control's script does
not, and the face was encoded at the host's global Clip skip.

How the detail pass follows the image here, without touching ADetailer's settings or objects: the
host calls every registered extra network's ``activate(p, [])`` for every ``p`` it processes, just
before the conditioning (A1111 ``modules/extra_networks.py:126-147`` "Even if the user does not
mention this ExtraNetwork in his prompt, the call will still be made", ``processing.py:958-966``;
Forge ``processing.py:955``). The ``<clipskip:…>`` network calls ``follow(p)``, which installs the
conditioning hook on ADetailer's ``p`` with the plan of the image it repaints
(``Plan.for_pass``): the panel, XYZ, directive, Auto or checkpoint choice of that image, a
schedule laid over the detail pass's own steps, and the face prompt's own directives first.

ADetailer's "Use separate CLIP skip" sets ``override_settings["CLIP_stop_at_last_layers"]`` on its
``p`` (``!adetailer.py:398-399``): then ADetailer wins, nothing is installed, and the image's
infotext says so (``ADETAILER_KEY``). The negative face prompt comes from the image's
``all_negative_prompts`` (``!adetailer.py:309-328``), which the host never strips of extra networks:
its directives are removed here, as ``Script.process_batch`` does for the image.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from clip_skip_ext import conventions, directives
from clip_skip_ext.schedule import ScheduleError
from clip_skip_ext.webui import host, job
from clip_skip_ext.webui.hook import ConditioningHook
from clip_skip_ext.webui.job import PLAN_ATTR

ADETAILER_KEY = "Clip skip ADetailer"
OVERRIDE = "CLIP_stop_at_last_layers"

_JOB: dict[str, weakref.ref] = {}

# ADetailer's panel fields the status line reads, by elem_id: ``script_<tab>_adetailer_<field>``
# with "_2nd", "_3rd"... after the fields of its second and later tabs (``aaaaaa/ui.py`` elem_id()
# and suffix(); its main InputAccordion's checkbox is "<id>-checkbox", the host's
# ``modules/ui_components.py`` InputAccordion). Named here "ad <field> <tab index>".
_AD_FIELD = re.compile(
    r"script_(txt2img|img2img)_adetailer_"
    r"(ad_main_accordion-checkbox|ad_tab_enable|ad_model|ad_use_clip_skip|ad_clip_skip)"
    r"(?:_(\d+)(?:st|nd|rd|th))?"
)
_ORDINALS = ("1st", "2nd", "3rd")


def is_inner(p: Any) -> bool:
    """True for ADetailer's detail-pass ``p``."""
    return bool(getattr(p, "_ad_inner", False))


def _job() -> Any:
    return _JOB["job"]() if "job" in _JOB else None


def begin(p: Any) -> None:
    """Remember ``p`` as the generation whose images extra passes follow."""
    if not is_inner(p):
        _JOB["job"] = weakref.ref(p)


def is_copy(p: Any) -> bool:
    """True for a shallow copy of the running generation's ``p``: ADetailer calls the image's
    scripts' ``process`` again on one after its passes (``!adetailer.py:923-927``). It carries the
    job's plan already; planning again would rewrite the job's infotext (the copy shares its
    ``extra_generation_params``) and drop what the detail passes wrote there. An XYZ cell is a copy
    of a ``p`` that was never processed: it carries no plan."""
    current = _job()
    plan = getattr(current, PLAN_ATTR, None)
    return (
        current is not None and current is not p and plan is not None and getattr(p, PLAN_ATTR, None) is plan
    )


def follow(p: Any) -> None:
    """Make ADetailer's detail pass ``p`` use the skip of the image it repaints (see the module)."""
    if not is_inner(p) or isinstance(p.get_conds_with_caching, ConditioningHook):
        return
    outer = _job()
    plan = getattr(outer, PLAN_ATTR, None)
    if outer is None or plan is None:
        return
    negatives = list(getattr(p, "all_negative_prompts", None) or [])
    p.negative_prompts = [directives.strip(text) for text in getattr(p, "negative_prompts", None) or []]
    generation = outer.extra_generation_params
    if OVERRIDE in (getattr(p, "override_settings", None) or {}):
        value = p.override_settings[OVERRIDE]
        generation[ADETAILER_KEY] = f"ADetailer's own {value} (its Use separate CLIP skip is on)"
        return
    index = getattr(outer, "iteration", 0) * getattr(outer, "batch_size", 1) + getattr(
        outer, "batch_index", 0
    )
    try:
        own = job.parse_directives(list(getattr(p, "all_prompts", None) or [])[:1])
        own_negative = job.parse_directives(negatives[:1])
        inner = plan.for_pass(index, own[0] if own else None, own_negative[0] if own_negative else None)
        error = None
    except (ScheduleError, conventions.ConventionError) as caught:
        inner, error = plan, f"Clip Skip Control (ADetailer's detail pass): {caught}"
    chosen = inner.choose("positive", 0)
    if error is None and chosen.schedule is None and inner.choose("negative", 0).schedule is None:
        return  # the image used the host's own Clip skip: so does its detail pass
    if host.moves_clip_skip(host.current_family()):
        shown = str(chosen.schedule) if chosen.schedule is not None else "the host's"
        generation[ADETAILER_KEY] = f"same as the image ({shown})"
    ConditioningHook(p, inner, error).install()


def adetailer_input(elem_id: str | None, tab: str) -> str | None:
    """The name under which the status line reads ADetailer's panel field ``elem_id``, if it does."""
    found = _AD_FIELD.fullmatch(elem_id or "")
    if found is None or found[1] != tab:
        return None
    return f"ad {found[2]} {int(found[3]) - 1 if found[3] else 0}"


def adetailer_note(values: dict[str, Any]) -> str | None:
    """What ADetailer's detail passes will use, from its panel fields (``adetailer_input`` names);
    None when ADetailer is off or absent."""
    if not values.get("ad ad_main_accordion-checkbox 0"):
        return None
    notes = []
    n = 0
    while f"ad ad_model {n}" in values:  # its tabs, in order
        model = values[f"ad ad_model {n}"]
        if values.get(f"ad ad_tab_enable {n}", True) and model not in (None, "None"):
            name = _ORDINALS[n] if n < len(_ORDINALS) else f"{n + 1}th"
            if values.get(f"ad ad_use_clip_skip {n}"):
                skip = int(values.get(f"ad ad_clip_skip {n}") or 1)
                notes.append(f"ADetailer {name}: its own CLIP skip {skip} (its Use separate CLIP skip is on)")
            else:
                notes.append(f"ADetailer {name}: the image's skip")
        n += 1
    return "; ".join(notes) or None
