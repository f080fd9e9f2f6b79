"""``python -m clip_skip_ext scan``: real safetensors files in an A1111-like layout, run as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

ROOT = Path(__file__).resolve().parents[1]

SD1_CHECKPOINT = ("cond_stage_model.transformer.text_model.final_layer_norm.weight",)
SDXL_CHECKPOINT = (
    "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
    "conditioner.embedders.1.model.ln_final.weight",
)
SD1_LORA = ("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",)
SDXL_LORA = (
    "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
    "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
)
KOHYA_SD1 = {"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1"}
KOHYA_SDXL = {"ss_network_module": "networks.lora", "ss_base_model_version": "sdxl_base_v1-0"}


def write_model(path: Path, tensors: tuple[str, ...], metadata: dict[str, str] | None = None, size: int = 4):
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {key: torch.arange(size, dtype=torch.float32) + index for index, key in enumerate(tensors)}
    safetensors_torch.save_file(weights, str(path), metadata=metadata)
    return path


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def make_tree(models: Path) -> Path:
    """An A1111 ``models`` folder with one file for each case the scan must handle."""
    sd, lora = models / "Stable-diffusion", models / "Lora"
    write_model(
        sd / "animeMix_v3.safetensors",
        SD1_CHECKPOINT,
        {"modelspec.architecture": "stable-diffusion-v1", "modelspec.encoder_layer": "2"},
    )
    write_model(
        sd / "xl" / "juggerXL.safetensors",
        SDXL_CHECKPOINT,
        {"modelspec.architecture": "stable-diffusion-xl-v1-base", "modelspec.encoder_layer": "3"},
    )
    write_model(sd / "realvis.safetensors", SD1_CHECKPOINT)
    write_json(sd / "realvis.json", {"description": "", "clip skip": 1, "sd version": "SD1"})
    (sd / "oldModel.ckpt").write_bytes(b"PK\x03\x04" + bytes(200))  # a zip, as torch.save writes
    images = [{"meta": {"Clip skip": value}} for value in ("2", "2", "1")]
    write_json(sd / "oldModel.civitai.info", {"id": 1, "modelId": 2, "baseModel": "SD 1.5", "images": images})
    header = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    (sd / "truncated.safetensors").write_bytes(struct.pack("<Q", 10_000) + header[:30])
    write_model(lora / "styleA.safetensors", SD1_LORA, {**KOHYA_SD1, "ss_clip_skip": "2"})
    write_model(lora / "xl" / "charXL.safetensors", SDXL_LORA, {**KOHYA_SDXL, "ss_clip_skip": "2"})
    nested = b"[" * 100_000 + b"]" * 100_000  # valid JSON that overflows Python's parser
    (lora / "hostile.safetensors").write_bytes(struct.pack("<Q", len(nested)) + nested)
    write_model(models / "LyCORIS" / "locon.safetensors", SD1_LORA)
    write_model(
        models / "VAE" / "vae-ft-mse.safetensors", ("encoder.conv_in.weight", "decoder.conv_out.weight")
    )
    write_model(models / "downloads" / "someLora.safetensors", SD1_LORA, {**KOHYA_SD1, "ss_clip_skip": "1"})
    write_model(models / "downloads" / "someCheckpoint.safetensors", SD1_CHECKPOINT)
    write_model(models / "downloads" / "embedding.safetensors", ("emb_params",))
    (models / "downloads" / "notes.txt").write_text("not a model")
    (lora / "._styleA.safetensors").write_bytes(b"\0\0")  # macOS AppleDouble file: hidden, ignored
    return models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("webui") / "models")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    command = [sys.executable, "-m", "clip_skip_ext", "scan", *args]
    return subprocess.run(command, text=True, cwd=ROOT, timeout=120, check=False, **options)


def scan_json(*args: str) -> dict[str, dict]:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return {row["path"]: row for row in rows}


EXPECTED_PATHS = [
    "downloads/someCheckpoint.safetensors",
    "downloads/someLora.safetensors",
    "Lora/hostile.safetensors",
    "Lora/styleA.safetensors",
    "Lora/xl/charXL.safetensors",
    "LyCORIS/locon.safetensors",
    "Stable-diffusion/animeMix_v3.safetensors",
    "Stable-diffusion/oldModel.ckpt",
    "Stable-diffusion/realvis.safetensors",
    "Stable-diffusion/truncated.safetensors",
    "Stable-diffusion/xl/juggerXL.safetensors",
]


def test_json_rows(models: Path) -> None:
    result = run(str(models), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar: stderr is not a terminal
    rows = json.loads(result.stdout)
    assert [row["path"] for row in rows] == EXPECTED_PATHS  # sorted; VAE, embedding, .txt, ._ skipped
    for row in rows:
        assert {"path", "kind", "skip", "source", "convention", "confidence", "family", "error"} <= set(row)
        assert row["convention"] == "a1111"
    by_path = {row["path"]: row for row in rows}

    checkpoint = by_path["Stable-diffusion/animeMix_v3.safetensors"]
    assert (checkpoint["kind"], checkpoint["family"], checkpoint["skip"]) == ("checkpoint", "sd1", 2)
    assert checkpoint["source"] == "safetensors header (modelspec.encoder_layer)"
    assert checkpoint["confidence"] == pytest.approx(0.8)
    assert checkpoint["kind_reason"] == "in the Stable-diffusion folder"

    lora = by_path["Lora/styleA.safetensors"]
    assert (lora["kind"], lora["family"], lora["skip"]) == ("lora", "sd1", 2)
    assert (lora["original_skip"], lora["original_convention"]) == (2, "kohya")
    assert lora["source"] == "safetensors header (ss_clip_skip)"

    sdxl_lora = by_path["Lora/xl/charXL.safetensors"]
    assert (sdxl_lora["kind"], sdxl_lora["family"], sdxl_lora["skip"]) == ("lora", "sdxl", None)
    assert sdxl_lora["source"] is None
    assert not sdxl_lora["broken"]
    assert any("kohya does not apply clip skip when training SDXL" in note for note in sdxl_lora["notes"])

    sidecar = by_path["Stable-diffusion/realvis.safetensors"]
    assert (sidecar["skip"], sidecar["origin"], sidecar["source"]) == (1, "sidecar", "sidecar realvis.json")
    assert sidecar["confidence"] == pytest.approx(0.9)

    ckpt = by_path["Stable-diffusion/oldModel.ckpt"]
    assert (ckpt["kind"], ckpt["family"], ckpt["skip"], ckpt["origin"]) == ("checkpoint", "sd1", 2, "civitai")
    assert not ckpt["broken"]
    assert "no safetensors header (.ckpt file)" in ckpt["remarks"]

    truncated = by_path["Stable-diffusion/truncated.safetensors"]
    assert truncated["broken"]
    assert truncated["skip"] is None
    assert "runs past the end of the file" in truncated["error"]
    assert truncated["bytes_read"] == 8  # the length field only

    hostile = by_path["Lora/hostile.safetensors"]
    assert hostile["broken"]
    assert hostile["kind"] == "lora"
    assert "nests JSON too deeply" in hostile["error"]

    # No A1111 folder: the header decides.
    assert by_path["downloads/someLora.safetensors"]["kind"] == "lora"
    assert by_path["downloads/someLora.safetensors"]["kind_reason"].startswith("header ss_network_module")
    assert by_path["downloads/someCheckpoint.safetensors"]["kind"] == "checkpoint"
    assert by_path["LyCORIS/locon.safetensors"]["kind"] == "lora"


def test_text_table(models: Path) -> None:
    result = run(str(models))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PATH", "KIND", "FAMILY", "SKIP", "SOURCE", "CONF", "NOTE"]
    body, last = lines[1:-1], lines[-1]
    assert [line.split()[0] for line in body] == EXPECTED_PATHS
    assert (
        len({line.index(" LoRA ") if " LoRA " in line else line.index(" checkpoint ") for line in body}) == 1
    )
    rows = {line.split()[0]: line for line in body}
    assert rows["Stable-diffusion/animeMix_v3.safetensors"].split()[1:7] == [
        "checkpoint",
        "SD1",
        "2",
        "header",
        "modelspec.encoder_layer",
        "0.80",
    ]
    assert rows["Lora/styleA.safetensors"].split()[1:4] == ["LoRA", "SD1", "2"]
    assert rows["Lora/xl/charXL.safetensors"].split()[1:4] == ["LoRA", "SDXL", "-"]
    assert "error: the declared header length (10000 bytes)" in rows["Stable-diffusion/truncated.safetensors"]
    assert "no safetensors header (.ckpt file)" in rows["Stable-diffusion/oldModel.ckpt"]
    assert last == (
        "11 models (6 checkpoints, 5 LoRAs): 6 with a recommendation, 2 broken; "
        "2 other files skipped (not a checkpoint or LoRA); skip in A1111 numbering"
    )
    assert run(str(models)).stdout == result.stdout  # deterministic


def test_host_forge_translates_and_says_when_there_is_no_equivalent(models: Path) -> None:
    rows = scan_json(str(models), "--host", "forge")
    assert {row["convention"] for row in rows.values()} == {"forge"}
    assert rows["Stable-diffusion/animeMix_v3.safetensors"]["skip"] == 2
    sdxl = rows["Stable-diffusion/xl/juggerXL.safetensors"]  # A1111 3 on SDXL moves CLIP-L only
    assert sdxl["skip"] is None
    assert not sdxl["broken"]
    assert sdxl["candidates"][0]["problem"] == (
        "3 in A1111 numbering selects layers that Forge cannot select on SDXL"
    )
    assert sdxl["remarks"][0].startswith("no equivalent on Forge (header modelspec.encoder_layer: 3 in A1111")
    text = run(str(models), "--host", "forge").stdout
    line = next(line for line in text.splitlines() if line.startswith("Stable-diffusion/xl/juggerXL"))
    assert line.split()[1:4] == ["checkpoint", "SDXL", "-"]
    assert "no equivalent on Forge" in line
    assert text.splitlines()[-1].endswith(
        "5 with a recommendation, 2 broken; 2 other files skipped "
        "(not a checkpoint or LoRA); skip in Forge numbering"
    )
    assert scan_json(str(models))["Stable-diffusion/xl/juggerXL.safetensors"]["skip"] == 3


def test_missing_or_not_a_directory_exits_2(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope"))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "does not exist" in missing.stderr
    a_file = tmp_path / "file.safetensors"
    a_file.write_bytes(b"")
    not_dir = run(str(a_file), "--json")
    assert (not_dir.returncode, not_dir.stdout) == (2, "")
    assert "is not a directory" in not_dir.stderr
    bad_webui = run(str(tmp_path), "--webui-dir", str(tmp_path / "nope"))
    assert bad_webui.returncode == 2
    assert "--webui-dir" in bad_webui.stderr


def test_empty_folder(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1].startswith("0 models (0 checkpoints, 0 LoRAs)")
    assert json.loads(run(str(tmp_path), "--json").stdout) == []


def test_reads_only_the_header_and_the_autov1_window_unless_hash(tmp_path: Path) -> None:
    models = tmp_path / "models"
    big = write_model(
        models / "Stable-diffusion" / "big.safetensors",
        SD1_CHECKPOINT,
        {"modelspec.encoder_layer": "2"},
        size=1_000_000,  # 4 MB of tensor data
    )
    header_end = 8 + struct.unpack("<Q", big.read_bytes()[:8])[0]
    row = scan_json(str(models))["Stable-diffusion/big.safetensors"]
    assert row["sha256"] is None
    assert row["bytes_read"] == header_end + 0x10000
    hashed = scan_json(str(models), "--hash")["Stable-diffusion/big.safetensors"]
    assert hashed["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert hashed["sha256_source"] == "computed"
    text = run(str(models), "--hash").stdout.splitlines()[-1]
    assert "hashed 1 file (4.0 MB)" in text


def test_webui_dir_uses_the_hash_cache_and_the_overrides_without_writing(
    models: Path, tmp_path: Path
) -> None:
    checkpoint = models / "Stable-diffusion" / "animeMix_v3.safetensors"
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    webui = tmp_path / "webui"
    webui.mkdir()
    cache = {"hashes": {"checkpoint/animeMix_v3.safetensors": {"mtime": time.time() + 60, "sha256": digest}}}
    write_json(webui / "cache.json", cache)
    overrides = {
        "format": "clip-skip-control overrides",
        "version": 1,
        "overrides": {
            f"sha256:{digest}": {"skip": 1, "convention": "a1111", "saved_at": "2024-05-01T00:00:00Z"},
            "name:styleA.safetensors": {"skip": 3, "convention": "a1111", "saved_at": "2024-05-01T00:00:00Z"},
        },
    }
    store = write_json(webui / "clip_skip_overrides.json", overrides)
    before = store.read_bytes()
    rows = scan_json(str(models), "--webui-dir", str(webui))
    anime = rows["Stable-diffusion/animeMix_v3.safetensors"]
    assert (anime["sha256"], anime["skip"], anime["source"]) == (digest, 1, "user override")
    assert anime["sha256_source"] == "host hash cache (checkpoint/animeMix_v3.safetensors)"
    assert rows["Lora/styleA.safetensors"]["skip"] == 3  # matched by file name
    assert rows["Lora/styleA.safetensors"]["candidates"][1]["source"] == "safetensors header (ss_clip_skip)"
    assert store.read_bytes() == before
    assert sorted(os.listdir(webui)) == ["cache.json", "clip_skip_overrides.json"]  # no lock file


def test_a_corrupt_override_file_is_reported_and_left_alone(models: Path, tmp_path: Path) -> None:
    webui = tmp_path / "webui"
    webui.mkdir()
    (webui / "clip_skip_overrides.json").write_text("{not json")
    result = run(str(models), "--webui-dir", str(webui))
    assert result.returncode == 0
    assert "the user overrides file is unreadable" in result.stderr
    assert sorted(os.listdir(webui)) == ["clip_skip_overrides.json"]
    assert (webui / "clip_skip_overrides.json").read_text() == "{not json"


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="needs POSIX symlinks")
def test_symlink_loops_end(tmp_path: Path) -> None:
    lora = tmp_path / "Lora"
    write_model(lora / "a.safetensors", SD1_LORA, {**KOHYA_SD1, "ss_clip_skip": "2"})
    (lora / "loop").symlink_to(lora, target_is_directory=True)
    rows = scan_json(str(lora))
    assert list(rows) == ["a.safetensors"]  # DIR's own name says LoRA
    assert rows["a.safetensors"]["kind_reason"] == "in the Lora folder"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_goes_to_stderr_only_on_a_terminal(models: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        result = run(str(models), "--json", stderr=follower)
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    progress = b"".join(chunks).decode()
    assert result.returncode == 0
    # tqdm's bar, drawn although a new pseudo-terminal reports 0 x 0 characters
    assert progress.startswith("\rscanning: 0/13 |")  # every model-like file counts
    assert "/13 |" in progress
    assert ".safetensors" in progress
    assert progress.endswith("\r")  # the bar is wiped at the end (leave=False)
    assert progress.rstrip("\r").split("\r")[-1].strip() == ""
    assert len(json.loads(result.stdout)) == len(EXPECTED_PATHS)  # stdout stays pure JSON


def test_odd_file_names_are_escaped_and_aligned(tmp_path: Path) -> None:
    lora = tmp_path / "Lora"
    write_model(lora / "キャラ\x1b[2J.safetensors", SD1_LORA, {**KOHYA_SD1, "ss_clip_skip": "2"})
    write_model(lora / "plain.safetensors", SD1_LORA, {**KOHYA_SD1, "ss_clip_skip": "1"})
    result = run(str(tmp_path), env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    plain, odd = result.stdout.splitlines()[1:3]
    assert odd.startswith("Lora/キャラ\\x1b[2J.safetensors  LoRA")
    assert odd.index("LoRA") + 3 == plain.index("LoRA")  # three wide characters take two columns each
    rows = scan_json(str(tmp_path))
    assert list(rows) == ["Lora/plain.safetensors", "Lora/キャラ\x1b[2J.safetensors"]  # by code point
    assert rows["Lora/キャラ\x1b[2J.safetensors"]["skip"] == 2


def test_kind_from_folders_and_headers(tmp_path: Path) -> None:
    from clip_skip_ext.scan import place

    root = tmp_path / "checkpoints"  # ComfyUI's name; DIR's own name counts
    plain = write_model(root / "sub" / "model.safetensors", SD1_CHECKPOINT)
    assert (place(plain, root).kind, place(plain, root).models_dir) == ("checkpoint", root)
    other = tmp_path / "elsewhere"
    cases = {
        "modelspec_lora": (
            {"modelspec.architecture": "stable-diffusion-xl-v1-base/lora"},
            SD1_CHECKPOINT,
            "lora",
        ),
        "peft": (None, ("text_encoder.layers.0.q_proj.lora_A.weight",), "lora"),
        "embedding": (None, ("clip_l", "clip_g"), None),
        "vae": (None, ("encoder.conv_in.weight", "decoder.conv_out.weight"), None),
        "checkpoint": (None, SDXL_CHECKPOINT, "checkpoint"),
    }
    for name, (metadata, tensors, kind) in cases.items():
        path = write_model(other / f"{name}.safetensors", tensors, metadata)
        assert place(path, other).kind == kind, name
    ckpt = other / "x.ckpt"
    ckpt.write_bytes(b"PK")
    assert place(ckpt, other).assumed
    vae = write_model(tmp_path / "models" / "VAE" / "lora_like.safetensors", SD1_LORA)
    assert place(vae, tmp_path / "models").kind is None
    inside = write_model(tmp_path / "models" / "Lora" / "clip" / "style.safetensors", SD1_LORA)
    assert place(inside, tmp_path / "models").kind == "lora"  # a LoRA folder wins over a "clip" subfolder
