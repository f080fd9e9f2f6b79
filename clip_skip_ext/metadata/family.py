"""Which model family (sd1, sd2, sdxl, sdxl-refiner, sd3) a file belongs to, from what its metadata says.

Each function returns ``(family, reason)``: ``family`` is one of ``conventions.FAMILIES`` or None;
``reason`` is empty when the source says nothing, and otherwise explains the answer, including when
the source names an architecture without a clip skip numbering here (Flux, for one).
"""

from __future__ import annotations

from .safetensors_header import SafetensorsHeader

FamilyHint = tuple[str | None, str]
NOTHING: FamilyHint = (None, "")
_UNSUPPORTED = (
    ", an architecture without a clip skip numbering here (supported: SD1, SD2, SDXL, SDXL refiner, SD3)"
)

# Stability ModelSpec architecture ids (kohya library/sai_model_spec.py ARCH_*: "stable-diffusion-v1",
# "stable-diffusion-v2-512", "stable-diffusion-v2-768-v", "stable-diffusion-xl-v1-base",
# "stable-diffusion-xl-v1-refiner", "stable-diffusion-v3-medium"; adapters add "/lora" or "/textual-inversion").
_ARCHITECTURE_PREFIXES: tuple[tuple[str, str | None], ...] = (
    ("stable-diffusion-xl-v1-refiner", "sdxl-refiner"),
    ("stable-diffusion-v3", "sd3"),
    ("stable-diffusion-xl-v1", "sdxl"),
    ("stable-diffusion-v1", "sd1"),
    ("stable-diffusion-v2", "sd2"),
)

# Tensor-name prefixes: ldm/sgm checkpoint layouts and kohya LoRA module names.
_TENSOR_PREFIXES: tuple[tuple[str, str], ...] = (
    ("conditioner.embedders.1.", "sdxl"),  # sgm SDXL base: embedders 0 = CLIP-L, 1 = OpenCLIP bigG
    ("conditioner.embedders.0.model.", "sdxl-refiner"),  # sgm SDXL refiner: OpenCLIP bigG alone
    ("text_encoders.clip_g.", "sd3"),  # SD3 single-file checkpoints with their text encoders
    ("lora_te1_", "sdxl"),  # kohya SDXL LoRA: two text encoders
    ("lora_te2_", "sdxl"),
    ("cond_stage_model.model.", "sd2"),  # ldm SD2: OpenCLIP ViT-H
    ("cond_stage_model.transformer.", "sd1"),  # ldm SD1: HF CLIPTextModel
)


def family_from_header(header: SafetensorsHeader) -> FamilyHint:
    """From ``modelspec.architecture``, kohya's ``ss_base_model_version`` / ``ss_v2``, then tensor names."""
    meta = header.metadata
    architecture = meta.get("modelspec.architecture", "").strip()
    if architecture:
        base = architecture.split("/")[0].lower()
        for prefix, family in _ARCHITECTURE_PREFIXES:
            if base.startswith(prefix):
                return family, f"modelspec.architecture = {architecture!r}" + ("" if family else _UNSUPPORTED)
        return None, f"modelspec.architecture = {architecture!r}" + _UNSUPPORTED
    version = meta.get("ss_base_model_version", "").strip()
    if version:
        # kohya train_util.py get_model_version_str_for_sd1_sd2 ("sd_v1", "sd_v2", "sd_v2_v"),
        # "sdxl_base_v1-0"; A1111 Lora/network.py:62 tests startswith("sdxl_").
        lowered = version.lower()
        family = "sdxl" if lowered.startswith("sdxl_") else "sd2" if lowered.startswith("sd_v2") else None
        family = family or ("sd1" if lowered.startswith("sd_v1") else None)
        return family, f"ss_base_model_version = {version!r}" + ("" if family else _UNSUPPORTED)
    v2 = meta.get("ss_v2", "").strip()
    if v2 in ("True", "False"):  # kohya before SDXL support: SD1 or SD2 only (A1111 network.py:64-67)
        return ("sd2" if v2 == "True" else "sd1"), f"ss_v2 = {v2!r}"
    for prefix, family in _TENSOR_PREFIXES:
        if any(name.startswith(prefix) for name in header.tensor_names):
            return family, f"tensor names ({prefix}…)"
    return NOTHING


def family_from_sd_version(value: object, where: str) -> FamilyHint:
    """From A1111's LoRA user metadata ``"sd version"`` ("SD1", "SD2", "SDXL", "Unknown";
    ``Lora/ui_edit_user_metadata.py:163``) or Forge's ``"sd_version_str"`` ("SdVersion.SDXL")."""
    if not isinstance(value, str):
        return NOTHING
    name = value.strip().removeprefix("SdVersion.").upper()
    family = {"SD1": "sd1", "SD2": "sd2", "SDXL": "sdxl"}.get(name)
    if family is None and name not in ("", "UNKNOWN"):
        # third-party downloaders write Civitai base-model names ("Illustrious", "SDXL 1.0", "Pony")
        family, _ = family_from_civitai_base_model(value)
        return (family, f"{where} = {value!r}, a Civitai base model") if family else NOTHING
    return (family, f"{where} = {value!r}") if family else NOTHING


def family_from_civitai_base_model(value: object) -> FamilyHint:
    """From a Civitai ``baseModel`` ("SD 1.5", "SD 2.1 768", "SDXL 1.0", "Pony", "Illustrious", ...)."""
    if not isinstance(value, str) or not value.strip():
        return NOTHING
    text = value.strip()
    lowered = text.lower()
    where = f"civitai baseModel = {text!r}"
    if lowered.startswith("sd 1"):
        return "sd1", where
    if lowered.startswith("sd 2"):
        return "sd2", where
    if lowered.startswith("sdxl") or lowered in ("pony", "illustrious", "noobai"):
        return "sdxl", where
    return None, where + _UNSUPPORTED
