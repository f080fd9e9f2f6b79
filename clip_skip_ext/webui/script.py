"""The AlwaysVisible script: reads the panel, XYZ and prompt directives, installs the hook.

Hook order (A1111 ``modules/processing.py``): ``process`` (:915, overrides applied, prompts
known) → per batch ``process_batch`` (:964, extra networks already stripped from ``p.prompts``)
→ ``setup_conds`` (:966) → sampling. Script hooks run inside try/except in the WebUI
(``modules/scripts.py:828-834``), so an error found here is raised from the conditioning hook,
which nothing swallows: the generation stops before sampling with that message.
"""

from __future__ import annotations

from typing import Any

from modules import extra_networks, scripts, shared

from clip_skip_ext import __version__, conventions, directives, params
from clip_skip_ext.plan import Plan, check_family
from clip_skip_ext.policy import PolicyError
from clip_skip_ext.schedule import ScheduleError
from clip_skip_ext.webui import defaults, host, job, lora, passes
from clip_skip_ext.webui.auto import INFOTEXT_KEY as AUTO_KEY
from clip_skip_ext.webui.auto import AutoChoices
from clip_skip_ext.webui.hook import ConditioningHook, clear_cache
from clip_skip_ext.webui.job import PLAN_ATTR
from clip_skip_ext.webui.xyz import XYZ_ATTR

PROMPTS_ATTR = "_clip_skip_prompts"  # the prompts the plan was built from
LORA_KEY = "Clip skip LoRA"
DEFERRED = "none (reForge dynamic clip skip is on)"
OWN_KEYS = (
    *params.BY_INFOTEXT,
    params.SOURCE_KEY,
    params.VERSION_KEY,
    AUTO_KEY,
    LORA_KEY,
    passes.ADETAILER_KEY,
)


class _DirectiveNetwork(extra_networks.ExtraNetwork):
    """``<clipskip:…>`` looks like an extra network to the WebUI; this silences "unknown network"."""

    def __init__(self) -> None:
        super().__init__("clipskip")

    def activate(self, p, params_list):
        # Called for every p the host processes, just before its conditioning (extra_networks.py:
        # 140-147): the one place ADetailer's detail pass can be followed (passes.py).
        passes.follow(p)

    def deactivate(self, p):
        pass


