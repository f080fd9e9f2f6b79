"""Issue: one text-encoder pass per prompt for any schedule (clip_skip_ext/webui/memo.py)."""

import contextlib
import types

import torch
from backend import diffusion_engine
from modules import processing, sd_hijack_clip, shared

from clip_skip_ext.webui import memo

PROMPTS = {"prompt": "a photo of a cat", "negative_prompt": "blurry", "steps": 8}
FOUR = "4@25%, 3@50%, 2@75%, 1"


class Blocks:
    """Counts transformer-block calls of a Hugging Face CLIP text model."""

    def __init__(self, model):
        self.count = 0
        inner = getattr(model, "text_model", model)
        self.handles = [b.register_forward_hook(self._hit) for b in inner.encoder.layers]

    def _hit(self, *_):
        self.count += 1

    def close(self):
        for handle in self.handles:
            handle.remove()


def run(script, args, **kwargs):
    p = processing.StableDiffusionProcessingTxt2Img(
        script_args=list(args), scripts=[script], **{**PROMPTS, **kwargs}
    )
    return processing.process_images(p)["first"][0]


def blocks_for(model, script, args, **kwargs):
    counter = Blocks(model)
    try:
        record = run(script, args, **kwargs)
    finally:
        counter.close()
    return counter.count, record


def test_four_skips_cost_one_pass_per_prompt(script, sd1_model):
    count, _ = blocks_for(sd1_model.clip, script, [True, FOUR])
    assert count == 2 * 12  # positive and negative: one full forward each, not four


def test_the_forward_stops_at_the_deepest_needed_block(script, sd1_model):
    count, _ = blocks_for(sd1_model.clip, script, [True, "4@50%, 2"])
    assert count == 2 * 11  # skip 2 needs blocks 1..11 of 12


def test_outputs_are_bit_identical_to_the_unoptimised_path(script, sd1_model, monkeypatch):
    fast = run(script, [True, FOUR, "3@50%, 1.5"])
    shared.opts.data.clear()
    from clip_skip_ext.webui import hook

    hook.clear_cache()
    for cls in (processing.StableDiffusionProcessing, processing.StableDiffusionProcessingTxt2Img):
        for name in ("cached_c", "cached_uc"):
            if name in cls.__dict__:
                setattr(cls, name, [None, None])
    monkeypatch.setattr(memo, "one_pass", lambda *a, **k: contextlib.nullcontext())
    slow = run(script, [True, FOUR, "3@50%, 1.5"])
    for (c1, u1), (c2, u2) in zip(fast, slow, strict=True):
        assert torch.equal(c1, c2)
        assert torch.equal(u1, u2)


def test_sdxl_encodes_clip_g_once(script, make_clip):
    sdxl = sd_hijack_clip.FakeSDXL(make_clip(layers=12, seed=4), make_clip(layers=8, seed=5))
    shared.sd_model = sdxl
    g_blocks = Blocks(sdxl.clip_g)
    try:
        count, _ = blocks_for(sdxl.clip_l, script, [True, "4@50%, 3"])
    finally:
        g_blocks.close()
    assert count == 2 * 10  # CLIP-L: skip 3 needs 10 of 12 blocks, once per prompt
    assert g_blocks.count == 2 * 8  # CLIP-G never moves: one full pass per prompt


def test_the_models_are_left_as_they_were(script, sd1_model):
    run(script, [True, FOUR])
    assert "forward" not in sd1_model.clip.__dict__
    assert len(getattr(sd1_model.clip, "text_model", sd1_model.clip).encoder.layers) == 12


def test_textual_inversion_fixes_are_part_of_the_key_and_consumed():
    holder = types.SimpleNamespace(fixes=None)
    calls = []
    call = memo._memoised(lambda input_ids: calls.append(1) or len(calls), memo._plain_run, holder)
    ids = torch.ones(1, 77, dtype=torch.long)
    embedding = object()
    assert call(input_ids=ids) == 1
    holder.fixes = [[(3, embedding)]]
    assert call(input_ids=ids) == 2  # same ids, other fixes: a new forward
    holder.fixes = [[(3, embedding)]]
    assert call(input_ids=ids) == 2
    assert holder.fixes is None  # a hit consumes them, as EmbeddingsWithFixes.forward does
    assert call(input_ids=ids) == 1


def test_forge_engines_run_once_per_prompt_too(script, make_clip, monkeypatch):
    forge = diffusion_engine.ForgeSD1(make_clip(layers=12, seed=6))
    shared.sd_model = forge
    count, fast = blocks_for(
        forge.text_processing_engine.text_encoder.transformer, script, [True, "4@50%, 2"]
    )
    assert count == 2 * 11  # skip 2 is the deepest: 11 of 12 blocks, once per prompt
    assert "forward" not in forge.text_processing_engine.text_encoder.transformer.__dict__
    monkeypatch.setattr(memo, "one_pass", lambda *a, **k: contextlib.nullcontext())
    from clip_skip_ext.webui import hook

    hook.clear_cache()
    for cls in (processing.StableDiffusionProcessing, processing.StableDiffusionProcessingTxt2Img):
        for name in ("cached_c", "cached_uc"):
            if name in cls.__dict__:
                setattr(cls, name, [None, None])
    slow = run(script, [True, "4@50%, 2"])
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(fast, slow, strict=True))
