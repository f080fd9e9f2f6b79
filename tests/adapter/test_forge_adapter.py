"""The adapter on Forge-shaped fakes (tests/fake_host/backend): the option reaches the engines through
set_clip_skip in get_conds_with_caching (Forge processing.py:472); each family's engines as Forge
builds them (backend/diffusion_engine/*.py), compared bit for bit with Forge's own Clip skip."""

import pytest
import torch
from backend import diffusion_engine as engines
from backend.text_processing import classic_engine
from forge_support import PROMPTS, host_at, run, same, same_calls, tiny_t5
from modules import processing, shared

from clip_skip_ext.webui import host
from clip_skip_ext.webui.script import Script
from clip_skip_ext.webui.ui import status_html


@pytest.fixture
def forge(load, make_clip):
    return load(engines.ForgeSD1(make_clip(layers=12, seed=8)))


@pytest.fixture
def sdxl(load, make_clip):
    return load(engines.ForgeSDXL(make_clip(layers=12, seed=9), make_clip(layers=16, seed=10)))


@pytest.fixture
def sd3(load, make_clip):
    return load(engines.ForgeSD3(make_clip(layers=12, seed=11), make_clip(layers=16, seed=12), tiny_t5()))


@pytest.mark.parametrize("skip", [1, 2, 5])
def test_parity_with_forges_own_clip_skip(script, forge, skip):
    _, ours = run(script, [True, str(skip)])
    assert same_calls(ours, host_at(skip))


def test_schedule_and_negative_on_forge(script, forge):
    p, ours = run(script, [True, "3@50%, 1", "2"])
    at = {n: host_at(n) for n in (1, 2, 3)}
    for call, (c, uc) in enumerate(ours):
        assert torch.equal(c, at[3 if call < 2 else 1][call][0])
        assert torch.equal(uc, at[2][call][1])
    assert p.extra_generation_params["Clip skip source"] == "panel"


def test_the_engine_is_left_at_the_hosts_value_after(script, forge):
    shared.opts.data["CLIP_stop_at_last_layers"] = 1
    run(script, [True, "4@50%, 2"])
    # at once, for code that calls get_learned_conditioning without processing.py:472's set_clip_skip
    assert forge.text_processing_engine.clip_skip == 1
    run()  # the next plain generation sets the engine from the option again (processing.py:472)
    assert forge.text_processing_engine.clip_skip == 1
    assert shared.opts.data["CLIP_stop_at_last_layers"] == 1


@pytest.mark.parametrize("skip", [1, 2, 3])
def test_sdxl_moves_clip_l_and_clip_g_together_as_forge_does(script, sdxl, skip):
    _, ours = run(script, [True, str(skip)])
    assert same_calls(ours, host_at(skip))
    if skip == 1:  # minimal_clip_skip=2 on both engines (sdxl.py:44-70): 1 is 2
        assert same_calls(ours, host_at(2))


def test_sdxl_empty_negative_is_zeros_at_every_skip(script, sdxl):
    _, ours = run(script, [True, "3", "4"], negative_prompt="")
    assert all(not call[1]["crossattn"].any() for call in ours)  # sdxl.py:109-114
    assert same_calls(ours, host_at(3, negative_prompt=""))


def test_sdxl_refiner_is_its_own_family_and_moves_clip_g(script, load, make_clip):
    refiner = load(engines.ForgeSDXLRefiner(make_clip(layers=16, seed=13)))
    assert host.current_family() == "sdxl-refiner"
    _, ours = run(script, [True, "4"])
    assert same_calls(ours, host_at(4))
    assert not same_calls(ours, host_at(2))
    assert {skip for _, skip in refiner.encodes} >= {4}


@pytest.mark.parametrize("skip", [1, 2, 4])
def test_sd3_parity_clip_l_and_g_move_t5_does_not(script, sd3, skip):
    assert host.current_family() == "sd3"
    _, ours = run(script, [True, str(skip)])
    assert same_calls(ours, host_at(skip))
    # Forge's default 1 is the last layer; the SD3 reference layer is 2: they differ
    assert not same_calls(host_at(1), host_at(2))


