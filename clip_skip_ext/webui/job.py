"""The plan a job's prompts get: built by the script at generation time, and by the panel for its
preview from the prompt boxes, with the same rules, so that the preview shows what will happen."""

from __future__ import annotations

from collections.abc import Sequence

from clip_skip_ext import directives
from clip_skip_ext.params import Settings
from clip_skip_ext.plan import Plan, check_family
from clip_skip_ext.schedule import Schedule
from clip_skip_ext.webui import defaults, host, settings
from clip_skip_ext.webui.auto import AutoChoices

PLAN_ATTR = "_clip_skip_plan"  # the job's Plan, on its processing object


def parse_directives(prompts: Sequence[str] | None) -> list[Schedule | None]:
    """Each prompt's ``<clipskip:…>`` schedule (None where it has none); none when Settings turn
    directives off. ScheduleError for an invalid one."""
    if not settings.get("clip_skip_directives"):
        return []
    return [directives.extract(text)[1] for text in (prompts or [])]


def below_the_panel(plan: Plan, prompts: list[str], family: str, host_name: str):
    """Auto mode (which sees the checkpoint's default through its policy), else the checkpoint's
    or a followed LoRA's default; "Checkpoint default" mode applies it even when Settings say not to."""
    forced = True if plan.mode == "Checkpoint default" else None
    if plan.mode == "Auto":
        known = defaults.job_default(prompts, family, host_name, use_checkpoint=forced)
        stripped = [directives.strip(text) for text in prompts]
        return AutoChoices(stripped, family, host_name, (known.value, known.source) if known else None)
    return defaults.Fallback(prompts, family, host_name, use_checkpoint=forced) or None


def preview_plan(
    panel: Settings,
    prompt: str,
    negative: str,
    family: str,
    hires_prompt: str = "",
    hires_negative: str = "",
) -> Plan:
    """The plan one image of the tab's prompts would get (``Script.process``, ``process_batch``);
    ScheduleError, ConventionError or PolicyError where the generation would stop with one."""
    host_name = host.host_name()
    plan = Plan(panel, frozenset(), parse_directives([prompt]), parse_directives([negative]), count=1)
    if hires_prompt:
        plan.hires_positive_directives = parse_directives([hires_prompt])
    if hires_negative:
        plan.hires_negative_directives = parse_directives([hires_negative])
    if host.moves_clip_skip(family):
        plan.fallback = below_the_panel(plan, [prompt], family, host_name)
    check_family(plan.schedules(), family, host_name)
    return plan
