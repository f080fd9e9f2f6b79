"""Each metadata source on its own: sidecar, header keys, civitai.info, family hints, name heuristics."""

from __future__ import annotations

import pytest
from metadata_helpers import (
    SD1_CHECKPOINT,
    SD1_LORA,
    SD2_CHECKPOINT,
    SDXL_CHECKPOINT,
    SDXL_LORA,
    write_json,
    write_model,
)

from clip_skip_ext.metadata import (
    MetadataError,
    Recommendation,
    database,
    family_from_civitai_base_model,
    family_from_header,
    family_from_sd_version,
    guess_from_name,
    load_civitai_info,
    parse_skip,
    read_header,
    read_header_values,
    read_sidecar,
)

# ---- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(2, 2.0), ("2", 2.0), (" 2.0 ", 2.0), ("-2", -2.0), (1.5, 1.5), ("None", None), (None, None)],
)
def test_parse_skip_accepts_numbers_and_unknown_markers(raw, expected):
    assert parse_skip(raw, "f") == expected


@pytest.mark.parametrize(
    ("raw", "message"), [("two", "not a number"), (True, "boolean"), ([2], "list"), ("nan", "finite")]
)
def test_parse_skip_rejects_other_values_naming_them(raw, message):
    with pytest.raises(MetadataError, match=message):
        parse_skip(raw, "model.json [clip skip]")


def test_recommendation_checks_its_fields():
    with pytest.raises(ValueError, match="unknown convention 'webui'"):
        Recommendation(2, "webui", "x", 0.5)
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        Recommendation(2, "a1111", "x", 1.5)


# ---- sidecar <model>.json ------------------------------------------------------------------------------


def test_sidecar_clip_skip_key_in_a1111_numbering(tmp_path):
    model = write_model(tmp_path / "m.safetensors")
    write_json(tmp_path / "m.json", {"description": "", "sd version": "SD1", "clip skip": 2})
    finding = read_sidecar(model)
    (rec,) = finding.recommendations
    assert (rec.skip, rec.convention, rec.origin, rec.source) == (2.0, "a1111", "sidecar", "sidecar m.json")
    assert finding.family == "sd1"


@pytest.mark.parametrize("key", ["clip_skip", "Clip skip", "clipSkip"])
def test_sidecar_accepts_other_spellings_of_the_key(tmp_path, key):
    write_json(tmp_path / "m.json", {key: "3"})
    assert read_sidecar(tmp_path / "m.safetensors").best.skip == 3.0


def test_sidecar_convention_key_names_the_numbering(tmp_path):
    write_json(
        tmp_path / "m.json",
        {"clip skip": 2, "clip skip convention": "forge", "sd_version_str": "SdVersion.SDXL"},
    )
    finding = read_sidecar(tmp_path / "m.safetensors")
    assert finding.best.convention == "forge"
    assert finding.family == "sdxl"


def test_sidecar_without_the_key_gives_only_the_family(tmp_path):
    write_json(tmp_path / "m.json", {"description": "x", "sd version": "SDXL"})
    finding = read_sidecar(tmp_path / "m.safetensors")
    assert finding.recommendations == ()
    assert finding.family == "sdxl"


@pytest.mark.parametrize(
    ("written", "family"),
    [
        ("Illustrious", "sdxl"),
        ("SDXL 1.0", "sdxl"),
        ("Pony", "sdxl"),
        ("NoobAI", "sdxl"),
        ("SD 1.5", "sd1"),
        ("Unknown", None),
        ("Flux.1 D", None),
    ],
)
def test_sidecar_sd_version_may_be_a_civitai_base_model_name(tmp_path, written, family):
    # third-party downloaders write Civitai's baseModel into "sd version"
    write_json(tmp_path / "m.json", {"sd version": written, "clip skip": 2})
    finding = read_sidecar(tmp_path / "m.safetensors")
    assert finding.family == family
    if family:
        assert "a Civitai base model" in finding.family_reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON list; expected a JSON object"),
        ('{"clip skip": "two"}', "not a number"),
        ('{"clip skip": 2, "clip skip convention": "webui"}', "expected one of a1111"),
    ],
)
def test_a_broken_sidecar_is_a_problem_naming_the_file(tmp_path, content, message):
    (tmp_path / "m.json").write_text(content, encoding="utf-8")
    finding = read_sidecar(tmp_path / "m.safetensors")
    assert finding.recommendations == ()
    assert message in finding.problems[0]
    assert "m.json" in finding.problems[0]


