"""Per-checkpoint defaults and LoRA training skips (clip_skip_ext.webui.checkpoint) on the fake A1111.

Real safetensors files are written under a temporary WebUI data folder; the checkpoint registry is
the fake ``modules.sd_models`` (A1111 ``sd_models.py:56-200``), the hash cache the fake
``modules.hashes`` (``hashes.py:22-67``), the Lora registry the fake ``networks`` module
(``extensions-builtin/Lora/networks.py:650-737``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from modules import cache, hashes, paths_internal, sd_models, shared
from safetensors.torch import save_file

from clip_skip_ext import atomic
from clip_skip_ext.metadata import database
from clip_skip_ext.schedule import Schedule
from clip_skip_ext.webui import checkpoint, defaults, lora

LORA_FOLDER = Path(__file__).resolve().parents[1] / "fake_host" / "extensions-builtin" / "Lora"
SD1 = ("cond_stage_model.transformer.text_model.final_layer_norm.weight",)
SDXL = (
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
    "conditioner.embedders.1.model.ln_final.weight",
)
SD1_LORA = ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",)
SHA = "ab" * 32


def write_model(path: Path, metadata: dict[str, str] | None = None, tensors=SD1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: torch.zeros(4) for name in tensors}, str(path), metadata=metadata)
    return path


def write_lora(folder: Path, name: str, metadata: dict[str, str]) -> Path:
    return write_model(folder / f"{name}.safetensors", metadata, SD1_LORA)


@pytest.fixture(autouse=True)
def webui(tmp_path, monkeypatch):
    """A WebUI data folder in tmp_path, empty registries and hash cache, no hashing allowed."""
    data = tmp_path / "webui"
    models = data / "models"
    (models / "Stable-diffusion").mkdir(parents=True)
    (models / "Lora").mkdir()
    monkeypatch.setattr(paths_internal, "data_path", str(data))
    monkeypatch.setattr(sd_models, "model_path", str(models / "Stable-diffusion"))
    monkeypatch.setattr(sd_models, "checkpoints_list", {})
    monkeypatch.setattr(sd_models, "checkpoint_aliases", {})
    monkeypatch.setattr(cache, "caches", {})
    options = SimpleNamespace(
        ckpt_dir=None,
        lora_dir=str(models / "Lora"),
        lyco_dir_backcompat=str(models / "LyCORIS"),
        no_hashing=False,
    )
    monkeypatch.setattr(shared, "cmd_opts", options, raising=False)
    monkeypatch.delitem(sys.modules, "networks", raising=False)
    hashes.calculated.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("a whole model file was hashed")

    for name in ("sha256_file", "sha256_and_addnet_hash", "addnet_hash"):
        monkeypatch.setattr(database, name, refuse)
    checkpoint.clear_cache()
    lora.clear_cache()
    checkpoint._WARNED.clear()
    yield SimpleNamespace(data=data, checkpoints=models / "Stable-diffusion", loras=models / "Lora")
    checkpoint.clear_cache()
    lora.clear_cache()
    assert hashes.calculated == []  # the host's own hashing was never triggered either


def load(path: Path, monkeypatch, family: str = "sd1") -> sd_models.CheckpointInfo:
    """Register ``path`` like list_models() (sd_models.py:171-175) and make it the loaded model."""
    info = sd_models.CheckpointInfo(str(path))
    info.register()
    flags = {"is_sd1": family == "sd1", "is_sd2": family == "sd2", "is_sdxl": family == "sdxl"}
    model = SimpleNamespace(**flags, sd_checkpoint_info=info)
    if family == "sdxl":
        model.conditioner = SimpleNamespace(embedders=[object(), object()])
    monkeypatch.setattr(shared, "sd_model", model)
    return info


def count_lookups(monkeypatch) -> list[str]:
    seen: list[str] = []
    original = checkpoint.lookup

    def counting(path, **kwargs):
        seen.append(os.fspath(path))
        return original(path, **kwargs)

    monkeypatch.setattr(checkpoint, "lookup", counting)
    return seen


# ---- current(): values and sources ------------------------------------------------------------------


def test_the_override_file_is_in_the_webui_data_dir_not_the_extension(webui):
    path = checkpoint.overrides_path()
    assert path == webui.data / "clip_skip_overrides.json"
    assert Path(checkpoint.__file__).resolve().parents[2] not in path.parents


def test_header_modelspec_value_with_its_source(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)
    known = checkpoint.current("sd1", "a1111")
    assert known is not None
    assert (known.value, known.original, known.convention) == (2.0, 2.0, "a1111")
    assert known.source == "safetensors header (modelspec.encoder_layer)"
    assert known.origin == "header"
    assert known.label == "2 (safetensors header (modelspec.encoder_layer))"
    assert known.summary == "checkpoint default 2 from safetensors header (modelspec.encoder_layer)"


def test_sidecar_beats_the_header(webui, monkeypatch):
    model = write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"})
    (webui.checkpoints / "model.json").write_text(json.dumps({"clip skip": 1}), encoding="utf-8")
    load(model, monkeypatch)
    known = checkpoint.current("sd1", "a1111")
    assert (known.value, known.source) == (1.0, "sidecar model.json")


def test_a_value_in_another_numbering_is_translated_to_the_host(webui, monkeypatch):
    model = write_model(webui.checkpoints / "xl.safetensors", tensors=SDXL)
    sidecar = {"clip skip": -2, "clip skip convention": "comfyui"}
    (webui.checkpoints / "xl.json").write_text(json.dumps(sidecar), encoding="utf-8")
    load(model, monkeypatch, family="sdxl")
    for host in ("a1111", "forge"):
        known = checkpoint.current("sdxl", host)
        assert (known.value, known.original, known.convention) == (2.0, -2.0, "comfyui")
        assert known.numbering == "-2 in ComfyUI numbering"


def test_curated_entries_have_a_short_source(webui, monkeypatch):
    load(write_model(webui.checkpoints / "2DN.safetensors", tensors=SDXL), monkeypatch, family="sdxl")
    known = checkpoint.current("sdxl", "a1111")
    assert known is not None
    assert known.source == "curated: AI Horde reference, 2DN"
    assert known.value == 2.0
    assert "2DN" in known.detail


def test_a_name_guess_is_never_applied(webui, monkeypatch):
    load(write_model(webui.checkpoints / "anything-v3.safetensors"), monkeypatch)
    assert checkpoint.current("sd1", "a1111") is None
    answer = checkpoint.route()
    assert answer["value"] is None
    assert answer["guess"]["source"] == "name heuristic"


def test_no_model_or_no_numbering_gives_none(webui, monkeypatch):
    monkeypatch.setattr(shared, "sd_model", SimpleNamespace(cond_stage_model=None))  # Forge FakeInitialModel
    assert checkpoint.current("sd1", "a1111") is None
    assert checkpoint.save("2").startswith("No checkpoint is loaded")
    load(write_model(webui.checkpoints / "m.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)
    assert checkpoint.current("sd3", "a1111") is None
    assert checkpoint.current(None, "a1111") is None


def test_the_model_is_read_without_triggering_a_load(webui, monkeypatch):
    """A1111's shared.sd_model loads the model on first access (shared_items.py:172-175); the
    module reads sd_models.model_data.sd_model (sd_models.py:664-701) when it exists."""
    info = load(
        write_model(webui.checkpoints / "m.safetensors", {"modelspec.encoder_layer": "3"}), monkeypatch
    )
    monkeypatch.setattr(shared, "sd_model", None)
    data = SimpleNamespace(sd_model=SimpleNamespace(is_sd1=True, sd_checkpoint_info=info))
    monkeypatch.setattr(sd_models, "model_data", data, raising=False)
    assert checkpoint.loaded_checkpoint() is info
    assert checkpoint.current("sd1", "a1111").value == 3.0


# ---- caching, hashing, errors ----------------------------------------------------------------------


def test_a_generation_does_not_read_the_files_again(webui, monkeypatch):
    model = write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"})
    load(model, monkeypatch)
    seen = count_lookups(monkeypatch)
    reads = []
    original = database.read_header
    monkeypatch.setattr(database, "read_header", lambda *a, **k: reads.append(a[0]) or original(*a, **k))
    for _ in range(5):
        assert checkpoint.current("sd1", "a1111").value == 2.0
    assert len(seen) == 1
    assert len(reads) == 1
    checkpoint.current("sd1", "forge")  # another host: its own entry
    assert len(seen) == 2


def test_the_cache_follows_the_files(webui, monkeypatch):
    model = write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"})
    load(model, monkeypatch)
    seen = count_lookups(monkeypatch)
    assert checkpoint.current("sd1", "a1111").value == 2.0
    sidecar = webui.checkpoints / "model.json"
    sidecar.write_text(json.dumps({"clip skip": 3}), encoding="utf-8")
    assert checkpoint.current("sd1", "a1111").value == 3.0
    assert checkpoint.current("sd1", "a1111").value == 3.0
    assert len(seen) == 2
    checkpoint.save("4")  # the override file changed
    assert checkpoint.current("sd1", "a1111").value == 4.0
    assert len(seen) == 3


def test_the_sha256_comes_from_the_hosts_cache_never_from_hashing(webui, monkeypatch):
    model = write_model(webui.checkpoints / "sub" / "model.safetensors", {"modelspec.encoder_layer": "2"})
    info = load(model, monkeypatch)
    assert info.name == "sub/model.safetensors"
    assert info.sha256 is None
    # cached after the CheckpointInfo was made (e.g. by another process): hashes.py:22-38
    cache.cache("hashes")["checkpoint/sub/model.safetensors"] = {
        "mtime": os.path.getmtime(model) + 1,
        "sha256": SHA,
    }
    assert checkpoint.save("3").startswith("Saved 3 as the default for model.safetensors")
    saved = json.loads(checkpoint.overrides_path().read_text(encoding="utf-8"))["overrides"]
    assert list(saved) == [f"sha256:{SHA}"]
    assert checkpoint.route()["sha256"] == SHA


def test_without_a_known_hash_the_override_is_keyed_by_file_name(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors"), monkeypatch)
    checkpoint.save("2")
    saved = json.loads(checkpoint.overrides_path().read_text(encoding="utf-8"))["overrides"]
    assert list(saved) == ["name:model.safetensors"]
    assert saved["name:model.safetensors"]["convention"] == "a1111"
    assert saved["name:model.safetensors"]["family"] == "sd1"


def test_unreadable_metadata_never_breaks_a_generation(webui, monkeypatch, caplog):
    broken = webui.checkpoints / "broken.safetensors"
    broken.write_bytes(b"\xff" * 64)
    load(broken, monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert checkpoint.current("sd1", "a1111") is None
        checkpoint.clear_cache()
        assert checkpoint.current("sd1", "a1111") is None
    warnings = [r for r in caplog.records if "broken.safetensors" in r.getMessage()]
    assert len(warnings) == 1  # logged once


def test_an_exception_in_the_lookup_is_logged_once_and_means_unknown(webui, monkeypatch, caplog):
    load(write_model(webui.checkpoints / "m.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)

    def explode(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(checkpoint, "lookup", explode)
    with caplog.at_level(logging.WARNING):
        assert checkpoint.current("sd1", "a1111") is None
        assert checkpoint.current("sd1", "a1111") is None
    assert sum("disk on fire" in r.getMessage() for r in caplog.records) == 1
    assert checkpoint.route()["status_code"] == 500


# ---- save / forget ---------------------------------------------------------------------------------


def test_save_and_forget_round_trip(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)
    message = checkpoint.save(" 3 ")
    assert message.startswith("Saved 3 as the default for model.safetensors (SD1: CLIP-L layer 10 of 12")
    known = checkpoint.current("sd1", "a1111")
    assert (known.value, known.source, known.origin) == (3.0, "user override", "override")
    assert checkpoint.save("1.5").startswith("Saved 1.5")
    assert checkpoint.current("sd1", "a1111").value == 1.5
    assert not list(webui.data.glob("*.tmp"))  # written to a temporary file, then moved (atomic)

    message = checkpoint.forget()
    assert message == (
        "Removed your saved default for model.safetensors; "
        "now: checkpoint default 2 from safetensors header (modelspec.encoder_layer)."
    )
    assert checkpoint.current("sd1", "a1111").source == "safetensors header (modelspec.encoder_layer)"
    assert checkpoint.forget() == "No saved default for model.safetensors."


def test_forget_removes_entries_by_hash_and_by_name(webui, monkeypatch):
    model = write_model(webui.checkpoints / "model.safetensors")
    load(model, monkeypatch)
    checkpoint.save("2")  # hash unknown: by name
    cache.cache("hashes")["checkpoint/model.safetensors"] = {
        "mtime": os.path.getmtime(model) + 1,
        "sha256": SHA,
    }
    checkpoint.save("3")  # hash known now: by sha256
    saved = json.loads(checkpoint.overrides_path().read_text(encoding="utf-8"))["overrides"]
    assert sorted(saved) == ["name:model.safetensors", f"sha256:{SHA}"]
    assert checkpoint.current("sd1", "a1111").value == 3.0
    assert checkpoint.forget().startswith(
        "Removed your saved default for model.safetensors; no other default"
    )
    assert json.loads(checkpoint.overrides_path().read_text(encoding="utf-8"))["overrides"] == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "Not saved: enter a clip skip value"),
        ("2@50%, 1", "Not saved: '2@50%, 1' is a schedule"),
        ("two", "Not saved: clip skip schedule 'two'"),
        ("14", "Not saved: clip skip 14 is out of range for A1111 on SD1"),
    ],
)
def test_save_refuses_what_is_not_one_valid_value(webui, monkeypatch, value, expected):
    load(write_model(webui.checkpoints / "model.safetensors"), monkeypatch)
    assert checkpoint.save(value).startswith(expected)
    assert not checkpoint.overrides_path().exists()


def test_a_failed_write_leaves_the_previous_file_whole(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors"), monkeypatch)
    checkpoint.save("2")
    before = checkpoint.overrides_path().read_bytes()

    def crash(source, target):
        raise OSError("no space left on device")

    monkeypatch.setattr(atomic, "_replace", crash)
    message = checkpoint.save("3")
    assert message.startswith("Not saved: could not save")
    assert "the previous file is unchanged" in message
    assert checkpoint.overrides_path().read_bytes() == before
    assert not list(webui.data.glob("*.tmp"))
    assert checkpoint.current("sd1", "a1111").value == 2.0


def test_save_says_when_applying_defaults_is_off(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors"), monkeypatch)
    shared.opts.data[checkpoint.APPLY_KEY] = False
    assert checkpoint.save("2").endswith("Applying checkpoint defaults is off in Settings.")
    assert defaults.job_default([""], "sd1", "a1111") is None
    assert "not applied: off in Settings" in checkpoint.panel_status("sd1", "a1111")


# ---- LoRAs -----------------------------------------------------------------------------------------

KOHYA_SD1 = {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"}


@pytest.fixture
def lora_registry(monkeypatch):
    """The fake Lora extension imported as ``networks``, as lora_script.py:7 does in A1111."""
    monkeypatch.syspath_prepend(str(LORA_FOLDER))
    sys.modules.pop("networks", None)
    module = importlib.import_module("networks")
    yield module
    sys.modules.pop("networks", None)


def test_lora_trained_at_another_skip_is_reported(webui, monkeypatch, lora_registry):
    write_lora(webui.loras, "detail", {**KOHYA_SD1, "ss_clip_skip": "1"})
    lora_registry.list_available_networks()
    prompts = ["a cat <lora:detail:0.8>, garden"]
    assert lora.notes(prompts, 2, "sd1", "a1111") == [
        "LoRA detail was trained at clip skip 1 (ss_clip_skip), this image uses 2"
    ]
    assert lora.notes(prompts, 1, "sd1", "a1111") == []
    assert lora.notes(prompts, None, "sd1", "a1111") == []
    assert lora.notes(["<lyco:detail:1>"], 2, "sd1", "forge") != []
    assert lora.notes(["<lora:detail:0>"], 2, "sd1", "a1111") == []  # weight 0: not applied
    assert lora.notes(["<lora:missing:1>"], 2, "sd1", "a1111") == []
    assert lora.skip(prompts, "sd1", "a1111") == (1.0, "LoRA detail (ss_clip_skip)")


def test_unknown_and_sdxl_loras_are_silent(webui, lora_registry):
    write_lora(webui.loras, "unset", {**KOHYA_SD1, "ss_clip_skip": "None"})
    write_lora(webui.loras, "xl", {"ss_base_model_version": "sdxl_base_v1-0", "ss_clip_skip": "2"})
    lora_registry.list_available_networks()
    for family in ("sd1", "sdxl"):
        assert lora.notes(["<lora:unset:1> <lora:xl:1>"], 1, family, "a1111") == []
        assert lora.skip(["<lora:unset:1> <lora:xl:1>"], family, "a1111") is None


def test_a_lora_of_another_family_is_not_compared(webui, lora_registry):
    write_lora(webui.loras, "detail", {**KOHYA_SD1, "ss_clip_skip": "1"})
    lora_registry.list_available_networks()
    assert lora.notes(["<lora:detail:1>"], 3, "sdxl", "a1111") == []


def test_aliases_resolve_through_the_hosts_registry(webui, lora_registry):
    write_lora(webui.loras, "detail_v2", {**KOHYA_SD1, "ss_clip_skip": "1", "ss_output_name": "detailer"})
    lora_registry.list_available_networks()
    assert lora.file("detailer") == str(webui.loras / "detail_v2.safetensors")
    assert lora.skip(["<lora:detailer:1>"], "sd1", "a1111") == (
        1.0,
        "LoRA detailer (ss_clip_skip)",
    )


def test_without_the_lora_extension_the_folders_are_scanned(webui):
    assert "networks" not in sys.modules
    write_lora(
        webui.loras / "sub", "detail_v2", {**KOHYA_SD1, "ss_clip_skip": "1", "ss_output_name": "detailer"}
    )
    assert lora.file("detail_v2") == str(webui.loras / "sub" / "detail_v2.safetensors")
    assert lora.file("detailer") is None  # aliases need the registry
    assert lora.notes(["<lora:detail_v2:1>"], 2, "sd1", "a1111") == [
        "LoRA detail_v2 was trained at clip skip 1 (ss_clip_skip), this image uses 2"
    ]


def test_loras_that_disagree_are_not_followed(webui, lora_registry):
    write_lora(webui.loras, "one", {**KOHYA_SD1, "ss_clip_skip": "1"})
    write_lora(webui.loras, "two", {**KOHYA_SD1, "ss_clip_skip": "2"})
    lora_registry.list_available_networks()
    prompt = ["<lora:one:1> <lora:two:1>"]
    assert lora.skip(prompt, "sd1", "a1111") is None
    assert lora.notes(prompt, 2, "sd1", "a1111") == [
        "LoRA one was trained at clip skip 1 (ss_clip_skip), this image uses 2"
    ]


def test_lyco_tags_count_only_where_the_host_has_the_alias(webui, monkeypatch, lora_registry):
    """A1111 registers ``lyco`` as an alias of ``lora`` (Lora/scripts/lora_script.py:23-24); Forge
    registers ``lora`` alone (sd_forge_lora/scripts/lora_script.py:18), so ``<lyco:…>`` does nothing."""
    from modules import extra_networks

    write_lora(webui.loras, "detail", {**KOHYA_SD1, "ss_clip_skip": "1"})
    lora_registry.list_available_networks()
    network = extra_networks.ExtraNetwork("lora")
    monkeypatch.setitem(extra_networks.extra_network_registry, "lora", network)
    monkeypatch.setattr(extra_networks, "extra_network_aliases", {"lyco": network}, raising=False)  # A1111
    assert lora.names(["<lyco:detail:1>"]) == ["detail"]
    monkeypatch.setattr(extra_networks, "extra_network_aliases", {})  # Forge
    assert lora.names(["<lyco:detail:1>"]) == []
    assert lora.names(["<lora:detail:1>"]) == ["detail"]


def test_the_add_network_to_prompt_setting_counts(webui, lora_registry):
    write_lora(webui.loras, "detail", {**KOHYA_SD1, "ss_clip_skip": "1"})
    lora_registry.list_available_networks()
    shared.opts.data["sd_lora"] = "detail"  # Lora/extra_networks_lora.py:17-21
    assert lora.names(["a cat"]) == ["detail"]


# ---- what the job gets -----------------------------------------------------------------------------


def test_job_default_follows_loras_only_when_asked(webui, monkeypatch, lora_registry):
    load(write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)
    write_lora(webui.loras, "detail", {**KOHYA_SD1, "ss_clip_skip": "1"})
    lora_registry.list_available_networks()
    prompts = ["a <lora:detail:1>", "b"]
    assert (
        defaults.job_default(prompts, "sd1", "a1111").source == "safetensors header (modelspec.encoder_layer)"
    )

    shared.opts.data[checkpoint.FOLLOW_LORA_KEY] = True
    known = defaults.job_default(prompts, "sd1", "a1111")
    assert (known.value, known.kind, known.source) == (1.0, "lora", "LoRA detail (ss_clip_skip)")
    assert defaults.choice(known).source == "lora"

    fallback = defaults.Fallback(prompts, "sd1", "a1111")
    first, second = fallback(0), fallback(1)
    assert (first.schedule, first.source) == (Schedule.constant(1.0), "lora")
    assert (second.schedule, second.source) == (Schedule.constant(2.0), "checkpoint")
    assert fallback(5) is None
    assert fallback.labels() == [
        "1 (LoRA detail (ss_clip_skip))",
        "2 (safetensors header (modelspec.encoder_layer))",
    ]

    shared.opts.data[checkpoint.APPLY_KEY] = False
    fallback = defaults.Fallback(prompts, "sd1", "a1111")
    assert fallback(1) is None
    assert bool(fallback)
    assert not defaults.Fallback(["b"], "sd1", "a1111")
    assert defaults.Fallback(["b"], "sd1", "a1111", use_checkpoint=True)(0).source == "checkpoint"


# ---- the API route ---------------------------------------------------------------------------------


def test_route_for_the_loaded_checkpoint(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors", {"modelspec.encoder_layer": "2"}), monkeypatch)
    answer = checkpoint.route()
    assert answer["checkpoint"] == "model.safetensors"
    assert answer["loaded"] is True
    assert (answer["family"], answer["host"]) == ("sd1", "a1111")
    assert (answer["value"], answer["original"], answer["convention"]) == (2.0, 2.0, "a1111")
    assert answer["source"] == "safetensors header (modelspec.encoder_layer)"
    assert answer["applied_automatically"] is True
    assert [c["source"] for c in answer["candidates"]] == ["safetensors header (modelspec.encoder_layer)"]
    json.dumps(answer)  # JSON-ready


def test_route_by_name_for_a_checkpoint_that_is_not_loaded(webui, monkeypatch):
    load(write_model(webui.checkpoints / "model.safetensors"), monkeypatch)
    other = write_model(webui.checkpoints / "xl" / "other.safetensors", tensors=SDXL)
    (webui.checkpoints / "xl" / "other.json").write_text(json.dumps({"clip skip": 2}), encoding="utf-8")
    sd_models.CheckpointInfo(str(other)).register()
    answer = checkpoint.route("other")  # get_closet_checkpoint_match: a part of the title
    assert answer["checkpoint"] == "xl/other.safetensors"
    assert answer["loaded"] is False
    assert answer["family"] == "sdxl"
    assert "tensor names" in answer["family_reason"]
    assert (answer["value"], answer["source"]) == (2.0, "sidecar other.json")


def test_route_errors(webui, monkeypatch):
    monkeypatch.setattr(shared, "sd_model", None)
    assert checkpoint.route() == {"error": "no checkpoint is loaded", "status_code": 404}
    assert checkpoint.route("nothing-like-it") == {
        "error": "no checkpoint matches 'nothing-like-it'",
        "status_code": 404,
    }


def test_route_without_a_loaded_model_uses_the_selected_checkpoint(webui, monkeypatch):
    """Forge loads the model at the first generation (forge-internals §5): before that the route
    answers for opts.sd_model_checkpoint."""
    info = sd_models.CheckpointInfo(str(write_model(webui.checkpoints / "m.safetensors")))
    info.register()
    monkeypatch.setattr(shared, "sd_model", SimpleNamespace(cond_stage_model=None))
    shared.opts.data["sd_model_checkpoint"] = info.title
    answer = checkpoint.route()
    assert answer["checkpoint"] == "m.safetensors"
    assert answer["loaded"] is False


def test_before_the_lazy_load_the_status_line_reads_the_selected_checkpoints_family(webui, monkeypatch):
    """Forge builds the panel before any model is loaded: the status line tells what the selected
    checkpoint is from its tensor names, and what the panel's value will do on it."""
    from clip_skip_ext.webui import host as webui_host
    from clip_skip_ext.webui.ui import status_html

    info = sd_models.CheckpointInfo(str(write_model(webui.checkpoints / "xl.safetensors", tensors=SDXL)))
    info.register()
    monkeypatch.setattr(shared, "sd_model", SimpleNamespace(cond_stage_model=None))  # FakeInitialModel
    monkeypatch.setattr(webui_host, "host_name", lambda: "forge")
    shared.opts.data["sd_model_checkpoint"] = info.title
    text = status_html(True, "3", "", "", "", "Manual")
    assert text.startswith("<p>xl.safetensors loads at the first generation; its metadata says SDXL: ")
    assert "CLIP-L layer 10 of 12, no norm; CLIP-G layer 30 of 32" in text
    shared.opts.data["sd_model_checkpoint"] = "missing.safetensors"
    assert "No model loaded yet" in status_html(True, "3", "", "", "", "Manual")
