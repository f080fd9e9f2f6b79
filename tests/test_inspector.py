"""The layer inspector: its tensors are the host's, its files are read by offset, its picture and JSON
say the same, and every bad input is a clear exit 2."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

from clip_skip_ext import clip_tokenizer, heatmap, inspector, text_weights
from clip_skip_ext.encoder import text_transformer
from clip_skip_ext.metadata.safetensors_header import MetadataError, ReadCounter

ROOT = Path(__file__).resolve().parents[1]
CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 1}
WORDS = ("cat", "sitting", "on", "mat")


def bytes_to_unicode():
    # GPT-2's byte-to-character table, which CLIP's BPE uses (openai/CLIP simple_tokenizer.py).
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    )
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tiny CLIP BPE tokenizer: every byte, and merges that make each of WORDS one token."""
    folder = tmp_path_factory.mktemp("tokenizer")
    chars = bytes_to_unicode()
    vocab = chars + [c + "</w>" for c in chars]
    merges = []
    for word in WORDS:
        current = word[0]
        for i, char in enumerate(word[1:], start=1):
            piece = char + ("</w>" if i == len(word) - 1 else "")
            merges.append(f"{current} {piece}")
            current += piece
            vocab.append(current)
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(dict.fromkeys(vocab))}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return folder


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    return clip_tokenizer.find(tokenizer_dir)


def build(shape, vocab, act="quick_gelu", seed=0):
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=vocab, max_position_embeddings=77, hidden_act=act, layer_norm_eps=1e-5, **shape
    )
    return CLIPTextModel(config).eval()


def to_openclip(model):
    """The Hugging Face weights in OpenCLIP's layout (what sgm/ldm checkpoints store)."""
    state = text_transformer(model).state_dict()
    out = {
        "token_embedding.weight": state["embeddings.token_embedding.weight"],
        "positional_embedding": state["embeddings.position_embedding.weight"],
        "ln_final.weight": state["final_layer_norm.weight"],
        "ln_final.bias": state["final_layer_norm.bias"],
        "text_projection": torch.zeros(4, 4),
        "logit_scale": torch.ones(()),
    }
    names = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj"}
    names |= {"mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    for i in range(len(text_transformer(model).encoder.layers)):
        hf, oc = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{oc}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{hf}self_attn.{x}_proj.{kind}"] for x in "qkv"]
            )
            for a, b in names.items():
                out[f"{oc}{b}.{kind}"] = state[f"{hf}{a}.{kind}"]
    return out


UNET = {"model.diffusion_model.input_blocks.0.0.weight": torch.ones(500_000, dtype=torch.float16)}


def write(path, tensors):
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


@pytest.fixture(scope="module")
def sd1_file(tmp_path_factory, tokenizer):
    model = build(TINY, len(tokenizer))
    state = {
        f"cond_stage_model.transformer.text_model.{k}": v
        for k, v in text_transformer(model).state_dict().items()
    }
    state = {k: v.half() for k, v in state.items() if "position_ids" not in k}
    path = write(tmp_path_factory.mktemp("sd1") / "tiny-sd1.safetensors", {**state, **UNET})
    return path, model


def a1111_sd1(model, ids, n):
    # A1111 modules/sd_hijack_clip.py:351-360: N=1 the last hidden state, else final_layer_norm(hidden_states[-N])
    out = model(input_ids=ids, output_hidden_states=True)
    return (
        out.last_hidden_state if n == 1 else text_transformer(model).final_layer_norm(out.hidden_states[-n])
    )


def test_on_clip_l_each_column_is_exactly_the_tensor_the_hosts_clip_skip_selects():
    model = build(CLIP_L, 49408)
    chunks, lengths = inspector.chunk_ids(list(range(100, 130)), 49406, 49407, 49407)
    labels = [f"t{i}" for i in range(30)] + ["<end>"]
    table, tensors = inspector.inspect(model, chunks, lengths, labels, "sd1", "a1111")
    assert [c.values for c in table.columns] == [(n,) for n in range(1, 14)]
    with torch.no_grad():
        for n in range(1, 14):
            assert torch.equal(tensors[n], a1111_sd1(model, chunks, n)), n
    assert all(row[0] == 1.0 for row in table.similarity)  # the default column is the default layer
    assert len(table.similarity) == 31
    assert table.tokens[-1] == "<end>"