def test_no_sidecar_is_nothing(tmp_path):
    assert read_sidecar(tmp_path / "m.safetensors") == read_sidecar(tmp_path / "other.ckpt")


# ---- safetensors header keys ---------------------------------------------------------------------------


def header_of(tmp_path, metadata, tensors=SD1_LORA):
    return read_header(write_model(tmp_path / "x.safetensors", metadata, tensors))


def test_kohya_lora_ss_clip_skip_in_kohya_numbering(tmp_path):
    header = header_of(tmp_path, {"ss_clip_skip": "2", "ss_base_model_version": "sd_v1"})
    (rec,) = read_header_values(header, "lora", "sd1").recommendations
    assert (rec.skip, rec.convention, rec.source) == (2.0, "kohya", "safetensors header (ss_clip_skip)")


def test_ss_clip_skip_none_is_unknown(tmp_path):
    header = header_of(tmp_path, {"ss_clip_skip": "None", "ss_base_model_version": "sd_v1"})
    finding = read_header_values(header, "lora", "sd1")
    assert finding.recommendations == ()
    assert "not recorded" in finding.notes[0]
    assert "kohya trained on the last layer (A1111 1), its default, not a choice" in finding.notes[0]
    on_sd2 = read_header_values(header, "lora", "sd2")
    assert "last layer" not in on_sd2.notes[0]  # only SD1's default is known


def test_sdxl_checkpoint_written_by_sd_scripts_is_native_whatever_encoder_layer_says(tmp_path):
    # sd-scripts' SDXL checkpoints carry modelspec.encoder_layer = clip_skip and no ss_* keys
    meta = {"modelspec.encoder_layer": "3", "modelspec.implementation_version": "sd-scripts/48d368fa"}
    finding = read_header_values(header_of(tmp_path, meta, SDXL_LORA), "checkpoint", "sdxl")
    assert finding.recommendations == ()
    assert (
        "kohya does not apply clip skip when training SDXL (it trains on the native layers)"
        in finding.notes[0]
    )
    other = {"modelspec.encoder_layer": "3", "modelspec.implementation_version": "other/1"}
    (found,) = read_header_values(header_of(tmp_path, other, SDXL_LORA), "checkpoint", "sdxl").recommendations
    assert (found.skip, found.convention) == (3, "a1111")


def test_sdxl_lora_ss_clip_skip_is_unknown(tmp_path):
    header = header_of(tmp_path, {"ss_clip_skip": "2", "ss_base_model_version": "sdxl_base_v1-0"}, SDXL_LORA)
    finding = read_header_values(header, "lora", "sdxl")
    assert finding.recommendations == ()
    assert "does not apply clip skip when training SDXL" in finding.notes[0]


def test_ss_clip_skip_on_a_checkpoint_is_ignored(tmp_path):
    header = header_of(tmp_path, {"ss_clip_skip": "2"})
    finding = read_header_values(header, "checkpoint", "sd1")
    assert finding.recommendations == ()
    assert "merged LoRA" in finding.notes[0]


def test_modelspec_encoder_layer_is_a1111_numbering_unless_kohya_wrote_it(tmp_path):
    plain = header_of(
        tmp_path, {"modelspec.encoder_layer": "2", "modelspec.architecture": "stable-diffusion-v1"}
    )
    assert read_header_values(plain, "checkpoint", "sd1").best.convention == "a1111"
    kohya = header_of(tmp_path, {"modelspec.encoder_layer": "2", "ss_clip_skip": "2", "ss_network_dim": "4"})
    recs = read_header_values(kohya, "lora", "sd1").recommendations
    assert [(r.source, r.convention) for r in recs] == [
        ("safetensors header (modelspec.encoder_layer)", "kohya"),
        ("safetensors header (ss_clip_skip)", "kohya"),
    ]


