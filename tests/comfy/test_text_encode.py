"""CLIP Text Encode (Clip Skip Control) against the fake ComfyUI: parity, numbering, schedules, blends."""

import math

import nodes
import pytest
import torch
from comfy import samplers

from clip_skip_ext.comfy.errors import ClipSkipNodeError
from clip_skip_ext.comfy.text_encode import ClipSkipTextEncode
from clip_skip_ext.encoder import text_transformer

COMFY, A1111 = "ComfyUI (-N)", "A1111 (N)"
PROMPT = "a photo of a (red:1.3) cat on a wooden chair"


def stock(clip, text, layer):
    """ComfyUI's own path: CLIPSetLastLayer(layer) then CLIPTextEncode."""
    (layered,) = nodes.CLIPSetLastLayer().set_last_layer(clip, layer)
    return nodes.CLIPTextEncode().encode(layered, text)[0]


def ours(clip, text=PROMPT, skip="", numbering=COMFY, **optional):
    return ClipSkipTextEncode().encode(clip, text, skip, numbering, **optional)


def same(a, b):
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0])
        and x[1].keys() == y[1].keys()
        and all(torch.equal(v, y[1][k]) if torch.is_tensor(v) else v == y[1][k] for k, v in x[1].items())
        for x, y in zip(a, b)
    )


@pytest.mark.parametrize("layer", [-1, -2, -5, -12])
def test_a_constant_is_bit_identical_to_clipsetlastlayer_then_cliptextencode_sd1(sd1, layer):
    assert same(ours(sd1, skip=str(layer))[0], stock(sd1, PROMPT, layer))
    assert same(ours(sd1, skip=str(-layer))[0], stock(sd1, PROMPT, layer))  # 2 and -2 alike


@pytest.mark.parametrize("layer", [-1, -2, -3, -8])
def test_a_constant_is_bit_identical_on_sdxl(sdxl, layer):
    assert same(ours(sdxl, skip=str(layer))[0], stock(sdxl, PROMPT, layer))


def test_layers_differ_so_parity_is_not_vacuous(sd1, sdxl):
    for clip in (sd1, sdxl):
        assert not torch.equal(stock(clip, PROMPT, -1)[0][0], stock(clip, PROMPT, -2)[0][0])


def test_empty_skip_encodes_as_the_incoming_clip_is_set(sd1):
    (layered,) = nodes.CLIPSetLastLayer().set_last_layer(sd1, -3)
    conditioning, info = ours(layered)
    assert same(conditioning, stock(sd1, PROMPT, -3))
    assert "incoming CLIP" in info


def test_a1111_numbering_on_sd1_is_a1111s_own_layer_choice(sd1, hf_l):
    """A1111 Clip skip N on SD1: final_layer_norm(hidden_states[-N]) of the HF model (sd_hijack_clip.py
    :351-360), computed here by transformers on the same weights."""
    text = "a photo of a cat"
    ids = torch.tensor([[t for t, _ in sd1.tokenize(text)["l"][0]]])
    with torch.no_grad():
        states = hf_l(input_ids=ids, output_hidden_states=True).hidden_states
        for n in (1, 2, 4):
            expected = text_transformer(hf_l).final_layer_norm(states[-n])
            got = ours(sd1, text=text, skip=str(n), numbering=A1111)[0][0][0]
            assert torch.allclose(got, expected, atol=1e-5)
            assert not torch.allclose(got, text_transformer(hf_l).final_layer_norm(states[-n - 1]), atol=1e-3)


def test_a1111_value_without_comfy_equivalent_is_an_error_that_says_why(sdxl):
    # A1111 SDXL moves CLIP-L only; ComfyUI moves both encoders: no ComfyUI value does the same
    with pytest.raises(
        ClipSkipNodeError, match=r"A1111 3 has no ComfyUI equivalent on SDXL .*CLIP-G stays native"
    ):
        ours(sdxl, skip="3", numbering=A1111)
    assert same(ours(sdxl, skip="2", numbering=A1111)[0], stock(sdxl, PROMPT, -2))  # native ≡ native


def test_out_of_range_value_names_the_range(sd1):
    with pytest.raises(ClipSkipNodeError, match="accepted: 1 to 13"):
        ours(sd1, skip="14", numbering=A1111)


