"""The A1111/Forge user-metadata sidecar ``<model>.json`` (the extra-networks "Edit metadata" file).

The host writes ``basename + '.json'`` beside the model (``modules/ui_extra_networks_user_metadata.py:
131-138``) and reads it back as a plain JSON object (``modules/extra_networks.py:209-225``). A1111 and
Forge write ``description``, ``notes``, ``vae`` (checkpoints) and ``"sd version"``, ``"activation
text"``, ``"preferred weight"``, ``"negative text"`` (LoRAs, ``Lora/ui_edit_user_metadata.py:59-67``);
neither writes a clip skip key. Clip Skip Control reads the key ``"clip skip"`` (spelled like the
host's own keys), and also accepts ``clip_skip``, ``Clip skip`` or ``clipSkip``, so that users,
other tools and this extension can record a value there. The host keeps unknown keys when it saves
the file (it updates the dict it read, ``ui_extra_networks_user_metadata.py:141-146``).

The value is in the numbering of the host it was written for; without ``"clip skip convention"``
(a host name such as ``"forge"``) it is taken as A1111 numbering.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..conventions import HOST_NAMES, HOSTS
from .family import family_from_sd_version
from .jsonfile import beside, read_json_object
from .recommendation import Finding, Recommendation, format_skip, parse_skip
from .safetensors_header import MetadataError

SIDECAR_KEY = "clip skip"
CONVENTION_KEY = "clip skip convention"
CONFIDENCE = 0.9


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """``<model without extension>.json``, where the host keeps its user metadata."""
    return beside(model_path, ".json")


def _squash(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _find_key(data: dict[str, object]) -> str | None:
    if SIDECAR_KEY in data:
        return SIDECAR_KEY
    return next((key for key in data if _squash(key) == "clipskip"), None)


def read_sidecar(model_path: str | os.PathLike[str]) -> Finding:
    """The clip skip (and model family) recorded in the model's user-metadata sidecar, if any."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return Finding()
    try:
        data = read_json_object(path, "the user-metadata sidecar")
    except MetadataError as error:
        return Finding(problems=(str(error),))
    family, family_reason = family_from_sd_version(data.get("sd version"), f'{path.name} "sd version"')
    if family is None:
        family, family_reason = family_from_sd_version(
            data.get("sd_version_str"), f"{path.name} sd_version_str"
        )
    texts = tuple(
        (f"{path.name} {name}", text)
        for name in ("notes", "description")
        if isinstance(text := data.get(name), str) and text.strip()
    )
    base = {"family": family, "family_reason": family_reason, "texts": texts}
    key = _find_key(data)
    if key is None:
        return Finding(**base)
    where = f"{path} [{key!r}]"
    try:
        skip = parse_skip(data[key], where)
    except MetadataError as error:
        return Finding(problems=(str(error),), **base)
    if skip is None:
        return Finding(notes=(f"{where} is empty (no value)",), **base)
    convention = data.get(CONVENTION_KEY, "a1111")
    if convention not in HOSTS:
        problem = f"{path} [{CONVENTION_KEY!r}] is {convention!r}; expected one of {', '.join(HOSTS)}"
        return Finding(problems=(problem,), **base)
    recommendation = Recommendation(
        skip=skip,
        convention=str(convention),
        source=f"sidecar {path.name}",
        confidence=CONFIDENCE,
        detail=f"{key!r}: {format_skip(skip)} in {HOST_NAMES[str(convention)]} numbering",
        origin="sidecar",
    )
    return Finding(recommendations=(recommendation,), **base)
