"""Write a random-weight Stable Diffusion 1.5 checkpoint (.safetensors) for live WebUI tests.

The file has the key names and shapes of a real SD1.5 checkpoint (UNet ``model.diffusion_model.*``,
VAE ``first_stage_model.*``, CLIP-L text encoder ``cond_stage_model.transformer.text_model.*`` and the
DDPM noise-schedule buffers), so the WebUI loads it with its stock ``v1-inference.yaml`` config.

Every weight is random, including the layers that the reference code zero-initialises (ResBlock
``out_layers.3``, SpatialTransformer ``proj_out``, the UNet ``out.2`` conv): otherwise the text
conditioning could not reach the image. Each CLIP layer therefore yields a different hidden state, and
CLIP skip changes the generated pixels. The images are noise-like; only their differences matter.

Usage: python tests/webui/make_checkpoint.py OUTPUT.safetensors [--seed N] [--dtype float16|float32]
"""

from __future__ import annotations

import argparse
import math

import torch
from safetensors.torch import save_file

Shapes = dict[str, tuple[int, ...]]

# SD1.5 architecture (configs/v1-inference.yaml).
UNET_CH, UNET_MULT, UNET_RES_BLOCKS, UNET_ATTN_LEVELS = 320, (1, 2, 4, 4), 2, (0, 1, 2)
UNET_IN, UNET_OUT, CONTEXT_DIM = 4, 4, 768
VAE_CH, VAE_MULT, VAE_RES_BLOCKS, VAE_Z = 128, (1, 2, 4, 4), 2, 4
CLIP_WIDTH, CLIP_LAYERS, CLIP_FF, CLIP_VOCAB, CLIP_CTX = 768, 12, 3072, 49408, 77
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


def unet_resblock(s: Shapes, key: str, c_in: int, c_out: int) -> None:
    norm(s, f"{key}.in_layers.0", c_in)
    conv(s, f"{key}.in_layers.2", c_out, c_in, 3)
    linear(s, f"{key}.emb_layers.1", c_out, 4 * UNET_CH)
    norm(s, f"{key}.out_layers.0", c_out)
    conv(s, f"{key}.out_layers.3", c_out, c_out, 3)
    if c_in != c_out:
        conv(s, f"{key}.skip_connection", c_out, c_in, 1)


def unet_transformer(s: Shapes, key: str, c: int) -> None:
    norm(s, f"{key}.norm", c)
    conv(s, f"{key}.proj_in", c, c, 1)
    block = f"{key}.transformer_blocks.0"
    for attn, kv_dim in (("attn1", c), ("attn2", CONTEXT_DIM)):
        linear(s, f"{block}.{attn}.to_q", c, c, bias=False)
        linear(s, f"{block}.{attn}.to_k", c, kv_dim, bias=False)
        linear(s, f"{block}.{attn}.to_v", c, kv_dim, bias=False)
        linear(s, f"{block}.{attn}.to_out.0", c, c)
    linear(s, f"{block}.ff.net.0.proj", 8 * c, c)  # GEGLU: value and gate halves
    linear(s, f"{block}.ff.net.2", c, 4 * c)
    for i in (1, 2, 3):
        norm(s, f"{block}.norm{i}", c)
    conv(s, f"{key}.proj_out", c, c, 1)


def unet_shapes(prefix: str = "model.diffusion_model") -> Shapes:
    s: Shapes = {}
    linear(s, f"{prefix}.time_embed.0", 4 * UNET_CH, UNET_CH)
    linear(s, f"{prefix}.time_embed.2", 4 * UNET_CH, 4 * UNET_CH)
    conv(s, f"{prefix}.input_blocks.0.0", UNET_CH, UNET_IN, 3)
    skip_chans, ch, idx = [UNET_CH], UNET_CH, 1
    for level, mult in enumerate(UNET_MULT):
        for _ in range(UNET_RES_BLOCKS):
            unet_resblock(s, f"{prefix}.input_blocks.{idx}.0", ch, mult * UNET_CH)
            ch = mult * UNET_CH
            if level in UNET_ATTN_LEVELS:
                unet_transformer(s, f"{prefix}.input_blocks.{idx}.1", ch)
            skip_chans.append(ch)
            idx += 1
        if level != len(UNET_MULT) - 1:
            conv(s, f"{prefix}.input_blocks.{idx}.0.op", ch, ch, 3)
            skip_chans.append(ch)
            idx += 1
    unet_resblock(s, f"{prefix}.middle_block.0", ch, ch)
    unet_transformer(s, f"{prefix}.middle_block.1", ch)
    unet_resblock(s, f"{prefix}.middle_block.2", ch, ch)
    idx = 0
    for level, mult in reversed(list(enumerate(UNET_MULT))):
        for i in range(UNET_RES_BLOCKS + 1):
            key = f"{prefix}.output_blocks.{idx}"
            unet_resblock(s, f"{key}.0", ch + skip_chans.pop(), mult * UNET_CH)
            ch, sub = mult * UNET_CH, 1
            if level in UNET_ATTN_LEVELS:
                unet_transformer(s, f"{key}.1", ch)
                sub = 2
            if level != 0 and i == UNET_RES_BLOCKS:
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


def all_shapes() -> Shapes:
    return {**unet_shapes(), **vae_shapes(), **clip_text_shapes()}


def random_tensor(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Roughly variance-preserving random values: fan-in scaled matrices, norms near 1, small biases."""
    if key.endswith("embedding.weight"):
        return torch.randn(shape, generator=gen) * 0.02
    if len(shape) >= 2:
        return torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
    if key.endswith(".weight"):  # GroupNorm / LayerNorm scale
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    return 0.02 * torch.randn(shape, generator=gen)


def schedule_buffers() -> dict[str, torch.Tensor]:
    """The LatentDiffusion noise-schedule buffers ("scaled linear" betas), as stored in SD1.5 checkpoints."""
    betas = torch.linspace(LINEAR_START**0.5, LINEAR_END**0.5, TIMESTEPS, dtype=torch.float64) ** 2
    alphas = 1.0 - betas
    acp = torch.cumprod(alphas, dim=0)
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


def make_state_dict(seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {key: random_tensor(key, shape, gen).to(dtype) for key, shape in sorted(all_shapes().items())}
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(CLIP_CTX)[None]
    state.update(schedule_buffers())
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="path of the .safetensors file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float16",
        help="storage dtype of the weights (default float16, about 2 GB)",
    )
    args = parser.parse_args(argv)
    state = make_state_dict(args.seed, getattr(torch, args.dtype))
    metadata = {"note": f"random-weight SD1.5 test checkpoint, seed {args.seed}; not a usable model"}
    save_file(state, args.output, metadata=metadata)
    n_params = sum(t.numel() for t in state.values())
    print(f"wrote {args.output}: {len(state)} tensors, {n_params / 1e6:.1f}M values")


if __name__ == "__main__":
    main()
