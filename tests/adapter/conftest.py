"""Tier 2: the real adapter (clip_skip_ext.webui) against tests/fake_host/modules, a fake A1111
that mirrors, line by line, the host API the adapter uses, with a random-weight CLIPTextModel."""

import sys
from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fake_host"))

from modules import processing, sd_hijack_clip, shared


def tiny_clip(layers=6, seed=0):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModel(config).eval()


@pytest.fixture(scope="session")
def sd1_model():
    return sd_hijack_clip.FakeSD1(tiny_clip(layers=12))


@pytest.fixture(autouse=True)
def fresh_host(sd1_model):
    """Default options, the SD1 model, empty caches: every test starts from a fresh WebUI."""
    from clip_skip_ext.webui import hook

    shared.opts.data.clear()
    shared.sd_model = sd1_model
    sd1_model.encodes.clear()
    for cls in (processing.StableDiffusionProcessing, processing.StableDiffusionProcessingTxt2Img):
        for name in ("cached_c", "cached_uc", "cached_hr_c", "cached_hr_uc"):
            if name in cls.__dict__:
                setattr(cls, name, [None, None])
    hook.clear_cache()


@pytest.fixture
def make_clip():
    return tiny_clip


@pytest.fixture
def script():
    from clip_skip_ext.webui.script import Script

    return Script()


@pytest.fixture
def load(monkeypatch):
    """Put a Forge engine in place as Forge does after its lazy load; Forge's caches have three entries."""
    from backend.text_processing import classic_engine

    from clip_skip_ext.webui import host

    monkeypatch.setattr(host, "host_name", lambda: "forge")
    for name in ("cached_c", "cached_uc"):
        monkeypatch.setattr(processing.StableDiffusionProcessing, name, [None, None, None])
    monkeypatch.setattr(classic_engine, "last_extra_generation_params", {})

    def put(model):
        monkeypatch.setattr(shared, "sd_model", model)
        return model

    return put
