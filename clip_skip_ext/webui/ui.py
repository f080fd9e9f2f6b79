"""The panel, built from ``params.PARAMS``; works on Gradio 3.41 (A1111, reForge, Forge Classic) and 4.40
(Forge, Forge Neo).

Hover titles are set by ``javascript/clip_skip_control.js`` from the schema route, which is built
from the same table.
"""

from __future__ import annotations

import functools
import html
from typing import Any

import gradio as gr
from modules.call_queue import wrap_queued_call
from modules.ui_components import InputAccordion

from clip_skip_ext import conventions, params, preview
from clip_skip_ext.plan import status
from clip_skip_ext.policy import PolicyError, decide
from clip_skip_ext.schedule import ScheduleError, parse
from clip_skip_ext.timesteps import img2img_steps
from clip_skip_ext.webui import checkpoint, host, job, layers, lora, passes
from clip_skip_ext.webui.auto import current_policy


def elem_id(name: str, is_img2img: bool) -> str:
    return f"clip_skip_{'img2img' if is_img2img else 'txt2img'}_{name}"


# The tab's own inputs the preview reads, by elem_id, the same on A1111 82a973c0 and Forge dfdcbab6:
# prompts modules/ui_toprow.py:83,87; Sampling steps modules/processing_scripts/sampler.py:27-30;
# Hires. fix modules/ui.py:311 (A1111) / :332 (Forge), an InputAccordion whose checkbox is
# "<id>-checkbox" (ui_components.py); Hires steps :317 / :338; hires prompts :336,339 / :380,382;
# img2img Denoising strength :663 / :711. The output gallery (ui_common.py:187 / :184) ends the tab.
TAB_INPUTS = {
    "prompt": "{tab}_prompt",
    "negative_prompt": "{tab}_neg_prompt",
    "steps": "{tab}_steps",
    "enable_hr": "txt2img_hr-checkbox",
    "hr_steps": "txt2img_hires_steps",
    "hr_prompt": "hires_prompt",
    "hr_negative_prompt": "hires_neg_prompt",
    "denoising": "img2img_denoising_strength",
}
WANTED = {
    "txt2img": (
        "prompt",
        "negative_prompt",
        "steps",
        "enable_hr",
        "hr_steps",
        "hr_prompt",
        "hr_negative_prompt",
    ),
    "img2img": ("prompt", "negative_prompt", "steps", "denoising"),
}


def tab_input(elem_id: str | None, tab: str) -> str | None:
    """The name under which the preview reads the component ``elem_id`` of ``tab``, if it reads it:
    the tab's own inputs, and ADetailer's fields when it is installed (``passes.adetailer_input``)."""
    for name in WANTED[tab]:
        if TAB_INPUTS[name].format(tab=tab) == elem_id:
            return name
    return passes.adetailer_input(elem_id, tab)


def status_html(*values: Any) -> str:
    """The status line and preview for the panel's values, then (if given) the prompt box."""
    return panel_html("txt2img", ("prompt",)[: len(values) - len(params.PARAMS)], *values)


