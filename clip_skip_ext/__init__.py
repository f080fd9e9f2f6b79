"""Clip Skip Control: the pure core.

Nothing in this package outside ``clip_skip_ext.webui`` imports ``modules`` (the WebUI) or
``gradio``; ``tests/test_core_purity.py`` enforces it. Heavy dependencies (torch, transformers)
are imported only by the modules that need them, so the command line starts fast.
"""

__version__ = "0.1.0"
