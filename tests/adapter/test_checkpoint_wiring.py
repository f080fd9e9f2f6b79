"""Checkpoint defaults in a generation: below the panel, above the host (DESIGN.md §1)."""

import json
from types import SimpleNamespace

import pytest
import torch
from modules import paths_internal, processing, sd_models, shared
from safetensors.torch import save_file

from clip_skip_ext.webui import checkpoint, lora

PROMPTS = {"prompt": "a photo of a cat", "negative_prompt": "blurry", "steps": 2}


@pytest.fixture
def known_default(tmp_path, monkeypatch, sd1_model):
    """The loaded SD1 checkpoint's header says clip skip 2 (modelspec.encoder_layer, kohya numbering)."""
    _plain_checkpoint(tmp_path, monkeypatch, sd1_model, "anime", {"modelspec.encoder_layer": "2"})
    lora.clear_cache()
    yield sd1_model.sd_checkpoint_info
    checkpoint.clear_cache()
    lora.clear_cache()


def run(script, args):
    p = processing.StableDiffusionProcessingTxt2Img(script_args=list(args), scripts=[script], **PROMPTS)
    return p, processing.process_images(p)["first"][0]


def host(skip):
    p = processing.StableDiffusionProcessingTxt2Img(
        override_settings={"CLIP_stop_at_last_layers": skip}, **PROMPTS
    )
    return processing.process_images(p)["first"][0]


def test_the_default_applies_with_the_panel_closed(script, known_default):
    p, ours = run(script, [False])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))
    assert p.extra_generation_params["Clip skip source"].startswith("checkpoint 2 (")
    assert "modelspec.encoder_layer" in p.extra_generation_params["Clip skip source"]


def test_a_panel_value_wins(script, known_default):
    p, ours = run(script, [True, "3"])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(3), strict=True))
    assert p.extra_generation_params["Clip skip source"] == "panel"


def test_the_setting_turns_it_off_but_the_mode_forces_it(script, known_default):
    shared.opts.data["clip_skip_checkpoint_defaults"] = False
    p, ours = run(script, [False])
    assert "Clip skip source" not in p.extra_generation_params
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(1), strict=True))
    p, ours = run(script, [True, "", "", "", "", "Checkpoint default"])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))


def test_auto_mode_sees_the_default_through_its_policy(script, known_default):
    shared.opts.data["clip_skip_policy"] = "sd1 prose: checkpoint or 1\n"
    p, ours = run(script, [True, "", "", "", "", "Auto"])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))
    assert p.extra_generation_params["Clip skip auto"] == ["prose -1.00 → 2"]


def test_save_and_forget_change_what_applies(script, known_default):
    assert "Saved 3" in checkpoint.save("3")
    _, ours = run(script, [False])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(3), strict=True))
    checkpoint.forget()
    _, ours = run(script, [False])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))


# ---- issue 14's sources in a generation -------------------------------------------------------------


def _plain_checkpoint(tmp_path, monkeypatch, sd1_model, name="plain", metadata=None):
    path = tmp_path / "models" / "Stable-diffusion" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.zeros(4)}
    save_file(tensors, str(path), metadata=metadata)
    monkeypatch.setattr(paths_internal, "data_path", str(tmp_path))
    monkeypatch.setattr(sd_models, "model_path", str(path.parent))
    monkeypatch.setattr(
        shared,
        "cmd_opts",
        SimpleNamespace(ckpt_dir=None, lora_dir=str(tmp_path), no_hashing=True),
        raising=False,
    )
    monkeypatch.setattr(sd1_model, "sd_checkpoint_info", sd_models.CheckpointInfo(str(path)))
    checkpoint.clear_cache()
    return path


def test_a_model_card_in_prose_applies_and_the_infotext_names_it(script, tmp_path, monkeypatch, sd1_model):
    path = _plain_checkpoint(tmp_path, monkeypatch, sd1_model)
    path.with_suffix(".civitai.info").write_text(
        json.dumps({"id": 1, "baseModel": "SD 1.5", "model": {"description": "<p>Clip skip: 2</p>"}}),
        encoding="utf-8",
    )
    p, ours = run(script, [False])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))
    assert p.extra_generation_params["Clip skip source"] == (
        "checkpoint 2 (description (plain.civitai.info model description))"
    )
    answer = checkpoint.route()
    assert [c["origin"] for c in answer["candidates"]] == ["description"]
    assert answer["confidence"] == 0.3


def test_your_images_count_only_with_the_setting_on(script, tmp_path, monkeypatch, sd1_model):
    Image = pytest.importorskip("PIL.Image")
    PngImagePlugin = pytest.importorskip("PIL.PngImagePlugin")
    _plain_checkpoint(tmp_path, monkeypatch, sd1_model)
    outputs = tmp_path / "outputs" / "txt2img-images"
    outputs.mkdir(parents=True)
    for index in range(4):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "a cat\nSteps: 20, Model hash: 0123456789, Model: plain, Clip skip: 2")
        Image.new("RGB", (4, 4)).save(outputs / f"{index}.png", pnginfo=info)
    monkeypatch.setitem(shared.opts.data, "outdir_txt2img_samples", str(outputs))
    monkeypatch.setitem(shared.opts.data, "outdir_img2img_samples", str(tmp_path / "none"))
    assert checkpoint.output_folders() == [str(outputs), str(tmp_path / "none")]
    p, _ = run(script, [False])
    assert "Clip skip source" not in p.extra_generation_params  # off by default: nothing known
    monkeypatch.setitem(shared.opts.data, checkpoint.HISTORY_KEY, True)
    p, ours = run(script, [False])
    assert all(torch.equal(c, h) for (c, _), (h, _) in zip(ours, host(2), strict=True))
    assert p.extra_generation_params["Clip skip source"] == (
        "checkpoint 2 (your images (4 of 4 with this checkpoint))"
    )
    assert (tmp_path / checkpoint.HISTORY_FILENAME).is_file()  # the index, beside the override file
    status = checkpoint.panel_status("sd1", "a1111")
    assert (
        status == "checkpoint default 2 from your images (4 of 4 with this checkpoint) for plain.safetensors"
    )
    monkeypatch.setitem(shared.opts.data, "outdir_samples", str(tmp_path / "elsewhere"))
    assert checkpoint.output_folders() == [str(tmp_path / "elsewhere")]  # it replaces the per-tab folders
    assert checkpoint.current("sd1", "a1111") is None