def panel_html(tab: str, names: tuple[str, ...], *values: Any) -> str:
    """The status line and the schedule preview for the panel's values (``PARAMS`` order) followed
    by the tab's inputs named ``names``, on the loaded (or selected) model. An error replaces both."""
    try:
        settings = params.from_args(values[: len(params.PARAMS)])
        tab_values = dict(zip(names, values[len(params.PARAMS) :]))
        family, host_name = host.current_family(), host.host_name()
        selected = None if family else checkpoint.selected_family(host_name)
        if selected:  # not loaded yet: what the selected checkpoint's metadata says it is
            family = selected[0]
        moves = conventions.moves(host_name, family)
        prompt = tab_values.get("prompt")
        decided = None
        if settings.enabled and settings.mode == "Auto" and prompt is not None and moves:
            decided = decide(prompt, family, host_name, current_policy()).summary()
        default = None
        if moves and (checkpoint.apply_defaults() or settings.mode == "Checkpoint default"):
            known = checkpoint.current(family, host_name)
            default = (known.value, known.label) if known else None
        text = status(settings, family, host_name, host.host_clip_skip(family), decided, default)
        if selected:
            named = conventions.FAMILY_NAMES.get(family, family)
            text = f"{selected[1]} loads at the first generation; its metadata says {named}: {text}"
        note = host.minimal_note(family)
        if note:
            text = f"{text} [{note}]"
        if host.reforge_dynamic_clip_skip():
            return "<p>reForge's own dynamic clip skip is on (Settings): Clip Skip Control stays out of its way</p>"
        if prompt and moves:
            positive = settings.effective()["positive"] if settings.enabled else ""
            shown = (
                parse(positive).items[0].value
                if positive
                else (default[0] if default else host.host_clip_skip(family))
            )
            text = " · ".join([text, *lora.notes([prompt], shown, family, host_name)])
        adetailer = passes.adetailer_note(tab_values) if moves else None
        if adetailer:
            text = f"{text} · {adetailer}"
        picture = _chart(tab, settings, tab_values, family) if moves and family else ""
        return f"<p>{html.escape(text)}</p>{picture}"
    except (params.ParamError, conventions.ConventionError, PolicyError, ScheduleError) as error:
        return f"<p style='color: var(--error-text-color, #e11)'>⚠ {html.escape(str(error))}</p>"


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _chart(tab: str, settings: params.Settings, values: dict[str, Any], family: str) -> str:
    """The schedule preview: what the hook will hand out over the steps that actually run."""
    steps = max(int(_number(values.get("steps"), 20)), 1)
    run, note = steps, ""
    if tab == "img2img":
        denoising = _number(values.get("denoising"), 0.75)
        run = img2img_steps(steps, denoising, bool(getattr(host.shared.opts, "img2img_fix_steps", False)))
        note = f"img2img at denoising strength {denoising:g}: {run} of {steps} steps run"
    hires = None
    if tab == "txt2img" and values.get("enable_hr"):
        hires = int(_number(values.get("hr_steps"), 0)) or steps
        note = f"hires pass: {hires} steps"
    plan = job.preview_plan(
        settings,
        values.get("prompt") or "",
        values.get("negative_prompt") or "",
        family,
        values.get("hr_prompt") or "",
        values.get("hr_negative_prompt") or "",
    )
    lanes = preview.plan_lanes(plan, run, host.host_clip_skip(family), hires)
    return preview.chart(lanes, family, host.host_name(), note, id_prefix=f"csc-{tab}")


