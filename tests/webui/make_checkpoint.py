"""Write a random-weight Stable Diffusion checkpoint (.safetensors) for live WebUI tests.

The file has the key names and shapes of a real checkpoint in the original (LDM / sgm) layout, so the
WebUIs load it with their stock configs:

- ``sd1`` (default): SD1.5, ``v1-inference.yaml``: UNet ``model.diffusion_model.*``, VAE
  ``first_stage_model.*``, CLIP-L ``cond_stage_model.transformer.text_model.*``, the DDPM buffers;
- ``sd2``: SD2.1 768-v, ``v2-inference-v.yaml``: context 1024, linear ``proj_in``/``proj_out``,
  OpenCLIP ViT-H text tower ``cond_stage_model.model.*`` (24 blocks, width 1024), the DDPM buffers;
- ``sdxl``: SDXL 1.0 base, sgm ``sd_xl_base.yaml``: UNet levels (1, 2, 4) with (0, 2, 10) transformer
  blocks, context 2048, ``label_emb`` (2816 in); CLIP-L ``conditioner.embedders.0.transformer.*``,
  OpenCLIP ViT-bigG ``conditioner.embedders.1.model.*`` (32 blocks, width 1280); ``denoiser.sigmas``.

Every weight is random, including the layers that the reference code zero-initialises (ResBlock
``out_layers.3``, SpatialTransformer ``proj_out``, the UNet ``out.2`` conv): otherwise the text
conditioning could not reach the image. Each CLIP layer therefore yields a different hidden state, and
CLIP skip changes the generated pixels. The images are noise-like; only their differences matter.

Usage: python tests/webui/make_checkpoint.py OUTPUT.safetensors [--family sd1|sd2|sdxl] [--seed N]
[--dtype float16|float32]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Literal

import torch
from safetensors.torch import save_file

Shapes = dict[str, tuple[int, ...]]
Family = Literal["sd1", "sd2", "sdxl"]


@dataclass(frozen=True)
class UNetSpec:
    """The UNet hyper-parameters that decide key names and shapes."""

    context_dim: int  # width of the text conditioning (cross-attention keys and values)
    mult: tuple[int, ...]  # channel multiplier per level
    depths: tuple[int, ...]  # transformer blocks per level; 0: that level has no attention
    middle_depth: int
    linear_proj: bool  # proj_in / proj_out as Linear (SD2, SDXL) instead of a 1x1 conv (SD1)
    adm_in_channels: int = 0  # SDXL: label_emb input, pooled CLIP-G 1280 + 6 size/crop embeddings of 256
    channels: int = 320
    res_blocks: int = 2


# configs/v1-inference.yaml, v2-inference-v.yaml and sgm configs/inference/sd_xl_base.yaml.
UNETS: dict[str, UNetSpec] = {
    "sd1": UNetSpec(768, (1, 2, 4, 4), (1, 1, 1, 0), 1, linear_proj=False),
    "sd2": UNetSpec(1024, (1, 2, 4, 4), (1, 1, 1, 0), 1, linear_proj=True),
    "sdxl": UNetSpec(2048, (1, 2, 4), (0, 2, 10), 10, linear_proj=True, adm_in_channels=2816),
}
UNET_IN, UNET_OUT = 4, 4
VAE_CH, VAE_MULT, VAE_RES_BLOCKS, VAE_Z = 128, (1, 2, 4, 4), 2, 4
CLIP_WIDTH, CLIP_LAYERS, CLIP_FF, CLIP_VOCAB, CLIP_CTX = 768, 12, 3072, 49408, 77
# OpenCLIP text towers (open_clip model configs ViT-H-14 and ViT-bigG-14): width, blocks; MLP 4x width.
OPENCLIP_H, OPENCLIP_BIGG = (1024, 24), (1280, 32)
TIMESTEPS, LINEAR_START, LINEAR_END = 1000, 0.00085, 0.0120


def linear(shapes: Shapes, key: str, n_out: int, n_in: int, bias: bool = True) -> None:
    shapes[f"{key}.weight"] = (n_out, n_in)
    if bias:
        shapes[f"{key}.bias"] = (n_out,)


def conv(shapes: Shapes, key: str, n_out: int, n_in: int, k: int) -> None:
    shapes[f"{key}.weight"] = (n_out, n_in, k, k)
    shapes[f"{key}.bias"] = (n_out,)


def norm(shapes: Shapes, key: str, n: int) -> None:
    shapes[f"{key}.weight"] = (n,)
    shapes[f"{key}.bias"] = (n,)


def unet_resblock(s: Shapes, key: str, c_in: int, c_out: int, time_dim: int) -> None:
    norm(s, f"{key}.in_layers.0", c_in)
    conv(s, f"{key}.in_layers.2", c_out, c_in, 3)
    linear(s, f"{key}.emb_layers.1", c_out, time_dim)
    norm(s, f"{key}.out_layers.0", c_out)
    conv(s, f"{key}.out_layers.3", c_out, c_out, 3)
    if c_in != c_out:
        conv(s, f"{key}.skip_connection", c_out, c_in, 1)


def unet_transformer(s: Shapes, key: str, c: int, depth: int, spec: UNetSpec) -> None:
    norm(s, f"{key}.norm", c)
    for proj in ("proj_in", "proj_out"):
        if spec.linear_proj:
            linear(s, f"{key}.{proj}", c, c)
        else:
            conv(s, f"{key}.{proj}", c, c, 1)
    for d in range(depth):
        block = f"{key}.transformer_blocks.{d}"
        for attn, kv_dim in (("attn1", c), ("attn2", spec.context_dim)):
            linear(s, f"{block}.{attn}.to_q", c, c, bias=False)
            linear(s, f"{block}.{attn}.to_k", c, kv_dim, bias=False)
            linear(s, f"{block}.{attn}.to_v", c, kv_dim, bias=False)
            linear(s, f"{block}.{attn}.to_out.0", c, c)
        linear(s, f"{block}.ff.net.0.proj", 8 * c, c)  # GEGLU: value and gate halves
        linear(s, f"{block}.ff.net.2", c, 4 * c)
        for i in (1, 2, 3):
            norm(s, f"{block}.norm{i}", c)


def unet_shapes(spec: UNetSpec, prefix: str = "model.diffusion_model") -> Shapes:
    s: Shapes = {}
    ch0, time_dim, last = spec.channels, 4 * spec.channels, len(spec.mult) - 1
    linear(s, f"{prefix}.time_embed.0", time_dim, ch0)
    linear(s, f"{prefix}.time_embed.2", time_dim, time_dim)
    if spec.adm_in_channels:  # num_classes "sequential": label_emb.0 = Sequential(Linear, SiLU, Linear)
        linear(s, f"{prefix}.label_emb.0.0", time_dim, spec.adm_in_channels)
        linear(s, f"{prefix}.label_emb.0.2", time_dim, time_dim)
    conv(s, f"{prefix}.input_blocks.0.0", ch0, UNET_IN, 3)
    skip_chans, ch, idx = [ch0], ch0, 1
    for level, (mult, depth) in enumerate(zip(spec.mult, spec.depths)):
        for _ in range(spec.res_blocks):
            unet_resblock(s, f"{prefix}.input_blocks.{idx}.0", ch, mult * ch0, time_dim)
            ch = mult * ch0
            if depth:
                unet_transformer(s, f"{prefix}.input_blocks.{idx}.1", ch, depth, spec)
            skip_chans.append(ch)
            idx += 1
        if level != last:
            conv(s, f"{prefix}.input_blocks.{idx}.0.op", ch, ch, 3)
            skip_chans.append(ch)
            idx += 1
    unet_resblock(s, f"{prefix}.middle_block.0", ch, ch, time_dim)
    unet_transformer(s, f"{prefix}.middle_block.1", ch, spec.middle_depth, spec)
    unet_resblock(s, f"{prefix}.middle_block.2", ch, ch, time_dim)
    idx = 0
    for level, (mult, depth) in reversed(list(enumerate(zip(spec.mult, spec.depths)))):
        for i in range(spec.res_blocks + 1):
            key = f"{prefix}.output_blocks.{idx}"
            unet_resblock(s, f"{key}.0", ch + skip_chans.pop(), mult * ch0, time_dim)
            ch, sub = mult * ch0, 1
            if depth:
                unet_transformer(s, f"{key}.1", ch, depth, spec)
                sub = 2
            if level != 0 and i == spec.res_blocks:
                conv(s, f"{key}.{sub}.conv", ch, ch, 3)
            idx += 1
    norm(s, f"{prefix}.out.0", ch)
    conv(s, f"{prefix}.out.2", UNET_OUT, ch, 3)
    return s


def vae_resblock(s: Shapes, key: str, c_in: int, c_out: int) -> None:
    norm(s, f"{key}.norm1", c_in)
    conv(s, f"{key}.conv1", c_out, c_in, 3)
    norm(s, f"{key}.norm2", c_out)
    conv(s, f"{key}.conv2", c_out, c_out, 3)
    if c_in != c_out:
        conv(s, f"{key}.nin_shortcut", c_out, c_in, 1)


def vae_mid(s: Shapes, key: str, c: int) -> None:
    vae_resblock(s, f"{key}.block_1", c, c)
    norm(s, f"{key}.attn_1.norm", c)
    for name in ("q", "k", "v", "proj_out"):
        conv(s, f"{key}.attn_1.{name}", c, c, 1)
    vae_resblock(s, f"{key}.block_2", c, c)


def vae_shapes(prefix: str = "first_stage_model") -> Shapes:
    s: Shapes = {}
    enc, dec = f"{prefix}.encoder", f"{prefix}.decoder"
    conv(s, f"{enc}.conv_in", VAE_CH, 3, 3)
    ch = VAE_CH
    for level, mult in enumerate(VAE_MULT):
        for j in range(VAE_RES_BLOCKS):
            vae_resblock(s, f"{enc}.down.{level}.block.{j}", ch, mult * VAE_CH)
            ch = mult * VAE_CH
        if level != len(VAE_MULT) - 1:
            conv(s, f"{enc}.down.{level}.downsample.conv", ch, ch, 3)
    vae_mid(s, f"{enc}.mid", ch)
    norm(s, f"{enc}.norm_out", ch)
    conv(s, f"{enc}.conv_out", 2 * VAE_Z, ch, 3)
    conv(s, f"{prefix}.quant_conv", 2 * VAE_Z, 2 * VAE_Z, 1)
    conv(s, f"{prefix}.post_quant_conv", VAE_Z, VAE_Z, 1)
    conv(s, f"{dec}.conv_in", ch, VAE_Z, 3)
    vae_mid(s, f"{dec}.mid", ch)
    for level, mult in reversed(list(enumerate(VAE_MULT))):
        for j in range(VAE_RES_BLOCKS + 1):
            vae_resblock(s, f"{dec}.up.{level}.block.{j}", ch, mult * VAE_CH)
            ch = mult * VAE_CH
        if level != 0:
            conv(s, f"{dec}.up.{level}.upsample.conv", ch, ch, 3)
    norm(s, f"{dec}.norm_out", ch)
    conv(s, f"{dec}.conv_out", 3, ch, 3)
    return s


def clip_text_shapes(prefix: str = "cond_stage_model.transformer.text_model") -> Shapes:
    """OpenAI CLIP ViT-L/14 text model in Hugging Face ``CLIPTextModel`` names."""
    s: Shapes = {
        f"{prefix}.embeddings.token_embedding.weight": (CLIP_VOCAB, CLIP_WIDTH),
        f"{prefix}.embeddings.position_embedding.weight": (CLIP_CTX, CLIP_WIDTH),
    }
    for i in range(CLIP_LAYERS):
        layer = f"{prefix}.encoder.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(s, f"{layer}.self_attn.{proj}", CLIP_WIDTH, CLIP_WIDTH)
        norm(s, f"{layer}.layer_norm1", CLIP_WIDTH)
        linear(s, f"{layer}.mlp.fc1", CLIP_FF, CLIP_WIDTH)
        linear(s, f"{layer}.mlp.fc2", CLIP_WIDTH, CLIP_FF)
        norm(s, f"{layer}.layer_norm2", CLIP_WIDTH)
    norm(s, f"{prefix}.final_layer_norm", CLIP_WIDTH)
    return s


def openclip_text_shapes(prefix: str, width: int, layers: int) -> Shapes:
    """An ``open_clip.CLIP`` text tower (the vision tower deleted, as the SD2/SDXL embedders do)."""
    s: Shapes = {
        f"{prefix}.positional_embedding": (CLIP_CTX, width),
        f"{prefix}.text_projection": (width, width),
        f"{prefix}.logit_scale": (),
        f"{prefix}.token_embedding.weight": (CLIP_VOCAB, width),
    }
    for i in range(layers):
        block = f"{prefix}.transformer.resblocks.{i}"
        norm(s, f"{block}.ln_1", width)
        s[f"{block}.attn.in_proj_weight"] = (3 * width, width)  # q, k, v stacked
        s[f"{block}.attn.in_proj_bias"] = (3 * width,)
        linear(s, f"{block}.attn.out_proj", width, width)
        norm(s, f"{block}.ln_2", width)
        linear(s, f"{block}.mlp.c_fc", 4 * width, width)
        linear(s, f"{block}.mlp.c_proj", width, 4 * width)
    norm(s, f"{prefix}.ln_final", width)
    return s


SDXL_CLIP_L = "conditioner.embedders.0.transformer.text_model"
SD1_CLIP_L = "cond_stage_model.transformer.text_model"


def all_shapes(family: Family = "sd1") -> Shapes:
    shapes = {**unet_shapes(UNETS[family]), **vae_shapes()}
    if family == "sd1":
        shapes.update(clip_text_shapes(SD1_CLIP_L))
    elif family == "sd2":
        shapes.update(openclip_text_shapes("cond_stage_model.model", *OPENCLIP_H))
    else:
        shapes.update(clip_text_shapes(SDXL_CLIP_L))
        shapes.update(openclip_text_shapes("conditioner.embedders.1.model", *OPENCLIP_BIGG))
    return shapes


def random_tensor(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Roughly variance-preserving random values: fan-in scaled matrices, norms near 1, small biases."""
    if key.endswith("embedding.weight"):
        return torch.randn(shape, generator=gen) * 0.02
    if len(shape) >= 2:
        return torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
    if key.endswith(".weight"):  # GroupNorm / LayerNorm scale
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    return 0.02 * torch.randn(shape, generator=gen)


