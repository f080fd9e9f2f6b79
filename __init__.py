"""ComfyUI's entry to Clip Skip Control (this folder cloned into ``ComfyUI/custom_nodes/``).

Inert everywhere else: the WebUIs load ``scripts/clip_skip.py`` and never this file, and importing it
outside ComfyUI (pytest, ``python -m clip_skip_ext``, another program) defines empty mappings and
imports nothing. ComfyUI has imported ``comfy`` and ``folder_paths`` before it loads custom nodes
(``nodes.py`` ``init_extra_nodes``), which is what tells the two apart.
"""

import os
import sys

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

if "comfy" in sys.modules and "folder_paths" in sys.modules:
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.insert(0, _here)  # the core is imported as ``clip_skip_ext``, as in the WebUIs
    from clip_skip_ext.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
