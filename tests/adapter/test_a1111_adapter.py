"""The real Script.process() and conditioning hook on the fake A1111 (tests/fake_host/modules)."""

import pytest
import torch
from modules import processing, sd_hijack_clip, shared

from clip_skip_ext.webui.hook import ClipSkipError, ConditioningHook


def run(script=None, args=(), kind=processing.StableDiffusionProcessingTxt2Img, **kwargs):
    p = kind(script_args=list(args), scripts=[script] if script else [], **kwargs)
    return p, processing.process_images(p)


def host(skip, **kwargs):
    """The host's own Clip skip, through override_settings, with the extension absent."""
    return run(override_settings={"CLIP_stop_at_last_layers": skip}, **kwargs)[1]


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


def calls(record, which="first", batch=0):
    return record[which][batch]


PROMPTS = {"prompt": "a photo of a cat", "negative_prompt": "blurry, low quality", "steps": 4}


@pytest.mark.parametrize("skip", [1, 2, 3, 12])
def test_constant_panel_value_is_bit_identical_to_the_hosts_clip_skip(script, skip):
    _, ours = run(script, [True, str(skip)], **PROMPTS)
    theirs = host(skip, **PROMPTS)
    for (c, uc), (hc, huc) in zip(calls(ours), calls(theirs), strict=True):
        assert same(c, hc)
        assert same(uc, huc)


def test_schedule_switches_at_the_right_steps(script):
    _, ours = run(script, [True, "2@50%, 1"], **PROMPTS)
    at = {n: calls(host(n, **PROMPTS)) for n in (1, 2)}
    expected = [2, 2, 1, 1]
    for call, (c, uc) in enumerate(calls(ours)):
        assert same(c, at[expected[call]][call][0])
        assert same(uc, at[expected[call]][call][1])  # the negative follows the positive


def test_negative_has_its_own_skip(script):
    _, ours = run(script, [True, "2", "3"], **PROMPTS)
    two, three = calls(host(2, **PROMPTS)), calls(host(3, **PROMPTS))
    for call, (c, uc) in enumerate(calls(ours)):
        assert same(c, two[call][0])
        assert same(uc, three[call][1])


def test_fractional_value_blends_the_hosts_outputs(script):
    _, ours = run(script, [True, "1.5"], **PROMPTS)
    one, two = calls(host(1, **PROMPTS)), calls(host(2, **PROMPTS))
    c = calls(ours)[0][0]
    assert same(c, torch.lerp(one[0][0], two[0][0], 0.5))


def test_prompt_editing_and_schedule_together(script):
    prompts = {**PROMPTS, "prompt": "a [cat:dog:1] in a garden", "steps": 6}
    _, ours = run(script, [True, "3@2, 1@4, 2"], **prompts)
    at = {n: calls(host(n, **prompts)) for n in (1, 2, 3)}
    expected = [3, 3, 1, 1, 2, 2]
    for call, (c, _) in enumerate(calls(ours)):
        assert same(c, at[expected[call]][call][0]), call
    assert not same(at[1][0][0], at[1][3][0])  # the edit really switches text at call 2


def test_second_order_sampler_switches_after_the_steps_last_call(script):
    prompts = {**PROMPTS, "sampler_name": "Heun"}
    _, ours = run(script, [True, "2@50%, 1"], **prompts)
    at = {n: calls(host(n, **prompts)) for n in (1, 2)}
    assert len(calls(ours)) == 8
    for call, (c, _) in enumerate(calls(ours)):
        assert same(c, at[2 if call < 4 else 1][call][0]), call


def test_directives_apply_per_prompt_and_are_removed(script, sd1_model):
    prompts = {
        "prompt": ["a cat <clipskip:2>", "a dog"],
        "negative_prompt": ["<clipskip:3> blurry", "blurry"],
        "batch_size": 2,
        "steps": 2,
    }
    p, ours = run(script, [False], **prompts)
    assert p.unknown_networks == []  # <clipskip:…> is a known extra network now
    assert all("clipskip" not in text for texts, _ in sd1_model.encodes for text in texts)
    c, uc = calls(ours)[0]
    plain = {
        "prompt": ["a cat", "a dog"],
        "negative_prompt": ["blurry", "blurry"],
        "batch_size": 2,
        "steps": 2,
    }
    at = {n: calls(host(n, **plain))[0] for n in (1, 2, 3)}
    assert same(c[0], at[2][0][0])
    assert same(c[1], at[1][0][1])
    assert same(uc[0], at[3][1][0])
    assert same(uc[1], at[1][1][1])
    # one source per image where they differ (the host indexes a list by image, processing.py:784)
    assert p.extra_generation_params["Clip skip source"] == ["prompt", "host"]


