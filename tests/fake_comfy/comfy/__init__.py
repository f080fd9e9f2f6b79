"""Tier 2: a fake of ComfyUI's ``comfy`` package, the API Clip Skip Control's nodes use, mirrored
from Comfy-Org/ComfyUI a125cd84 (2025-10-12); every module cites the lines it mirrors."""
