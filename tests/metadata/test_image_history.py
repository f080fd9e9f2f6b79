"""The user's own images as a source (issue 14): PNG text chunks only, incremental, bounded."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from metadata_helpers import SD1_CHECKPOINT, write_model

from clip_skip_ext.metadata import database
from clip_skip_ext.metadata import image_history as history_module
from clip_skip_ext.metadata.image_history import ImageHistory, infotext_fields, png_parameters

Image = pytest.importorskip("PIL.Image")
PngImagePlugin = pytest.importorskip("PIL.PngImagePlugin")
ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789" + "ab" * 27


def infotext(model_hash="0123456789", extra="", version="v1.10.1", model="m"):
    return (
        "a photo of a cat\nNegative prompt: blurry\n"
        f"Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Model hash: {model_hash}, "
        f"Model: {model}{extra}, Version: {version}"
    )


def save_png(path: Path, text: str | None, *, itxt: bool = False) -> Path:
    """A real PNG as the WebUIs save it (Pillow, ``parameters`` text chunk before the pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_itxt("parameters", text) if itxt else info.add_text("parameters", text)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, pnginfo=info)
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_the_parameters_text_comes_from_tEXt_iTXt_and_zTXt(tmp_path):
    text = infotext(extra=", Clip skip: 2")
    assert png_parameters(save_png(tmp_path / "a.png", text)) == text
    unicode_text = infotext(extra=", Clip skip: 2").replace("cat", "猫")
    assert png_parameters(save_png(tmp_path / "b.png", unicode_text, itxt=True)) == unicode_text
    z = PngImagePlugin.PngInfo()
    z.add_text("parameters", text, zip=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "c.png", pnginfo=z)
    assert png_parameters(tmp_path / "c.png") == text
    assert png_parameters(save_png(tmp_path / "d.png", None)) is None


def test_the_pixels_are_never_read(tmp_path, monkeypatch):
    path = save_png(tmp_path / "a.png", infotext())
    # garbage after the text chunk's IDAT start: a decoder would fail, the reader stops before it
    data = path.read_bytes()
    at = data.index(b"IDAT") - 4
    path.write_bytes(data[:at] + chunk(b"IDAT", b"\xff" * 50_000))
    reads = []
    real_open = open

    def counting_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        original = handle.read
        handle.read = lambda n=-1: reads.append(n) or original(n)
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    assert "Steps: 20" in png_parameters(path)
    assert sum(reads) < 1000


def test_infotext_fields_unquote_values():
    fields = infotext_fields(infotext(extra=', Clip skip schedule: "2@40%, 1", Clip skip source: panel'))
    assert fields["Model hash"] == "0123456789"
    assert fields["Clip skip schedule"] == "2@40%, 1"
    assert fields["Clip skip source"] == "panel"


@pytest.mark.parametrize(
    "content",
    [
        b"not a png at all",
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 10, b"tEXt") + b"param",  # truncated chunk
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 2**31, b"tEXt"),  # declares 2 GB of text
        b"\x89PNG\r\n\x1a\n" + chunk(b"iTXt", b"parameters\0\0\0\0\0\xff\xfe Steps: 1"),  # invalid UTF-8
        b"\x89PNG\r\n\x1a\n" + chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"x" * 5_000_000)),  # bomb
        b"\x89PNG\r\n\x1a\n" + chunk(b"zTXt", b"parameters\0\0not zlib"),
        b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", b"Comment\0hello") * 200,  # many chunks, never parameters
    ],
    ids=["not-png", "truncated", "huge-length", "bad-utf8", "zlib-bomb", "bad-zlib", "many-chunks"],
)
def test_hostile_pngs_give_no_text_and_no_error(tmp_path, content):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    assert png_parameters(path) is None
    history = ImageHistory([tmp_path])
    history.refresh()
    assert history.problems == []
    assert history.finding("0123456789").best is None