def alphas_cumprod() -> tuple[torch.Tensor, torch.Tensor]:
    """The "scaled linear" betas of SD1/SD2/SDXL training, and their cumulative alpha product (float64)."""
    betas = torch.linspace(LINEAR_START**0.5, LINEAR_END**0.5, TIMESTEPS, dtype=torch.float64) ** 2
    return betas, torch.cumprod(1.0 - betas, dim=0)


def schedule_buffers() -> dict[str, torch.Tensor]:
    """The LatentDiffusion noise-schedule buffers, as stored in SD1.5 and SD2 checkpoints."""
    betas, acp = alphas_cumprod()
    alphas = 1.0 - betas
    acp_prev = torch.cat([torch.ones(1, dtype=torch.float64), acp[:-1]])
    post_var = betas * (1.0 - acp_prev) / (1.0 - acp)
    buffers = {
        "betas": betas,
        "alphas_cumprod": acp,
        "alphas_cumprod_prev": acp_prev,
        "sqrt_alphas_cumprod": acp.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - acp).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - acp).log(),
        "sqrt_recip_alphas_cumprod": (1.0 / acp).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / acp - 1.0).sqrt(),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": post_var.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * acp_prev.sqrt() / (1.0 - acp),
        "posterior_mean_coef2": (1.0 - acp_prev) * alphas.sqrt() / (1.0 - acp),
    }
    return {k: v.float() for k, v in buffers.items()}


