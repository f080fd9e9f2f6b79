"""The panel's "Inspect layers" on the fake hosts: the loaded model's own encoders, the prompt as the
host tokenizes it, the host's own layers, and the model left exactly as it was."""

import html
import re

import torch
from backend import diffusion_engine as engines
from forge_support import tiny_t5
from modules import call_queue, sd_hijack_clip, shared
from panel_support import IMG2IMG, build

from clip_skip_ext.encoder import text_transformer
from clip_skip_ext.webui import layers


def means(shown):
    """The mean similarity per column from the picture's title, e.g. {"1": 1.0, "2": 0.95}."""
    title = html.unescape(re.search(r"<title id=\"[^\"]+\">([^<]+)</title>", shown).group(1))
    return [dict(re.findall(r"([\d-]+): (-?\d\.\d\d)", part)) for part in title.split(";")]


def snapshot(model):
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        list(text_transformer(model).encoder.layers),
        hooks,
    )


def test_a1111_sd1_inspects_every_layer_and_leaves_the_model_as_it_was(sd1_model):
    clip = sd1_model.clip
    sd1_model.get_learned_conditioning(["warm up"])  # the host's own encode (transformers 5 hooks it then)
    state, blocks, hooks = snapshot(clip)
    shown = layers.inspect_html("a photo of a cat <lora:x:1> <clipskip:2>, [dog:cat:10]")
    assert "<svg" in shown
    assert "Each cell is the cosine similarity" in shown
    (table,) = means(shown)
    assert list(table) == [str(n) for n in range(1, 14)]
    assert table["1"] == "1.00"
    # the rows are the host's tokens of the first step's text, without the directive and the LoRA
    # six words, the end token and the mean row
    assert shown.count("clip skip 1: 1.000</title>") == len(["a", "photo", "of", "a", "cat", "dog"]) + 2
    after, after_blocks, after_hooks = snapshot(clip)
    assert after_blocks == blocks
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert after_hooks == hooks


def test_a1111_sdxl_inspects_clip_l_and_says_clip_g_never_moves(make_clip):
    shared.sd_model = sd_hijack_clip.FakeSDXL(make_clip(layers=12, seed=4), make_clip(layers=8, seed=5))
    shown = layers.inspect_html("a cat")
    (table,) = means(shown)
    assert len(table) == 13
    assert "CLIP-G is not inspected: A1111 never moves it" in shown


def test_forge_sdxl_inspects_both_engines_with_forges_numbering(load, make_clip):
    load(engines.ForgeSDXL(make_clip(layers=12, seed=9), make_clip(layers=32, seed=10)))
    shown = layers.inspect_html("a cat")
    clip_l, clip_g = means(shown)
    assert list(clip_l)[:2] == ["1-2", "3"]
    assert len(clip_g) == 12


def test_no_model_and_no_effect_are_said_in_words(load, make_clip, monkeypatch):
    from types import SimpleNamespace

    from modules import sd_models

    shared.sd_model = SimpleNamespace(cond_stage_model=None)
    assert "No model is loaded yet" in layers.inspect_html("a cat")
    # Forge and Neo: the selected checkpoint is loaded as the first generation would load it
    forge = engines.ForgeSD1(make_clip(layers=12, seed=8))
    monkeypatch.setattr(sd_models, "forge_model_reload", lambda: load(forge), raising=False)
    assert "clip-skip-inspector" in layers.inspect_html("a cat")
    monkeypatch.delattr(sd_models, "forge_model_reload")
    load(engines.ForgeFlux(make_clip(layers=12, seed=1), tiny_t5()))
    assert "Clip skip has no effect here: Flux reads T5" in layers.inspect_html("a cat")


def test_the_button_runs_under_the_hosts_queue_lock_with_the_tabs_prompt_and_steps(script, monkeypatch):
    import gradio as gr

    gr.EVENTS.clear()
    build(script, IMG2IMG, is_img2img=True)
    (click,) = [e for e in gr.EVENTS if e[0] is script._panel.inspect and e[1] == "click"]
    _, _, fn, inputs, outputs = click
    assert inputs == [IMG2IMG["img2img_prompt"], IMG2IMG["img2img_steps"]]
    assert outputs == [script._panel.layers]
    seen = []
    monkeypatch.setattr(
        layers, "inspect_html", lambda *a: seen.append((call_queue.queue_lock.locked(), *a)) or ""
    )
    fn("a cat", 30)
    assert seen == [(True, "a cat", "img2img", 30)]
