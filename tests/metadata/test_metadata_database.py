"""lookup(): precedence, translation to the host's numbering, keys, reading cost, broken inputs."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from metadata_helpers import SD1_LORA, SDXL_CHECKPOINT, SDXL_LORA, write_json, write_model

from clip_skip_ext.metadata import (
    CuratedEntry,
    HostHashCache,
    OverrideStore,
    lookup,
)
from clip_skip_ext.metadata import database as database_module

MIB = 1024 * 1024
PONY_SHA = "67ab2fd8ec439a89b3fedb15cc65f54336af163c7eb5e4f2acc98f090a29b0b3"  # Horde "Pony Diffusion XL"


def curated_for(path, value=2, convention="a1111", family="sd1"):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (
        CuratedEntry("Test model", family, float(value), convention, "model card: test", sha256=(digest,)),
    )


def every_source(tmp_path):
    """An SD1 LoRA whose name, curated entry, civitai.info, header, sidecar and override all give values."""
    path = write_model(
        tmp_path / "anything-lora.safetensors",
        {"ss_clip_skip": "3", "ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"},
        SD1_LORA,
    )
    write_json(
        tmp_path / "anything-lora.civitai.info",
        {"baseModel": "SD 1.5", "images": [{"meta": {"Clip skip": "4"}}] * 3},
    )
    write_json(tmp_path / "anything-lora.json", {"sd version": "SD1", "clip skip": 5})
    store = OverrideStore(tmp_path / "data" / "overrides.json")
    store.set(skip=6, convention="a1111", name="anything-lora.safetensors")
    curated = curated_for(path, value=7)
    return path, store, curated


def test_every_source_is_found_in_precedence_order(tmp_path):
    path, store, curated = every_source(tmp_path)
    result = lookup(path, host="a1111", kind="lora", overrides=store, curated=curated, allow_hashing=True)
    assert [c.recommendation.origin for c in result.candidates] == [
        "override",
        "sidecar",
        "header",
        "civitai",
        "curated",
        "heuristic",
    ]
    assert [c.value for c in result.candidates] == [6, 5, 3, 4, 7, 2]
    assert result.value == 6
    assert result.recommendation.source == "user override"


@pytest.mark.parametrize(
    ("remove", "expected_value", "expected_origin"),
    [
        (["override"], 5, "sidecar"),
        (["override", "sidecar"], 3, "header"),
        (["override", "sidecar", "header"], 4, "civitai"),
        (["override", "sidecar", "header", "civitai"], 7, "curated"),
        (["override", "sidecar", "header", "civitai", "curated"], 2, "heuristic"),
    ],
)
def test_removing_higher_sources_lets_the_next_one_win(tmp_path, remove, expected_value, expected_origin):
    path, store, curated = every_source(tmp_path)
    if "sidecar" in remove:
        (tmp_path / "anything-lora.json").unlink()
    if "civitai" in remove:
        (tmp_path / "anything-lora.civitai.info").unlink()
    if "header" in remove:  # same tensors, metadata without a clip skip
        path = write_model(path, {"ss_clip_skip": "None", "ss_base_model_version": "sd_v1"}, SD1_LORA)
        curated = curated_for(path, value=7)
    result = lookup(
        path,
        host="a1111",
        kind="lora",
        overrides=None if "override" in remove else store,
        curated=() if "curated" in remove else curated,
        allow_hashing=True,
    )
    assert (result.value, result.recommendation.origin) == (expected_value, expected_origin)
    assert result.is_heuristic == (expected_origin == "heuristic")


def test_horde_sdxl_2_in_comfyui_numbering_becomes_2_on_a1111_and_forge(tmp_path):
    path = write_model(tmp_path / "my_pony.safetensors", None, SDXL_CHECKPOINT)
    for host in ("a1111", "forge", "reforge"):
        result = lookup(path, host=host, sha256=PONY_SHA, use_heuristics=False)
        assert result.family == "sdxl"
        assert result.value == 2
        rec = result.recommendation
        assert (rec.skip, rec.convention) == (2.0, "comfyui")
        assert rec.source.startswith("curated: AI Horde model reference")
    assert lookup(path, host="comfyui", sha256=PONY_SHA).value == 2
    assert lookup(path, host="sdnext", sha256=PONY_SHA).value == 1  # SD.Next 1 is the native layer
    assert lookup(path, host="diffusers", sha256=PONY_SHA).value == 0


def test_a_value_without_an_equivalent_falls_through_to_the_next_source(tmp_path):
    # ComfyUI -1 on SDXL (the last block of both encoders, no norm) has no A1111 equivalent.
    path = write_model(tmp_path / "m.safetensors", None, SDXL_CHECKPOINT)
    write_json(tmp_path / "m.json", {"clip skip": 1, "clip skip convention": "comfyui"})
    result = lookup(path, host="a1111", curated=curated_for(path, 2, "comfyui", "sdxl"), allow_hashing=True)
    first, second = result.candidates
    assert first.value is None
    assert "cannot select on SDXL" in first.problem
    assert (second.recommendation.origin, second.value) == ("curated", 2)
    assert result.value == 2
    assert lookup(path, host="forge", curated=()).value is None  # Forge clamps SDXL at 2
    assert lookup(path, host="sdnext", curated=()).value == 0  # SD.Next 0 is the last block


def test_kohya_sd1_value_translates_and_sd2_has_none(tmp_path):
    sd1 = write_model(tmp_path / "a.safetensors", {"ss_clip_skip": "2", "ss_v2": "False"}, SD1_LORA)
    assert lookup(sd1, host="diffusers", kind="lora", curated=()).value == 1
    sd2 = write_model(tmp_path / "b.safetensors", {"ss_clip_skip": "2", "ss_v2": "True"}, SD1_LORA)
    result = lookup(sd2, host="a1111", kind="lora", curated=())
    assert result.value is None
    assert "kohya sd-scripts has no documented clip skip numbering for SD2" in result.candidates[0].problem


def test_family_can_be_given_and_disagreement_is_noted(tmp_path):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "2"}, SDXL_CHECKPOINT)
    result = lookup(path, host="a1111", family="sd1", curated=())
    assert (result.family, result.family_reason) == ("sd1", "given")
    assert any("disagrees" in note for note in result.notes)


def test_unknown_family_gives_no_value_but_keeps_the_candidate(tmp_path):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "2"}, ("some.weight",))
    result = lookup(path, host="comfyui", curated=())
    assert result.family is None
    assert result.value is None
    assert "pass family=" in result.candidates[0].problem
    # in the host's own numbering (A1111 → A1111) there is nothing to translate (issue 14)
    assert lookup(path, host="a1111", curated=()).value == 2


def test_flux_is_named_as_unsupported(tmp_path):
    path = write_model(
        tmp_path / "pony_flux.safetensors",
        {"modelspec.architecture": "flux-1-dev", "modelspec.encoder_layer": "2"},
    )
    result = lookup(path, host="forge", curated=())
    assert result.value is None
    assert "flux-1-dev" in result.candidates[0].problem
    assert all(c.recommendation.origin != "heuristic" for c in result.candidates)


# ---- keys and reading cost -------------------------------------------------------------------------------


def test_no_whole_file_hashing_unless_asked(tmp_path, monkeypatch):
    path = write_model(
        tmp_path / "big.safetensors", {"modelspec.architecture": "stable-diffusion-v1"}, size=MIB
    )
    size = path.stat().st_size
    assert size > 4 * MIB

    def forbidden(*args, **kwargs):
        raise AssertionError("hashed the whole file")

    monkeypatch.setattr(database_module, "sha256_file", forbidden)
    monkeypatch.setattr(database_module, "sha256_and_addnet_hash", forbidden)
    monkeypatch.setattr(database_module, "addnet_hash", forbidden)
    result = lookup(path, host="a1111")
    assert result.keys.sha256 is None
    header_bytes = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    assert result.bytes_read == header_bytes + 0x10000  # the header and the AutoV1 window, nothing else
    assert result.keys.autov1 == hashlib.sha256(path.read_bytes()[0x100000:0x110000]).hexdigest()[:8]
    lora = lookup(path, host="a1111", kind="lora")
    assert lora.bytes_read == header_bytes  # LoRAs have no AutoV1


def test_hashing_when_allowed_gives_every_key(tmp_path):
    path = write_model(
        tmp_path / "lora.safetensors", {"ss_base_model_version": "sdxl_base_v1-0"}, SDXL_LORA, size=1000
    )
    data = path.read_bytes()
    offset = 8 + int.from_bytes(data[:8], "little")
    result = lookup(path, host="forge", kind="lora", allow_hashing=True)
    keys = result.keys
    assert keys.sha256 == hashlib.sha256(data).hexdigest()
    assert keys.autov2 == keys.sha256[:10]
    assert keys.autov3 == hashlib.sha256(data[offset:]).hexdigest()[:12]
    assert (keys.sha256_source, keys.autov3_source) == ("computed", "computed")
    assert result.bytes_read == offset + len(data)  # the header once, then one pass over the file


def test_a_given_sha256_is_used_without_reading_the_file(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SDXL_CHECKPOINT)
    result = lookup(path, host="a1111", sha256=PONY_SHA.upper(), allow_hashing=True)
    assert (result.keys.sha256, result.keys.sha256_source) == (PONY_SHA, "given")
    with pytest.raises(ValueError, match="not a sha256"):
        lookup(path, host="a1111", sha256="abc")


def test_the_host_hash_cache_supplies_the_sha256(tmp_path):
    models = tmp_path / "models" / "Stable-diffusion"
    path = write_model(models / "m.safetensors", None, SDXL_CHECKPOINT)
    cache = {"hashes": {"checkpoint/m.safetensors": {"mtime": path.stat().st_mtime, "sha256": PONY_SHA}}}
    (tmp_path / "cache.json").write_text(json.dumps(cache), encoding="utf-8")
    hash_cache = HostHashCache.for_data_dir(tmp_path, environ={})
    result = lookup(path, host="forge", hash_cache=hash_cache, models_dir=models)
    assert result.keys.sha256 == PONY_SHA
    assert result.keys.sha256_source == "host hash cache (checkpoint/m.safetensors)"
    assert result.value == 2


def test_civitai_info_ids_and_hashes_match_curated_entries(tmp_path):
    path = write_model(tmp_path / "majicmixRealistic_v7.safetensors")
    info = {
        "id": 176425,
        "modelId": 43331,
        "baseModel": "SD 1.5",
        "files": [{"name": path.name, "hashes": {"SHA256": "AA" * 32}}],
    }
    write_json(tmp_path / "majicmixRealistic_v7.civitai.info", info)
    result = lookup(path, host="a1111")
    assert result.keys.sha256_source == "civitai.info (file name; not verified)"
    assert result.recommendation.source.startswith("curated: model card: Civitai model 43331")
    assert "matched by Civitai version id 176425 (from civitai.info)" in result.recommendation.detail
    assert result.value == 2


def test_an_override_saved_by_sha256_matches_by_the_host_shorthash(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SDXL_CHECKPOINT)
    store = OverrideStore(tmp_path / "o.json")
    store.set(skip=3, convention="forge", sha256=PONY_SHA)
    assert lookup(path, host="forge", overrides=store, sha256=PONY_SHA).value == 3
    assert lookup(path, host="forge", overrides=store).value != 3  # no hash known, and saved under the hash
    store.set(skip=4, convention="forge", sha256=PONY_SHA, name="m.safetensors")
    assert lookup(path, host="forge", overrides=store).value == 4  # hash unknown: matched by file name


# ---- broken inputs never crash a scan ------------------------------------------------------------------


def test_broken_files_become_problems(tmp_path):
    path = tmp_path / "broken-anything.safetensors"
    path.write_bytes(b"\x00" * 4)
    (tmp_path / "broken-anything.json").write_text("{oops", encoding="utf-8")
    (tmp_path / "broken-anything.civitai.info").write_text("[]", encoding="utf-8")
    corrupt = tmp_path / "o.json"
    corrupt.write_text("not json", encoding="utf-8")
    result = lookup(path, host="a1111", overrides=OverrideStore(corrupt))
    text = "\n".join(result.problems)
    assert "fewer than the 8-byte header length field" in text
    assert "broken-anything.json" in text
    assert "broken-anything.civitai.info" in text
    assert result.recommendation.is_heuristic  # the name still suggests something, flagged
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_a_missing_file_and_a_ckpt(tmp_path):
    result = lookup(tmp_path / "absent.safetensors", host="a1111")
    assert result.problems == (f"{tmp_path / 'absent.safetensors'}: no such file",)
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(os.urandom(100))
    write_json(tmp_path / "old.json", {"clip skip": 2, "sd version": "SD1"})
    result = lookup(ckpt, host="a1111")
    assert result.value == 2
    assert "not a safetensors file" in result.notes[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "webui"}, "unknown host"),
        ({"host": "a1111", "kind": "vae"}, "unknown model kind"),
        ({"host": "a1111", "family": "flux"}, "unknown model family"),
    ],
)
def test_invalid_arguments_raise(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lookup(tmp_path / "m.safetensors", **kwargs)


def test_explain_and_to_dict(tmp_path):
    path, store, curated = every_source(tmp_path)
    result = lookup(path, host="forge", kind="lora", overrides=store, curated=curated)
    lines = result.explain()
    assert lines[0].startswith(
        "anything-lora.safetensors (lora, SD1: ss_base_model_version = 'sd_v1') on Forge"
    )
    assert lines[1] == "recommended: 6 from user override"
    assert (
        len([line for line in lines if line.startswith("  ") and ". " in line[:6]]) == 5
    )  # no sha: no curated
    document = json.loads(json.dumps(result.to_dict()))
    assert document["value"] == 6
    assert [c["origin"] for c in document["candidates"]] == [
        "override",
        "sidecar",
        "header",
        "civitai",
        "heuristic",
    ]


def test_lora_autov3_from_the_header_or_the_host_cache_without_hashing(tmp_path):
    kohya = write_model(tmp_path / "a.safetensors", {"sshs_model_hash": "F" * 64, "ss_v2": "False"}, SD1_LORA)
    keys = lookup(kohya, host="a1111", kind="lora").keys
    assert (keys.autov3, keys.autov3_source) == ("f" * 12, "header sshs_model_hash")
    plain = write_model(tmp_path / "b.safetensors", {"ss_v2": "False"}, SD1_LORA)
    cache = {"hashes-addnet": {"lora/b": {"mtime": plain.stat().st_mtime, "sha256": "9" * 64}}}
    (tmp_path / "cache.json").write_text(json.dumps(cache), encoding="utf-8")
    result = lookup(
        plain, host="a1111", kind="lora", hash_cache=HostHashCache.for_data_dir(tmp_path, environ={})
    )
    assert (result.keys.autov3, result.keys.autov3_source) == ("9" * 12, "host hash cache (lora/b)")
    assert result.keys.sha256 is None
    assert result.bytes_read == 8 + int.from_bytes(plain.read_bytes()[:8], "little")
