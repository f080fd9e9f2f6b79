"""The extension's own section of the Settings tab (A1111 ``on_ui_settings`` + ``opts.add_option``)."""

from __future__ import annotations

from modules import shared

SECTION = ("clip_skip_control", "Clip Skip Control")
OPTIONS = {
    "clip_skip_directives": (
        True,
        "Apply <clipskip:…> directives written in prompts (when off they are removed and ignored)",
    ),
}


def add_options() -> None:
    for key, (default, label) in OPTIONS.items():
        shared.opts.add_option(key, shared.OptionInfo(default, label, section=SECTION))


def get(key: str):
    """A setting's value, also before ``add_options`` ran (A1111 options.py:131-142 raises then)."""
    return shared.opts.data.get(key, OPTIONS[key][0])