def test_a_bad_header_value_is_a_problem(tmp_path):
    header = header_of(tmp_path, {"ss_clip_skip": "two"})
    finding = read_header_values(header, "lora", "sd1")
    assert finding.recommendations == ()
    assert "not a number" in finding.problems[0]


# ---- family hints ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "tensors", "family"),
    [
        ({"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"}, SD1_LORA, "sdxl"),
        ({"modelspec.architecture": "stable-diffusion-v2-768-v"}, SD1_LORA, "sd2"),
        ({"modelspec.architecture": "stable-diffusion-v1"}, SDXL_LORA, "sd1"),
        ({"modelspec.architecture": "flux-1-dev"}, SD1_LORA, None),
        ({"modelspec.architecture": "stable-diffusion-xl-v1-refiner"}, SDXL_CHECKPOINT, "sdxl-refiner"),
        ({"modelspec.architecture": "stable-diffusion-v3-medium"}, SD1_LORA, "sd3"),
        ({}, ["conditioner.embedders.0.model.ln_final.weight"], "sdxl-refiner"),
        ({}, ["text_encoders.clip_g.transformer.text_model.final_layer_norm.weight"], "sd3"),
        ({"ss_base_model_version": "sdxl_base_v1-0"}, SD1_LORA, "sdxl"),
        ({"ss_base_model_version": "sd_v2_v"}, SD1_LORA, "sd2"),
        ({"ss_base_model_version": "flux1"}, SD1_LORA, None),
        ({"ss_v2": "True"}, SD1_LORA, "sd2"),
        ({"ss_v2": "False"}, SD1_LORA, "sd1"),
        ({}, SDXL_CHECKPOINT, "sdxl"),
        ({}, SD2_CHECKPOINT, "sd2"),
        ({}, SDXL_LORA, "sdxl"),
        ({}, SD1_LORA, None),
    ],
)
def test_family_from_header(tmp_path, metadata, tensors, family):
    assert family_from_header(header_of(tmp_path, metadata, tensors))[0] == family


def test_unsupported_architectures_are_named():
    family, reason = family_from_civitai_base_model("Flux.1 D")
    assert family is None
    assert "Flux.1 D" in reason
    assert "supported: SD1, SD2, SDXL" in reason


@pytest.mark.parametrize(
    ("base", "family"),
    [
        ("SD 1.5", "sd1"),
        ("SD 2.1 768", "sd2"),
        ("SDXL 1.0", "sdxl"),
        ("Pony", "sdxl"),
        ("Illustrious", "sdxl"),
    ],
)
def test_family_from_civitai_base_model(base, family):
    assert family_from_civitai_base_model(base)[0] == family


def test_family_from_sd_version():
    assert family_from_sd_version("SDXL", "x")[0] == "sdxl"
    assert family_from_sd_version("SdVersion.SD1", "x")[0] == "sd1"
    assert family_from_sd_version("Unknown", "x") == (None, "")


# ---- civitai.info -------------------------------------------------------------------------------------


def info(tmp_path, data):
    write_json(tmp_path / "m.civitai.info", data)
    loaded = load_civitai_info(tmp_path / "m.safetensors")
    assert loaded is not None
    return loaded


def images(*values, extra_meta=None):
    out = []
    for value in values:
        meta = {"prompt": "x", "Steps": "20"} | (extra_meta or {})
        if value is not None:
            meta["Clip skip"] = value
        out.append({"url": "u", "meta": meta})
    return out


