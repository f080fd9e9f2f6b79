"""Issue 14's new sources: ComfyUI-Lora-Manager's .metadata.json and prose recommendations."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from metadata_helpers import SD1_CHECKPOINT, SD1_LORA, SDXL_CHECKPOINT, write_json, write_model

from clip_skip_ext.metadata import database
from clip_skip_ext.metadata.description import read_descriptions, statements

ROOT = Path(__file__).resolve().parents[2]
LABELLED = json.loads((ROOT / "tests" / "data" / "descriptions.json").read_text(encoding="utf-8"))["cases"]


def _read(text: str) -> tuple[int, str] | None:
    best = read_descriptions([("card", text)]).best
    return (int(best.skip), best.convention) if best else None


@pytest.mark.parametrize(
    "case",
    [case for case in LABELLED if "known_miss" not in case],
    ids=lambda case: case["text"][:40] or "(empty)",
)
def test_the_labelled_descriptions(case):
    expected = (case["skip"], case.get("convention", "a1111")) if case["skip"] is not None else None
    assert _read(case["text"]) == expected


def test_the_labelled_set_is_large_and_mostly_hard():
    assert len(LABELLED) >= 50
    assert sum(case["skip"] is None for case in LABELLED) >= 25  # negatives, ranges, versions, "2.5D"
    known = [case for case in LABELLED if "known_miss" in case]
    assert all(case.get("held_out") for case in known)  # only measured cases may be known misses
    # a known miss is still what its note says it is
    for case in known:
        read = _read(case["text"])
        assert (read is None) == ("no value read" in case["known_miss"])


def test_statements_name_the_clause_they_come_from():
    found, unclear = statements("<p>Sampler: Euler a</p><p>Clip skip: 2</p><p>Clip skip 1 or 2</p>")
    assert [(s.skip, s.quote) for s in found] == [(2, "Clip skip: 2")]
    assert unclear == ["Clip skip 1 or 2"]


def test_texts_that_disagree_give_no_value_and_say_why():
    finding = read_descriptions([("notes", "clip skip 1"), ("civitai", "Clip skip: 2")])
    assert finding.best is None
    assert finding.notes == (
        "descriptions disagree (notes says 1; civitai says 2); no value taken from prose",
    )
    agree = read_descriptions([("notes", "clip skip 2"), ("civitai", "Clip skip: 2")])
    assert agree.best.source == "description (notes)"
    assert "notes, civitai" in agree.best.detail


def test_a_huge_description_is_read_only_up_to_its_limit():
    text = "<p>x</p>" * 100_000 + "Clip skip: 2"
    assert _read(text) is None  # the statement lies past the first 200,000 characters
    assert _read("Clip skip: 2" + "<p>x</p>" * 100_000) == (2, "a1111")


# ---- prose in the files, below every structured source ----------------------------------------------------


def civitai_version(description="", model_description="", skips=(), file_name="m.safetensors"):
    return {
        "id": 11,
        "modelId": 22,
        "baseModel": "SD 1.5",
        "description": description,
        "model": {"name": "M", "type": "Checkpoint", "description": model_description},
        "files": [{"name": file_name, "hashes": {}}],
        "images": [{"meta": {"Clip skip": str(s)}} for s in skips],
    }


def test_a_civitai_model_description_is_a_low_confidence_source(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    write_json(tmp_path / "m.civitai.info", civitai_version(model_description="<p>Clip skip: 2</p>"))
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert result.value == 2
    rec = result.recommendation
    assert (rec.origin, rec.source, rec.confidence) == (
        "description",
        "description (m.civitai.info model description)",
        0.3,
    )
    assert "'Clip skip: 2'" in rec.detail


def test_prose_never_wins_over_a_structured_source(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    write_json(
        tmp_path / "m.civitai.info", civitai_version(model_description="Clip skip: 1", skips=(2, 2, 2))
    )
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert [c.recommendation.origin for c in result.candidates] == ["civitai", "description"]
    assert result.value == 2


def test_the_users_text_file_and_sidecar_notes_come_before_civitai_prose(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    write_json(tmp_path / "m.json", {"notes": "for me clip skip 2 works best"})
    assert database.lookup(path, host="a1111", use_heuristics=False).recommendation.source == (
        "description (m.json notes)"
    )
    (tmp_path / "m.description.txt").write_text("Use clip skip 2.", encoding="utf-8")
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert result.recommendation.source == "description (m.description.txt)"
    assert "m.description.txt, m.json notes" in result.recommendation.detail


def test_a_comfyui_value_in_prose_is_translated(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_CHECKPOINT)
    (tmp_path / "m.description.txt").write_text("CLIPSetLastLayer -2", encoding="utf-8")
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert (result.value, result.recommendation.convention) == (2, "comfyui")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Clip skip \xff\xfe 2", "not UTF-8 text"),
        (b"x" * 900_000, "the limit is 800000 bytes"),
    ],
    ids=["invalid-utf8", "huge"],
)
def test_a_bad_description_file_is_a_problem_of_that_file(tmp_path, content, message):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "2"}, SD1_CHECKPOINT)
    (tmp_path / "m.description.txt").write_bytes(content)
    result = database.lookup(path, host="a1111")
    assert result.value == 2  # the header's value stands
    assert any("m.description.txt" in p and message in p for p in result.problems), result.problems


# ---- ComfyUI-Lora-Manager ---------------------------------------------------------------------------------


def lora_manager(**fields):
    """A .metadata.json as Lora-Manager writes it (py/utils/models.py:50-80, 242)."""
    base = {
        "file_name": "m",
        "model_name": "M",
        "file_path": "/models/loras/m.safetensors",
        "size": 4,
        "modified": 1.0,
        "sha256": "",
        "base_model": "Unknown",
        "preview_url": "",
        "notes": "",
        "from_civitai": False,
        "civitai": {},
        "tags": [],
        "modelDescription": "",
        "usage_tips": "{}",
    }
    return {**base, **fields}


def test_usage_tips_clip_skip_is_the_users_tip_in_a1111_numbering(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_LORA)
    tips = json.dumps({"strength": 0.8, "clip_skip": 2})
    write_json(tmp_path / "m.metadata.json", lora_manager(usage_tips=tips, base_model="SD 1.5"))
    result = database.lookup(path, host="forge", kind="lora", use_heuristics=False)
    assert (result.value, result.family) == (2, "sd1")
    rec = result.recommendation
    assert (rec.origin, rec.source, rec.convention, rec.confidence) == (
        "sidecar",
        "Lora-Manager usage tips m.metadata.json",
        "a1111",
        0.8,
    )
    assert result.family_reason == "m.metadata.json base_model = 'SD 1.5'"


def test_its_civitai_section_is_read_like_a_civitai_info(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SDXL_CHECKPOINT)
    section = {**civitai_version(skips=(2, 2, 1)), "baseModel": "Illustrious"}
    sha = "ab" * 32
    write_json(
        tmp_path / "m.metadata.json", lora_manager(civitai=section, sha256=sha, base_model="Illustrious")
    )
    result = database.lookup(path, host="a1111", use_heuristics=False)
    assert result.recommendation.source == "metadata.json (2 of 3 images)"
    assert result.family == "sdxl"
    assert (result.keys.sha256, result.keys.sha256_source) == (sha, "m.metadata.json (not verified)")
    write_json(tmp_path / "m.civitai.info", civitai_version(skips=(1, 1, 1)))
    assert database.lookup(path, host="a1111").recommendation.source == "civitai.info (3 of 3 images)"


def test_its_prose_feeds_the_description_source(tmp_path):
    path = write_model(tmp_path / "m.safetensors", None, SD1_LORA)
    write_json(tmp_path / "m.metadata.json", lora_manager(modelDescription="<p>CLIP skip 2 recommended</p>"))
    result = database.lookup(path, host="a1111", kind="lora", use_heuristics=False)
    assert result.recommendation.source == "description (m.metadata.json modelDescription)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"usage_tips": {"clip_skip": 2}}, "usage_tips] is a JSON dict; expected a string holding JSON"),
        ({"usage_tips": "{not json"}, "usage_tips] is not JSON"),
        ({"usage_tips": json.dumps({"clip_skip": "two"})}, "clip skip 'two' is not a number"),
        ({"usage_tips": json.dumps({"clip_skip": 0})}, "clip_skip is 0; expected 1 or more"),
        ({"usage_tips": "[" * 200_000}, "characters; the limit is 100,000"),
        ({"civitai": [1, 2]}, "'civitai' is a JSON list; expected an object"),
        ({"civitai": {"id": 1, "images": 5}}, "'images' is a JSON int; expected a list"),
    ],
    ids=["tips-object", "tips-not-json", "tips-word", "tips-zero", "tips-huge", "civitai-list", "images-int"],
)
def test_a_hostile_metadata_json_is_a_problem_of_that_file_only(tmp_path, fields, message):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "3"}, SD1_CHECKPOINT)
    write_json(tmp_path / "m.metadata.json", lora_manager(**fields))
    result = database.lookup(path, host="a1111")
    assert result.value == 3  # the header's value stands
    assert any("m.metadata.json" in p and message in p for p in result.problems), result.problems
    assert all(len(p) < 600 for p in result.problems)


def test_an_invalid_utf8_metadata_json_is_a_clean_problem(tmp_path):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "3"}, SD1_CHECKPOINT)
    (tmp_path / "m.metadata.json").write_bytes(b'{"notes": "\xff"}')
    result = database.lookup(path, host="a1111")
    assert result.value == 3
    assert any("m.metadata.json" in p and "not UTF-8" in p for p in result.problems)


def test_scan_shows_each_new_kind_with_its_source_and_confidence(tmp_path):
    loras = tmp_path / "Lora"
    write_model(loras / "tips.safetensors", None, SD1_LORA)
    write_json(loras / "tips.metadata.json", lora_manager(usage_tips=json.dumps({"clip_skip": 2})))
    write_model(loras / "prose.safetensors", None, SD1_LORA)
    (loras / "prose.description.txt").write_text("Clip skip: 1", encoding="utf-8")
    write_model(loras / "browser.safetensors", None, SD1_LORA)
    write_json(
        loras / "browser.api_info.json",
        {"id": 3, "modelVersions": [civitai_version(skips=(2, 2), file_name="browser.safetensors")]},
    )
    command = [sys.executable, "-m", "clip_skip_ext", "scan", str(tmp_path)]
    rows = {
        row["path"]: row
        for row in json.loads(
            subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=ROOT).stdout
        )
    }
    picked = {
        name: (row["skip"], row["origin"], row["short_source"], row["confidence"])
        for name, row in rows.items()
    }
    assert picked["Lora/tips.safetensors"] == (2, "sidecar", "Lora-Manager usage tips", 0.8)
    assert picked["Lora/prose.safetensors"] == (1, "description", "description (prose)", 0.3)
    assert picked["Lora/browser.safetensors"][:3] == (2, "civitai", "api_info.json (2 of 2 images)")
    table = subprocess.run(command, capture_output=True, text=True, cwd=ROOT).stdout
    assert re.search(r"Lora/prose\.safetensors .* 1 +description \(prose\) +0\.30", table)
    assert re.search(r"Lora/tips\.safetensors .* 2 +Lora-Manager usage tips +0\.80", table)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"modelVersions": "x"}', "'modelVersions' is not a list of objects"),
        (
            b'{"modelVersions": [{"files": [{"name": "m.safetensors"}], "images": 5}]}',
            "'images' is a JSON int",
        ),
        (b'{"name": "\xff"}', "not UTF-8 text"),
        (b" " * (33 * 1024 * 1024), "the limit is 33554432 bytes"),
    ],
    ids=["versions-string", "images-int", "invalid-utf8", "huge"],
)
def test_a_hostile_api_info_json_is_a_problem_of_that_file_only(tmp_path, content, message):
    path = write_model(tmp_path / "m.safetensors", {"modelspec.encoder_layer": "3"}, SD1_CHECKPOINT)
    (tmp_path / "m.api_info.json").write_bytes(content)
    result = database.lookup(path, host="a1111")
    assert result.value == 3
    assert any("m.api_info.json" in p and message in p for p in result.problems), result.problems
