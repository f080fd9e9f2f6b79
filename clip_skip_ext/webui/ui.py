"""The panel, built from ``params.PARAMS``; works on Gradio 3.41 (A1111, reForge, Forge Classic) and 4.40
(Forge, Forge Neo).

Hover titles are set by ``javascript/clip_skip_control.js`` from the schema route, which is built
from the same table.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
from modules.ui_components import InputAccordion

from clip_skip_ext import conventions, params
from clip_skip_ext.plan import status
from clip_skip_ext.policy import PolicyError, decide
from clip_skip_ext.schedule import parse
from clip_skip_ext.webui import checkpoint, host, lora
from clip_skip_ext.webui.auto import current_policy


def elem_id(name: str, is_img2img: bool) -> str:
    return f"clip_skip_{'img2img' if is_img2img else 'txt2img'}_{name}"


def status_html(*values: Any) -> str:
    """The status line for the panel's values (then, if wired, the prompt box) on the loaded model."""
    try:
        settings = params.from_args(values[: len(params.PARAMS)])
        family, host_name = host.current_family(), host.host_name()
        selected = None if family else checkpoint.selected_family(host_name)
        if selected:  # not loaded yet: what the selected checkpoint's metadata says it is
            family = selected[0]
        moves = conventions.moves(host_name, family)
        prompt = values[len(params.PARAMS)] if len(values) > len(params.PARAMS) else None
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
            text = "reForge's own dynamic clip skip is on (Settings): Clip Skip Control stays out of its way"
        if prompt and moves:
            positive = settings.effective()["positive"] if settings.enabled else ""
            shown = (
                parse(positive).items[0].value
                if positive
                else (default[0] if default else host.host_clip_skip(family))
            )
            text = " · ".join([text, *lora.notes([prompt], shown, family, host_name)])
        return f"<p>{html.escape(text)}</p>"
    except (params.ParamError, conventions.ConventionError, PolicyError) as error:
        return f"<p style='color: var(--error-text-color, #e11)'>⚠ {html.escape(str(error))}</p>"


def build(is_img2img: bool, prompt_box: Any = None) -> list[Any]:
    """The panel's input components, in ``PARAMS`` order (the API's positional order).

    ``prompt_box``, the tab's prompt textbox, lets the status line show Auto mode's decision.
    """
    made: dict[str, Any] = {}
    by = params.BY_NAME
    with InputAccordion(False, label=by["enabled"].label, elem_id=elem_id("enabled", is_img2img)) as enabled:
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
        info = gr.HTML(  # a callable value is computed again at every page load (Gradio 3.41 and 4.40)
            value=lambda: status_html(*[p.default for p in params.PARAMS]),
            elem_id=elem_id("status", is_img2img),
        )
        with gr.Row():
            save = gr.Button(
                "Save as default for this checkpoint", size="sm", elem_id=elem_id("save", is_img2img)
            )
            forget = gr.Button("Forget the saved default", size="sm", elem_id=elem_id("forget", is_img2img))
        message = gr.HTML(value="", elem_id=elem_id("message", is_img2img))
    components = [made[p.name] for p in params.PARAMS]
    watched = components + ([prompt_box] if prompt_box is not None else [])
    for component in watched:
        component.change(fn=status_html, inputs=watched, outputs=[info], show_progress=False)
    for button, action in ((save, _save), (forget, _forget)):
        button.click(fn=action, inputs=[made["positive"]], outputs=[message]).then(
            fn=status_html, inputs=watched, outputs=[info], show_progress=False
        )
    return components


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