def test_hires_pass_follows_its_own_schedule(script):
    prompts = {**PROMPTS, "enable_hr": True, "hr_second_pass_steps": 2}
    _, ours = run(script, [True, "2", "", "3"], **prompts)
    first, hires = host(2, **prompts), host(3, **prompts)
    for call, (c, uc) in enumerate(calls(ours, "hires")):
        assert same(c, calls(hires, "hires")[call][0])
        assert same(uc, calls(hires, "hires")[call][1])  # no negative set: it follows the hires positive
    for call, (c, uc) in enumerate(calls(ours)):
        assert same(c, calls(first)[call][0])
        assert same(uc, calls(first)[call][1])


def test_img2img_lays_the_schedule_over_the_steps_that_run(script):
    prompts = {**PROMPTS, "steps": 10, "denoising_strength": 0.5}  # t_enc = 5: 6 steps run
    kind = processing.StableDiffusionProcessingImg2Img
    _, ours = run(script, [True, "2@50%, 1"], kind=kind, **prompts)
    at = {n: calls(host(n, kind=kind, **prompts)) for n in (1, 2)}
    assert len(calls(ours)) == 6
    for call, (c, _) in enumerate(calls(ours)):
        assert same(c, at[2 if call < 3 else 1][call][0]), call


def test_options_are_restored_when_encoding_fails(script, sd1_model, monkeypatch):
    shared.opts.data["CLIP_stop_at_last_layers"] = 1
    before = dict(shared.opts.data)
    original = sd1_model.get_learned_conditioning

    def explode(texts):
        if shared.opts.CLIP_stop_at_last_layers == 3:
            raise RuntimeError("interrupted")
        return original(texts)

    monkeypatch.setattr(sd1_model, "get_learned_conditioning", explode)
    with pytest.raises(RuntimeError, match="interrupted"):
        run(script, [True, "2@50%, 3"], **PROMPTS)
    assert shared.opts.data == before


def test_sdxl_moves_clip_l_only_and_restores_the_toggle(script, make_clip):
    sdxl = sd_hijack_clip.FakeSDXL(make_clip(layers=12, seed=4), make_clip(layers=8, seed=5))
    shared.sd_model = sdxl
    _, ours = run(script, [True, "3"], **PROMPTS)
    assert "sdxl_clip_l_skip" not in shared.opts.data
    assert {moved for _, _, moved in sdxl.encodes} == {True}
    with torch.no_grad():
        ids = sd_hijack_clip.tokenize([PROMPTS["prompt"]])
        clip_l = sdxl.clip_l(input_ids=ids, output_hidden_states=True).hidden_states[-3]
        clip_g = sdxl.clip_g(input_ids=ids, output_hidden_states=True).hidden_states[-2]
    crossattn = calls(ours)[0][0]["crossattn"][0]
    assert torch.equal(crossattn, torch.cat([clip_l, clip_g], dim=2)[0])


def test_sdxl_prompt_without_a_value_in_a_mixed_batch_gets_the_hosts_own_layers(script, make_clip):
    """Live A1111 SDXL found it: a batch where one prompt has a directive and one has none. The host alone,
    with sdxl_clip_l_skip off, keeps CLIP-L at hidden_states[11] whatever Clip skip says."""
    shared.sd_model = sd_hijack_clip.FakeSDXL(make_clip(layers=12, seed=4), make_clip(layers=8, seed=5))
    mixed = {**PROMPTS, "prompt": ["a photo of a cat", "a photo of a cat <clipskip:3>"], "batch_size": 2}
    _, ours = run(script, [False], **mixed)
    alone = host(1, **PROMPTS)
    for call, (c, uc) in enumerate(calls(ours)):
        assert same({k: v[0] for k, v in c.items()}, {k: v[0] for k, v in calls(alone)[call][0].items()})
        assert same({k: v[0] for k, v in uc.items()}, {k: v[0] for k, v in calls(alone)[call][1].items()})
    assert not same(calls(ours)[0][0], calls(host(3, **mixed))[0][0])  # the directive did move row 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([True, "2@@1"], "positive: clip skip schedule '2@@1': unexpected '@' at character 3"),
        ([True, "14"], "clip skip 14 is out of range for A1111 on SD1; accepted: 1 to 13"),
        ([{"enabled": True, "postive": "2"}], "unknown field 'postive'"),
        ([False], "clip skip schedule '<clipskip:x>': in the prompt"),
    ],
)
def test_invalid_input_stops_the_generation_before_any_encode(script, sd1_model, args, message):
    shared.opts.data["CLIP_stop_at_last_layers"] = 2
    before = dict(shared.opts.data)
    with pytest.raises(ClipSkipError, match=message) as caught:
        run(script, args, **{**PROMPTS, "prompt": "a cat <clipskip:x>" if args == [False] else "a cat"})
    assert caught.value.status_code == 422
    assert sd1_model.encodes == []
    assert shared.opts.data == before


