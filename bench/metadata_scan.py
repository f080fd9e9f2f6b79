"""Benchmark: look up 1,000 small synthetic model files, and report files/s and bytes read per file.

    python bench/metadata_scan.py [--files 1000] [--seed 0]

Writes real safetensors files (with the safetensors library) to a temporary folder: SD1 and SDXL
checkpoints and LoRAs with varied header metadata (modelspec.encoder_layer, ss_clip_skip "2",
"None", SDXL LoRAs, no metadata), some with a sidecar ``.json`` or a ``.civitai.info`` beside them,
some named like well-known models; 5% are 1.2 MiB so that the AutoV1 window is read. Then it runs
``lookup`` on every file, first without hashing (the default), then with ``allow_hashing=True``, and
prints the rate and the bytes read from the model files (mean and max per file).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clip_skip_ext.metadata import lookup

NAMES = ["model", "anything-v5", "ponyMix", "realistic", "animagine-xl", "style", "character", "nai-merge"]


def write_files(folder: Path, count: int, seed: int) -> list[tuple[Path, str]]:
    """``count`` model files with varied metadata; returns (path, kind) pairs."""
    rng = random.Random(seed)
    files = []
    for index in range(count):
        kind = "lora" if index % 2 else "checkpoint"
        sdxl = rng.random() < 0.4
        metadata: dict[str, str] = {}
        choice = rng.randrange(5)
        if kind == "lora" and choice < 3:
            metadata = {
                "ss_clip_skip": ["2", "None", "1"][choice],
                "ss_base_model_version": "sdxl_base_v1-0" if sdxl else "sd_v1",
                "ss_network_module": "networks.lora",
                "ss_tag_frequency": json.dumps(
                    {f"tag{i}": rng.randrange(100) for i in range(rng.randrange(50))}
                ),
            }
        elif choice < 3:
            architecture = "stable-diffusion-xl-v1-base" if sdxl else "stable-diffusion-v1"
            metadata = {"modelspec.architecture": architecture, "modelspec.title": f"model {index}"}
            if choice == 0:
                metadata["modelspec.encoder_layer"] = "2"
        prefix = (
            ("lora_te1_" if sdxl else "lora_te_")
            if kind == "lora"
            else ("conditioner.embedders.1." if sdxl else "cond_stage_model.transformer.")
        )
        values = 300_000 if rng.random() < 0.05 else rng.randrange(1_000, 16_000)  # float32: 4 bytes each
        tensors = {f"{prefix}w{t}": np.zeros(values // 4, dtype=np.float32) for t in range(4)}
        path = folder / f"{rng.choice(NAMES)}_{index:04d}.safetensors"
        save_file(tensors, str(path), metadata=metadata or None)
        roll = rng.random()
        if roll < 0.15:
            path.with_suffix(".json").write_text(
                json.dumps({"description": "", "clip skip": rng.choice([1, 2])})
            )
        elif roll < 0.30:
            images = [
                {"url": "u", "meta": {"Clip skip": rng.choice(["1", "2", "2"])}}
                for _ in range(rng.randrange(1, 12))
            ]
            base = "SDXL 1.0" if sdxl else "SD 1.5"
            info = {"id": index, "modelId": index, "baseModel": base, "images": images}
            (folder / (path.stem + ".civitai.info")).write_text(json.dumps(info))
        files.append((path, kind))
    return files


def scan(files: list[tuple[Path, str]], allow_hashing: bool) -> tuple[float, list[int], int]:
    """(seconds, bytes read per file, files with a recommendation)."""
    read, found = [], 0
    start = time.perf_counter()
    for path, kind in files:
        result = lookup(path, host="forge", kind=kind, allow_hashing=allow_hashing)
        read.append(result.bytes_read)
        found += result.value is not None
    return time.perf_counter() - start, read, found


def main() -> None:
    """Run the benchmark and print a small table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clip-skip-bench-") as temp:
        folder = Path(temp)
        files = write_files(folder, args.files, args.seed)
        sizes = [path.stat().st_size for path, _ in files]
        scan(files[:50], allow_hashing=False)  # warm up imports and the curated list
        mean_kib, max_kib = statistics.mean(sizes) / 1024, max(sizes) / 1024
        print(f"{len(files)} files, {mean_kib:.1f} KiB mean, {max_kib:.0f} KiB max")
        print(f"{'mode':<16}{'files/s':>10}{'bytes read/file mean':>24}{'max':>12}{'recommended':>14}")
        for label, hashing in (("no hashing", False), ("allow_hashing", True)):
            seconds, read, found = scan(files, hashing)
            print(
                f"{label:<16}{len(files) / seconds:>10.0f}{statistics.mean(read):>24.0f}{max(read):>12}"
                f"{found:>10}/{len(files)}"
            )


if __name__ == "__main__":
    main()
