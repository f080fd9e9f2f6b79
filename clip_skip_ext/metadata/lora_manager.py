"""ComfyUI-Lora-Manager's ``<model>.metadata.json``.

Lora-Manager (willmiao/ComfyUI-Lora-Manager 25e72b4) writes ``os.path.splitext(file_path)[0] +
".metadata.json"`` beside each LoRA, checkpoint and embedding it manages
(``py/utils/metadata_manager.py:35,196``; fields ``py/utils/models.py:50-80``, documented in
``docs/metadata-json-schema.md``). What is read here:

- ``civitai``: the Civitai model-version response (``LoraMetadata.from_civitai_info``,
  ``py/utils/models.py:246-276``: ``civitai=version_info``), read as a ``.civitai.info`` (example
  images, training parameters, ``baseModel``); the ``.civitai.info`` or ``.api_info.json`` wins
  when there is one;
- ``usage_tips`` (LoRAs): a JSON *string* of the user's usage tips (``models.py:242``), whose
  ``clip_skip`` the model panel offers as a whole number 0 to 10 (``static/js/components/shared/
  ModelModal.js:1047-1053``), in A1111 numbering, as its save node writes it (``Clip skip:
  {abs(int(clip_skip))}``, ``py/nodes/save_image.py:489-491``);
- ``base_model`` ("SD 1.5", "SDXL 1.0", "Illustrious", "Pony"; "Unknown" when not known): the family;
- ``modelDescription`` and ``notes``: prose, for the description source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .civitai_info import CivitaiInfo, checked_version
from .family import NOTHING, FamilyHint, family_from_civitai_base_model
from .jsonfile import beside, read_json_object
from .recommendation import Finding, Recommendation, format_skip, parse_skip
from .safetensors_header import MetadataError

SUFFIX = ".metadata.json"
USAGE_TIPS_CONFIDENCE = 0.8  # the user's own tip, or one copied from the model card
MAX_USAGE_TIPS_CHARS = 100_000


def lora_manager_path(model_path: str | os.PathLike[str]) -> Path:
    """``<model without extension>.metadata.json``."""
    return beside(model_path, SUFFIX)


@dataclass(frozen=True)
class LoraManagerFile:
    """A parsed ``.metadata.json``."""

    path: Path
    data: dict[str, object]

    @property
    def civitai(self) -> CivitaiInfo | None:
        """Its ``civitai`` section as a ``.civitai.info``, when it holds a model version."""
        section = self.data.get("civitai")
        if section is None:
            return None
        if not isinstance(section, dict):
            raise MetadataError(
                f"{self.path}: 'civitai' is a JSON {type(section).__name__}; expected an object"
            )
        if not any(key in section for key in ("id", "images", "trainingDetails", "baseModel")):
            return None  # user-added trigger words only (a model not from Civitai)
        return CivitaiInfo(self.path, checked_version(self.path, section), "metadata.json")

    @property
    def family(self) -> FamilyHint:
        """The family its ``base_model`` names ("Unknown" says nothing)."""
        value = self.data.get("base_model")
        if not isinstance(value, str) or value.strip().lower() in ("", "unknown"):
            return NOTHING
        family, reason = family_from_civitai_base_model(value)
        return family, reason.replace("civitai baseModel", f"{self.path.name} base_model")

    def texts(self) -> list[tuple[str, str]]:
        """Its prose: the model description and the user's notes."""
        return [
            (f"{self.path.name} {key}", value)
            for key in ("notes", "modelDescription")
            if isinstance(value := self.data.get(key), str) and value.strip()
        ]

    def read(self) -> Finding:
        """The ``usage_tips`` clip skip, and the file's prose for the description source."""
        texts = tuple(self.texts())
        raw = self.data.get("usage_tips")
        if raw is None or raw == "" or raw == "{}":
            return Finding(texts=texts)
        where = f"{self.path} [usage_tips]"
        if not isinstance(raw, str):
            raise MetadataError(f"{where} is a JSON {type(raw).__name__}; expected a string holding JSON")
        if len(raw) > MAX_USAGE_TIPS_CHARS:
            raise MetadataError(f"{where} is {len(raw):,} characters; the limit is {MAX_USAGE_TIPS_CHARS:,}")
        try:
            tips = json.loads(raw)
        except (ValueError, RecursionError):
            raise MetadataError(f"{where} is not JSON: {raw[:40]!r}") from None
        if not isinstance(tips, dict) or "clip_skip" not in tips:
            return Finding(texts=texts)
        skip = parse_skip(tips["clip_skip"], f"{where} clip_skip")
        if skip is None:
            return Finding(texts=texts)
        if skip <= 0:
            raise MetadataError(
                f"{where} clip_skip is {format_skip(skip)}; expected 1 or more (A1111 numbering)"
            )
        recommendation = Recommendation(
            skip=skip,
            convention="a1111",
            source=f"Lora-Manager usage tips {self.path.name}",
            confidence=USAGE_TIPS_CONFIDENCE,
            detail=f'usage_tips "clip_skip": {format_skip(skip)} (A1111 numbering)',
            origin="sidecar",
        )
        return Finding(recommendations=(recommendation,), texts=texts)


def load_lora_manager(model_path: str | os.PathLike[str]) -> LoraManagerFile | None:
    """The model's ``.metadata.json``; None without one, MetadataError if it cannot be read."""
    path = lora_manager_path(model_path)
    if not path.is_file():
        return None
    return LoraManagerFile(path, read_json_object(path, "the Lora-Manager metadata file"))