def test_majority_of_image_clip_skips_with_the_count(tmp_path):
    data = {"baseModel": "SD 1.5", "images": images("2", "2", 2, "1", "2", "2", "2", "1", "2")}
    finding = info(tmp_path, data).read("sd1")
    (rec,) = finding.recommendations
    assert (rec.skip, rec.convention, rec.source) == (2.0, "a1111", "civitai.info (7 of 9 images)")
    assert "2 in 7, 1 in 2" in rec.detail
    assert rec.confidence == pytest.approx(0.6 * 7 / 9, abs=1e-3)
    assert finding.family == "sd1"


def test_images_without_a_value_lower_the_confidence(tmp_path):
    data = {
        "images": [
            *images("2", "2", "2"),
            *images(None, None, None),
            {"url": "u", "meta": None},
            {"url": "u"},
        ]
    }
    rec = info(tmp_path, data).read("sd1").best
    assert rec.source == "civitai.info (3 of 3 images)"
    assert rec.confidence == pytest.approx(0.6 * 3 / 6, abs=1e-3)
    assert "3 image(s) with generation data state none" in rec.detail


def test_a_tie_gives_no_recommendation(tmp_path):
    finding = info(tmp_path, {"images": images("1", "2", "2", "1")}).read("sd1")
    assert finding.recommendations == ()
    assert "tie between clip skip 1 and 2" in finding.notes[0]


def test_no_image_states_a_clip_skip(tmp_path):
    finding = info(tmp_path, {"images": images(None, None)}).read("sd1")
    assert finding.recommendations == ()
    assert "none of the 2 images" in finding.notes[0]


def test_missing_images_and_training_details_give_nothing(tmp_path):
    assert info(tmp_path, {"id": 1, "modelId": 2}).read(None).recommendations == ()


def test_civitai_generator_key_counts_too(tmp_path):
    data = {"images": [{"meta": {"clipSkip": 2}}, {"meta": {"clipSkip": 2}}, {"meta": {"Clip skip": "2"}}]}
    assert info(tmp_path, data).read("sd1").best.source == "civitai.info (3 of 3 images)"


def test_training_details_clip_skip_comes_first_in_kohya_numbering(tmp_path):
    data = {"trainingDetails": {"params": {"clipSkip": 1}}, "images": images("2", "2", "2")}
    recs = info(tmp_path, data).read("sd1").recommendations
    assert [(r.skip, r.convention) for r in recs] == [(1.0, "kohya"), (2.0, "a1111")]
    assert "training parameters" in recs[0].source


def test_training_details_on_sdxl_is_unknown(tmp_path):
    data = {"baseModel": "SDXL 1.0", "trainingDetails": {"params": {"clipSkip": 2}}}
    finding = info(tmp_path, data).read("sdxl")
    assert finding.recommendations == ()
    assert "does not apply clip skip to SDXL" in finding.notes[0]


def test_unreadable_image_values_are_reported(tmp_path):
    finding = info(tmp_path, {"images": images("2", "2", "2", "abc")}).read("sd1")
    assert finding.best.source == "civitai.info (3 of 3 images)"
    assert "1 image(s) have an unreadable clip skip value" in finding.problems[0]


def test_file_hashes_by_name_or_only_model_file(tmp_path):
    data = {
        "id": 176425,
        "modelId": 43331,
        "files": [
            {"name": "m.safetensors", "type": "Model", "hashes": {"SHA256": "AB" * 32, "AutoV3": "C" * 12}},
            {"name": "vae.pt", "type": "VAE", "hashes": {"SHA256": "CD" * 32}},
        ],
    }
    loaded = info(tmp_path, data)
    assert loaded.sha256("m.safetensors") == "ab" * 32
    assert loaded.sha256("renamed.safetensors") == "ab" * 32  # the only "Model" file
    assert (loaded.version_id, loaded.model_id) == (176425, 43331)


