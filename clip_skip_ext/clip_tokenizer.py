"""The real CLIP BPE tokenizer, found on this machine: never downloaded.

Every CLIP text encoder of SD1, SD2 and SDXL uses the same BPE vocabulary (49408 tokens); only the
padding token differs, which no prompt token sees (the attention is causal). Looked for, in order:
an explicit folder; a Forge or Forge Neo install's own copy (``backend/huggingface/<org>/<model>/
tokenizer``, e.g. runwayml/stable-diffusion-v1-5); the Hugging Face cache's
``openai/clip-vit-large-patch14``, which A1111 downloads at its first start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HUB_NAME = "openai/clip-vit-large-patch14"
FILES = ("vocab.json", "merges.txt")
HOW = (
    "pass --tokenizer DIR, a folder holding vocab.json and merges.txt: a Forge install's "
    "backend/huggingface/runwayml/stable-diffusion-v1-5/tokenizer, or the Hugging Face cache's "
    f"{HUB_NAME} (A1111 downloads it at its first start; `huggingface-cli download {HUB_NAME} "
    "vocab.json merges.txt tokenizer_config.json special_tokens_map.json` does too)"
)


class TokenizerMissing(LookupError):
    """No CLIP tokenizer where one was looked for; says where it looked and how to provide one."""


def _load(folder: Path) -> Any:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tokenizer.convert_tokens_to_ids("<|startoftext|>") == tokenizer.unk_token_id or len(tokenizer) < 3:
        raise TokenizerMissing(
            f"{folder} does not hold a CLIP BPE vocabulary (no <|startoftext|> token); {HOW}"
        )
    return tokenizer


def _hub_cache_folder() -> Path | None:
    """The snapshot folder of ``HUB_NAME`` in the Hugging Face cache when it holds both files.
    (Asking transformers for a missing repo offline gives an empty tokenizer in 5.x, not an error.)"""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = [try_to_load_from_cache(HUB_NAME, name) for name in FILES]
    if all(isinstance(path, str) for path in found):
        folder = Path(found[0]).parent  # type: ignore[arg-type]
        return folder if folder == Path(found[1]).parent else None  # type: ignore[arg-type]
    return None


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def find(
    folder: str | os.PathLike[str] | None = None, webui_dir: str | os.PathLike[str] | None = None
) -> Any:
    """A ``transformers.CLIPTokenizer``; TokenizerMissing naming where it looked."""
    if folder is not None:
        path = Path(folder)
        if not _has_files(path):
            raise TokenizerMissing(f"{path} does not hold {' and '.join(FILES)}; {HOW}")
        return _load(path)
    looked = []
    if webui_dir is not None:
        for candidate in sorted(Path(webui_dir).glob("backend/huggingface/*/*/tokenizer")):
            if _has_files(candidate):
                return _load(candidate)
        looked.append(f"{webui_dir}/backend/huggingface/*/*/tokenizer")
    cached = _hub_cache_folder()
    if cached is not None:
        return _load(cached)
    looked.append(f"the Hugging Face cache ({HUB_NAME})")
    raise TokenizerMissing(f"no CLIP tokenizer found (looked in {', '.join(looked)}); {HOW}")
