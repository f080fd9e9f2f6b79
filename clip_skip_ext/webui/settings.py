"""The extension's own section of the Settings tab (A1111 ``on_ui_settings`` + ``opts.add_option``)."""

from __future__ import annotations

from modules import shared

from clip_skip_ext.policy import DEFAULT_POLICY_TEXT
from clip_skip_ext.webui import checkpoint

SECTION = ("clip_skip_control", "Clip Skip Control")
OPTIONS = {
    "clip_skip_directives": (
        True,
        "Apply <clipskip:…> directives written in prompts (when off they are removed and ignored)",
    ),
    "clip_skip_policy": (
        DEFAULT_POLICY_TEXT,
        "Auto mode policy: one rule a line, e.g. 'sd1 tags: 2' (see the README)",
    ),
}
OPTIONS.update(checkpoint.OPTIONS)
TEXTAREAS = {"clip_skip_policy"}


def add_options() -> None:
    for key, (default, label) in OPTIONS.items():
        if key in TEXTAREAS:
            import gradio as gr  # only when the Settings tab is built

            info = shared.OptionInfo(default, label, gr.Textbox, {"lines": 12}, section=SECTION)
        else:
            info = shared.OptionInfo(default, label, section=SECTION)
        shared.opts.add_option(key, info)


def get(key: str):
    """A setting's value, also before ``add_options`` ran (A1111 options.py:131-142 raises then)."""
    return shared.opts.data.get(key, OPTIONS[key][0])
