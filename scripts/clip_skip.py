"""Clip Skip Control: the WebUI entry. Everything else lives in ``clip_skip_ext.webui``."""

from clip_skip_ext.webui import register
from clip_skip_ext.webui.script import Script

__all__ = ["Script"]

register()