def test_sd3_schedule_runs_each_text_model_once_per_prompt(script, sd3):
    t5 = sd3.text_processing_engine_t5.text_encoder
    calls = []
    t5.encoder.block[0].register_forward_hook(lambda *_: calls.append(1))  # real forwards only
    _, ours = run(script, [True, "3@50%, 1", "2@50%, 4"])
    assert len(calls) == 2  # one positive, one negative: not once per skip
    at = {n: host_at(n) for n in (1, 2, 3, 4)}
    for call, (c, uc) in enumerate(ours):
        assert same(c, at[3 if call < 2 else 1][call][0])
        assert same(uc, at[2 if call < 2 else 4][call][1])


def test_flux_is_left_alone_and_says_why(script, load, make_clip):
    flux = load(engines.ForgeFlux(make_clip(layers=12, seed=14), tiny_t5()))
    assert host.current_family() == "flux"
    p, ours = run(script, [True, "3", "2"])
    assert {skip for _, skip in flux.encodes} == {1}  # nothing encoded at other skips
    assert same_calls(ours, host_at(1))
    assert same_calls(host_at(1), host_at(3))  # Forge's own Clip skip: no effect either (flux.py:83-92)
    source = p.extra_generation_params["Clip skip source"]
    assert source.startswith("none (Flux reads T5 and CLIP-L's pooled output only")
    assert "no effect here: Flux reads T5" in status_html(True, "3", "", "", "", "Manual")


def test_cfg_1_has_no_negative_conditioning(script, forge):
    p, ours = run(script, [True, "3", "2@50%, 4"], cfg_scale=1)
    assert all(uc is None for _, uc in ours)  # Forge processing.py:499-501
    assert same_calls(ours, host_at(3, cfg_scale=1))
    assert not getattr(p, "script_errors", None)


def test_infotext_extras_are_not_duplicated_by_extra_encodes(script, forge):
    kwargs = {"prompt": "a (red) cat", "negative_prompt": "easynegative blurry"}
    shared.opts.data["emphasis"] = "No norm"
    plain, _ = run(**kwargs)
    assert plain.extra_generation_params["TI"] == "easynegative"
    p, _ = run(script, [True, "4@25%, 3@50%, 2@75%, 1", "3@50%, 2"], **kwargs)
    assert p.extra_generation_params["TI"] == "easynegative"
    assert p.extra_generation_params["Emphasis"] == "No norm"
    again, _ = run(script, [True, "4@25%, 3@50%, 2@75%, 1", "3@50%, 2"], **kwargs)  # every encode cached
    assert again.extra_generation_params["TI"] == "easynegative"
    assert again.extra_generation_params["Emphasis"] == "No norm"
    assert classic_engine.last_extra_generation_params == {}


def test_before_the_lazy_load_the_panel_says_no_model(load):
    load(type("FakeInitialModel", (), {"cond_stage_model": None})())  # Forge sd_models.py:385-393
    assert host.current_family() is None
    assert "No model loaded yet" in status_html(True, "2", "", "", "", "Manual")


def test_a_fresh_script_decides_on_the_model_loaded_for_this_generation(load, make_clip):
    """Forge loads the checkpoint in process_images (processing.py:836), before Script.process (:907)."""
    load(type("FakeInitialModel", (), {"cond_stage_model": None})())
    model = engines.ForgeSD1(make_clip(layers=12, seed=8))
    p = processing.StableDiffusionProcessingTxt2Img(script_args=[True, "3"], scripts=[Script()], **PROMPTS)
    shared.sd_model = model  # the lazy load, before the scripts' process()
    ours = processing.process_images(p)["first"][0]
    assert same_calls(ours, host_at(3))


def test_fractional_values_blend_dict_conds_key_by_key(script, sd3):
    _, ours = run(script, [True, "2.25"])
    low, high = host_at(2), host_at(3)
    for call, (c, _) in enumerate(ours):
        for key in ("crossattn", "vector"):
            assert torch.equal(c[key], torch.lerp(low[call][0][key], high[call][0][key], 0.25))
