"""Helpers shared by the Forge and Forge Neo adapter tests: a tiny T5, one generation through the
fake host, the host's own Clip skip, and bit-for-bit comparison of what the denoiser would use."""

import torch
from modules import processing
from transformers import T5Config, T5EncoderModel

PROMPTS = {"prompt": "a photo of a cat", "negative_prompt": "blurry", "steps": 4}


def tiny_t5(seed=3):
    torch.manual_seed(seed)
    config = T5Config(vocab_size=1000, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    return T5EncoderModel(config).eval()


def run(script=None, args=(), **kwargs):
    p = processing.StableDiffusionProcessingTxt2Img(
        script_args=list(args), scripts=[script] if script else [], **{**PROMPTS, **kwargs}
    )
    return p, processing.process_images(p)["first"][0]


def host_at(skip, **kwargs):
    return run(override_settings={"CLIP_stop_at_last_layers": skip}, **kwargs)[1]


def same(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


def same_calls(ours, theirs):
    return len(ours) == len(theirs) and all(
        same(a[0], b[0]) and same(a[1], b[1]) for a, b in zip(ours, theirs, strict=True)
    )
