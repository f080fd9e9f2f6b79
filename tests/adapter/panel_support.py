"""The tab as the host builds it, for the panel tests (fake gradio: tests/fake_host/gradio.py)."""

import html

import gradio as gr

from clip_skip_ext import params

TXT2IMG = {
    "txt2img_prompt": gr.Textbox(value=""),
    "txt2img_neg_prompt": gr.Textbox(value=""),
    "txt2img_steps": gr.Slider(value=20),
    "txt2img_hr-checkbox": gr.Checkbox(value=False),
    "txt2img_hires_steps": gr.Slider(value=0),
    "hires_prompt": gr.Textbox(value=""),
    "hires_neg_prompt": gr.Textbox(value=""),
}
IMG2IMG = {
    "img2img_prompt": gr.Textbox(value=""),
    "img2img_neg_prompt": gr.Textbox(value=""),
    "img2img_steps": gr.Slider(value=20),
    "img2img_denoising_strength": gr.Slider(value=0.75),
}


def build(script, tab_components, is_img2img=False, before=None):
    """Create the tab as the host does: components reported to the script, the panel built at
    ``before`` (an elem_id; None: after all of them), then the gallery."""
    script.is_img2img = is_img2img
    built = None
    for elem_id, component in tab_components.items():
        if elem_id == before:
            built = script.ui(is_img2img)
        script.after_component(component, elem_id=elem_id)
    if built is None:
        built = script.ui(is_img2img)
    tab = "img2img" if is_img2img else "txt2img"
    script.after_component(gr.Gallery(elem_id=f"{tab}_gallery"), elem_id=f"{tab}_gallery")
    return built


def fire(component, values):
    """What the browser gets when ``component`` changes: the one change listener's output."""
    (found,) = [e for e in gr.EVENTS if e[0] is component and e[1] == "change"]
    _, _, fn, inputs, _ = found
    return html.unescape(fn(*[values.get(id(c), c.value) for c in inputs]))


def panel_values(components, **fields):
    values = {id(c): p.default for c, p in zip(components, params.PARAMS)}
    for c, p in zip(components, params.PARAMS):
        if p.name in fields:
            values[id(c)] = fields[p.name]
    return values
