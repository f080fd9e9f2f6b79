"""Clip Skip from checkpoint, Save Clip Skip default and Clip Skip Auto against the fake ComfyUI."""

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from clip_skip_ext.comfy.auto import ClipSkipAuto
from clip_skip_ext.comfy.checkpoint import ClipSkipFromCheckpoint, SaveClipSkipDefault, overrides_path
from clip_skip_ext.comfy.errors import ClipSkipNodeError

TAGS = "masterpiece, best quality, 1girl, solo, long hair, looking at viewer"


def checkpoint(folder, name, family_key="cond_stage_model.transformer.text_model.x", **metadata):
    path = folder / name
    save_file({family_key: torch.zeros(1)}, str(path), metadata=metadata or None)
    return path


def test_header_value_in_a1111_numbering_comes_out_in_comfy_numbering(comfy_folders):
    checkpoint(comfy_folders, "anime.safetensors", **{"modelspec.encoder_layer": "2"})
    layer, text, why = ClipSkipFromCheckpoint().recommend("anime.safetensors")
    assert (layer, text) == (-2, "-2")
    assert why.startswith("anime.safetensors (SD1): -2 from safetensors header")
    assert "written as 2 in A1111 numbering" in why
    assert "confidence" in why


def test_unknown_default_is_the_native_layer_and_says_so(comfy_folders):
    checkpoint(comfy_folders, "plain.safetensors")
    checkpoint(comfy_folders, "xl.safetensors", family_key="conditioner.embedders.1.model.x")
    assert ClipSkipFromCheckpoint().recommend("plain.safetensors")[:2] == (-1, "-1")
    layer, text, why = ClipSkipFromCheckpoint().recommend("xl.safetensors")
    assert (layer, text) == (-2, "-2")  # SDXL's native penultimate, not ComfyUI's default -1
    assert "no known default: the model's native layer" in why


def test_sidecar_and_civitai_info_are_read(comfy_folders):
    checkpoint(comfy_folders, "side.safetensors")
    (comfy_folders / "side.json").write_text(json.dumps({"clip skip": 3}))
    assert ClipSkipFromCheckpoint().recommend("side.safetensors")[0] == -3
    checkpoint(comfy_folders, "civ.safetensors")
    images = [{"meta": {"Clip skip": 2}}] * 3 + [{"meta": {"Clip skip": 1}}]
    (comfy_folders / "civ.civitai.info").write_text(json.dumps({"images": images, "baseModel": "SD 1.5"}))
    layer, _, why = ClipSkipFromCheckpoint().recommend("civ.safetensors")
    assert layer == -2
    assert "civitai" in why.lower()


def test_saved_default_wins_is_stored_in_the_user_folder_and_is_forgotten(comfy_folders):
    checkpoint(comfy_folders, "anime.safetensors", **{"modelspec.encoder_layer": "2"})
    saver = SaveClipSkipDefault()
    message = saver.save("anime.safetensors", "-4", "save")["result"][0]
    assert message == "Saved -4 (ComfyUI numbering) for anime.safetensors"
    assert os.path.isfile(overrides_path())
    assert overrides_path().startswith(str(comfy_folders.parents[1] / "user" / "default"))
    layer, _, why = ClipSkipFromCheckpoint().recommend("anime.safetensors")
    assert layer == -4
    assert "user override" in why
    assert "Forgot" in saver.save("anime.safetensors", "", "forget")["result"][0]
    assert ClipSkipFromCheckpoint().recommend("anime.safetensors")[0] == -2


def test_is_changed_follows_the_files(comfy_folders):
    checkpoint(comfy_folders, "a.safetensors")
    before = ClipSkipFromCheckpoint.IS_CHANGED("a.safetensors")
    SaveClipSkipDefault().save("a.safetensors", "3", "save")
    assert ClipSkipFromCheckpoint.IS_CHANGED("a.safetensors") != before


def test_validation_of_checkpoint_nodes(comfy_folders):
    checkpoint(comfy_folders, "a.safetensors")
    assert ClipSkipFromCheckpoint.VALIDATE_INPUTS(ckpt_name="a.safetensors") is True
    assert "is not one of ComfyUI's checkpoints" in ClipSkipFromCheckpoint.VALIDATE_INPUTS(
        ckpt_name="b.safetensors"
    )
    check = SaveClipSkipDefault.VALIDATE_INPUTS
    assert check(ckpt_name="a.safetensors", value="-2", action="save") is True
    assert "not a schedule" in check(ckpt_name="a.safetensors", value="2@50%, 1", action="save")
    assert "unexpected 'x'" in check(ckpt_name="a.safetensors", value="x", action="save")
    assert check(ckpt_name="a.safetensors", value="x", action="forget") is True
    assert "is not one of save, forget" in check(ckpt_name="a.safetensors", value="2", action="drop")


def test_save_out_of_range_is_a_clear_error(comfy_folders):
    checkpoint(comfy_folders, "a.safetensors")
    with pytest.raises(
        ClipSkipNodeError, match=r"a.safetensors: .*skip value 24.5 is not allowed.*from 1 to 24"
    ):
        SaveClipSkipDefault().save("a.safetensors", "-24.5", "save")


def test_auto_picks_from_the_prompt_style_in_comfy_numbering():
    layer, skip, reasons = ClipSkipAuto().choose(TAGS, "sd1")
    assert (layer, skip) == (-2, "-2")
    assert reasons.startswith("Auto: tags (1.00) -> 2 [sd1 tags: 2]")
    assert "A1111 numbering" in reasons  # the shipped policy is written in A1111 numbering
    prose = "a photograph of an old fisherman mending his nets on a quiet harbour at dawn"
    assert ClipSkipAuto().choose(prose, "sd1")[:2] == (-1, "-1")


def test_auto_uses_the_checkpoint_default_and_a_custom_policy():
    assert ClipSkipAuto().choose("", "sdxl", checkpoint_default="-2")[:2] == (-2, "-2")
    policy = "numbering: comfyui\nsd1 tags: 3"
    layer, _, reasons = ClipSkipAuto().choose(TAGS, "sd1", policy=policy)
    assert layer == -3
    assert "policy rule 'sd1 tags: 3' (ComfyUI numbering)" in reasons


def test_auto_validation_names_the_policy_line():
    check = ClipSkipAuto.VALIDATE_INPUTS
    assert check(family="sd1", policy="", checkpoint_default="") is True
    assert "line 1" in check(family="sd1", policy="sd1 tags two", checkpoint_default="")
    assert "is not one of" in check(family="flux", policy="", checkpoint_default="")
    assert "not a schedule" in check(family="sd1", policy="", checkpoint_default="2@3, 1")
