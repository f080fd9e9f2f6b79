"""Issue 15: the skip holds in ADetailer's detail pass, Dynamic Prompts' variants and Regional
Prompter's re-runs (fakes of what each does: tests/fake_host/extensions/)."""

from copy import copy

import pytest
import torch
from extensions.fake_adetailer import AfterDetailerScript
from extensions.fake_dynamic_prompts import DynamicPromptsScript
from modules import processing, shared

from clip_skip_ext.webui import passes
from clip_skip_ext.webui.hook import ConditioningHook

PROMPTS = {"prompt": "a photo of a face", "negative_prompt": "blurry", "steps": 4}
IMG2IMG = processing.StableDiffusionProcessingImg2Img


def same(a, b):
    return torch.equal(a, b)


def txt2img(scripts, args, **kwargs):
    p = processing.StableDiffusionProcessingTxt2Img(
        script_args=list(args), scripts=list(scripts), **{**PROMPTS, **kwargs}
    )
    return p, processing.process_images(p)


def detail_at(skip, prompt=PROMPTS["prompt"], negative=PROMPTS["negative_prompt"], steps=4):
    """What a detail pass would see with the host's own Clip skip ``skip`` and no extension."""
    p = IMG2IMG(
        prompt=prompt,
        negative_prompt=negative,
        steps=steps,
        denoising_strength=0.4,
        override_settings={"CLIP_stop_at_last_layers": skip},
    )
    return processing.process_images(p)["first"][0]


def assert_calls(seen, expected):
    assert len(seen) == len(expected)
    for (c, uc), (hc, huc) in zip(seen, expected, strict=True):
        assert same(c, hc)
        assert same(uc, huc)


# ---- ADetailer -------------------------------------------------------------------------------------------


def test_the_detail_pass_uses_the_panels_skip(script):
    ad = AfterDetailerScript()
    p, _ = txt2img([script, ad], [True, "2"])
    assert_calls(ad.passes[0], detail_at(2))
    assert p.extra_generation_params[passes.ADETAILER_KEY] == "same as the image (2)"
    assert shared.opts.data.get("ad_script_names") is None  # ADetailer's settings are never touched


def test_without_following_the_detail_pass_is_at_the_hosts_skip(script, monkeypatch):
    """What ADetailer did before: the test above can fail."""
    monkeypatch.setattr(passes, "follow", lambda p: None)
    ad = AfterDetailerScript()
    txt2img([script, ad], [True, "2"])
    assert_calls(ad.passes[0], detail_at(1))
    with pytest.raises(AssertionError):
        assert_calls(ad.passes[0], detail_at(2))


def test_a_schedule_is_laid_over_the_detail_passs_own_steps(script):
    ad = AfterDetailerScript(steps=10)  # 0.4 denoising: 5 steps run (img2img_steps)
    txt2img([script, ad], [True, "2@40%, 1"])
    two, one = detail_at(2, steps=10), detail_at(1, steps=10)
    seen = ad.passes[0]
    assert len(seen) == 5
    switch = 2  # 40% of the 5 steps that run
    for call, (c, uc) in enumerate(seen):
        expected = two if call < switch else one
        assert same(c, expected[call][0])
        assert same(uc, expected[call][1])


def test_each_image_of_a_batch_gets_its_own_prompts_skip(script):
    ad = AfterDetailerScript()
    prompts = ["a face <clipskip:3>", "a face"]
    txt2img([script, ad], [False], prompt=prompts, negative_prompt=["blurry", "blurry"], batch_size=2)
    assert_calls(ad.passes[0], detail_at(3, prompt="a face"))
    assert_calls(ad.passes[1], detail_at(1, prompt="a face"))  # the host's: nothing installed


def test_the_faces_own_prompt_directive_wins_and_negative_directives_are_stripped(script):
    ad = AfterDetailerScript(ad_prompt="a detailed face <clipskip:3>")
    txt2img([script, ad], [True, "2"], negative_prompt="<clipskip:2> blurry")
    inner = ad.inner[0]
    assert inner.negative_prompts == [" blurry"]  # the host leaves it in; it would be encoded as text
    c3 = detail_at(3, prompt="a detailed face", negative=" blurry")
    c2 = detail_at(2, prompt="a detailed face", negative=" blurry")
    for call, (c, uc) in enumerate(ad.passes[0]):
        assert same(c, c3[call][0])
        assert same(uc, c2[call][1])


def test_adetailers_separate_clip_skip_wins_and_the_infotext_says_so(script):
    ad = AfterDetailerScript(use_clip_skip=True, clip_skip=1)
    p, _ = txt2img([script, ad], [True, "2"])
    assert not isinstance(ad.inner[0].get_conds_with_caching, ConditioningHook)
    assert_calls(ad.passes[0], detail_at(1))
    assert p.extra_generation_params[passes.ADETAILER_KEY] == (
        "ADetailer's own 1 (its Use separate CLIP skip is on)"
    )


