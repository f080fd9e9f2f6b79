"""Benchmark of the user's-images index (issue 14): 10,000 PNGs as the WebUIs save them.

Writes ``--images`` PNGs (``--side``² pixels of noise, so the image data is real, with an A1111
infotext in a ``parameters`` text chunk, 20 checkpoints, skips 1-3) into a temporary folder, then
times, best of ``--repeats``:

- cold: a fresh index without a cache file reads every image's text chunks;
- cold, page cache dropped (``--drop-caches``, root on Linux): the same from the disk;
- warm: a fresh index with the cache file written by the cold run (one stat per image, no reads);
- incremental: the warm index after 100 new images;
- counting: ``finding`` for one checkpoint over the whole index (what each lookup adds).

    python bench/image_history.py [--images 10000] [--side 128] [--repeats 3] [--drop-caches]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, PngImagePlugin  # noqa: E402

from clip_skip_ext.metadata.image_history import ImageHistory  # noqa: E402

HASHES = [f"{n:02d}" + "a1b2c3d4" for n in range(20)]


def write_images(folder: Path, count: int, side: int, start: int = 0) -> None:
    rng = random.Random(start)
    for index in range(start, start + count):
        day = folder / "txt2img-images" / f"2026-11-{1 + index % 28:02d}"
        day.mkdir(parents=True, exist_ok=True)
        info = PngImagePlugin.PngInfo()
        skip = rng.choice(["", ", Clip skip: 2", ", Clip skip: 2", ", Clip skip: 3"])
        info.add_text(
            "parameters",
            "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile, outdoors, "
            "cherry blossoms, detailed background <lora:style:0.7>\n"
            "Negative prompt: (worst quality, low quality:1.4), bad hands, watermark\n"
            f"Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: {index}, "
            f"Size: 512x768, Model hash: {HASHES[index % 20]}, Model: model{index % 20}{skip}, "
            "Denoising strength: 0.4, Hires upscale: 1.5, Hires upscaler: Latent, "
            'Lora hashes: "style: 0123456789ab", Version: v1.10.1',
        )
        pixels = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        pixels.save(day / f"{index:05d}-{index}.png", pnginfo=info)


def best(repeats: int, setup, call) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        state = setup()
        start = time.perf_counter()
        result = call(state)
        times.append(time.perf_counter() - start)
    return min(times), result


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--drop-caches", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        folder, cache = Path(temp) / "outputs", Path(temp) / "index.json"
        start = time.perf_counter()
        write_images(folder, args.images, args.side)
        size = sum(p.stat().st_size for p in folder.rglob("*.png"))
        print(
            f"wrote {args.images:,} PNGs of {args.side}x{args.side} ({size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - start:.1f} s"
        )

        def fresh(cached: bool):
            if not cached and cache.exists():
                cache.unlink()
            return ImageHistory([folder], cache_path=cache if cached else None)

        cold, history = best(args.repeats, lambda: fresh(False), lambda h: h.refresh() or h)
        print(
            f"cold index (no cache file): {cold:.2f} s, {len(history.images):,} images, {history.read_count:,} read"
        )
        if args.drop_caches:
            if drop_caches():
                disk, _ = best(1, lambda: (drop_caches(), fresh(False))[1], lambda h: h.refresh())
                print(f"cold index, page cache dropped: {disk:.2f} s")
            else:
                print("cold index, page cache dropped: not measured (needs root on Linux)")
        fresh(True).refresh()  # writes the cache file
        print(f"cache file: {cache.stat().st_size / 1e6:.1f} MB")
        warm, history = best(args.repeats, lambda: fresh(True), lambda h: h.refresh() or h)
        print(f"warm index (cache file, one stat per image): {warm:.2f} s, {history.read_count} read")
        write_images(folder, 100, args.side, start=args.images)
        incremental, history = best(1, lambda: history, lambda h: h.refresh() or h)
        print(f"incremental refresh after 100 new images: {incremental:.2f} s, {history.read_count} read")
        counting, finding = best(args.repeats, lambda: history, lambda h: h.finding(HASHES[3]))
        print(f"finding for one checkpoint over {len(history.images):,} images: {counting * 1000:.1f} ms")
        print(f"  {finding.best.source}: {finding.best.detail}")


if __name__ == "__main__":
    main()