def test_a_rejected_value_is_an_http_exception_logged_in_one_line(script, sd1_model, caplog):
    """A1111/Forge/Neo api.py:167-181 print a traceback for anything but an HTTPException; the API
    body is built from vars(e)["status_code"], vars(e)["detail"] and str(e)."""
    from fastapi import HTTPException

    with caplog.at_level("INFO"), pytest.raises(ClipSkipError) as caught:
        run(script, [True, "2@@"], **PROMPTS)
    error = caught.value
    assert isinstance(error, HTTPException)
    assert vars(error)["status_code"] == 422
    assert vars(error)["detail"] == str(error)
    assert str(error).startswith("Clip Skip Control: positive: clip skip schedule '2@@'")
    (record,) = [r for r in caplog.records if r.name == "clip_skip_control"]
    assert record.getMessage() == f"{error} (HTTP 422)"
    assert "\n" not in record.getMessage()
    assert record.exc_info is None


def test_conditioning_is_cached_across_generations(script, sd1_model):
    run(script, [True, "2@50%, 1", "3"], **PROMPTS)
    encoded = len(sd1_model.encodes)
    assert encoded == 3  # negative at 3, positive at 1 and 2
    run(script, [True, "2@50%, 1", "3"], **PROMPTS)
    assert len(sd1_model.encodes) == encoded


def test_disabled_panel_leaves_the_host_untouched(script):
    p, _ = run(script, [False, "2"], **PROMPTS)
    assert not isinstance(p.__dict__.get("get_conds_with_caching"), ConditioningHook)
    assert not any(key.startswith("Clip") for key in p.extra_generation_params)


def test_infotext_keys(script):
    p, _ = run(script, [True, "2@40%, 1", "", "", "1"], **PROMPTS)
    assert p.extra_generation_params == {
        "Clip skip schedule": "2@40%, 1",
        "Hires negative clip skip": "1",
        "Clip skip source": "panel",
        "Clip Skip Control version": __import__("clip_skip_ext").__version__,
    }
    assert "Clip skip" not in p.extra_generation_params  # the host's key is the host's


TAGS = "masterpiece, best quality, 1girl, solo, long hair, looking at viewer"
PROSE = "a photograph of an old fisherman mending his nets on a quiet harbour at dawn"


def test_auto_mode_decides_per_prompt(script):
    prompts = {"prompt": [TAGS, PROSE], "negative_prompt": "blurry", "batch_size": 2, "steps": 2}
    p, ours = run(script, [True, "", "", "", "", "Auto"], **prompts)
    c, uc = calls(ours)[0]
    at = {n: calls(host(n, **prompts))[0] for n in (1, 2)}
    assert same(c[0], at[2][0][0])  # tags: sd1 tags -> 2
    assert same(c[1], at[1][0][1])  # prose: sd1 prose -> 1
    assert same(uc[0], at[2][1][0])  # each negative follows its positive
    assert same(uc[1], at[1][1][1])
    generation = p.extra_generation_params
    assert generation["Clip skip mode"] == "auto"
    assert generation["Clip skip source"] == "auto"
    assert generation["Clip skip auto"] == ["tags 1.00 → 2", "prose -1.00 → 1"]


def test_auto_mode_loses_to_an_explicit_value(script):
    p, _ = run(script, [True, "3", "", "", "", "Auto"], prompt=TAGS, steps=2)
    assert p.extra_generation_params["Clip skip source"] == "panel"


def test_an_invalid_policy_stops_the_generation(script, sd1_model):
    shared.opts.data["clip_skip_policy"] = "sd1 tags: 2\nsd1 poetry: 1\n"
    with pytest.raises(ClipSkipError, match="line 2"):
        run(script, [True, "", "", "", "", "Auto"], prompt=TAGS, steps=2)
    assert sd1_model.encodes == []


def test_sd2_on_a1111_is_left_alone_and_says_so(script, sd1_model, monkeypatch):
    # A1111 never reads Clip skip for SD2 (sd_hijack_open_clip.py:26-30): no encode at other skips
    monkeypatch.setattr(sd1_model, "is_sd1", False)
    monkeypatch.setattr(sd1_model, "is_sd2", True, raising=False)
    p, _ = run(script, [True, "3"], **PROMPTS)
    assert {skip for _, skip in sd1_model.encodes} == {1}
    assert (
        p.extra_generation_params["Clip skip source"] == "none (SD2 on A1111: the host never reads clip skip)"
    )
    assert p.extra_generation_params["Clip skip schedule"] == "3"


def test_reforge_dynamic_clip_skip_is_left_in_charge(script, sd1_model):
    # reForge's own option (shared_options.py:204-207): the extension defers and says so
    shared.opts.data["dynamic_clip_skip_enabled"] = True
    p, _ = run(script, [True, "3"], **PROMPTS)
    assert {skip for _, skip in sd1_model.encodes} == {1}
    assert not isinstance(p.__dict__.get("get_conds_with_caching"), ConditioningHook)
    assert p.extra_generation_params == {"Clip skip source": "none (reForge dynamic clip skip is on)"}