class Panel:
    """One tab's panel. The preview reads the tab's own inputs (``TAB_INPUTS``), which the script
    reports as they are created (``seen``); its events are wired once all of them are known: at the
    end of ``build`` in the hosts' default layout, else when the tab's gallery is created (a user
    may order "scripts" before "sampler" in Settings > User interface). ADetailer's fields are read
    when they come before the wiring, as they do by default (its folder sorts before ours)."""

    def __init__(self, is_img2img: bool, seen: dict[str, Any] | None = None) -> None:
        self.is_img2img, self.tab = is_img2img, "img2img" if is_img2img else "txt2img"
        self.inputs: dict[str, Any] = dict(seen or {})
        self.components: list[Any] = []
        self.wired = False

    def seen(self, component: Any, elem_id: str | None) -> None:
        name = tab_input(elem_id, self.tab)
        if name:
            self.inputs[name] = component
        if self.components and not self.wired and elem_id == f"{self.tab}_gallery":
            self.wire()

    def build(self) -> list[Any]:
        """The panel's input components, in ``PARAMS`` order (the API's positional order)."""
        made: dict[str, Any] = {}
        by, is_img2img = params.BY_NAME, self.is_img2img
        with InputAccordion(
            False, label=by["enabled"].label, elem_id=elem_id("enabled", is_img2img)
        ) as enabled:
            made["enabled"] = enabled
            with gr.Row():
                for name in ("positive", "negative"):
                    made[name] = _textbox(by[name], is_img2img)
            with gr.Row(visible=not is_img2img):
                for name in ("hires_positive", "hires_negative"):
                    made[name] = _textbox(by[name], is_img2img)
            made["mode"] = gr.Radio(
                label=by["mode"].label,
                choices=list(by["mode"].choices),
                value=by["mode"].default,
                elem_id=elem_id("mode", is_img2img),
            )
            self.info = gr.HTML(  # a callable value is computed again at every page load (Gradio 3.41, 4.40)
                value=lambda: panel_html(self.tab, (), *[p.default for p in params.PARAMS]),
                elem_id=elem_id("status", is_img2img),
            )
            with gr.Row():
                self.save = gr.Button(
                    "Save as default for this checkpoint", size="sm", elem_id=elem_id("save", is_img2img)
                )
                self.forget = gr.Button(
                    "Forget the saved default", size="sm", elem_id=elem_id("forget", is_img2img)
                )
            self.message = gr.HTML(value="", elem_id=elem_id("message", is_img2img))
            # clicked by javascript/clip_skip_control.js after typing stops (hidden by style.css)
            self.refresh = gr.Button("Refresh", elem_id=elem_id("refresh", is_img2img))
            self.inspect = gr.Button("Inspect layers", size="sm", elem_id=elem_id("inspect", is_img2img))
            self.layers = gr.HTML(value="", elem_id=elem_id("layers", is_img2img))
        self.components = [made[p.name] for p in params.PARAMS]
        if all(name in self.inputs for name in WANTED[self.tab]):
            self.wire()
        return self.components

    def wire(self) -> None:
        """Every panel field and tab input updates the status line and preview."""
        self.wired = True
        names = (
            *(name for name in WANTED[self.tab] if name in self.inputs),
            *(name for name in self.inputs if name not in WANTED[self.tab]),  # ADetailer's fields
        )
        watched = self.components + [self.inputs[name] for name in names]
        refresh = functools.partial(panel_html, self.tab, names)
        for component in watched:
            component.change(fn=refresh, inputs=watched, outputs=[self.info], show_progress=False)
        self.refresh.click(fn=refresh, inputs=watched, outputs=[self.info], show_progress=False)
        read = tuple(name for name in ("prompt", "steps") if name in self.inputs)
        inspect = wrap_queued_call(functools.partial(_inspect, self.tab, read))  # no generation meanwhile
        self.inspect.click(fn=inspect, inputs=[self.inputs[n] for n in read], outputs=[self.layers])
        for button, action in ((self.save, _save), (self.forget, _forget)):
            button.click(fn=action, inputs=[self.components[1]], outputs=[self.message]).then(
                fn=refresh, inputs=watched, outputs=[self.info], show_progress=False
            )


def _inspect(tab: str, names: tuple[str, ...], *values: Any) -> str:
    given = dict(zip(names, values))
    return layers.inspect_html(given.get("prompt") or "", tab, int(_number(given.get("steps"), 20)))


def _save(value: str) -> str:
    return f"<p>{html.escape(checkpoint.save(value))}</p>"


def _forget(value: str) -> str:
    return f"<p>{html.escape(checkpoint.forget())}</p>"


def _textbox(param: params.Param, is_img2img: bool) -> Any:
    placeholder = {"positive": "host default", "negative": "same as positive"}.get(
        param.name, "same as first pass"
    )
    return gr.Textbox(
        label=param.label,
        value=param.default,
        placeholder=placeholder,
        lines=1,
        elem_id=elem_id(param.name, is_img2img),
    )


def infotext_fields(components: list[Any]) -> list[tuple[Any, Any]]:
    """(component, infotext key or callable) pairs for PNG Info / "Send to" (A1111 scripts.py:680-681)."""
    fields: list[tuple[Any, Any]] = [(components[0], lambda d: any(key in d for key in params.BY_INFOTEXT))]
    for param, component in zip(params.PARAMS, components):
        if param.infotext:
            fields.append((component, param.infotext))
    return fields
