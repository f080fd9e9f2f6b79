"""A checkpoint's text encoders, read alone: the bounded header, then only their tensors, by offset.

Never the UNet or the VAE, never the whole file. Key layouts as the WebUIs load them:

- SD1 (ldm): CLIP-L in Hugging Face layout under ``cond_stage_model.transformer.`` (``text_model.``
  optional, as A1111's sd_hijack_clip and Forge's loader accept both);
- SD2 (ldm): OpenCLIP ViT-H under ``cond_stage_model.model.``;
- SDXL (sgm): CLIP-L under ``conditioner.embedders.0.transformer.``, OpenCLIP bigG under
  ``conditioner.embedders.1.model.``; the refiner's bigG alone under ``conditioner.embedders.0.model.``.

OpenCLIP blocks are renamed to Hugging Face's ``CLIPTextTransformer`` (``text_model`` in transformers 4,
the model itself in 5) (``in_proj`` split into q, k, v),
as Forge's and diffusers' converters do. The model is built from the known CLIP text config of its
layout (CLIP-L: quick GELU; OpenCLIP: GELU; 64-wide attention heads; LayerNorm eps 1e-5) with the
sizes read from the tensor shapes, so no config is downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from transformers import CLIPTextConfig, CLIPTextModel

from clip_skip_ext.encoder import text_transformer
from clip_skip_ext.metadata.family import family_from_header
from clip_skip_ext.metadata.safetensors_header import (
    MetadataError,
    ReadCounter,
    SafetensorsHeader,
    open_regular,
    read_header,
)

DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}


@dataclass(frozen=True)
class Layout:
    encoder: str
    prefix: str
    openclip: bool


LAYOUTS: dict[str, tuple[Layout, ...]] = {
    "sd1": (Layout("CLIP-L", "cond_stage_model.transformer.", False),),
    "sd2": (Layout("OpenCLIP-H", "cond_stage_model.model.", True),),
    "sdxl": (
        Layout("CLIP-L", "conditioner.embedders.0.transformer.", False),
        Layout("CLIP-G", "conditioner.embedders.1.model.", True),
    ),
    "sdxl-refiner": (Layout("CLIP-G", "conditioner.embedders.0.model.", True),),
}
_SKIPPED = ("text_projection", "logit_scale", "position_ids", "attn_mask")
_BLOCK = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


def _entry(
    path: str, name: str, raw: object, data_offset: int, size: int
) -> tuple[torch.dtype, list[int], int, int]:
    problem = f"{path}: tensor {name!r} has a header entry that is not a safetensors tensor"
    if not isinstance(raw, dict):
        raise MetadataError(problem)
    dtype, shape, offsets = raw.get("dtype"), raw.get("shape"), raw.get("data_offsets")
    if dtype not in DTYPES:
        raise MetadataError(f"{path}: tensor {name!r} is {dtype!r}; expected one of {', '.join(DTYPES)}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and 0 <= n < 2**40 for n in shape)):
        raise MetadataError(problem + f" (shape {shape!r})")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)):
        raise MetadataError(problem + f" (data_offsets {offsets!r})")
    start, end = offsets
    count = 1
    for n in shape:
        count *= n
    expected = count * torch.tensor([], dtype=DTYPES[dtype]).element_size()
    if not 0 <= start <= end or end - start != expected or data_offset + end > size:
        raise MetadataError(
            f"{path}: tensor {name!r} has data_offsets {offsets!r} that do not fit its shape or the file"
        )
    return DTYPES[dtype], shape, data_offset + start, end - start


def read_tensors(
    path: str, header: SafetensorsHeader, names: list[str], counter: ReadCounter | None = None
) -> dict[str, torch.Tensor]:
    """The tensors ``names`` of ``path`` (whose header is ``header``), each read by its offsets, as float32."""
    out: dict[str, torch.Tensor] = {}
    try:
        with open_regular(path) as file:
            size = os.fstat(file.fileno()).st_size
            for name in names:
                if name not in header.entries:
                    raise MetadataError(f"{path}: no tensor {name!r}")
                dtype, shape, offset, length = _entry(
                    path, name, header.entries[name], header.data_offset, size
                )
                file.seek(offset)
                raw = file.read(length)
                if counter is not None:
                    counter.add(len(raw))
                if len(raw) != length:
                    raise MetadataError(f"{path}: tensor {name!r} is truncated")
                tensor = (
                    torch.frombuffer(bytearray(raw), dtype=dtype) if length else torch.empty(0, dtype=dtype)
                )
                out[name] = tensor.reshape(shape).float()
    except OSError as error:
        raise MetadataError(f"{path}: cannot read the file: {error.strerror or error}") from error
    return out


def _from_openclip(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        if key == "token_embedding.weight":
            out["embeddings.token_embedding.weight"] = value
        elif key == "positional_embedding":
            out["embeddings.position_embedding.weight"] = value
        elif key.startswith("ln_final."):
            out["final_layer_norm." + key.split(".", 1)[1]] = value
        elif key.startswith("transformer.resblocks."):
            index, rest = key.removeprefix("transformer.resblocks.").split(".", 1)
            target = f"encoder.layers.{index}."
            if rest.startswith("attn.in_proj_"):
                kind = rest.removeprefix("attn.in_proj_")  # weight or bias
                for letter, part in zip("qkv", value.chunk(3, dim=0)):
                    out[f"{target}self_attn.{letter}_proj.{kind}"] = part.clone()
                continue
            module, kind = rest.rsplit(".", 1)
            if module not in _BLOCK:
                raise MetadataError(f"unexpected OpenCLIP tensor {key!r}")
            out[f"{target}{_BLOCK[module]}.{kind}"] = value
        else:
            raise MetadataError(f"unexpected OpenCLIP tensor {key!r}")
    return out


def _build(state: dict[str, torch.Tensor], openclip: bool) -> CLIPTextModel:
    token = state["embeddings.token_embedding.weight"]
    positions = state["embeddings.position_embedding.weight"]
    blocks = {k.split(".")[2] for k in state if k.startswith("encoder.layers.")}
    width = token.shape[1]
    config = CLIPTextConfig(
        vocab_size=token.shape[0],
        hidden_size=width,
        intermediate_size=state["encoder.layers.0.mlp.fc1.weight"].shape[0],
        num_hidden_layers=len(blocks),
        num_attention_heads=max(width // 64, 1),
        max_position_embeddings=positions.shape[0],
        hidden_act="gelu" if openclip else "quick_gelu",
        layer_norm_eps=1e-5,
        **(
            {"bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407}
            if token.shape[0] > 49407
            else {}
        ),
    )
    with torch.device("meta"):
        model = CLIPTextModel(config)
    try:
        text_transformer(model).load_state_dict(state, strict=False, assign=True)
    except RuntimeError as error:
        raise MetadataError(f"the text encoder's tensors do not fit a CLIP text model: {error}") from None
    missing = [name for name, p in model.named_parameters() if p.is_meta]
    if missing:
        raise MetadataError(f"the text encoder lacks {len(missing)} tensors, e.g. {missing[0]!r}")
    for module in model.modules():  # buffers outside the state dict (position_ids) are rebuilt
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer.is_meta and name == "position_ids":
                module.register_buffer(
                    name, torch.arange(positions.shape[0]).expand((1, -1)), persistent=False
                )
    return model.eval()


def text_encoders(
    path: str, family: str | None = None, counter: ReadCounter | None = None
) -> tuple[str, list[tuple[str, CLIPTextModel]]]:
    """(family, [(encoder name, model)]) of the checkpoint ``path``; MetadataError naming the problem."""
    header = read_header(path, counter)
    if family is None:
        family, reason = family_from_header(header)
        if family is None:
            raise MetadataError(
                f"{path}: cannot tell the model family ({reason or 'no known tensor names'}); pass --family"
            )
    if family not in LAYOUTS:
        raise MetadataError(f"{path}: no text-encoder layout for {family}; accepted: {', '.join(LAYOUTS)}")
    encoders = []
    for layout in LAYOUTS[family]:
        names = [n for n in header.entries if n.startswith(layout.prefix) and not n.endswith(_SKIPPED)]
        if not names:
            raise MetadataError(
                f"{path}: no {layout.encoder} tensors under {layout.prefix!r} (is it {family}?)"
            )
        tensors = read_tensors(path, header, names, counter)
        local = {name.removeprefix(layout.prefix): value for name, value in tensors.items()}
        if layout.openclip:
            state = _from_openclip(local)
        else:
            state = {k.removeprefix("text_model."): v for k, v in local.items()}
        encoders.append((layout.encoder, _build(state, layout.openclip)))
    return family, encoders
