"""Helpers for the metadata tests: real safetensors files written with the safetensors library."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

SD1_CHECKPOINT = ("cond_stage_model.transformer.text_model.final_layer_norm.weight",)
SD2_CHECKPOINT = ("cond_stage_model.model.ln_final.weight",)
SDXL_CHECKPOINT = (
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
    "conditioner.embedders.1.model.ln_final.weight",
)
SD1_LORA = ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",)
SDXL_LORA = (
    "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
    "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
)


def write_model(
    path: Path,
    metadata: dict[str, str] | None = None,
    tensors: tuple[str, ...] = SD1_CHECKPOINT,
    size: int = 4,
) -> Path:
    """Write a real safetensors file with ``tensors`` (float32, ``size`` values each) and ``metadata``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {key: torch.arange(size, dtype=torch.float32) + index for index, key in enumerate(tensors)}
    safetensors_torch.save_file(weights, str(path), metadata=metadata)
    return path


def write_json(path: Path, data: object) -> Path:
    """Write ``data`` as JSON to ``path``."""
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_raw_safetensors(path: Path, header: bytes, declared: int | None = None, tail: bytes = b"") -> Path:
    """A hand-made file: 8-byte little-endian length (``declared`` or the real one), ``header``, ``tail``."""
    length = len(header) if declared is None else declared
    path.write_bytes(struct.pack("<Q", length) + header + tail)
    return path


def declared_header_length(path: Path) -> int:
    """The header length a file declares, read independently of the code under test."""
    with open(path, "rb") as file:
        return struct.unpack("<Q", file.read(8))[0]
