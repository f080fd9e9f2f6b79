"""The ComfyUI side of Clip Skip Control: the only package that imports ``comfy``, ``folder_paths``
and ``nodes``. The repository's root ``__init__.py`` imports this when ComfyUI loads the folder as a
custom node pack; everything else is the core (``clip_skip_ext``).

Nodes use ComfyUI's classic node API (``INPUT_TYPES``, ``VALIDATE_INPUTS``, ``NODE_CLASS_MAPPINGS``):
every ComfyUI of the last years loads it, and packs such as comfyui-dynamicprompts use it; the newer
``comfy_api`` ``io.ComfyNode`` schema API is still changing between releases.
"""

from .auto import ClipSkipAuto
from .checkpoint import ClipSkipFromCheckpoint, SaveClipSkipDefault
from .text_encode import ClipSkipTextEncode

NODE_CLASS_MAPPINGS = {
    "ClipSkipTextEncode": ClipSkipTextEncode,
    "ClipSkipFromCheckpoint": ClipSkipFromCheckpoint,
    "ClipSkipAuto": ClipSkipAuto,
    "SaveClipSkipDefault": SaveClipSkipDefault,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ClipSkipTextEncode": "CLIP Text Encode (Clip Skip Control)",
    "ClipSkipFromCheckpoint": "Clip Skip from checkpoint",
    "ClipSkipAuto": "Clip Skip Auto",
    "SaveClipSkipDefault": "Save Clip Skip default",
}