def outputs(tmp_path: Path, skips: list[str | None], **kwargs) -> Path:
    folder = tmp_path / "outputs" / "txt2img-images" / "2026-12-02"
    for index, skip in enumerate(skips):
        extra = f", Clip skip: {skip}" if skip else ""
        save_png(folder / f"{index:05}.png", infotext(extra=extra, **kwargs))
    return tmp_path / "outputs"


def test_the_majority_skip_with_this_checkpoint_is_a_recommendation(tmp_path):
    folder = outputs(tmp_path, ["2"] * 41 + [None] * 9)  # no "Clip skip" key: 1 (A1111 omits 1)
    save_png(folder / "other.png", infotext(model_hash="ffffffffff", extra=", Clip skip: 3"))
    history = ImageHistory([folder])
    history.refresh()
    best = history.finding(SHA[:10]).best
    assert (best.skip, best.convention, best.origin) == (2, "a1111", "history")
    assert best.source == "your images (41 of 50 with this checkpoint)"
    assert best.detail.startswith(
        "you used 2 in 41 of 50 images with this checkpoint (matched by model hash; 2 in 41, 1 in 9)"
    )
    assert best.confidence == pytest.approx(0.5 * 41 / 50)


def test_our_schedule_key_wins_over_the_global_slider_and_schedules_are_counted_apart(tmp_path):
    folder = tmp_path / "out"
    for index in range(3):
        save_png(folder / f"{index}.png", infotext(extra=", Clip skip: 2, Clip skip schedule: 1"))
    save_png(folder / "s.png", infotext(extra=', Clip skip schedule: "2@40%, 1"'))
    history = ImageHistory([folder])
    history.refresh()
    finding = history.finding(SHA[:10])
    assert finding.best.skip == 1
    assert finding.notes == ("1 of your 4 images with it used a clip skip schedule",)


def test_the_images_host_sets_the_numbering(tmp_path):
    folder = tmp_path / "out"
    for index in range(3):
        save_png(
            folder / f"{index}.png", infotext(extra=", Clip skip: 2", version="f2.0.1v1.10.1-previous-669")
        )
    history = ImageHistory([folder])
    history.refresh()
    assert history.finding(SHA[:10]).best.convention == "forge"


def test_without_a_known_sha256_images_match_by_model_name(tmp_path):
    folder = outputs(tmp_path, ["2"] * 3, model="m")
    history = ImageHistory([folder])
    history.refresh()
    assert (
        history.finding(None, None, "checkpoints/m.safetensors").best.detail.count("matched by model name")
        == 1
    )
    assert history.finding("ffffffffff", None, "m.safetensors").best is None  # the hash is known and differs


def test_the_index_is_incremental_and_survives_a_restart(tmp_path):
    folder = outputs(tmp_path, ["2"] * 5)
    cache = tmp_path / "index.json"
    first = ImageHistory([folder], cache_path=cache)
    first.refresh()
    assert first.read_count == 5
    save_png(folder / "txt2img-images" / "2026-12-02" / "new.png", infotext(extra=", Clip skip: 2"))
    second = ImageHistory([folder], cache_path=cache)
    second.refresh()
    assert (second.read_count, len(second.images)) == (1, 6)  # only the new image is read
    changed = folder / "txt2img-images" / "2026-12-02" / "00000.png"
    save_png(changed, infotext(extra=", Clip skip: 3" + " " * 10))  # another size
    os.remove(folder / "txt2img-images" / "2026-12-02" / "00001.png")
    second.refresh()
    assert (second.read_count, len(second.images)) == (1, 5)
    assert second.finding(SHA[:10]).best.detail.endswith("2 in 4, 3 in 1)")
    assert json.loads(cache.read_text())["format"] == "clip-skip-control image index"


