"""The WebUI side of Clip Skip Control: the only package that imports ``modules`` and ``gradio``.

``scripts/clip_skip.py`` imports ``Script`` from ``clip_skip_ext.webui.script`` and calls
``register()``; the rest hangs off those two.
"""


def register() -> None:
    """Register callbacks and XYZ axes; safe to call again when the WebUI reloads its scripts."""
    from modules import script_callbacks

    from clip_skip_ext.webui import api, settings, xyz

    script_callbacks.on_ui_settings(settings.add_options)
    script_callbacks.on_app_started(api.add_routes)
    script_callbacks.on_before_ui(xyz.add_axes)
    xyz.add_axes()