def test_a_corrupt_info_file_raises_a_clear_error(tmp_path):
    (tmp_path / "m.civitai.info").write_text("<html>rate limited</html>", encoding="utf-8")
    with pytest.raises(
        MetadataError, match=r"m\.civitai\.info: the Civitai Helper info file is not valid JSON"
    ):
        load_civitai_info(tmp_path / "m.safetensors")


# ---- name heuristics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "family", "expected"),
    [
        ("ponyDiffusionV6XL_v6StartWithThisOne", "sdxl", (2.0, "comfyui")),
        ("ponyDiffusionV6XL_v6StartWithThisOne", None, (2.0, "comfyui")),
        ("anything-v4.5-pruned", "sd1", (2.0, "a1111")),
        ("AOM3A1B_orangemixs", None, (2.0, "a1111")),
        ("nai_full", "sd1", (2.0, "a1111")),
        ("animagine-xl-3.1", "sdxl", (2.0, "comfyui")),
        ("naive_model", "sd1", None),
        ("ponyDiffusionV6XL", "sd1", None),  # a rule for another family does not apply
        ("v1-5-pruned-emaonly", "sd1", None),
    ],
)
def test_name_heuristics_are_flagged_and_family_aware(stem, family, expected):
    finding = guess_from_name(stem, family)
    if expected is None:
        assert finding.recommendations == ()
        return
    rec = finding.best
    assert (rec.skip, rec.convention) == expected
    assert rec.is_heuristic
    assert rec.source == "name heuristic"
    assert rec.confidence == 0.2
    assert ("family assumed" in rec.detail) == (family is None)


def api_info(versions):
    """A CivitAI Browser+ api_info.json: the Civitai model item (civitai_file_manage.py:683-698)."""
    return {
        "id": 77,
        "name": "Some Model",
        "type": "Checkpoint",
        "description": "<p>x</p>",
        "modelVersions": versions,
    }


def version(vid, file_name, skips, base="SD 1.5"):
    return {
        "id": vid,
        "baseModel": base,
        "files": [{"name": file_name, "hashes": {}}],
        "images": [{"meta": {"Clip skip": str(s)}} for s in skips],
    }


def test_civitai_browser_plus_api_info_is_read_for_this_files_version(tmp_path):
    path = write_model(tmp_path / "m_v2.safetensors", None, SD1_CHECKPOINT)
    info = api_info([version(1, "m_v1.safetensors", [1, 1, 1]), version(2, "m_v2.safetensors", [2, 2, 2])])
    write_json(tmp_path / "m_v2.api_info.json", info)
    result = database.lookup(path, host="a1111")
    assert result.value == 2
    assert result.recommendation.source == "api_info.json (3 of 3 images)"
    assert result.family == "sd1"
    loaded = load_civitai_info(path)
    assert (loaded.version_id, loaded.model_id) == (2, 77)


def test_civitai_info_wins_over_api_info_and_a_foreign_api_info_is_a_clear_problem(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    write_json(
        tmp_path / "m.api_info.json",
        api_info([version(1, "a.safetensors", [2]), version(2, "b.safetensors", [2])]),
    )
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert result.value is None
    assert any("none of its 2 model versions lists the file 'm.safetensors'" in p for p in result.problems)
    write_json(tmp_path / "m.civitai.info", version(5, "m.safetensors", [3, 3, 3]))
    assert database.lookup(path, host="a1111").recommendation.source == "civitai.info (3 of 3 images)"


def test_a_value_in_the_hosts_own_numbering_needs_no_model_family(tmp_path):
    # an unrecognisable file: no family from its tensors, sidecar or name
    path = write_model(tmp_path / "mystery.safetensors", None, ("some.tensor",))
    write_json(tmp_path / "mystery.json", {"clip skip": 3})
    same = database.lookup(path, host="a1111", use_heuristics=False)
    assert (same.family, same.value) == (None, 3)
    other = database.lookup(path, host="comfyui", use_heuristics=False)
    assert other.value is None  # A1111 3 in ComfyUI numbering depends on the family
    assert "the model family is unknown" in " ".join(c.problem or "" for c in other.candidates)