def test_values_that_select_one_layer_share_a_column():
    labels = [c.label for c in inspector.columns("sdxl", "forge", 0)]
    assert labels[:2] == ["1-2", "3"]  # Forge SDXL: 1 and 2 are both the native penultimate layer
    comfy = inspector.columns("sd1", "comfyui", 0)
    assert comfy[0].label == "1, 13-24"
    assert comfy[0].layer == "layer 12 of 12 + final norm"
    assert [c.label for c in inspector.columns("sdxl", "a1111", 1)] == ["1-13"]  # CLIP-G never moves on A1111


def test_a_long_prompt_is_chunked_by_75_and_every_token_is_a_row():
    model = build(TINY, 49408)
    chunks, lengths = inspector.chunk_ids(list(range(1, 91)), 49406, 49407, 49407)
    assert chunks.shape == (2, 77)
    assert lengths == [75, 15]
    labels = [str(i) for i in range(75)] + ["<end>"] + [str(i) for i in range(15)] + ["<end>"]
    table, _ = inspector.inspect(model, chunks, lengths, labels, "sd1", "a1111")
    assert len(table.similarity) == 92
    assert len(table.means) == len(table.columns) == 4  # 3 blocks: values 1-4 (4 = token embeddings)
    data = table.to_dict()
    assert data["measure"].startswith("Each cell is the cosine similarity")
    assert data["columns"][0]["label"] == "1"
    with pytest.raises(ValueError, match="3 token labels for 92 rows"):
        inspector.inspect(model, chunks, lengths, labels[:3], "sd1", "a1111")


def test_a_checkpoint_gives_up_only_its_text_encoder(sd1_file, tokenizer):
    path, original = sd1_file
    counter = ReadCounter()
    family, encoders = text_weights.text_encoders(str(path), counter=counter)
    assert family == "sd1"
    assert [name for name, _ in encoders] == ["CLIP-L"]
    unet_bytes = 500_000 * 2
    assert counter.bytes == path.stat().st_size - unet_bytes  # every byte but the UNet's
    ids = torch.tensor([[len(tokenizer) - 2, 5, 6, len(tokenizer) - 1] + [len(tokenizer) - 1] * 73])
    loaded = encoders[0][1]
    with torch.no_grad():
        reference = original.half().float()  # the file holds float16 weights
        assert torch.equal(
            loaded(input_ids=ids).last_hidden_state, reference(input_ids=ids).last_hidden_state
        )