def test_directive_wins_and_is_removed_before_encoding(sd1):
    conditioning, info = ours(sd1, text=PROMPT + " <clipskip:-3>", skip="1")
    assert same(conditioning, stock(sd1, PROMPT + " ", -3))
    assert "from the prompt" in info


def test_directive_in_a1111_numbering(sd1):
    assert same(ours(sd1, text="a cat <clipskip:2>", numbering=A1111)[0], stock(sd1, "a cat ", -2))


def test_fractional_value_is_one_lerp_of_the_neighbours(sd1):
    low, high = stock(sd1, PROMPT, -1)[0], stock(sd1, PROMPT, -2)[0]
    blended = ours(sd1, skip="1.25")[0][0]
    assert torch.equal(blended[0], torch.lerp(low[0], high[0], 0.25))
    assert torch.equal(
        blended[1]["pooled_output"], torch.lerp(low[1]["pooled_output"], high[1]["pooled_output"], 0.25)
    )


def test_schedule_without_steps_uses_its_fractions_as_timestep_percents(sd1):
    conditioning, info = ours(sd1, skip="2@40%, 1")
    assert [(c[1]["start_percent"], c[1]["end_percent"]) for c in conditioning] == [(0.0, 0.4), (0.4, 1.0)]
    assert same(
        [[conditioning[0][0], {"pooled_output": conditioning[0][1]["pooled_output"]}]], stock(sd1, PROMPT, -2)
    )
    assert torch.equal(conditioning[1][0], stock(sd1, PROMPT, -1)[0][0])
    assert "timesteps 0%-40%: -2" in info


def test_schedule_with_step_numbers_needs_steps(sd1):
    with pytest.raises(ClipSkipNodeError, match="switches at step 3: give the node its sampler's steps"):
        ours(sd1, skip="2@3, 1")


@pytest.mark.parametrize(
    ("scheduler", "sampler", "steps", "denoise"),
    [
        ("normal", "euler", 4, 1.0),
        ("simple", "euler", 10, 1.0),
        ("karras", "euler", 9, 1.0),
        ("normal", "dpm_2", 7, 1.0),
        ("karras", "euler", 6, 0.5),
    ],
)
def test_each_switch_falls_exactly_after_its_step(sd1, model, scheduler, sampler, steps, denoise):
    spec = "3@25%, 2@50%, 1"
    conditioning, info = ours(
        sd1, skip=spec, model=model, steps=steps, sampler_name=sampler, scheduler=scheduler, denoise=denoise
    )
    sigmas = samplers.KSampler(model, steps, "cpu", sampler, scheduler, denoise).sigmas
    conds = [c[1] for c in conditioning]
    samplers.calculate_start_end_timesteps(model, conds)  # what KSampler does with the percents
    expected_steps = [v for v in _per_step(spec, steps)]
    layers = {3: stock(sd1, PROMPT, -3), 2: stock(sd1, PROMPT, -2), 1: stock(sd1, PROMPT, -1)}
    for step in range(steps):  # step i + 1 calls the model at sigmas[i]
        kept = samplers.conds_at(conds, float(sigmas[step]))
        assert len(kept) == 1, (step, kept)
        assert torch.equal(conditioning[kept[0]][0], layers[expected_steps[step]][0][0])
    assert info.startswith("SD1, from the skip field: step")
    assert "-3 (CLIP-L layer 10 of 12" in info
    switch = float(info.split("until sigma ")[1].split(")")[0])  # the first switch, as the node says
    first_end = _per_step(spec, steps).count(3)
    assert float(sigmas[first_end]) < switch < float(sigmas[first_end - 1])


def _per_step(spec, steps):
    from clip_skip_ext.schedule import parse

    return [int(v) for v in parse(spec).values(steps)]


