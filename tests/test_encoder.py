"""Layer selection against the hosts' formulas, computed the long way on real CLIPTextModels.

The models are built from configs with random weights (no downloads). "The long way" is what the
host does: one full forward with ``output_hidden_states`` and the host's indexing, quoted at each
formula. Equality is exact (``torch.equal``), not approximate.
"""

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel

from clip_skip_ext.conventions import ConventionError, Layer
from clip_skip_ext.encoder import encode_skips, hidden_states, select_layers

CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4}
# CLIP-G's 32 blocks at a tiny width: deep enough for every SDXL value.
TINY_G = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 32, "num_attention_heads": 4}


def build(shape, seed=0):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        **shape,
    )
    return CLIPTextModel(config).eval()


def tokens(batch=2, words=20, seed=1):
    """BOS, some words, then EOS padding to 77, as A1111 pads SD1 prompts."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((batch, 77), 49407)
    ids[:, 0] = 49406
    ids[:, 1 : 1 + words] = torch.randint(0, 49406, (batch, words), generator=generator)
    return ids


def final_norm(model):
    return getattr(model, "text_model", model).final_layer_norm


@pytest.fixture(scope="module")
def clip_l():
    return build(CLIP_L)


@pytest.fixture(scope="module")
def tiny():
    return build(TINY)


@pytest.fixture(scope="module")
def tiny_g():
    return build(TINY_G, seed=2)


def full(model, ids):
    return model(input_ids=ids, output_hidden_states=True)


def a1111_sd1(model, out, n):
    # A1111 modules/sd_hijack_clip.py:351-360 (and reForge forge_clip.py:16-35)
    return out.last_hidden_state if n == 1 else final_norm(model)(out.hidden_states[-n])


def forge_sd1(model, out, n):
    # Forge backend/text_processing/classic_engine.py:135-139, minimal_clip_skip=1, final LN on
    return final_norm(model)(out.hidden_states[-max(n, 1)])


def a1111_sdxl_clip_l(model, out, n):
    # A1111 sd_hijack_clip.py:374-384 with opts.sdxl_clip_l_skip: hidden_states[-N], no LN
    return out.hidden_states[-n]


def forge_sdxl(model, out, n):
    # Forge classic_engine.py:135 with sdxl.py minimal_clip_skip=2, final_layer_norm=False
    return out.hidden_states[-max(n, 2)]


CASES = [
    ("a1111", "sd1", 0, a1111_sd1),
    ("reforge", "sd1", 0, a1111_sd1),
    ("forge", "sd1", 0, forge_sd1),
    ("a1111", "sdxl", 0, a1111_sdxl_clip_l),
    ("forge", "sdxl", 0, forge_sdxl),
    ("reforge", "sdxl", 0, forge_sdxl),
]


@pytest.mark.parametrize(("host", "family", "encoder", "formula"), CASES)
@pytest.mark.parametrize("model_name", ["clip_l", "tiny"])
@torch.no_grad()
def test_every_value_matches_the_host_bit_for_bit(request, model_name, host, family, encoder, formula):
    model = request.getfixturevalue(model_name)
    ids = tokens()
    out = full(model, ids)
    layers = model.config.num_hidden_layers
    for n in range(1, layers + 2):
        [ours] = encode_skips(model, ids, [n], family, host, encoder)
        assert torch.equal(ours, formula(model, out, n)), (host, family, n)


@torch.no_grad()
def test_sdxl_clip_g_on_forge(tiny_g):
    ids = tokens()
    out = full(tiny_g, ids)
    for n in range(1, 14):
        [ours] = encode_skips(tiny_g, ids, [n], "sdxl", "forge", encoder=1)
        assert torch.equal(ours, forge_sdxl(tiny_g, out, n))
    # A1111 never moves CLIP-G: every value gives the native penultimate layer.
    for n in (1, 2, 7):
        [ours] = encode_skips(tiny_g, ids, [n], "sdxl", "a1111", encoder=1)
        assert torch.equal(ours, out.hidden_states[-2])


class Calls:
    """Counts forwards of the model and of each transformer block."""

    def __init__(self, model):
        self.model = self.blocks = 0
        inner = getattr(model, "text_model", model)
        self.handles = [model.register_forward_hook(self._model)]
        self.handles += [block.register_forward_hook(self._block) for block in inner.encoder.layers]

    def _model(self, *_):
        self.model += 1

    def _block(self, *_):
        self.blocks += 1

    def close(self):
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def test_many_skips_from_one_truncated_pass(clip_l):
    ids = tokens()
    out = full(clip_l, ids)
    calls = Calls(clip_l)
    try:
        got = encode_skips(clip_l, ids, [2, 4, 3, 1.5, 2], "sd1", "a1111")
    finally:
        calls.close()
    assert calls.model == 1
    assert calls.blocks == 12  # skip 1 (half of 1.5) needs the last block
    expected = [a1111_sd1(clip_l, out, n) for n in (2, 4, 3)]
    assert all(torch.equal(a, b) for a, b in zip(got[:3], expected))
    assert torch.equal(got[3], torch.lerp(a1111_sd1(clip_l, out, 1), a1111_sd1(clip_l, out, 2), 0.5))
    assert torch.equal(got[4], got[0])


@pytest.mark.parametrize(("skips", "blocks"), [([2], 11), ([3], 10), ([4, 3], 10), ([12], 1), ([13], 1)])
@torch.no_grad()
def test_forward_stops_after_the_deepest_needed_block(clip_l, skips, blocks):
    calls = Calls(clip_l)
    try:
        encode_skips(clip_l, tokens(), skips, "sd1", "a1111")
    finally:
        calls.close()
    assert calls.blocks == blocks


@torch.no_grad()
def test_fractional_is_a_linear_blend_of_neighbours(tiny):
    ids = tokens()
    out = full(tiny, ids)
    for value, low, weight in [(1.5, 1, 0.5), (2.25, 2, 0.25), (3.75, 3, 0.75)]:
        [ours] = encode_skips(tiny, ids, [value], "sd1", "a1111")
        a, b = a1111_sd1(tiny, out, low), a1111_sd1(tiny, out, low + 1)
        assert torch.equal(ours, torch.lerp(a, b, weight))
        assert torch.allclose(ours, (1 - weight) * a + weight * b, atol=1e-6)
    # On Forge SDXL 1 and 2 are the same layer, so 1.5 is that layer exactly.
    [ours] = encode_skips(tiny, ids, [1.5], "sdxl", "forge")
    assert torch.equal(ours, out.hidden_states[-2])


@pytest.mark.parametrize("model_name", ["clip_l", "tiny"])
@torch.no_grad()
def test_truncated_forward_equals_full_forward(request, model_name):
    model = request.getfixturevalue(model_name)
    ids = tokens(batch=3)
    reference = full(model, ids).hidden_states
    for depth in range(model.config.num_hidden_layers + 1):
        states = hidden_states(model, ids, depth)
        assert len(states) == depth + 1
        assert all(torch.equal(a, b) for a, b in zip(states, reference))


@torch.no_grad()
def test_model_is_restored_after_an_error(tiny):
    inner = getattr(tiny, "text_model", tiny)
    blocks = inner.encoder.layers

    def explode(*_):
        raise RuntimeError("boom")

    handle = blocks[0].register_forward_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            encode_skips(tiny, tokens(), [3], "sd1", "a1111")
    finally:
        handle.remove()
    assert inner.encoder.layers is blocks
    assert len(blocks) == 4
    [after] = encode_skips(tiny, tokens(), [1], "sd1", "a1111")
    assert torch.equal(after, full(tiny, tokens()).last_hidden_state)


def test_bad_requests_are_rejected(tiny):
    with pytest.raises(ValueError, match=r"outside this 4-block encoder \(from_end 1..5\)"):
        select_layers(tiny, tokens(), [Layer(6, True)])
    with pytest.raises(ConventionError, match="accepted: 1 to 13"):
        encode_skips(tiny, tokens(), [14], "sd1", "a1111")
    with pytest.raises(TypeError, match="is not a Hugging Face CLIP text model"):
        select_layers(torch.nn.Linear(2, 2), tokens(), [Layer(1, True)])
    with pytest.raises(ValueError, match=r"depth 5 is outside 0\.\.4"):
        hidden_states(tiny, tokens(), 5)
    assert select_layers(tiny, tokens(), []) == []


@torch.no_grad()
def test_a_truncated_sd2_encoder_counts_from_the_reference_end():
    # Forge and diffusers ship OpenCLIP-H with 23 of its 24 blocks; Forge's value N is
    # hidden_states[-N] of that model + final LN (classic_engine.py:135-139, sd20.py).
    shape = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 23, "num_attention_heads": 4}
    model = build(shape, seed=3)
    ids = tokens()
    out = full(model, ids)
    for n in range(1, 25):
        [ours] = encode_skips(model, ids, [n], "sd2", "forge", reference_layers=24)
        assert torch.equal(ours, forge_sd1(model, out, n)), n
    # The model's last block is the reference's penultimate: A1111's fixed SD2 layer.
    [native] = encode_skips(model, ids, [5], "sd2", "a1111", reference_layers=24)
    assert torch.equal(native, out.last_hidden_state)
    with pytest.raises(ValueError, match=r"outside this 23-block encoder \(from_end 2..25\)"):
        select_layers(model, ids, [Layer(1, True)], reference_layers=24)


@torch.no_grad()
def test_a_first_forward_that_is_truncated_leaves_later_full_forwards_intact():
    # transformers 5 hooks the blocks present at a model's first forward (output_capturing.py)
    model = build(TINY, seed=7)
    ids = tokens()
    hidden_states(model, ids, 2)
    assert len(full(model, ids).hidden_states) == 5


def hook_counts(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


def test_after_the_host_ran_with_hidden_states_no_extra_hooks_and_the_hosts_layer_stays_put():
    # transformers 5.2-5.5 hooks the inner text model at its first output_hidden_states forward; a
    # second set on the outer model doubled every later forward's hidden states (issue 16: 25 for 13,
    # and diffusers' clip_skip=1 then read the last layer)
    model = build(TINY, seed=8)
    ids = tokens()
    with torch.no_grad():
        before = full(model, ids).hidden_states
        hooks = hook_counts(model)
        ours = select_layers(model, ids, [Layer(2, True), Layer(4, False)])
        after = full(model, ids).hidden_states
    assert hook_counts(model) == hooks
    assert len(after) == len(before) == TINY["num_hidden_layers"] + 1
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert torch.equal(ours[1], before[-4])


def test_a_first_forward_of_ours_then_the_hosts_hook_each_block_once():
    model = build(TINY, seed=9)
    ids = tokens()
    with torch.no_grad():
        select_layers(model, ids, [Layer(3, False)])
        hooks = hook_counts(model)
        states = full(model, ids).hidden_states
        assert hook_counts(model) == hooks  # the host's forward added none: ours were its own
        assert len(states) == TINY["num_hidden_layers"] + 1
        assert len(full(model, ids).hidden_states) == len(states)