def test_sdxl_reads_clip_l_and_converts_openclip_big_g(tmp_path, tokenizer):
    clip_l, big_g = (
        build(TINY, 600),
        build({**TINY, "hidden_size": 128, "num_attention_heads": 2}, 600, "gelu", 1),
    )
    state = {
        f"conditioner.embedders.0.transformer.text_model.{k}": v
        for k, v in text_transformer(clip_l).state_dict().items()
    }
    state |= {f"conditioner.embedders.1.model.{k}": v for k, v in to_openclip(big_g).items()}
    path = write(tmp_path / "xl.safetensors", {k: v for k, v in state.items() if "position_ids" not in k})
    family, encoders = text_weights.text_encoders(str(path))
    assert family == "sdxl"
    assert [name for name, _ in encoders] == ["CLIP-L", "CLIP-G"]
    ids = torch.randint(0, 598, (1, 77))
    with torch.no_grad():
        for source, (_, loaded) in zip((clip_l, big_g), encoders):
            a = source(input_ids=ids, output_hidden_states=True).hidden_states
            b = loaded(input_ids=ids, output_hidden_states=True).hidden_states
            assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}, "is 'I64'; expected one of F16, BF16, F32"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}, "do not fit its shape or the file"),
        ({"dtype": "F32", "shape": [2**30], "data_offsets": [0, 2**32]}, "do not fit its shape or the file"),
        ({"dtype": "F32", "shape": "x", "data_offsets": [0, 8]}, "not a safetensors tensor"),
    ],
)
def test_a_hostile_tensor_entry_is_a_clear_error(tmp_path, entry, message):
    header = json.dumps(
        {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": entry}
    ).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        text_weights.text_encoders(str(path))


def test_tokenizer_lookup_says_how_to_provide_one(tmp_path, monkeypatch, tokenizer_dir):
    with pytest.raises(
        clip_tokenizer.TokenizerMissing,
        match=r"does not hold vocab\.json and merges\.txt; pass --tokenizer DIR",
    ):
        clip_tokenizer.find(tmp_path)
    monkeypatch.setattr(clip_tokenizer, "HUB_NAME", "nobody/no-such-tokenizer")  # not in any cache
    with pytest.raises(clip_tokenizer.TokenizerMissing, match="no CLIP tokenizer found"):
        clip_tokenizer.find(webui_dir=tmp_path)
    forge = (
        tmp_path / "forge" / "backend" / "huggingface" / "runwayml" / "stable-diffusion-v1-5" / "tokenizer"
    )
    forge.mkdir(parents=True)
    for name in ("vocab.json", "merges.txt"):
        (forge / name).write_bytes((tokenizer_dir / name).read_bytes())
    found = clip_tokenizer.find(webui_dir=tmp_path / "forge")
    assert found.convert_ids_to_tokens(found("cat on mat", add_special_tokens=False)["input_ids"]) == [
        "cat</w>",
        "on</w>",
        "mat</w>",
    ]


def test_heatmap_svg_and_png_show_the_same_table():
    model = build(TINY, 49408)
    chunks, lengths = inspector.chunk_ids([5, 6], 49406, 49407, 49407)
    table, _ = inspector.inspect(model, chunks, lengths, ["a", "<b>", "<end>"], "sd1", "a1111")
    svg = heatmap.to_svg([table])
    root = ET.fromstring(svg)
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert tips[0].startswith("Layer inspector: CLIP-L, 3 tokens, mean similarity per clip skip 1: 1.00")
    assert f"<b> · clip skip 2: {table.similarity[1][1]:.3f}" in tips
    assert "Each cell is the cosine similarity" in svg
    png = heatmap.to_png([table])
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png))
    _, width, height = heatmap.layout([table])
    assert image.size == (round(width * 2), round(height * 2))
    # the first cell of the first row is the default layer: similarity 1, viridis yellow
    x, y = (heatmap.LABEL_W + 2) * 2, (20 + heatmap.HEAD_H + 2) * 2
    assert image.getpixel((x, y)) == heatmap.colour(1.0)


def cli(*args, env=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "clip_skip_ext", "inspect", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


def test_cli_json_and_picture(sd1_file, tokenizer_dir, tmp_path):
    path, _ = sd1_file
    out = tmp_path / "layers.png"
    result = cli(
        str(path),
        "cat sitting on mat <clipskip:2>",
        "--tokenizer",
        str(tokenizer_dir),
        "--json",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["family"] == "sd1"
    assert data["bytes_read"] == path.stat().st_size - 1_000_000  # not the UNet
    (table,) = data["encoders"]
    assert table["tokens"] == ["cat", "sitting", "on", "mat", "<end>"]  # the directive is not a token
    assert [c["label"] for c in table["columns"]] == ["1", "2", "3", "4"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = cli(str(path), "cat", "--tokenizer", str(tokenizer_dir), "--host", "forge")
    assert text.returncode == 0
    assert "CLIP-L (SD1 on Forge), 2 tokens; mean similarity per clip skip:" in text.stdout
    assert "read " in text.stderr
    assert "MB of" in text.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.jpg"], "--out 'x.jpg': the picture is written as .png or .svg"),
        (["--tokenizer", "/nonexistent"], "does not hold vocab.json and merges.txt"),
        (
            ["--family", "sdxl"],
            "no CLIP-L tensors under 'conditioner.embedders.0.transformer.' (is it sdxl?)",
        ),
    ],
)
def test_cli_errors_exit_2(sd1_file, tokenizer_dir, extra, message):
    path, _ = sd1_file
    args = [str(path), "cat", "--tokenizer", str(tokenizer_dir), *extra]
    if "--tokenizer" in extra:
        args = [str(path), "cat", *extra]
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