def test_generations_are_unique_across_indexes(tmp_path):
    # A cache keyed on (generation) must never take a new index for an old one, even when the old
    # one is gone and the new one reads other folders (a CI failure once came from keying on id()).
    first = ImageHistory([outputs(tmp_path / "a", ["2"])])
    first.refresh()
    seen = {first.generation}
    first.refresh()
    assert first.generation in seen  # nothing changed: the same generation
    second = ImageHistory([outputs(tmp_path / "b", ["1"])])
    assert second.generation not in seen
    seen.add(second.generation)
    second.refresh()
    assert second.generation not in seen


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "images": {"a": [1]}}', "[" * 100_000])
def test_an_unreadable_index_file_is_rebuilt(tmp_path, content):
    folder = outputs(tmp_path, ["2"] * 3)
    cache = tmp_path / "index.json"
    cache.write_text(content)
    history = ImageHistory([folder], cache_path=cache)
    history.refresh()
    assert (history.read_count, history.finding(SHA[:10]).best.skip) == (3, 2)
    assert json.loads(cache.read_text())["version"] == 1


def test_the_index_is_bounded(tmp_path):
    folder = outputs(tmp_path, ["2"] * 6)
    history = ImageHistory([folder], max_images=4)
    history.refresh()
    assert len(history.images) == 4
    assert history.problems == ["only the first 4 images are counted"]


def test_an_unreadable_image_is_a_problem_naming_it_and_a_fifo_is_passed_over(tmp_path, monkeypatch):
    folder = outputs(tmp_path, ["2"] * 3)
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.png")  # opening it would block: it is not a regular file
    real = history_module.png_parameters

    def denied(path):
        if str(path).endswith("00000.png"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(history_module, "png_parameters", denied)
    history = ImageHistory([folder])
    history.refresh()
    assert len(history.images) == 2
    assert len(history.problems) == 1
    assert history.problems[0].endswith("00000.png: cannot read the image: Permission denied")


def test_a_checkpoint_lookup_offers_it_below_structured_sources(tmp_path):
    folder = outputs(tmp_path, ["2"] * 6)
    path = write_model(tmp_path / "models" / "m.safetensors", None, SD1_CHECKPOINT)
    history = ImageHistory([folder])
    history.refresh()
    result = database.lookup(path, host="a1111", sha256=SHA, history=history, use_heuristics=False)
    assert result.recommendation.source == "your images (6 of 6 with this checkpoint)"
    (tmp_path / "models" / "m.description.txt").write_text("Clip skip: 1")
    result = database.lookup(path, host="a1111", sha256=SHA, history=history, use_heuristics=False)
    assert [c.recommendation.origin for c in result.candidates] == ["history", "description"]
    lora = database.lookup(path, host="a1111", kind="lora", sha256=SHA, history=history, use_heuristics=False)
    assert all(c.recommendation.origin != "history" for c in lora.candidates)  # checkpoints only


def test_scan_with_images(tmp_path):
    folder = outputs(tmp_path, ["2"] * 4, model="m")
    models = tmp_path / "models" / "Stable-diffusion"
    write_model(models / "m.safetensors", None, SD1_CHECKPOINT)
    index = tmp_path / "index.json"
    command = [sys.executable, "-m", "clip_skip_ext", "scan", str(models), "--images", str(folder)]
    done = subprocess.run([*command, "--image-index", str(index)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "your images (4 of 4 with this checkpoint)" not in done.stdout  # the table's short label:
    assert "your images" in done.stdout
    assert "4 of your images indexed (4 read now)" in done.stdout
    again = subprocess.run(
        [*command, "--image-index", str(index), "--json"], capture_output=True, text=True, cwd=ROOT
    )
    row = json.loads(again.stdout)[0]
    assert (row["skip"], row["origin"], row["source"]) == (
        2,
        "history",
        "your images (4 of 4 with this checkpoint)",
    )
    bad = subprocess.run([*command[:-1], str(tmp_path / "missing")], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2
    assert "--images" in bad.stderr
    assert "does not exist" in bad.stderr


def test_history_module_reads_no_pixels_by_design():
    source = Path(history_module.__file__).read_text()
    assert "PIL" not in source  # the index never imports an image decoder