class Script(scripts.Script):
    def title(self) -> str:
        return "Clip Skip Control"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        from clip_skip_ext.webui import ui  # gradio: only where a panel is built

        self._panel = ui.Panel(is_img2img, getattr(self, "_seen", None))
        components = self._panel.build()
        self.infotext_fields = ui.infotext_fields(components)
        self.paste_field_names = list(params.BY_INFOTEXT)
        return components

    def after_component(self, component, **kwargs) -> None:
        """Report the tab's components to the panel, whose preview reads its prompts and steps."""
        from clip_skip_ext.webui import ui  # called only while the UI is built

        panel = getattr(self, "_panel", None)
        if panel is not None:
            panel.seen(component, kwargs.get("elem_id"))
            return
        tab = "img2img" if self.is_img2img else "txt2img"
        name = ui.tab_input(kwargs.get("elem_id"), tab)
        if name:
            self.__dict__.setdefault("_seen", {})[name] = component

    def process(self, p, *args) -> None:
        if passes.is_inner(p) or passes.is_copy(p):  # ADetailer's pass follows its image (passes.follow)
            return
        self._plan(p, args)
        passes.begin(p)

    def before_process_batch(self, p, *args, **kwargs) -> None:
        """Plan again when another script rewrote the prompts after ``process`` (Dynamic Prompts
        expands them in its own ``process``, which runs after this one: dynamic_prompting.py:526)."""
        seen = getattr(p, PROMPTS_ATTR, None)
        if passes.is_inner(p) or seen is None or kwargs.get("batch_number", 0) != 0:
            return
        if list(getattr(p, "all_prompts", None) or []) != seen or list(
            getattr(p, "all_negative_prompts", None) or []
        ) != getattr(p, PROMPTS_ATTR + "_negative", None):
            self._plan(p, args)

    def _plan(self, p, args) -> None:
        family, host_name = host.current_family(), host.host_name()
        plan, error = Plan(), None
        if host.reforge_dynamic_clip_skip():
            for key in OWN_KEYS:
                p.extra_generation_params.pop(key, None)
            if any(args[:1]) or getattr(p, XYZ_ATTR, None):
                p.extra_generation_params[params.SOURCE_KEY] = DEFERRED
            return
        try:
            overrides = getattr(p, XYZ_ATTR, {})
            prompts = list(getattr(p, "all_prompts", None) or [])
            setattr(p, PROMPTS_ATTR, prompts)
            setattr(p, PROMPTS_ATTR + "_negative", list(getattr(p, "all_negative_prompts", None) or []))
            plan = Plan(
                params.from_fields(overrides, base=params.from_args(args)),
                frozenset(overrides),
                job.parse_directives(prompts),
                job.parse_directives(getattr(p, "all_negative_prompts", None)),
                count=len(prompts),
            )
            if host.moves_clip_skip(family):
                plan.fallback = job.below_the_panel(plan, prompts, family, host_name)
            check_family(plan.schedules(), family, host_name)
        except (params.ParamError, ScheduleError, conventions.ConventionError, PolicyError) as caught:
            error = f"Clip Skip Control: {caught}"
            plan = Plan()
        self._write_infotext(p, plan, family)
        if "clipskip" not in extra_networks.extra_network_registry:
            extra_networks.register_extra_network(_DirectiveNetwork())
        setattr(p, PLAN_ATTR, plan)
        current = p.get_conds_with_caching
        if error or plan.touches_anything:
            ConditioningHook(p, plan, error).install()
        elif isinstance(current, ConditioningHook):  # planned again and now leaves the host alone
            p.get_conds_with_caching = current.original

    def process_batch(self, p, *args, **kwargs) -> None:
        """Strip directives from negative prompts (the host strips positive ones) and read hires ones."""
        plan: Plan | None = getattr(p, PLAN_ATTR, None)
        for attr in ("negative_prompts", "hr_negative_prompts"):
            if getattr(p, attr, None):
                setattr(p, attr, [directives.strip(text) for text in getattr(p, attr)])
        if plan is None or not getattr(p, "enable_hr", False) or plan.hires_positive_directives is not None:
            return
        try:
            if getattr(p, "all_hr_prompts", None) != getattr(p, "all_prompts", None):
                plan.hires_positive_directives = job.parse_directives(p.all_hr_prompts)
            if getattr(p, "all_hr_negative_prompts", None) != getattr(p, "all_negative_prompts", None):
                plan.hires_negative_directives = job.parse_directives(p.all_hr_negative_prompts)
            check_family(plan.schedules(), host.current_family(), host.host_name())
        except (ScheduleError, conventions.ConventionError) as caught:
            hook = p.get_conds_with_caching
            if isinstance(hook, ConditioningHook):
                hook.error = f"Clip Skip Control: {caught}"
            else:
                ConditioningHook(p, plan, f"Clip Skip Control: {caught}").install()

    def postprocess(self, p, processed, *args) -> None:
        if not getattr(shared.opts, "persistent_cond_cache", True):
            clear_cache()

    @staticmethod
    def _write_infotext(p, plan: Plan, family: str | None) -> None:
        # XYZ cells share one extra_generation_params dict: set or pop every key, every time.
        generation = p.extra_generation_params
        for key in OWN_KEYS:
            generation.pop(key, None)
        notes = _lora_notes(p, plan, family)
        if notes:
            generation[LORA_KEY] = "; ".join(notes)
            for note in notes if hasattr(p, "comment") else ():  # shown under the image (processing.py:296)
                p.comment(note)
        if not plan.touches_anything:
            return
        generation.update(params.infotext(plan.recorded_settings()))

        def source_of(index: int) -> str:
            if not host.moves_clip_skip(family):
                return f"none ({conventions.no_effect(host.host_name(), family)})"
            sources = []
            for name in ("positive", "negative"):
                source = plan.choose(name, index).source
                if source in ("checkpoint", "lora") and isinstance(plan.fallback, defaults.Fallback):
                    source = f"{source} {plan.fallback.defaults[0].label}"
                sources.append(source)
            return "+".join(dict.fromkeys(sources))

        # One value for the job, or one per image (the host indexes a list by image,
        # processing.py:784) when they differ: Dynamic Prompts' variants of directives.
        per_image = [source_of(index) for index in range(max(plan.count, 1))]
        generation[params.SOURCE_KEY] = per_image[0] if len(set(per_image)) == 1 else per_image
        generation[params.VERSION_KEY] = __version__
        if isinstance(plan.fallback, AutoChoices):
            generation[AUTO_KEY] = plan.fallback.infotext()


def _lora_notes(p, plan: Plan, family: str | None) -> list[str]:
    """LoRAs whose training skip differs from the skip image i uses (the first value of its schedule)."""
    if not host.moves_clip_skip(family):
        return []
    host_name, notes = host.host_name(), []
    prompts = list(getattr(p, "all_prompts", None) or [])
    for text in dict.fromkeys(prompts):
        choice = plan.choose("positive", prompts.index(text))
        skip = choice.schedule.items[0].value if choice.schedule else host.host_clip_skip(family)
        notes += lora.notes([text], skip, family, host_name)
    return list(dict.fromkeys(notes))