def test_adetailers_copies_of_the_image_p_keep_the_infotext(script):
    # The fake calls process(copy_p) after its passes, as ADetailer does: the copy is not planned
    # again, so the key the detail pass wrote stays in every image's infotext.
    ad = AfterDetailerScript()
    _, record = txt2img([script, ad], [True, "2"], batch_size=2)
    assert [info[passes.ADETAILER_KEY] for info in record["infotexts"]] == ["same as the image (2)"] * 2
    assert_calls(ad.passes[1], detail_at(2))


def test_in_xyz_cells_the_detail_pass_follows_each_cell(script):
    # XYZ runs shallow copies of one p that is never processed (xyz_grid.py cell(): copy(p)); they
    # share its extra_generation_params, and each cell is its own job.
    ad = AfterDetailerScript()
    base = processing.StableDiffusionProcessingTxt2Img(script_args=[], scripts=[script, ad], **PROMPTS)
    for value in ("3", "1"):
        cell = copy(base)
        cell.script_args = [True, value]
        record = processing.process_images(cell)
        assert_calls(ad.passes[-1], detail_at(int(value)))
        assert record["infotexts"][0][passes.ADETAILER_KEY] == f"same as the image ({value})"


def test_whitelisted_the_script_does_not_plan_the_detail_pass_twice(script):
    script.filename = "extensions/clip-skip-control/scripts/clip_skip.py"
    ad = AfterDetailerScript(names="clip_skip", use_clip_skip=True, clip_skip=1)
    txt2img([script, ad], [True, "2"])
    assert_calls(ad.passes[0], detail_at(1))  # its process() stays out: ADetailer's skip still wins
    ad = AfterDetailerScript(names="clip_skip")
    txt2img([script, ad], [True, "2"])
    assert_calls(ad.passes[0], detail_at(2))
    assert not isinstance(ad.inner[0].get_conds_with_caching.original, ConditioningHook)


def test_the_image_at_the_hosts_skip_leaves_the_detail_pass_alone(script):
    ad = AfterDetailerScript()
    p, _ = txt2img([script, ad], [False])
    assert not isinstance(ad.inner[0].get_conds_with_caching, ConditioningHook)
    assert passes.ADETAILER_KEY not in p.extra_generation_params


# ---- Dynamic Prompts ---------------------------------------------------------------------------------------


def test_variants_of_directives_give_each_image_its_skip(script):
    p, record = txt2img(
        [script, DynamicPromptsScript()],
        [False],
        prompt="{<clipskip:1>|<clipskip:2>} a cat",
        negative_prompt="x",
    )
    assert p.all_prompts == ["<clipskip:1> a cat", "<clipskip:2> a cat"]
    c, uc = record["first"][0][0]
    at = {
        n: processing.process_images(
            processing.StableDiffusionProcessingTxt2Img(
                prompt=[" a cat", " a cat"],
                negative_prompt=["x", "x"],
                batch_size=2,
                steps=4,
                override_settings={"CLIP_stop_at_last_layers": n},
            )
        )["first"][0][0]
        for n in (1, 2)
    }
    assert same(c[0], at[1][0][0])
    assert same(c[1], at[2][0][1])
    assert same(uc[0], at[1][1][0])
    assert same(uc[1], at[2][1][1])
    assert [i["Clip skip source"] for i in record["infotexts"]] == ["prompt", "prompt"]


def test_a_variant_without_a_directive_is_named_per_image(script):
    _, record = txt2img([script, DynamicPromptsScript()], [True, "2"], prompt="{<clipskip:3>|} a cat")
    assert [i["Clip skip source"] for i in record["infotexts"]] == [
        "prompt",
        "panel",
    ]  # the negative follows the directive


def test_a_rewrite_that_removes_every_directive_removes_the_hook(script):
    class Rewrite(DynamicPromptsScript):
        def process(self, p, *args):
            p.all_prompts = ["a cat"] * len(p.all_prompts)

    p, record = txt2img([script, Rewrite()], [False], prompt="a cat <clipskip:2>")
    assert not isinstance(p.get_conds_with_caching, ConditioningHook)
    assert "Clip skip source" not in record["infotexts"][0]


# ---- Regional Prompter: the same p processed again, and per-batch cache resets ----------------------------


def test_processing_the_same_p_twice_does_not_stack_hooks(script):
    p = processing.StableDiffusionProcessingTxt2Img(script_args=[True, "2"], scripts=[script], **PROMPTS)
    processing.process_images(p)
    processing.process_images(p)  # Regional Prompter's rps.py:154-169
    assert isinstance(p.get_conds_with_caching, ConditioningHook)
    assert not isinstance(p.get_conds_with_caching.original, ConditioningHook)


def test_a_new_host_cache_list_is_a_cache_miss(script, sd1_model):
    """Regional Prompter gives each batch new cache lists (rp.py:1286-1290) because its regional LoRA
    weights are not in the host's cache key: a cached encode must not survive that."""
    shared.opts.data["persistent_cond_cache"] = True
    txt2img([script], [True, "2"])
    encodes = len(sd1_model.encodes)
    txt2img([script], [True, "2"])
    assert len(sd1_model.encodes) == encodes  # same host cache list: served from the cache
    processing.StableDiffusionProcessing.cached_c = [None, None]
    processing.StableDiffusionProcessing.cached_uc = [None, None]
    txt2img([script], [True, "2"])
    assert len(sd1_model.encodes) > encodes
