"""The adapter on a Forge-shaped fake: the option reaches the engine through set_clip_skip in
get_conds_with_caching (Forge processing.py:472), the text model sits in the engine (classic_engine.py)."""

import pytest
import torch
from modules import processing, sd_hijack_clip, shared

from clip_skip_ext.webui import host


@pytest.fixture
def forge(make_clip, monkeypatch):
    model = sd_hijack_clip.FakeForgeSD1(make_clip(layers=12, seed=8))
    monkeypatch.setattr(shared, "sd_model", model)
    monkeypatch.setattr(host, "host_name", lambda: "forge")
    return model


PROMPTS = {"prompt": "a photo of a cat", "negative_prompt": "blurry", "steps": 4}


def run(script=None, args=(), **kwargs):
    p = processing.StableDiffusionProcessingTxt2Img(
        script_args=list(args), scripts=[script] if script else [], **{**PROMPTS, **kwargs}
    )
    return p, processing.process_images(p)["first"][0]


def host_at(skip):
    return run(override_settings={"CLIP_stop_at_last_layers": skip})[1]


@pytest.mark.parametrize("skip", [1, 2, 5])
def test_parity_with_forges_own_clip_skip(script, forge, skip):
    _, ours = run(script, [True, str(skip)])
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ours, host_at(skip), strict=True)
    )


def test_schedule_and_negative_on_forge(script, forge):
    p, ours = run(script, [True, "3@50%, 1", "2"])
    at = {n: host_at(n) for n in (1, 2, 3)}
    for call, (c, uc) in enumerate(ours):
        assert torch.equal(c, at[3 if call < 2 else 1][call][0])
        assert torch.equal(uc, at[2][call][1])
    assert "forge" not in p.extra_generation_params.get("Clip skip source", "")


def test_the_engine_is_left_at_the_hosts_value_after(script, forge):
    shared.opts.data["CLIP_stop_at_last_layers"] = 1
    run(script, [True, "4@50%, 2"])
    run()  # the next plain generation sets the engine from the option again (processing.py:472)
    assert forge.text_processing_engine.clip_skip == 1
    assert shared.opts.data["CLIP_stop_at_last_layers"] == 1
