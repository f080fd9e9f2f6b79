"""Tier 2: the real nodes (clip_skip_ext.comfy) against tests/fake_comfy, a fake ComfyUI that mirrors
the API the nodes use (each module cites ComfyUI a125cd84 file:line), with the weights of random
``transformers`` CLIP text models loaded into ComfyUI's own transformer layout."""

import sys
from pathlib import Path

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fake_comfy"))

import folder_paths
from comfy import sd, sd1_clip, sdxl_clip
from comfy.model_patcher import ModelPatcher


def hf_clip(layers=6, width=32, seed=0):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        hidden_act="quick_gelu",
    )
    return CLIPTextModel(config).eval()


def _config(model):
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    config = {key: getattr(model.config, key) for key in keys}
    return {**config, "max_position_embeddings": 77, "eos_token_id": 49407}


def _load(encoder, model):
    # transformers 5 keeps the text model's keys at the top level, 4.x under "text_model."
    state = {
        (k if k.startswith("text_model.") else "text_model." + k): v for k, v in model.state_dict().items()
    }
    missing, _ = encoder.transformer.load_state_dict(state, strict=False)
    assert not missing, missing


def sd1_clip_from(model):
    cond_stage = sd1_clip.SD1ClipModel(_config(model))
    _load(cond_stage.clip_l, model)
    return sd.CLIP(cond_stage, sd1_clip.SD1Tokenizer())


def sdxl_clip_from(model_l, model_g):
    cond_stage = sdxl_clip.SDXLClipModel(_config(model_l), _config(model_g))
    _load(cond_stage.clip_l, model_l)
    _load(cond_stage.clip_g, model_g)
    return sd.CLIP(cond_stage, sdxl_clip.SDXLTokenizer())


@pytest.fixture(scope="session")
def hf_l():
    return hf_clip(layers=12, width=32, seed=1)


@pytest.fixture(scope="session")
def sd1(hf_l):
    return sd1_clip_from(hf_l)


@pytest.fixture(scope="session")
def sdxl(hf_l):
    return sdxl_clip_from(hf_l, hf_clip(layers=8, width=48, seed=2))


@pytest.fixture
def model():
    return ModelPatcher()


@pytest.fixture
def comfy_folders(tmp_path, monkeypatch):
    checkpoints = tmp_path / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (tmp_path / "user").mkdir()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "checkpoints", [str(checkpoints)])
    monkeypatch.setattr(folder_paths, "user_directory", str(tmp_path / "user"))
    return checkpoints
