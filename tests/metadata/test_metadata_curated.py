"""The shipped curated entries: every one cites a source, and matching by hash, Civitai ids and name."""

from __future__ import annotations

import json

import pytest
from metadata_helpers import write_json

from clip_skip_ext.conventions import translate
from clip_skip_ext.metadata import MetadataError, default_entries, find_curated, load_curated
from clip_skip_ext.metadata.curated import DEFAULT_PATH

# The project's facts file, beside the checkout (shared/) or inside it; the test skips without it.
HORDE_FACTS = next(
    (
        root / "shared" / "data" / "horde-model-reference.json"
        for root in (DEFAULT_PATH.parents[2], DEFAULT_PATH.parents[3])
        if (root / "shared" / "data" / "horde-model-reference.json").is_file()
    ),
    DEFAULT_PATH.parents[2] / "shared" / "data" / "horde-model-reference.json",
)


def test_every_shipped_entry_has_a_source_family_and_translatable_value():
    entries = default_entries()
    assert len(entries) >= 25
    for entry in entries:
        assert entry.source.startswith(("AI Horde model reference", "model card:")), entry
        assert entry.family in ("sd1", "sd2", "sdxl")
        assert translate(entry.clip_skip, entry.family, entry.convention, "a1111") is not None
        assert entry.sha256, f"{entry.name} has no sha256"


def test_horde_entries_are_comfyui_numbering_and_agree_with_the_reference_facts():
    horde = [entry for entry in default_entries() if entry.source.startswith("AI Horde")]
    assert {entry.convention for entry in horde} == {"comfyui"}
    if not HORDE_FACTS.is_file():
        pytest.skip("shared/data/horde-model-reference.json is not in this checkout")
    facts = {model["name"]: model for model in json.loads(HORDE_FACTS.read_text(encoding="utf-8"))["models"]}
    for entry in horde:
        fact = facts[entry.name]
        assert fact["clip_skip"] == entry.clip_skip
        assert [digest.lower() for digest in fact["sha256"]] == list(entry.sha256)
    with_value = {name for name, fact in facts.items() if fact["clip_skip"] is not None}
    # Everything with a value is shipped, except families without a clip skip numbering (Flux).
    assert with_value - {entry.name for entry in horde} == {"Flux.1-Schnell fp8 (Compact)"}


def test_horde_sdxl_2_in_comfyui_numbering_is_2_on_a1111_and_forge():
    pony = next(entry for entry in default_entries() if entry.name == "Pony Diffusion XL")
    assert (pony.family, pony.clip_skip, pony.convention) == ("sdxl", 2.0, "comfyui")
    assert translate(pony.clip_skip, pony.family, pony.convention, "a1111") == 2
    assert translate(pony.clip_skip, pony.family, pony.convention, "forge") == 2


def test_matching_by_sha256_version_model_and_name():
    entries = default_entries()
    pony_sha = "67ab2fd8ec439a89b3fedb15cc65f54336af163c7eb5e4f2acc98f090a29b0b3"
    by_sha = find_curated(entries, name="whatever", family="sdxl", sha256=pony_sha).best
    assert by_sha.source.startswith("curated: AI Horde model reference")
    assert "'Pony Diffusion XL'" in by_sha.source
    assert "matched by sha256" in by_sha.detail
    majic = find_curated(entries, name="x", family=None, civitai_version_id=176425)
    assert majic.best.convention == "a1111"
    assert majic.family == "sd1"
    assert find_curated(entries, name="x", family="sdxl", civitai_model_id=257749).best.confidence == 0.5
    by_name = find_curated(entries, name="icbinp_xl", family="sdxl").best
    assert "matched by name only" in by_name.detail
    assert find_curated(entries, name="unknown-model", family="sd1").recommendations == ()


def test_an_entry_of_another_family_is_a_note():
    pony_sha = "67ab2fd8ec439a89b3fedb15cc65f54336af163c7eb5e4f2acc98f090a29b0b3"
    finding = find_curated(default_entries(), name="x", family="sd1", sha256=pony_sha)
    assert finding.recommendations == ()
    assert "but the model is sd1" in finding.notes[0]


GOOD = {"name": "M", "family": "sd1", "clip_skip": 2, "convention": "a1111", "source": "model card: M says 2"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": ""}, "has no source"),
        ({"source": None}, "has no source"),
        ({"family": "flux"}, "family 'flux' is not one of"),
        ({"convention": "webui"}, "convention 'webui' is not one of"),
        ({"clip_skip": "2"}, "is not a number"),
        ({"clip_skip": 40}, "out of range"),
        ({"sha256": ["abc"]}, "is not a sha256"),
        ({"civitai_model_id": "12"}, "is not an integer"),
    ],
)
def test_bad_curated_entries_are_refused(tmp_path, change, message):
    path = write_json(tmp_path / "curated.json", {"entries": [GOOD, GOOD | change]})
    with pytest.raises(MetadataError, match=message) as raised:
        load_curated(path)
    assert "entry 1 ('M')" in str(raised.value)


def test_a_good_curated_file_loads(tmp_path):
    (entry,) = load_curated(write_json(tmp_path / "curated.json", {"entries": [GOOD]}))
    assert (entry.name, entry.clip_skip, entry.sha256) == ("M", 2.0, ())