def buffers(family: Family) -> dict[str, torch.Tensor]:
    """Non-weight tensors: CLIP-L position ids; the DDPM schedule (SD1, SD2) or, for SDXL, the sgm
    ``DiscreteDenoiser`` sigmas (``LegacyDDPMDiscretization``, flipped: largest first)."""
    if family == "sd2":
        return schedule_buffers()
    if family == "sd1":
        return {f"{SD1_CLIP_L}.embeddings.position_ids": torch.arange(CLIP_CTX)[None], **schedule_buffers()}
    _, acp = alphas_cumprod()
    sigmas = ((1.0 - acp) / acp).float().sqrt().flip(0)
    return {f"{SDXL_CLIP_L}.embeddings.position_ids": torch.arange(CLIP_CTX)[None], "denoiser.sigmas": sigmas}


def make_state_dict(seed: int, dtype: torch.dtype, family: Family = "sd1") -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {
        key: random_tensor(key, shape, gen).to(dtype) for key, shape in sorted(all_shapes(family).items())
    }
    state.update(buffers(family))
    return state


NAMES = {"sd1": "SD1.5", "sd2": "SD2.1-768-v", "sdxl": "SDXL 1.0 base"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="path of the .safetensors file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--family",
        choices=tuple(NAMES),
        default="sd1",
        help="architecture: sd1 (SD1.5, default), sd2 (SD2.1 768-v), sdxl (SDXL 1.0 base)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float16",
        help="storage dtype of the weights (default float16: SD1.5 2.1 GB, SD2.1 2.6 GB, SDXL 6.9 GB)",
    )
    args = parser.parse_args(argv)
    state = make_state_dict(args.seed, getattr(torch, args.dtype), args.family)
    name = NAMES[args.family]
    metadata = {"note": f"random-weight {name} test checkpoint, seed {args.seed}; not a usable model"}
    save_file(state, args.output, metadata=metadata)
    n_params = sum(t.numel() for t in state.values())
    print(f"wrote {args.output}: {len(state)} tensors, {n_params / 1e6:.1f}M values")


if __name__ == "__main__":
    main()