def test_without_the_sampler_the_fractions_are_timestep_percents_and_miss_the_step(sd1, model):
    """ComfyUI's percents are of the timesteps: with karras sigmas, 50% of the steps is not percent 0.5,
    which is why the node takes the KSampler's model, steps and scheduler."""
    exact = ours(sd1, skip="2@25%, 1", model=model, steps=20, scheduler="karras", sampler_name="euler")[0]
    plain = ours(sd1, skip="2@25%, 1")[0]
    assert plain[0][1]["end_percent"] == 0.25
    assert not math.isclose(exact[0][1]["end_percent"], 0.25, abs_tol=0.02)
    sigmas = samplers.KSampler(model, 20, "cpu", "euler", "karras").sigmas
    conds = [c[1] for c in plain]
    samplers.calculate_start_end_timesteps(model, conds)
    first_segment = [s for s in range(20) if samplers.conds_at(conds, float(sigmas[s])) == [0]]
    assert len(first_segment) != 5  # the fraction alone switches after another step than 5


def test_one_encoder_pass_for_a_schedule_of_three_skips(sd1, monkeypatch):
    from clip_skip_ext.comfy import memo

    passes = []
    original = memo.one_pass

    def counting(model):
        manager = original(model)
        wrappers = manager.__enter__()
        passes.append(wrappers)

        class Context:
            def __enter__(self):
                return wrappers

            def __exit__(self, *exc):
                return manager.__exit__(*exc)

        return Context()

    monkeypatch.setattr(memo, "one_pass", counting)
    conditioning, _ = ours(sd1, skip="3@33%, 2@66%, 1")
    assert [w.forwards for w in passes[0]] == [1]
    plain = [stock(sd1, PROMPT, -k)[0][0] for k in (3, 2, 1)]
    assert all(torch.equal(c[0], p) for c, p in zip(conditioning, plain))  # bit-identical to 3 passes
    encoder = sd1.cond_stage_model.clip_l.transformer.text_model.encoder
    assert "forward" not in encoder.__dict__  # restored


def test_sdxl_schedule_runs_each_encoder_once(sdxl):
    from clip_skip_ext.comfy import memo

    with memo.one_pass(sdxl.cond_stage_model) as wrappers:
        for k in (1, 2, 3):
            stock(sdxl, PROMPT, -k)
    assert [w.forwards for w in wrappers] == [1, 1]
    assert all(
        torch.equal(a[0][0], b[0][0])
        for a, b in ((stock(sdxl, PROMPT, -k), stock(sdxl, PROMPT, -k)) for k in (1, 3))
    )


def test_validation_names_the_field_value_and_what_is_accepted():
    check = ClipSkipTextEncode.VALIDATE_INPUTS
    assert check(skip="2@40%, 1", numbering=COMFY, text="a cat") is True
    assert check(skip=None, numbering=None, text=None) is True  # linked inputs are checked at run time
    message = check(skip="2@@1", numbering=COMFY, text="a cat")
    assert message.startswith("skip: clip skip schedule '2@@1': unexpected '@' at character 3")
    assert "expected a step number" in message
    assert "unexpected '-'" in check(skip="-2", numbering=A1111, text="")
    assert "<clipskip:x>" in check(skip="", numbering=COMFY, text="a <clipskip:x>")
    assert "is not one of" in check(skip="", numbering="Forge", text="")


def test_no_effect_family_encodes_as_the_host_and_says_why(sd1):
    class FluxClipModel(torch.nn.Module):
        pass

    class Flux_(FluxClipModel):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def reset_clip_options(self):
            self.inner.reset_clip_options()

        def set_clip_options(self, options):
            self.inner.set_clip_options(options)

        def encode_token_weights(self, pairs):
            return self.inner.encode_token_weights(pairs)

    flux = sd1.clone()
    flux.cond_stage_model = Flux_(sd1.cond_stage_model)
    conditioning, info = ours(flux, skip="2")
    assert same(conditioning, nodes.CLIPTextEncode().encode(sd1, PROMPT)[0])
    assert info.startswith("Flux reads T5 and CLIP-L's pooled output only")


def test_the_memo_never_answers_another_prompt(sd1):
    from clip_skip_ext.comfy import memo

    with memo.one_pass(sd1.cond_stage_model) as wrappers:
        cat, dog = stock(sd1, "a cat", -2), stock(sd1, "a dog", -2)
    assert wrappers[0].forwards == 2
    assert same(cat, stock(sd1, "a cat", -2))
    assert same(dog, stock(sd1, "a dog", -2))
    assert not torch.equal(cat[0][0], dog[0][0])
